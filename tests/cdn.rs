//! A stand-in for the CDN in front of the cloud shape (the CloudFront distribution of
//! `infra/template.yaml`): one loopback origin that sends bucket paths (`/<bucket>/...`:
//! LocalStack's path-style object URLs, the template's `/renditions/*` behaviour) to S3 and
//! everything else to the API (streamd, or `cargo lambda watch`).
//!
//! Like CloudFront's S3 origin it forwards the query string (the presigned signature) and
//! sends the bucket's own `Host`, so S3 checks exactly the signature the handlers made; and
//! like any CDN it keeps client connections alive. A player then fetches playlists and
//! segments from one host, as it does in production (the handlers put
//! `STREAM_SEGMENT_URL_BASE` on segment redirects).

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where requests go; set once the origins are known.
#[derive(Default)]
struct Origins {
    api: OnceLock<String>,
    /// (S3 endpoint, `/<bucket>/`).
    s3: OnceLock<(String, String)>,
}

pub struct Cdn {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    origins: Arc<Origins>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Cdn {
    /// Listens on a free loopback port; requests get 502 until [`Cdn::route`] is called.
    pub async fn start() -> Cdn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the CDN stand-in");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let origins = Arc::new(Origins::default());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let app = axum::Router::new()
            .fallback(forward)
            .with_state((origins.clone(), client));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("CDN stand-in");
        });
        Cdn {
            url,
            origins,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// The API's base URL, the S3 endpoint and the bucket.
    pub fn route(&self, api: &str, s3_endpoint: &str, bucket: &str) {
        let _ = self.origins.api.set(api.trim_end_matches('/').to_string());
        let _ = self.origins.s3.set((
            s3_endpoint.trim_end_matches('/').to_string(),
            format!("/{bucket}/"),
        ));
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and `Host`: never forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::HOST
        || name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
}

async fn forward(
    State((origins, client)): State<(Arc<Origins>, reqwest::Client)>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let upstream = match (origins.s3.get(), origins.api.get()) {
        (Some((s3, bucket)), _) if path.starts_with(bucket.as_str()) => s3.clone(),
        (_, Some(api)) => api.clone(),
        _ => {
            return (
                StatusCode::BAD_GATEWAY,
                "the CDN stand-in has no origins yet",
            )
                .into_response()
        }
    };
    let body = match axum::body::to_bytes(body, 1 << 30).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("request body: {e}")).into_response(),
    };
    let mut rb = client.request(parts.method.clone(), format!("{upstream}{path}"));
    for (k, v) in &parts.headers {
        if !hop_by_hop(k) && k != header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    if !body.is_empty() {
        rb = rb.body(body);
    }
    let r = match rb.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("origin: {e}")).into_response(),
    };
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = match r.bytes().await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("origin body: {e}")).into_response(),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    for (k, v) in &headers {
        if !hop_by_hop(k) {
            resp.headers_mut().append(k, v.clone());
        }
    }
    resp
}
