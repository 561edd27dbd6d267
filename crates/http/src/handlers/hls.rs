//! `/api/v1/hls/{session}/...` (SPEC §3 "HLS"): playlists, segment redirects with just-in-time
//! encoding, and ending a session. Authorized by the session token in the `token` query
//! parameter (players cannot add headers to segment requests), which the playlists carry on
//! every URI they emit.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use stream_core::error::{Error, Result};
use stream_service::hls::{self, HlsSession};
use stream_service::segments::request::Delivery;
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
        Delivery::Ready(url) => redirect(&url, "private, max-age=60"),
        Delivery::Pending => {
            let message = "The segment is still being made; retry shortly.";
            let mut r = error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "segment_pending",
                message,
                rid,
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(SEGMENT_RETRY_AFTER),
            );
            Ok(r)
        }
        Delivery::Failed(message) => Err(Error::Conflict {
            code: "segment_failed",
            message,
        }),
    }
}

/// `DELETE /hls/{session}`: with the session token, or the owner's (or an admin's) bearer token.
pub async fn end_session(state: &AppState, req: &Req, session: &str) -> Result<Resp> {
    let q = query(req);
    let bearer = header_str(req, header::AUTHORIZATION);
    hls::end(state, session, q.get("token").map(String::as_str), bearer).await?;
    Ok(crate::response::empty(StatusCode::NO_CONTENT))
}
