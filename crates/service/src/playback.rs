//! The unified stream endpoint's work (SPEC §3 "The unified stream endpoint"): check the
//! media, decide (`stream_core::playback::decision`), pick the start, and hand out either a
//! signed URL of the original (direct play: through the CDN when one is configured, else the
//! store's presigned URL) or an HLS session's master playlist URL. HLS
//! methods get a session, reused by every identical request while it lives.

use chrono::{TimeZone, Utc};
use sha2::{Digest, Sha256};
use stream_core::error::{Error, Result};
use stream_core::model::{Caller, Media, MediaStatus, Probe, RenditionLimits};
use stream_core::playback::capabilities::{Capabilities, PlaybackOptions};
use stream_core::playback::decision::{decide_with, select_audio, select_burn, Decision, Method};
use stream_core::session::Session;

use crate::media::load_visible;
use crate::state::AppState;
use crate::subtitles::{self, SubtitleLink};

/// What a stream request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamOutcome {
    /// Still uploading or being probed: ask again shortly.
    Preparing(MediaStatus),
    Play(Playback),
}

/// How to play: the decision and the URL that carries it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    pub decision: Decision,
    /// The presigned original (direct play) or the session's master playlist.
    pub url: String,
    pub session_id: Option<String>,
    /// Where playback starts (seconds), if not at 0.
    pub start: Option<f64>,
    /// The caller's saved position, if any (and not completed).
    pub saved: Option<f64>,
    /// When `url` stops working, epoch seconds.
    pub expires_at: i64,
    /// The media's playable subtitle tracks, signed until `expires_at` (for `<track>` in direct
    /// play; HLS players find them in the master playlist too).
    pub subtitles: Vec<SubtitleLink>,
    /// The media's audio tracks (HLS players switch among them in the session; direct play
    /// plays the default one unless the client switches tracks itself).
    pub audio_tracks: Vec<stream_core::tracks::AudioTrack>,
    /// The WebVTT storyboard of seek-bar previews, signed until `expires_at` (any method; `None`
    /// without video or without an edge to serve its sheets).
    pub storyboard_url: Option<String>,
}

/// Which URL the client will use: a HEAD request gets a HEAD-signed URL (S3 signs the method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlUse {
    Get,
    Head,
}

/// Decides how `caller` plays `media_id` with `caps`, and opens what that needs.
pub async fn play(
    state: &AppState,
    caller: &Caller,
    media_id: &str,
    caps: &Capabilities,
    opts: &PlaybackOptions,
    url_use: UrlUse,
) -> Result<StreamOutcome> {
    let media = load_visible(state, caller, media_id).await?;
    let probe = match playable(state, &media).await? {
        Some(probe) => probe,
        None => return Ok(StreamOutcome::Preparing(media.status)),
    };
    let audio = select_audio(probe, opts.audio_track)
        .map_err(|m| Error::invalid("invalid_parameter", m))?;
    let burn = select_burn(
        &media.subtitles,
        opts.subtitle.as_deref(),
        opts.subtitle_mode,
    )
    .map_err(|m| Error::invalid("invalid_parameter", m))?;
    let decision = decide_with(probe, caps, audio, opts.prefer_ts, burn);

    let saved = state.meta.get_progress(&caller.user_id, &media.id).await?;
    let saved = saved.filter(|p| !p.completed).map(|p| p.position_seconds);
    let start = match (opts.start, opts.resume) {
        (Some(s), _) => Some(s),
        (None, true) => saved,
        (None, false) => None,
    };
    if let Some(s) = start.filter(|s| *s >= probe.duration_seconds) {
        let end = probe.duration_seconds;
        let msg = format!("`start` ({s}) is beyond the end of the file ({end:.3} s)");
        return Err(Error::invalid("invalid_parameter", msg));
    }

    let now = Utc::now().timestamp();
    let (url, session_id, expires_at) = if decision.method == Method::DirectPlay {
        let ttl = state.config.direct_play_url_ttl;
        let expires = now + ttl.as_secs() as i64;
        // Through the CDN when there is one (its ranges cached at the edge; a CloudFront
        // signature is not bound to the method), else the store's own presigned URL.
        let edge = state.edge.as_ref();
        let url = match edge.and_then(|e| e.original_url(&media.source_key, expires)) {
            Some(url) => url,
            None => match url_use {
                UrlUse::Head => state.objects.presign_head(&media.source_key, ttl).await?,
                UrlUse::Get => state.objects.presign_get(&media.source_key, ttl).await?,
            },
        };
        (url, None, expires)
    } else {
        let session = open_session(state, caller, &media.id, &decision, caps, start, now).await?;
        let (url, token_expires) = master_url(state, &session, start, now);
        (url, Some(session.id), token_expires)
    };
    let subtitles = subtitles::links(state, &media, expires_at).await?;
    let method = decision.method.as_str();
    let session = session_id.as_deref().unwrap_or("-");
    tracing::info!(media_id = %media.id, method, reasons = ?decision.reasons, session, "decided");
    Ok(StreamOutcome::Play(Playback {
        decision,
        url,
        session_id,
        start,
        saved,
        expires_at,
        subtitles,
        audio_tracks: stream_core::tracks::audio_tracks(probe),
        storyboard_url: crate::trickplay::storyboard_url(state, &media.id, probe, expires_at),
    }))
}

