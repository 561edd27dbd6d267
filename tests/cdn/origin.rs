//! The origins behind the stand-in: an HTTP server (the API, a Lambda function URL, a test
//! double) or an S3 bucket read as CloudFront reads it through origin access control.
//!
//! **S3 with origin access control.** CloudFront signs its own request to the bucket with the
//! distribution's service principal (SigV4), whatever the viewer sent; the stand-in does the
//! same with the SDK's credentials (LocalStack's), so the bucket stays private and no presigned
//! URL is involved. GET passes the viewer's `Range` through. A missing key is `403`, not `404`:
//! the OAC policy grants `s3:GetObject` only, and "If you don't have the `s3:ListBucket`
//! permission, Amazon S3 returns an HTTP status code 403 Access Denied error"
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>). That is what an
//! origin group's failover on `403` is for.
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html>
//!
//! **HTTP origins** get the request over one pooled client (kept-alive connections), with the
//! origin's connection and read timeouts from the template.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

/// Where an origin id of the distribution sends its requests.
#[derive(Clone, Debug)]
pub enum Origin {
    /// An HTTP server at this base URL (`http://127.0.0.1:PORT`, no trailing path).
    Http(String),
    /// An S3 bucket at this endpoint (path-style, as LocalStack serves it).
    S3 { endpoint: String, bucket: String },
}

impl Origin {
    pub fn http(base: &str) -> Origin {
        Origin::Http(base.trim_end_matches('/').to_string())
    }
    pub fn s3(endpoint: &str, bucket: &str) -> Origin {
        Origin::S3 {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
        }
    }
}

