//! `/api/v1/hls/{session}/...` (SPEC §3 "HLS"): playlists, segment redirects with just-in-time
//! encoding, and ending a session. Authorized by the session token (players cannot add headers to
//! segment requests), which the playlists carry on every URI they emit.

use chrono::Utc;
use http::{header, HeaderValue, Method, StatusCode};

use super::http::{empty, query, Req, Resp};
use crate::auth::SessionTokenError;
use crate::error::{Error, Result};
use crate::hls::ladder::{build, ClientLimits, LadderConfig};
use crate::hls::playlist::{self, SegmentName};
use crate::model::Media;
use crate::segments::job::JobKind;
use crate::segments::service::{deliver, Delivery};
use crate::state::AppState;

use super::open_sessions::{OpenSession, PlaylistKind};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// Playlists are per session (the token is in the URL): a CDN may keep them briefly.
const PLAYLIST_CACHE: &str = "public, max-age=10";
/// Seconds a player is asked to wait when a segment is still being made.
const SEGMENT_RETRY_AFTER: &str = "1";

/// A verified session with what its requests need, and the token it was opened with.
struct Open {
    open: std::sync::Arc<OpenSession>,
    token: String,
}

impl std::ops::Deref for Open {
    type Target = OpenSession;
    fn deref(&self) -> &OpenSession {
        &self.open
    }
}

fn token_error(e: SessionTokenError) -> Error {
    match e {
        SessionTokenError::Invalid => Error::Forbidden("the session token is not valid for this session".into()),
        SessionTokenError::Missing => Error::Unauthorized("a session token is required (`token` query parameter)".into()),
        SessionTokenError::Malformed | SessionTokenError::Expired => Error::Unauthorized("the session token is malformed or expired".into()),
    }
}

/// The session of a request, verified with its token: from this process's short-lived cache
/// (`open_sessions`), else read and built (the rendition set and plan from the media's probe).
async fn open(state: &AppState, req: &Req, session_id: &str) -> Result<Open> {
    if !crate::ids::is_valid_id(session_id) {
        return Err(Error::NotFound("session"));
    }
    let now = Utc::now().timestamp();
    let token = query(req).get("token").cloned();
    if let Some(open) = state.open_sessions.get(session_id, now) {
        state.session_tokens.verify(token.as_deref(), &open.session.id, &open.session.user_id, now).map_err(token_error)?;
        return Ok(Open { open, token: token.unwrap_or_default() });
    }
    let session = state.meta.get_session(session_id, now).await?.ok_or(Error::NotFound("session"))?;
    state.session_tokens.verify(token.as_deref(), &session.id, &session.user_id, now).map_err(token_error)?;
    let media: Media = state.meta.get_media(&session.media_id).await?.ok_or(Error::Gone { code: "media_gone", message: "The media of this session was deleted.".into() })?;
    let probe = media.probe.as_ref().ok_or_else(|| Error::Internal("session media without probe".into()))?;
    let set = build(&media.id, probe, &session.decision, &ClientLimits::from(session.limits), &LadderConfig::default())
        .map_err(|e| Error::Conflict { code: "not_playable", message: format!("This media cannot be delivered as HLS: {e}") })?;
    let plan = set.plan.plan(probe).map_err(|e| Error::Conflict { code: "not_playable", message: format!("No segment plan for this media: {e}") })?;
    let open = std::sync::Arc::new(OpenSession::new(session, set, plan, state.config.session_idle));
    state.open_sessions.insert(open.clone());
    Ok(Open { open, token: token.unwrap_or_default() })
}

fn playlist_response(body: bytes::Bytes) -> Resp {
    let mut r = http::Response::builder().status(StatusCode::OK).body(body).unwrap_or_default();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PLAYLIST_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(PLAYLIST_CACHE));
    r
}

/// Every access moves the session's expiry forward: segment requests always (with the
/// position), playlist requests at most once per `open_sessions::TOUCH_EVERY`.
async fn touch(state: &AppState, o: &Open, position: Option<f64>) -> Result<()> {
    let now = Utc::now().timestamp();
    if position.is_none() && !o.touch_due(now) {
        return Ok(());
    }
    let expires_at = now + state.config.session_idle.as_secs() as i64;
    state.meta.touch_session(&o.session.id, now, expires_at, position).await?;
    o.touched(now, expires_at, position);
    Ok(())
}

