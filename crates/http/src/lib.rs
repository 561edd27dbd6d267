//! The HTTP edge: where HTTP begins. Every request of both shapes (the Lambda functions through
//! [`lambda`], `streamd` through axum) enters at [`handle`], a function of the service state and
//! an `http::Request<Bytes>`. Here, once: the request id and its tracing span, routing by the one
//! route table ([`routes`]), authentication, CORS, and the mapping of every domain error to a
//! status and the JSON error body ([`response::error_response`]).
//!
//! # Layout
//!
//! - [`routes`]: the route table (method, path template, function, auth) and its matcher.
//! - [`handlers`]: one module per resource; each parses, calls `stream_service`, shapes.
//! - [`wire`]: the request and response bodies, and their JSON schemas.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the table and the wire types.
//! - [`response`]: JSON bodies, redirects, the error mapping, query and header readers.
//! - [`lambda`] (feature `lambda`): the adapter from `lambda_http` events.

pub mod handlers;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod openapi;
pub mod response;
pub mod routes;
pub mod wire;

use http::{header, HeaderValue, Method, StatusCode};
use stream_core::error::{Error, Result};
use stream_core::model::Caller;
use stream_service::AppState;
use tracing::Instrument;

use self::handlers::{download, hls, media, progress, stream, uploads};
use self::response::{empty, error_body, error_response, json, status_of, Req, Resp};
use self::routes::{param, Auth, Resolution, RouteId};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The largest request header block accepted (SPEC §2: 16 KiB), counted as on the wire: each
/// line's name, `: `, value and CRLF. A larger one is refused with `431` before any work.
pub const MAX_HEADER_BLOCK: usize = 16 * 1024;

/// The longest request target (path and query) accepted. Every URL this service hands out
/// (playlists with their session token, edge signatures, capability queries) is well under
/// 2 KiB; a longer one is refused with `414` before any work, rather than parsed and logged.
pub const MAX_REQUEST_TARGET: usize = 8 * 1024;

/// The size of `headers` as an HTTP/1.1 header block.
pub fn header_block_size(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum()
}

/// The `431` of a request whose header block is over [`MAX_HEADER_BLOCK`].
pub fn headers_too_large(request_id: &str) -> Resp {
    let message = format!("the request's headers exceed {MAX_HEADER_BLOCK} bytes");
    let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    error_body(
        status,
        "request_header_fields_too_large",
        &message,
        request_id,
    )
}

/// The request id: the caller's `x-request-id` when it is sane, else a new one.
pub fn request_id(req: &Req) -> String {
    request_id_of(req.headers())
}

/// [`request_id`] from the headers alone (for routes outside [`handle`], such as `streamd`'s).
pub fn request_id_of(headers: &http::HeaderMap) -> String {
    let sane = |v: &&str| {
        !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let given = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
    given
        .filter(sane)
        .map(str::to_string)
        .unwrap_or_else(stream_core::ids::random_id)
}

/// Adds the request id and the CORS headers every answer carries, and `no-store` to an error
/// that says nothing of caching: a CDN caches error answers for a while by default (CloudFront:
/// 10 s, keyed without `Authorization`), which must never happen to a user's error.
pub fn finish_headers(resp: &mut Resp, request_id: &str, cors_origin: &str) {
    let error = resp.status().is_client_error() || resp.status().is_server_error();
    let h = resp.headers_mut();
    if error && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(cors_origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        let exposed = "x-request-id, content-range, content-length, location, retry-after";
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(exposed),
        );
    }
}

/// Handles one request. Never panics on input; every error becomes the JSON error body.
pub async fn handle(state: &AppState, req: Req) -> Resp {
    let rid = request_id(&req);
    // The path only: query strings may carry tokens and must never reach a log line.
    let span = tracing::info_span!("request", request_id = %rid, method = %req.method(), path = %req.uri().path());
    async {
        let started = std::time::Instant::now();
        let mut resp = match route(state, &req, &rid).await {
            Ok(r) => r,
            Err(e) => {
                if status_of(&e).is_server_error() {
                    tracing::error!(error = %e, "request failed");
                } else {
                    tracing::info!(error = %e, "request refused");
                }
                error_response(&e, &rid)
            }
        };
        finish_headers(&mut resp, &rid, &state.config.cors_origin);
        let elapsed_us = started.elapsed().as_micros() as u64;
        tracing::info!(status = resp.status().as_u16(), elapsed_us, "done");
        resp
    }
    .instrument(span)
    .await
}