/// The probe of a media that can be played now; `None` while it is still uploading or being
/// probed; an error when it failed or its original is gone.
pub(crate) async fn playable<'m>(state: &AppState, media: &'m Media) -> Result<Option<&'m Probe>> {
    match media.status {
        MediaStatus::Uploading | MediaStatus::Probing => return Ok(None),
        MediaStatus::Failed => {
            let message = media
                .error
                .clone()
                .unwrap_or_else(|| "The file could not be processed.".into());
            return Err(Error::Conflict {
                code: "media_failed",
                message,
            });
        }
        MediaStatus::Ready => {}
    }
    let probe = media
        .probe
        .as_ref()
        .ok_or_else(|| Error::Internal(format!("media {} is ready without a probe", media.id)))?;
    if state.objects.head(&media.source_key).await?.is_none() {
        let message = "The original file of this media is no longer stored.".into();
        return Err(Error::Gone {
            code: "source_gone",
            message,
        });
    }
    Ok(Some(probe))
}

/// The session's master playlist URL, carrying a fresh session token (and the start), and when
/// that token expires.
fn master_url(state: &AppState, session: &Session, start: Option<f64>, now: i64) -> (String, i64) {
    let token_expires = now + state.config.session_token_ttl.as_secs() as i64;
    let token = state
        .session_tokens
        .mint(&session.id, &session.user_id, token_expires);
    let base = state.config.api_base_url();
    let mut url = format!("{base}/api/v1/hls/{}/master.m3u8?token={token}", session.id);
    if let Some(s) = start.filter(|s| *s > 0.0) {
        url.push_str(&format!("&start={}", format_seconds(s)));
    }
    (url, token_expires)
}

