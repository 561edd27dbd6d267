//! A counting tap in front of the local AWS emulators (LocalStack, DynamoDB Local, the Lambda
//! Invoke API of `cargo lambda watch`): the functions are pointed at it instead of the emulator
//! (`AWS_ENDPOINT_URL_*`), and it forwards every request unchanged while counting what it was:
//! S3 object GETs/PUTs/HEADs, DynamoDB reads and writes by operation, Lambda invocations. The
//! edge figures (issue 11: reads per segment, first viewer against later ones) are these counts.
//!
//! SigV4 signs the `Host` header, so the tap forwards the client's own `Host` (the tap's address)
//! with the request; the emulators verify the signature against exactly what was signed.
//!
//! **Asynchronous invocations as AWS makes them.** `cargo lambda watch` ignores
//! `X-Amz-Invocation-Type: Event`: it runs the function to its end and only then answers (AWS
//! queues the event and answers `202` at once). A function that invokes another asynchronously
//! (the `hls` function dispatching a `transcode` job) would then wait for that job inside its own
//! invocation, a nesting that never happens in AWS. The tap answers such an invocation itself,
//! `202` with an empty body at once, and hands it to the emulator in the background, as Lambda's
//! internal queue does; an invocation the emulator refuses or fails is counted (never reset:
//! [`Tap::async_failures`]) and logged to stderr (AWS would retry it twice and then drop it, or send it
//! to an on-failure destination; the tests count and never retry).
//! <https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html>
//!
//! The tap can also play the emulator going away (tests/tests/faults.rs): [`Tap::go_down`] closes
//! its listener and the connections clients keep open to it, so a client meets what it meets
//! when the emulator's process is stopped (connections refused and reset), without stopping the
//! emulator other tests share; [`Tap::come_back`] listens again on the same port.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Counts by kind: `s3:GET`, `s3:PUT`, `s3:HEAD`, `dynamodb:GetItem`, `lambda:Invoke`, ...
pub type Counts = BTreeMap<String, u64>;

pub struct Tap {
    /// `http://127.0.0.1:<port>`: what the functions use as the endpoint.
    pub url: String,
    addr: std::net::SocketAddr,
    app: axum::Router,
    counts: Arc<Mutex<Counts>>,
    async_failures: Arc<AtomicU64>,
    /// The serving task while the tap listens (`None` while it is down).
    running: Option<Running>,
}

struct Running {
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves `app` on `listener` until told to stop (then closes every connection, idle ones at
/// once, and returns).
fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> Running {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Running { shutdown: tx, task }
}

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
    counts: Arc<Mutex<Counts>>,
    /// Asynchronous invocations the emulator refused or failed (see the module doc).
    async_failures: Arc<AtomicU64>,
}

impl Tap {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Tap> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let counts: Arc<Mutex<Counts>> = Arc::default();
        let async_failures: Arc<AtomicU64> = Arc::default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let state = Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            client,
            counts: counts.clone(),
            async_failures: async_failures.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let running = serve(listener, app.clone());
        Ok(Tap {
            url,
            addr,
            app,
            counts,
            async_failures,
            running: Some(running),
        })
    }

    /// The emulator "stops": the listener is closed (new connections are refused) and so is
    /// every connection a client keeps to the tap (requests in flight are answered first).
    /// Returns once nothing listens any more.
    pub async fn go_down(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
            let _ = r.task.await;
        }
    }

    /// The emulator is back: listens again on the same port (clients keep their endpoint).
    pub async fn come_back(&mut self) -> std::io::Result<()> {
        if self.running.is_none() {
            let listener = tokio::net::TcpListener::bind(self.addr).await?;
            self.running = Some(serve(listener, self.app.clone()));
        }
        Ok(())
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Asynchronous invocations (`X-Amz-Invocation-Type: Event`) that the emulator refused or
    /// that failed since the tap started (not cleared by [`Tap::reset`]).
    pub fn async_failures(&self) -> u64 {
        self.async_failures.load(Ordering::Relaxed)
    }

    /// Starts counting again from zero.
    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    /// One count (0 when never seen).
    pub fn count(&self, kind: &str) -> u64 {
        self.counts().get(kind).copied().unwrap_or(0)
    }

    /// The sum of the counts whose kind starts with `prefix`.
    pub fn sum(&self, prefix: &str) -> u64 {
        self.counts()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
        }
    }
}

/// What a request is, for counting.
fn kind(method: &str, path: &str, target: Option<&str>) -> String {
    if let Some(op) = target.and_then(|t| t.rsplit('.').next()) {
        // DynamoDB's JSON protocol: `X-Amz-Target: DynamoDB_20120810.GetItem`.
        return format!("dynamodb:{op}");
    }
    if path.contains("/functions/") && path.ends_with("/invocations") {
        return "lambda:Invoke".into();
    }
    // S3, path style: `/<bucket>/<key>` is an object, `/<bucket>` the bucket.
    let object = path.trim_start_matches('/').split_once('/').is_some();
    format!("s3:{method}{}", if object { "" } else { " bucket" })
}

/// DynamoDB reads: the operations that read items.
pub const DYNAMODB_READS: [&str; 4] = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
];

async fn forward(State(up): State<Upstream>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path_q = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let k = kind(parts.method.as_str(), parts.uri.path(), target);
    let event = k == "lambda:Invoke"
        && parts
            .headers
            .get("x-amz-invocation-type")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Event"));
    if let Ok(mut c) = up.counts.lock() {
        *c.entry(k).or_default() += 1;
    }
    let body = match axum::body::to_bytes(body, 1 << 30).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("tap: body: {e}")).into_response(),
    };
    let mut rb = up
        .client
        .request(parts.method.clone(), format!("{}{path_q}", up.base));
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::CONNECTION {
            rb = rb.header(name, value);
        }
    }
    if event {
        // Queued, as Lambda queues an event: accepted now, run in the background.
        let (failures, what) = (up.async_failures.clone(), path_q.clone());
        tokio::spawn(async move {
            let failed = match rb.body(body).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => format!("{}", r.status()),
                Err(e) => e.to_string(),
            };
            eprintln!("tap: asynchronous invocation {what} failed: {failed}");
            failures.fetch_add(1, Ordering::Relaxed);
        });
        let mut accepted = Response::new(Body::empty());
        *accepted.status_mut() = StatusCode::ACCEPTED;
        return accepted;
    }
    let r = match rb.body(body).send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("tap: upstream: {e}")).into_response(),
    };
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = match r.bytes().await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("tap: body: {e}")).into_response(),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    for (name, value) in &headers {
        if name != header::TRANSFER_ENCODING && name != header::CONNECTION {
            resp.headers_mut().append(name, value.clone());
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn kinds() {
        assert_eq!(
            kind("POST", "/", Some("DynamoDB_20120810.GetItem")),
            "dynamodb:GetItem"
        );
        assert_eq!(
            kind("GET", "/bucket/renditions/k/seg_00000.m4s", None),
            "s3:GET"
        );
        assert_eq!(kind("PUT", "/bucket", None), "s3:PUT bucket");
        assert_eq!(
            kind("POST", "/2015-03-31/functions/transcode/invocations", None),
            "lambda:Invoke"
        );
    }
}
