//! `GET /api/v1/stream/{media_id}`: the unified stream endpoint (SPEC §3). Parses the client's
//! capabilities, checks the media, decides (`playback::decision`), and answers with a redirect or,
//! with `Accept: application/json`, the decision as JSON. HLS methods get a session, reused by
//! every identical request while it lives.

use chrono::{SecondsFormat, TimeZone, Utc};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::http::{empty, header_str, json as json_resp, query, Req, Resp};
use super::media::load_visible;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{MediaStatus, RenditionLimits, Session};
use crate::playback::capabilities::{from_query, Capabilities};
use crate::playback::decision::{decide, select_audio, Decision, Method as PlayMethod};
use crate::state::AppState;

/// Seconds a client is asked to wait while a file is still uploading or being probed.
const PREPARING_RETRY_AFTER: &str = "2";

pub async fn stream(state: &AppState, caller: &Caller, req: &Req, media_id: &str) -> Result<Resp> {
    let q = query(req);
    // Capabilities first: a bad parameter is the client's bug whatever the media's state.
    let (caps, opts) = from_query(&q, header_str(req, header::USER_AGENT))?;
    let media = load_visible(state, caller, media_id).await?;
    match media.status {
        MediaStatus::Uploading | MediaStatus::Probing => {
            let mut r = json_resp(StatusCode::ACCEPTED, &json!({"status": "preparing", "media_status": media.status}));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(PREPARING_RETRY_AFTER));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(r);
        }
        MediaStatus::Failed => {
            return Err(Error::Conflict { code: "media_failed", message: media.error.clone().unwrap_or_else(|| "The file could not be processed.".into()) });
        }
        MediaStatus::Ready => {}
    }
    let probe = media.probe.as_ref().ok_or_else(|| Error::Internal(format!("media {} is ready without a probe", media.id)))?;
    if state.objects.head(&media.source_key).await?.is_none() {
        return Err(Error::Gone { code: "source_gone", message: "The original file of this media is no longer stored.".into() });
    }
    let audio = select_audio(probe, opts.audio_track).map_err(|m| Error::bad_request("invalid_parameter", m))?;
    let decision = decide(probe, &caps, audio, opts.prefer_ts);

    let saved = state.meta.get_progress(&caller.user_id, &media.id).await?.filter(|p| !p.completed).map(|p| p.position_seconds);
    let start = match (opts.start, opts.resume) {
        (Some(s), _) => Some(s),
        (None, true) => saved,
        (None, false) => None,
    };
    if let Some(s) = start {
        if s >= probe.duration_seconds {
            return Err(Error::bad_request("invalid_parameter", format!("`start` ({s}) is beyond the end of the file ({:.3} s)", probe.duration_seconds)));
        }
    }

    let now = Utc::now().timestamp();
    let (url, session_id, expires_at) = if decision.method == PlayMethod::DirectPlay {
        let ttl = state.config.direct_play_url_ttl;
        // HEAD gets a HEAD-signed URL: S3 signs the method, a GET URL would refuse it.
        let url = if req.method() == Method::HEAD { state.objects.presign_head(&media.source_key, ttl).await? } else { state.objects.presign_get(&media.source_key, ttl).await? };
        (url, None, now + ttl.as_secs() as i64)
    } else {
        let session = open_session(state, caller, &media.id, &decision, &caps, start, now).await?;
        let token_expires = now + state.config.session_token_ttl.as_secs() as i64;
        let token = state.session_tokens.mint(&session.id, &caller.user_id, token_expires);
        let mut url = format!("{}/api/v1/hls/{}/master.m3u8?token={token}", state.config.api_base_url(), session.id);
        if let Some(s) = start.filter(|s| *s > 0.0) {
            url.push_str(&format!("&start={}", format_seconds(s)));
        }
        (url, Some(session.id), token_expires)
    };
    tracing::info!(media_id = %media.id, method = decision.method.as_str(), reasons = ?decision.reasons, session = session_id.as_deref().unwrap_or("-"), "decided");

    let wants_json = header_str(req, header::ACCEPT).is_some_and(|a| a.contains("application/json"));
    let mut resp = if wants_json {
        json_resp(
            StatusCode::OK,
            &json!({
                "method": decision.method,
                "protocol": if decision.method.is_hls() { "hls" } else { "file" },
                "url": url,
                "session_id": session_id,
                "reasons": decision.reasons,
                "audio_track": decision.audio_track,
                "segment_format": decision.segment_format,
                "start_position_seconds": start,
                "resume_position_seconds": saved,
                "expires_at": Utc.timestamp_opt(expires_at, 0).single().map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            }),
        )
    } else {
        let mut r = empty(StatusCode::FOUND);
        r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&url).map_err(Error::internal)?);
        r
    };
    // The answer depends on the caller and carries a capability: never cached anywhere.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Authorization, Accept, User-Agent"));
    Ok(resp)
}