fn format_seconds(s: f64) -> String {
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What makes two sessions interchangeable: same user, media and decision (method, audio
/// track, segment format, the subtitle track burned in) and, for a transcode, the limits that
/// shape its ladder.
pub fn reuse_key(
    user_id: &str,
    media_id: &str,
    decision: &Decision,
    limits: &RenditionLimits,
) -> String {
    let mut h = Sha256::new();
    for part in [user_id, media_id, decision.method.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let rest = format!(
        "{:?}\0{:?}\0{:?}",
        decision.audio_track, decision.segment_format, limits
    );
    h.update(rest.as_bytes());
    // Only when burning: the keys of sessions without burn-in stay what they were.
    if let Some(track) = decision.subtitle_burn {
        h.update(format!("\0burn {track}").as_bytes());
    }
    hex::encode(h.finalize())
}

/// The client limits a session of `decision` keeps for its ladder (the benchmarks build their
/// rendition sets with the same).
pub fn limits_for(decision: &Decision, caps: &Capabilities) -> RenditionLimits {
    if decision.method == Method::Transcode {
        RenditionLimits::from(caps)
    } else {
        // Copied video is the source's: client limits do not change its renditions; which of
        // the other audio tracks can be copied for it does.
        RenditionLimits::audio_of(caps)
    }
}

async fn open_session(
    state: &AppState,
    caller: &Caller,
    media_id: &str,
    decision: &Decision,
    caps: &Capabilities,
    start: Option<f64>,
    now: i64,
) -> Result<Session> {
    let limits = limits_for(decision, caps);
    let at = Utc.timestamp_opt(now, 0).single().unwrap_or_else(Utc::now);
    let idle = state.config.session_idle.as_secs() as i64;
    let candidate = Session {
        id: stream_core::ids::random_id(),
        user_id: caller.user_id.clone(),
        media_id: media_id.to_string(),
        reuse_key: reuse_key(&caller.user_id, media_id, decision, &limits),
        decision: decision.clone(),
        limits,
        created_at: at,
        last_access: at,
        last_position: start,
        expires_at: now + idle,
    };
    let session = state.meta.create_or_reuse_session(&candidate, now).await?;
    if session.id == candidate.id {
        tracing::info!(session = %session.id, "session created");
    } else {
        // Reuse keeps the session alive like any other access.
        state
            .meta
            .touch_session(&session.id, now, now + idle, None)
            .await?;
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream_core::playback::decision::SegmentFormat;

    fn d(method: Method, audio: Option<u32>) -> Decision {
        Decision {
            method,
            reasons: vec![],
            audio_track: audio,
            segment_format: Some(SegmentFormat::Fmp4),
            subtitle_burn: None,
        }
    }

    #[test]
    fn reuse_keys_separate_users_media_and_decisions() {
        let l = RenditionLimits::default();
        let k = reuse_key("u", "m", &d(Method::Remux, Some(1)), &l);
        assert_eq!(
            k,
            reuse_key("u", "m", &d(Method::Remux, Some(1)), &l),
            "stable"
        );
        assert_ne!(k, reuse_key("v", "m", &d(Method::Remux, Some(1)), &l));
        assert_ne!(k, reuse_key("u", "n", &d(Method::Remux, Some(1)), &l));
        assert_ne!(k, reuse_key("u", "m", &d(Method::Transcode, Some(1)), &l));
        assert_ne!(k, reuse_key("u", "m", &d(Method::Remux, Some(2)), &l));
        let burn = |track| Decision {
            subtitle_burn: Some(track),
            ..d(Method::Transcode, Some(1))
        };
        let burns_3 = reuse_key("u", "m", &burn(3), &l);
        assert_eq!(burns_3, reuse_key("u", "m", &burn(3), &l));
        assert_ne!(burns_3, reuse_key("u", "m", &burn(4), &l));
        assert_ne!(
            burns_3,
            reuse_key("u", "m", &d(Method::Transcode, Some(1)), &l)
        );
        let capped = RenditionLimits {
            max_height: Some(480),
            ..l
        };
        assert_ne!(k, reuse_key("u", "m", &d(Method::Remux, Some(1)), &capped));
        // No separator games: ("ab","c") and ("a","bc") differ.
        let (a, b) = (
            reuse_key("ab", "c", &d(Method::Remux, None), &l),
            reuse_key("a", "bc", &d(Method::Remux, None), &l),
        );
        assert_ne!(a, b);
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(format_seconds(12.0), "12");
        assert_eq!(format_seconds(12.5), "12.5");
        assert_eq!(format_seconds(1.23456), "1.235");
    }
}
