//! The HTTP handlers: pure functions of (state, request). The Lambda functions and `streamd`
//! call [`handle`]; routing, request ids, tracing, CORS and error mapping happen here once.

pub mod hls;
pub mod http;
pub mod media;
pub mod open_sessions;
pub mod progress;
pub mod stream;

use ::http::{header, HeaderValue, Method, StatusCode};
use tracing::Instrument;

use self::http::{empty, error_response, json, Req, Resp};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id: the caller's `x-request-id` when it is sane, else a new one.
pub fn request_id(req: &Req) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_string)
        .unwrap_or_else(crate::ids::random_id)
}

/// Handles one request. Never panics on input; every error becomes the JSON error body.
pub async fn handle(state: &AppState, req: Req) -> Resp {
    let rid = request_id(&req);
    // The path only: query strings may carry tokens and must never reach a log line.
    let span = tracing::info_span!("request", request_id = %rid, method = %req.method(), path = %req.uri().path());
    async {
        let started = std::time::Instant::now();
        let mut resp = match route(state, &req).await {
            Ok(r) => r,
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::error!(error = %e, "request failed");
                } else {
                    tracing::info!(error = %e, "request refused");
                }
                error_response(&e, &rid)
            }
        };
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&rid) {
            h.insert(REQUEST_ID_HEADER, v);
        }
        if let Ok(v) = HeaderValue::from_str(&state.config.cors_origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-request-id, content-range, content-length, location, retry-after"));
        }
        tracing::info!(status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "done");
        resp
    }
    .instrument(span)
    .await
}

async fn caller(state: &AppState, req: &Req) -> Result<Caller> {
    state.verifier.verify_header(self::http::header_str(req, header::AUTHORIZATION)).await
}

async fn route(state: &AppState, req: &Req) -> Result<Resp> {
    let path = req.uri().path();
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return Ok(preflight());
    }
    if path == "/healthz" {
        return Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"})));
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return Err(Error::NotFound("route"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    // HLS routes carry their own authorization (the session token): players cannot add headers.
    if let ["hls", hls_parts @ ..] = parts.as_slice() {
        return hls::route(state, req, hls_parts).await;
    }
    // Authenticate before routing further: an unauthenticated caller learns nothing.
    let who = caller(state, req).await?;
    match (parts.as_slice(), &method) {
        (["uploads"], &Method::POST) => media::create_upload(state, &who, req).await,
        (["media"], &Method::GET) => media::list(state, &who).await,
        (["media", id], &Method::GET) => media::get(state, &who, id).await,
        (["media", id], &Method::PATCH) => media::patch(state, &who, id, req).await,
        (["progress", id], &Method::PUT) => progress::put(state, &who, id, req).await,
        (["progress", id], &Method::GET) => progress::get(state, &who, id).await,
        (["stream", id], &Method::GET | &Method::HEAD) => stream::stream(state, &who, req, id).await,
        (["uploads"] | ["media"] | ["media", _] | ["progress", _] | ["stream", _], _) => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound("route")),
    }
}

fn preflight() -> Resp {
    let mut r = empty(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type, range, x-request-id"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    r
}