pub async fn route(state: &AppState, req: &Req, parts: &[&str]) -> Result<Resp> {
    let method = req.method();
    match (parts, method) {
        ([sid], &Method::DELETE) => end_session(state, req, sid).await,
        ([sid, "master.m3u8"], &Method::GET | &Method::HEAD) => {
            let o = open(state, req, sid).await?;
            let start = match query(req).get("start") {
                None => None,
                Some(v) => Some(v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(|| Error::bad_request("invalid_parameter", "`start` must be a number of seconds"))?),
            };
            // Never past the end: a player would start on nothing.
            let start = start.map(|s| s.min((o.plan.total - 0.5).max(0.0)));
            // A start is the position the player is about to ask for (its init is made with it).
            touch(state, &o, start).await?;
            let render = || playlist::master(&o.set, start, &format!("token={}", o.token));
            Ok(playlist_response(match start {
                None => o.playlist(PlaylistKind::Master, &o.token, render),
                Some(_) => bytes::Bytes::from(render()),
            }))
        }
        ([sid, rendition, playlist::PLAYLIST_NAME], &Method::GET | &Method::HEAD) => {
            let o = open(state, req, sid).await?;
            if o.set.rendition(rendition).is_none() {
                return Err(Error::NotFound("rendition"));
            }
            touch(state, &o, None).await?;
            Ok(playlist_response(o.playlist(PlaylistKind::Variant, &o.token, || playlist::variant(&o.plan, o.set.format, &format!("token={}", o.token)))))
        }
        ([sid, rendition, file], &Method::GET | &Method::HEAD) => segment(state, req, sid, rendition, file).await,
        ([_], _) | ([_, _], _) | ([_, _, _], _) => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound("route")),
    }
}

async fn segment(state: &AppState, req: &Req, sid: &str, rendition: &str, file: &str) -> Result<Resp> {
    let o = open(state, req, sid).await?;
    if o.set.rendition(rendition).is_none() {
        return Err(Error::NotFound("rendition"));
    }
    // Only names of the plan exist: anything else is 404 before any work.
    let kind = match playlist::parse_segment_name(file) {
        Some(SegmentName::Init) if o.set.format == crate::playback::decision::SegmentFormat::Fmp4 => JobKind::Init,
        Some(SegmentName::Media { index, format }) if format == o.set.format && (index as usize) < o.plan.len() => JobKind::Segment(index),
        _ => return Err(Error::NotFound("segment")),
    };
    let position = match kind {
        JobKind::Segment(i) => o.plan.get(i).map(|s| s.start),
        _ => None,
    };
    touch(state, &o, position).await?;
    // An init is made by the run of the segment the player starts at (from the master's start
    // or the last position), which it asks for next.
    let init_from = match kind {
        JobKind::Init => Some(o.position().and_then(|p| o.plan.segment_at(p)).unwrap_or(0)),
        _ => None,
    };
    match deliver(state, &o.set, rendition, kind, o.plan.len() as u32, init_from).await? {
        Delivery::Ready(url) => {
            let mut r = empty(StatusCode::FOUND);
            r.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&url).map_err(Error::internal)?);
            // The target URL expires; the redirect may be reused briefly by this session only.
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
            Ok(r)
        }
        Delivery::Pending => {
            let mut r = super::http::json(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({"error": {"code": "segment_pending", "message": "The segment is still being made; retry shortly."}}));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(SEGMENT_RETRY_AFTER));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        }
    }
}

/// `DELETE /hls/{session}`: with the session token, or the owner's (or an admin's) bearer token.
async fn end_session(state: &AppState, req: &Req, sid: &str) -> Result<Resp> {
    if !crate::ids::is_valid_id(sid) {
        return Err(Error::NotFound("session"));
    }
    let now = Utc::now().timestamp();
    let session = state.meta.get_session(sid, now).await?.ok_or(Error::NotFound("session"))?;
    let by_token = state.session_tokens.verify(query(req).get("token").map(String::as_str), &session.id, &session.user_id, now);
    if let Err(token_err) = by_token {
        match super::http::header_str(req, header::AUTHORIZATION) {
            Some(h) => {
                let caller = state.verifier.verify_header(Some(h)).await?;
                if caller.user_id != session.user_id && !caller.is_admin {
                    return Err(Error::NotFound("session"));
                }
            }
            None => return Err(token_error(token_err)),
        }
    }
    state.meta.delete_session(&session.id).await?;
    state.open_sessions.remove(&session.id);
    tracing::info!(session = %session.id, "session ended");
    Ok(empty(StatusCode::NO_CONTENT))
}
