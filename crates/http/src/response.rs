//! Responses: JSON bodies, the one mapping of a domain error to a status and the JSON error body
//! of SPEC §3, and small request readers (query, headers, JSON bodies).

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use stream_core::error::{Error, Result};

pub type Req = Request<Bytes>;
pub type Resp = Response<Bytes>;

/// The status of each domain error: the one place where the domain meets HTTP.
pub fn status_of(err: &Error) -> StatusCode {
    match err {
        Error::Invalid { .. } => StatusCode::BAD_REQUEST,
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict { .. } | Error::ConcurrentModification(_) => StatusCode::CONFLICT,
        Error::Gone { .. } => StatusCode::GONE,
        Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
        Error::Precondition { .. } => StatusCode::PRECONDITION_FAILED,
        Error::UnsupportedContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        // A full disk is a backing store refusing the work for now: the same answer (SPEC §3,
        // 503 + `Retry-After`), with its own code (`storage_full`).
        Error::Unavailable(_) | Error::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Bytes::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// A JSON error body with `status` (SPEC §3), never cached.
pub fn error_body(status: StatusCode, code: &str, message: &str, request_id: &str) -> Resp {
    let body = crate::wire::ErrorBody::new(code, message, request_id);
    let mut r = json(status, &body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The response of a domain error: its status, the JSON error body (internal details stay in
/// the logs), `WWW-Authenticate` on 401 and `Retry-After` on 503.
pub fn error_response(err: &Error, request_id: &str) -> Resp {
    let mut r = error_body(
        status_of(err),
        err.code(),
        &err.public_message(),
        request_id,
    );
    if matches!(err, Error::Unauthenticated(_)) {
        let v = HeaderValue::from_static("Bearer error=\"invalid_token\"");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if matches!(err, Error::Unavailable(_) | Error::StorageFull(_)) {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

/// A redirect to `url`.
pub fn redirect(url: &str, cache_control: &'static str) -> Result<Resp> {
    let mut r = empty(StatusCode::FOUND);
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(url).map_err(Error::internal)?,
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(r)
}

/// Whether a declared `Content-Type` is JSON (`application/json`, or `application/<x>+json`,
/// with any parameters). No declared type is taken as JSON: clients such as `curl --json` or a
/// bare `fetch` may omit it, and nothing else could be meant by a JSON operation.
fn declares_json(content_type: Option<&http::HeaderValue>) -> bool {
    let Some(v) = content_type else { return true };
    let Ok(v) = v.to_str() else { return false };
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|s| s.ends_with("+json"))
}

/// Parses a JSON request body, naming what is wrong with it. A body declared as anything but
/// JSON is refused (`415`) before it is read: a form or `text/plain` post is what a page on
/// another origin can send without a preflight, and a body in another format is a client bug
/// worth naming rather than guessing at.
pub fn parse_json<T: DeserializeOwned>(req: &Req) -> Result<T> {
    if !declares_json(req.headers().get(header::CONTENT_TYPE)) {
        return Err(Error::UnsupportedContentType(
            "the request body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    if req.body().is_empty() {
        return Err(Error::invalid("invalid_body", "a JSON body is required"));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| Error::invalid("invalid_body", format!("invalid JSON body: {e}")))
}

/// Decoded query parameters (last value wins).
pub fn query(req: &Req) -> std::collections::HashMap<String, String> {
    let parse = |q: &str| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    };
    req.uri().query().map(parse).unwrap_or_default()
}

pub fn header_str<'a>(req: &'a Req, name: header::HeaderName) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
