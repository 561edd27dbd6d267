//! `/api/v1/hls/{session}/...` (SPEC §3 "HLS"): playlists, segment redirects with just-in-time
//! encoding, and ending a session. Authorized by the session token in the `token` query
//! parameter (players cannot add headers to segment requests), which the playlists carry on
//! every URI they emit.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use stream_core::error::{Error, Result};
use stream_core::segment::IMMUTABLE;
use stream_service::edge::origin::{self, Answer};
use stream_service::hls::{self, HlsSession, SegmentAnswer};
use stream_service::AppState;

use crate::response::{error_body, header_str, query, redirect, Req, Resp};

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// Playlists are per session (the token is in the URL): a CDN may keep them briefly.
const PLAYLIST_CACHE: &str = "public, max-age=10";
/// Seconds a player is asked to wait when a segment is still being made.
const SEGMENT_RETRY_AFTER: &str = "1";

fn playlist_response(body: Bytes) -> Resp {
    let mut r = http::Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PLAYLIST_CACHE),
    );
    r
}

async fn open(state: &AppState, req: &Req, session: &str) -> Result<HlsSession> {
    hls::open(state, session, query(req).get("token").map(String::as_str)).await
}

pub async fn master(state: &AppState, req: &Req, session: &str) -> Result<Resp> {
    let s = open(state, req, session).await?;
    let start = match query(req).get("start") {
        None => None,
        Some(v) => {
            let bad = || Error::invalid("invalid_parameter", "`start` must be a number of seconds");
            Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .ok_or_else(bad)?,
            )
        }
    };
    Ok(playlist_response(hls::master(state, &s, start).await?))
}

pub async fn variant(state: &AppState, req: &Req, session: &str, rendition: &str) -> Result<Resp> {
    let s = open(state, req, session).await?;
    Ok(playlist_response(hls::variant(state, &s, rendition).await?))
}

pub async fn segment(
    state: &AppState,
    req: &Req,
    rid: &str,
    params: (&str, &str, &str),
) -> Result<Resp> {
    let (session, rendition, file) = params;
    let s = open(state, req, session).await?;
    match hls::segment(state, &s, rendition, file).await? {
        // The target URL expires; the redirect may be reused briefly by this session only.
        SegmentAnswer::Redirect(url) => redirect(&url, "private, max-age=60"),
        SegmentAnswer::Pending => Ok(pending(rid)),
        SegmentAnswer::Failed(message) => Err(failed(message)),
    }
}

/// `503` + `Retry-After` for a piece still being made; `no-store`, so no cache keeps it.
fn pending(rid: &str) -> Resp {
    let message = "The segment is still being made; retry shortly.";
    let mut r = error_body(
        StatusCode::SERVICE_UNAVAILABLE,
        "segment_pending",
        message,
        rid,
    );
    let h = r.headers_mut();
    h.insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(SEGMENT_RETRY_AFTER),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn failed(message: String) -> Error {
    Error::Conflict {
        code: "segment_failed",
        message,
    }
}

/// `GET /renditions/{content_key}/{file}` (SPEC §3 "Edge delivery"): the edge's origin. The
/// bytes of a made piece (`200`, immutable: the CDN caches them for every viewer), else made
/// just in time.
pub async fn rendition(
    state: &AppState,
    req: &Req,
    rid: &str,
    params: (&str, &str),
) -> Result<Resp> {
    let (content_key, file) = params;
    origin::authorize(state, req.uri().path(), req.uri().query().unwrap_or(""))?;
    let q = query(req);
    let session = q
        .get(stream_service::edge::SESSION_PARAM)
        .map(String::as_str);
    match origin::serve(state, content_key, file, session).await? {
        Answer::Object { body, content_type } => {
            let mut r = http::Response::new(body);
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
            Ok(r)
        }
        // Not cacheable: the next request finds the object in the bucket (the primary origin).
        Answer::TooLarge(url) => redirect(&url, "no-store"),
        Answer::Pending => Ok(pending(rid)),
        Answer::Failed(message) => Err(failed(message)),
    }
}

/// `GET /api/v1/storyboard/{id}?token=…` (SPEC §3 "Trick-play"): the WebVTT storyboard whose
/// cues name the sheets (signed edge URLs) and each tile's `#xywh`. Its sheet URLs expire with
/// the token, so it is the holder's own: kept briefly by the browser, never by a shared cache.
pub async fn storyboard(state: &AppState, req: &Req, media_id: &str) -> Result<Resp> {
    let token = query(req).get("token").cloned();
    let vtt = stream_service::trickplay::storyboard(state, media_id, token.as_deref()).await?;
    let mut r = http::Response::new(Bytes::from(vtt));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/vtt; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(r)
}

/// `DELETE /hls/{session}`: with the session token, or the owner's (or an admin's) bearer token.
pub async fn end_session(state: &AppState, req: &Req, session: &str) -> Result<Resp> {
    let q = query(req);
    let bearer = header_str(req, header::AUTHORIZATION);
    hls::end(state, session, q.get("token").map(String::as_str), bearer).await?;
    Ok(crate::response::empty(StatusCode::NO_CONTENT))
}