fn format_seconds(s: f64) -> String {
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What makes two sessions interchangeable: same user, media and decision (method, audio
/// track, segment format) and, for a transcode, the limits that shape its ladder.
pub fn reuse_key(user_id: &str, media_id: &str, decision: &Decision, limits: &RenditionLimits) -> String {
    let mut h = Sha256::new();
    for part in [user_id, media_id, decision.method.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(format!("{:?}\0{:?}\0{:?}", decision.audio_track, decision.segment_format, limits).as_bytes());
    hex::encode(h.finalize())
}

fn limits_for(decision: &Decision, caps: &Capabilities) -> RenditionLimits {
    if decision.method == PlayMethod::Transcode {
        RenditionLimits::from(caps)
    } else {
        // Copied video is the source's: client limits do not change its renditions.
        RenditionLimits::default()
    }
}

async fn open_session(state: &AppState, caller: &Caller, media_id: &str, decision: &Decision, caps: &Capabilities, start: Option<f64>, now: i64) -> Result<Session> {
    let limits = limits_for(decision, caps);
    let at = Utc.timestamp_opt(now, 0).single().unwrap_or_else(Utc::now);
    let candidate = Session {
        id: crate::ids::random_id(),
        user_id: caller.user_id.clone(),
        media_id: media_id.to_string(),
        reuse_key: reuse_key(&caller.user_id, media_id, decision, &limits),
        decision: decision.clone(),
        limits,
        created_at: at,
        last_access: at,
        last_position: start,
        expires_at: now + state.config.session_idle.as_secs() as i64,
    };
    let session = state.meta.create_or_reuse_session(&candidate, now).await?;
    if session.id == candidate.id {
        tracing::info!(session = %session.id, "session created");
    } else {
        // Reuse keeps the session alive like any other access.
        state.meta.touch_session(&session.id, now, now + state.config.session_idle.as_secs() as i64, None).await?;
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::decision::SegmentFormat;

    fn d(method: PlayMethod, audio: Option<u32>) -> Decision {
        Decision { method, reasons: vec![], audio_track: audio, segment_format: Some(SegmentFormat::Fmp4) }
    }

    #[test]
    fn reuse_keys_separate_users_media_and_decisions() {
        let l = RenditionLimits::default();
        let k = reuse_key("u", "m", &d(PlayMethod::Remux, Some(1)), &l);
        assert_eq!(k, reuse_key("u", "m", &d(PlayMethod::Remux, Some(1)), &l), "stable");
        assert_ne!(k, reuse_key("v", "m", &d(PlayMethod::Remux, Some(1)), &l));
        assert_ne!(k, reuse_key("u", "n", &d(PlayMethod::Remux, Some(1)), &l));
        assert_ne!(k, reuse_key("u", "m", &d(PlayMethod::Transcode, Some(1)), &l));
        assert_ne!(k, reuse_key("u", "m", &d(PlayMethod::Remux, Some(2)), &l));
        let capped = RenditionLimits { max_height: Some(480), ..l };
        assert_ne!(k, reuse_key("u", "m", &d(PlayMethod::Remux, Some(1)), &capped));
        // No separator games: ("ab","c") and ("a","bc") differ.
        assert_ne!(reuse_key("ab", "c", &d(PlayMethod::Remux, None), &l), reuse_key("a", "bc", &d(PlayMethod::Remux, None), &l));
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(format_seconds(12.0), "12");
        assert_eq!(format_seconds(12.5), "12.5");
        assert_eq!(format_seconds(1.23456), "1.235");
    }
}