/// An origin ready to fetch from.
#[derive(Clone)]
pub(crate) enum Target {
    Http {
        base: String,
        client: reqwest::Client,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

impl Target {
    pub(crate) async fn new(origin: &Origin, connect_timeout: Duration) -> Result<Target, String> {
        Ok(match origin {
            Origin::Http(base) => Target::Http {
                base: base.clone(),
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(connect_timeout)
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?,
            },
            Origin::S3 { endpoint, bucket } => {
                let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                let conf = aws_sdk_s3::config::Builder::from(&sdk)
                    .endpoint_url(endpoint)
                    .force_path_style(true)
                    .build();
                Target::S3 {
                    client: aws_sdk_s3::Client::from_conf(conf),
                    bucket: bucket.clone(),
                }
            }
        })
    }
}

/// A request as CloudFront sends it to an origin.
pub(crate) struct OriginRequest {
    pub method: Method,
    /// The origin path (`OriginPath`) and the viewer's raw path.
    pub path: String,
    /// The forwarded query (raw pairs joined by `&`), empty for none.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub(crate) struct OriginResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why an origin gave no response.
#[derive(Debug)]
pub(crate) enum Unreachable {
    /// Could not connect (CloudFront: `502`).
    Connect(String),
    /// No (complete) response within the read timeout (CloudFront: `504`).
    Timeout,
}

pub(crate) async fn fetch(
    target: &Target,
    req: &OriginRequest,
    read_timeout: Duration,
) -> Result<OriginResponse, Unreachable> {
    match target {
        Target::Http { base, client } => {
            let mut url = format!("{base}{}", req.path);
            if !req.query.is_empty() {
                url.push('?');
                url.push_str(&req.query);
            }
            let mut rb = client
                .request(req.method.clone(), url)
                .headers(req.headers.clone())
                .timeout(read_timeout);
            if !req.body.is_empty() {
                rb = rb.body(req.body.clone());
            }
            let r = rb.send().await.map_err(|e| {
                if e.is_timeout() {
                    Unreachable::Timeout
                } else {
                    Unreachable::Connect(e.to_string())
                }
            })?;
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.bytes().await.map_err(|e| {
                if e.is_timeout() {
                    Unreachable::Timeout
                } else {
                    Unreachable::Connect(e.to_string())
                }
            })?;
            Ok(OriginResponse {
                status,
                headers,
                body,
            })
        }
        Target::S3 { client, bucket } => {
            tokio::time::timeout(read_timeout, s3(client, bucket, req))
                .await
                .map_err(|_| Unreachable::Timeout)?
        }
    }
}

/// GET/HEAD on the object named by the path, as OAC would; other methods are refused as a
/// bucket that only grants `s3:GetObject` refuses them.
async fn s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    req: &OriginRequest,
) -> Result<OriginResponse, Unreachable> {
    let key = super::signed_url::percent_decode(req.path.trim_start_matches('/'));
    let range = req
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match req.method {
        Method::GET => {
            let out = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .set_range(range)
                .send()
                .await;
            match out {
                Ok(o) => {
                    let mut headers = HeaderMap::new();
                    let mut put = |name: header::HeaderName, v: Option<String>| {
                        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
                            headers.insert(name, v);
                        }
                    };
                    put(header::CONTENT_TYPE, o.content_type.clone());
                    put(header::ETAG, o.e_tag.clone());
                    put(header::CACHE_CONTROL, o.cache_control.clone());
                    put(header::CONTENT_RANGE, o.content_range.clone());
                    put(header::CONTENT_ENCODING, o.content_encoding.clone());
                    put(header::CONTENT_DISPOSITION, o.content_disposition.clone());
                    put(header::ACCEPT_RANGES, Some("bytes".into()));
                    put(
                        header::LAST_MODIFIED,
                        o.last_modified
                            .and_then(|d| d.fmt(aws_smithy_types_date_format()).ok()),
                    );
                    let status = if o.content_range.is_some() {
                        StatusCode::PARTIAL_CONTENT
                    } else {
                        StatusCode::OK
                    };
                    let body = o
                        .body
                        .collect()
                        .await
                        .map_err(|e| Unreachable::Connect(format!("S3 body: {e}")))?
                        .into_bytes();
                    Ok(OriginResponse {
                        status,
                        headers,
                        body,
                    })
                }
                Err(e) => {
                    if e.raw_response().is_none() {
                        eprintln!(
                            "cdn stand-in: the bucket gave no response: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        );
                    }
                    Ok(s3_error(e.raw_response().map(|r| r.status().as_u16())))
                }
            }
        }
        Method::HEAD => {
            let out = client.head_object().bucket(bucket).key(&key).send().await;
            match out {
                Ok(o) => {
                    let mut headers = HeaderMap::new();
                    if let Some(v) = o.content_type.and_then(|v| HeaderValue::from_str(&v).ok()) {
                        headers.insert(header::CONTENT_TYPE, v);
                    }
                    if let Some(n) = o.content_length {
                        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n.max(0) as u64));
                    }
                    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                    Ok(OriginResponse {
                        status: StatusCode::OK,
                        headers,
                        body: Bytes::new(),
                    })
                }
                Err(e) => {
                    if e.raw_response().is_none() {
                        eprintln!(
                            "cdn stand-in: the bucket gave no response: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        );
                    }
                    Ok(s3_error(e.raw_response().map(|r| r.status().as_u16())))
                }
            }
        }
        _ => Ok(s3_error(Some(403))),
    }
}

fn aws_smithy_types_date_format() -> aws_sdk_s3::primitives::DateTimeFormat {
    aws_sdk_s3::primitives::DateTimeFormat::HttpDate
}

/// S3's answer to a failed read: a missing key is `403` (no `s3:ListBucket`), a bad range
/// `416`, anything else its own status (`502` when there was no HTTP response at all).
fn s3_error(status: Option<u16>) -> OriginResponse {
    let (status, code) = match status {
        Some(404) | Some(403) => (StatusCode::FORBIDDEN, "AccessDenied"),
        Some(416) => (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
        Some(s) => (
            StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY),
            "Error",
        ),
        None => (StatusCode::BAD_GATEWAY, "NoResponse"),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    OriginResponse {
        status,
        headers,
        body: Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code}</Message></Error>"
        )),
    }
}
