//! The signed object route: the embedded stand-in for S3 presigned URLs.
//! `GET`/`HEAD` answer ranges with `206` (tower-http's `ServeFile`); `PUT` streams the body to a
//! temporary file, publishes it whole with a rename, and starts ingest. A `PUT` to a part URL
//! (`&upload_id=..&part=..`, signed with them) stores one part of a multipart upload the same
//! way and answers its `ETag`; ingest starts when the upload is completed (`POST
//! /uploads/{id}/complete`), not here. Either is refused (`409 upload_complete`) once the media
//! is no longer `uploading`: an upload URL writes once. `OPTIONS` answers the CORS
//! preflight of a page on another origin (a PUT with a `Content-Type`).
//!
//! Test only: with `STREAM_TEST_THROTTLE_BYTES_PER_SEC` set, the bodies of rendition objects
//! (`renditions/...`: HLS segments and init segments) are sent in small chunks at that rate, every
//! response sharing one simulated link, so a real player's ABR can be exercised against a slow
//! network (tests/tests/browser.rs). Unset (the default), nothing is throttled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use stream_core::Error;
use stream_http::response::{error_body, error_response};
use stream_storage::embedded::disk_error;
use stream_storage::signed_url::{Part, Scope, SignatureError, SignedMethod};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tracing::Instrument;

use crate::Server;

#[derive(Deserialize)]
pub struct Signature {
    method: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
    /// A part URL of a multipart upload names its upload and part number (both signed).
    upload_id: Option<String>,
    part: Option<u32>,
    /// A download URL's file name (signed): answered as `Content-Disposition: attachment`.
    filename: Option<String>,
}

impl Signature {
    /// What the URL says it is limited to; a URL naming a part and a file name is neither
    /// (`None` in the outer option: refused).
    fn part(&self) -> Option<Part<'_>> {
        match self.scope() {
            Some(Some(Scope::Part(p))) => Some(p),
            _ => None,
        }
    }

    fn scope(&self) -> Option<Option<Scope<'_>>> {
        match (
            self.upload_id.as_deref(),
            self.part,
            self.filename.as_deref(),
        ) {
            (Some(upload_id), Some(number), None) => {
                Some(Some(Scope::Part(Part { upload_id, number })))
            }
            (None, None, Some(name)) => Some(Some(Scope::Attachment(name))),
            (None, None, None) => Some(None),
            _ => None,
        }
    }
}

fn reply(e: Error, rid: &str) -> Response {
    let r = error_response(&e, rid);
    let (parts, body) = r.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// The embedded object store (the route is mounted only when there is one).
fn store(server: &Server) -> Result<&stream_storage::embedded::FsObjectStore, Error> {
    server
        .local_objects()
        .ok_or_else(|| Error::Internal("the object route without an embedded store".into()))
}

fn check(server: &Server, sig: &Signature, method: SignedMethod, key: &str) -> Result<(), Error> {
    let store = store(server)?;
    let (Some(m), Some(exp), Some(s)) =
        (sig.method.as_deref(), sig.expires, sig.signature.as_deref())
    else {
        return Err(Error::Forbidden("missing URL signature".into()));
    };
    if SignedMethod::parse(m) != Some(method) {
        return Err(Error::Forbidden(
            "the URL is not signed for this method".into(),
        ));
    }
    let scope = sig
        .scope()
        .ok_or_else(|| Error::Forbidden("the URL signature is invalid".into()))?;
    let now = chrono::Utc::now().timestamp();
    store
        .signer()
        .verify_scoped(method, key, scope, exp, s, now)
        .map_err(|e| match e {
            SignatureError::Expired => Error::Forbidden("the URL has expired".into()),
            SignatureError::Invalid => Error::Forbidden("the URL signature is invalid".into()),
        })
}

/// The route's extractors are taken as `Result`s: axum's own rejection of a key that is not
/// UTF-8 once decoded, or of a signature parameter that does not parse (`expires=abc`), is a
/// plain-text body; every answer of this route is the JSON error of SPEC §3 instead.
pub async fn object(
    State(server): State<Arc<Server>>,
    key: Result<Path<String>, PathRejection>,
    sig: Result<Query<Signature>, QueryRejection>,
    req: Request,
) -> Response {
    let rid = stream_core::ids::random_id();
    let (key, sig) = match (key, sig) {
        (Ok(Path(key)), Ok(Query(sig))) => (key, sig),
        (Err(_), _) => return reply(Error::NotFound("object"), &rid),
        (_, Err(_)) => {
            let e = Error::Forbidden("the URL signature is invalid".into());
            return reply(e, &rid);
        }
    };
    let span = tracing::info_span!("object", request_id = %rid, method = %req.method(), key = %key);
    async move {
        let mut resp = match *req.method() {
            Method::GET | Method::HEAD => match check(&server, &sig, SignedMethod::Get, &key) {
                Ok(()) => serve(&server, &key, sig.filename.as_deref(), req)
                    .await
                    .unwrap_or_else(|e| reply(e, &rid)),
                Err(e) => reply(e, &rid),
            },
            Method::PUT => match check(&server, &sig, SignedMethod::Put, &key) {
                Ok(()) => upload(&server, &key, sig.part(), req)
                    .await
                    .unwrap_or_else(|e| reply(e, &rid)),
                Err(e) => reply(e, &rid),
            },
            Method::OPTIONS => preflight(),
            _ => {
                let r = error_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "method not allowed",
                    &rid,
                );
                let (parts, body) = r.into_parts();
                Response::from_parts(parts, Body::from(body))
            }
        };
        if let Ok(v) = HeaderValue::from_str(&server.state.config.cors_origin) {
            resp.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            resp.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("content-range, content-length, etag, accept-ranges"),
            );
        }
        tracing::info!(status = resp.status().as_u16(), "done");
        resp
    }
    .instrument(span)
    .await
}