async fn caller(state: &AppState, req: &Req) -> Result<Caller> {
    state
        .verifier
        .verify_header(response::header_str(req, header::AUTHORIZATION))
        .await
}

fn method_not_allowed(rid: &str) -> Resp {
    error_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
        rid,
    )
}

async fn route(state: &AppState, req: &Req, rid: &str) -> Result<Resp> {
    if header_block_size(req.headers()) > MAX_HEADER_BLOCK {
        return Ok(headers_too_large(rid));
    }
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_REQUEST_TARGET {
        let message = format!("the request's path and query exceed {MAX_REQUEST_TARGET} bytes");
        return Ok(error_body(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &message,
            rid,
        ));
    }
    if req.method() == Method::OPTIONS {
        return Ok(preflight());
    }
    let path = req.uri().path();
    let (route, params) = match routes::resolve(req.method(), path) {
        Resolution::Found(route, params) => (route, params),
        miss => {
            // Under the API, an unauthenticated caller learns nothing, not even which paths
            // exist (HLS paths carry their own authorization).
            let guarded = path.starts_with("/api/v1/") && !path.starts_with("/api/v1/hls/");
            if guarded {
                caller(state, req).await?;
            }
            return match miss {
                Resolution::WrongMethod => Ok(method_not_allowed(rid)),
                _ => Err(Error::NotFound("route")),
            };
        }
    };
    let limit = route.max_body();
    if req.body().len() > limit {
        let message = match limit {
            0 => "this route takes no request body".to_string(),
            n => format!("this route's request body is limited to {n} bytes"),
        };
        return Err(Error::TooLarge { message });
    }
    let who = match route.auth {
        Auth::Bearer => Some(caller(state, req).await?),
        Auth::Public | Auth::SessionToken | Auth::EdgeSignature => None,
    };
    let p = |name| param(&params, name);
    match (route.id, who.as_ref()) {
        (RouteId::Health, _) => Ok(json(
            StatusCode::OK,
            &wire::Health {
                status: "ok".into(),
            },
        )),
        (RouteId::OpenApi, _) => Ok(openapi::response()),
        (RouteId::CreateUpload, Some(c)) => media::create_upload(state, c, req).await,
        (RouteId::UploadParts, Some(c)) => uploads::parts(state, c, p("id"), req).await,
        (RouteId::UploadProgress, Some(c)) => uploads::progress(state, c, p("id")).await,
        (RouteId::CompleteUpload, Some(c)) => uploads::complete(state, c, p("id"), req).await,
        (RouteId::AbortUpload, Some(c)) => uploads::abort(state, c, p("id")).await,
        (RouteId::ListMedia, Some(c)) => media::list(state, c).await,
        (RouteId::GetMedia, Some(c)) => media::get(state, c, p("id")).await,
        (RouteId::PatchMedia, Some(c)) => media::patch(state, c, p("id"), req).await,
        (RouteId::AddSubtitles, Some(c)) => media::add_subtitles(state, c, p("id"), req).await,
        (RouteId::DeleteSubtitles, Some(c)) => {
            media::delete_subtitles(state, c, p("id"), p("subtitle_id")).await
        }
        (RouteId::PutProgress, Some(c)) => progress::put(state, c, p("id"), req).await,
        (RouteId::GetProgress, Some(c)) => progress::get(state, c, p("id")).await,
        (RouteId::Stream, Some(c)) => stream::stream(state, c, req, p("id")).await,
        (RouteId::Download, Some(c)) => download::download(state, c, req, p("id")).await,
        (RouteId::EndSession, _) => hls::end_session(state, req, p("session")).await,
        (RouteId::Master, _) => hls::master(state, req, p("session")).await,
        (RouteId::Variant, _) => hls::variant(state, req, p("session"), p("rendition")).await,
        (RouteId::Segment, _) => {
            hls::segment(state, req, rid, (p("session"), p("rendition"), p("file"))).await
        }
        (RouteId::Rendition, _) => {
            hls::rendition(state, req, rid, (p("content_key"), p("file"))).await
        }
        (RouteId::Storyboard, _) => hls::storyboard(state, req, p("id")).await,
        (_, None) => Err(Error::Internal("a bearer route without a caller".into())),
    }
}

fn preflight() -> Resp {
    let mut r = empty(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    let methods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    let allowed = "authorization, content-type, range, x-request-id";
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(allowed),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}
