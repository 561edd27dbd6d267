//! Small HTTP helpers shared by the handlers: JSON bodies, errors, query strings.

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

pub type Req = Request<Bytes>;
pub type Resp = Response<Bytes>;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Resp {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Bytes::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// The JSON error body of SPEC §3.
pub fn error_response(err: &Error, request_id: &str) -> Resp {
    let mut r = json(err.status(), &serde_json::json!({"error": {"code": err.code(), "message": err.public_message(), "request_id": request_id}}));
    if matches!(err, Error::Unauthorized(_)) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    }
    if matches!(err, Error::Unavailable(_)) {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Parses a JSON request body, naming what is wrong with it.
pub fn parse_json<T: DeserializeOwned>(req: &Req) -> Result<T> {
    if req.body().is_empty() {
        return Err(Error::bad_request("invalid_body", "a JSON body is required"));
    }
    serde_json::from_slice(req.body()).map_err(|e| Error::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}

/// Decoded query parameters (last value wins).
pub fn query(req: &Req) -> std::collections::HashMap<String, String> {
    req.uri().query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

pub fn header_str<'a>(req: &'a Req, name: header::HeaderName) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