async fn serve(
    server: &Server,
    key: &str,
    filename: Option<&str>,
    req: Request,
) -> Result<Response, Error> {
    let path = store(server)?.path_of(key)?;
    if !tokio::fs::metadata(&path)
        .await
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        return Err(Error::NotFound("object"));
    }
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let svc = tower_http::services::ServeFile::new_with_mime(&path, &mime);
    let is_get = req.method() == Method::GET;
    let resp = svc
        .oneshot(req)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut resp = resp.map(Body::new);
    if is_get && key.starts_with("renditions/") && server.throttle.rate.is_some() {
        resp = resp.map(|b| server.throttle.clone().throttle(b));
    }
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // As S3 answers `response-content-disposition`; the name was signed, and one that is not a
    // valid header value is refused rather than sent half.
    if let Some(name) = filename {
        let value = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(|_| Error::invalid("invalid_parameter", "`filename` is not a file name"))?;
        resp.headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    if key.starts_with("uploads/") {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=3600"),
        );
    } else {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    Ok(resp)
}

/// S3's largest part.
const MAX_PART_BYTES: u64 = 5 << 30;

async fn upload(
    server: &Server,
    key: &str,
    part: Option<Part<'_>>,
    req: Request,
) -> Result<Response, Error> {
    let state = &server.state;
    // Like S3 with an ObjectCreated trigger on the upload prefix: any signed key may be written;
    // an upload key must belong to a media record still waiting for its bytes, and starts ingest.
    let media_id = stream_service::ingest::accept_upload(state, key).await?;
    let limit = match part {
        Some(_) => MAX_PART_BYTES.min(state.config.max_upload_bytes),
        None => state.config.max_upload_bytes,
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(Error::TooLarge {
                message: format!("the upload exceeds the limit of {limit} bytes"),
            });
        }
    }
    let write_once = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == stream_storage::WRITE_ONCE.1.as_bytes());
    let store = store(server)?;
    let tmp = store.temp_path();
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(disk_error)?;
        let mut stream = req.into_body().into_data_stream();
        let mut written: u64 = 0;
        while let Some(chunk) = stream.next().await {
            // A stalled client gets `408`, a broken connection `400`; the part written is
            // dropped below either way.
            let chunk = chunk.map_err(|e| crate::conn::body_error(&e, limit))?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(Error::TooLarge {
                    message: format!("the upload exceeds the limit of {limit} bytes"),
                });
            }
            file.write_all(&chunk).await.map_err(disk_error)?;
        }
        file.sync_all().await.map_err(disk_error)?;
        Ok(written)
    }
    .await;
    let written = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    if let Some(Part { upload_id, number }) = part {
        let etag = store.publish_part(&tmp, key, upload_id, number).await?;
        tracing::info!(bytes = written, part = number, "part stored");
        return Ok((StatusCode::OK, [(header::ETAG, etag)]).into_response());
    }
    // `If-None-Match: *` (what an upload URL asks for): written once, as in S3.
    if write_once {
        store.publish_new(&tmp, key).await?;
    } else {
        store.publish(&tmp, key).await?;
    }
    tracing::info!(bytes = written, "object stored");
    if let Some(id) = media_id {
        server.spawn_ingest(id);
    }
    Ok((StatusCode::OK, [(header::ETAG, format!("\"{written}\""))]).into_response())
}

fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, range, if-none-match"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// The test-only throttle's simulated link: one rate shared by every throttled response.
#[derive(Clone)]
pub struct Link {
    pub(crate) rate: Option<u64>,
    /// When the link is next free to send.
    free_at: Arc<Mutex<tokio::time::Instant>>,
}

impl Link {
    pub fn new(rate: Option<u64>) -> Link {
        Link {
            rate,
            free_at: Arc::new(Mutex::new(tokio::time::Instant::now())),
        }
    }

    /// Reserves the link for `n` bytes; returns when they may be sent.
    fn reserve(&self, n: usize, rate: u64) -> tokio::time::Instant {
        let mut free = self.free_at.lock().unwrap_or_else(|e| e.into_inner());
        let start = (*free).max(tokio::time::Instant::now());
        *free = start + Duration::from_secs_f64(n as f64 / rate as f64);
        *free
    }

    /// `body`, re-chunked into pieces of about 50 ms of link time, each sent when the link has
    /// carried it.
    pub(crate) fn throttle(self, body: Body) -> Body {
        let Some(rate) = self.rate else { return body };
        let piece = usize::try_from(rate / 20)
            .unwrap_or(usize::MAX)
            .clamp(512, 64 * 1024);
        let stream = body.into_data_stream();
        let s = futures_util::stream::unfold(
            (stream, Bytes::new(), self),
            move |(mut stream, mut pending, link)| async move {
                if pending.is_empty() {
                    match stream.next().await {
                        Some(Ok(b)) => pending = b,
                        Some(Err(e)) => return Some((Err(e), (stream, Bytes::new(), link))),
                        None => return None,
                    }
                }
                let out = pending.split_to(piece.min(pending.len()));
                tokio::time::sleep_until(link.reserve(out.len(), rate)).await;
                Some((Ok(out), (stream, pending, link)))
            },
        );
        Body::from_stream(s)
    }
}
