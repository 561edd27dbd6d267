//! Connections: the accept loop, with the limits a slow or hostile client meets (SPEC §2).
//!
//! axum's own `serve` gives hyper no timer, so hyper's header-read timeout never fires there: a
//! client that sends its headers a byte at a time (slowloris), or opens a connection and sends
//! nothing, would hold a socket, a task and its buffers for as long as it likes, and a few
//! thousand of them exhaust the process's file descriptors. This loop serves the same router
//! with hyper's HTTP/1.1 connection builder and:
//! - a **header timeout**: the request line and headers must arrive within
//!   `Timeouts::header`, or hyper closes the connection (also an idle keep-alive connection
//!   that starts no new request);
//! - a **body idle timeout**: a request body that sends nothing for `Timeouts::body_idle` fails
//!   (tower-http's `TimeoutBody`, which restarts its clock at every frame), so the handler
//!   answers `408` and drops the half-written upload; a large upload on a slow but live link
//!   goes on, since only silence counts;
//! - **HTTP/1.1 only**: hyper-util's auto builder sniffs each new connection for the HTTP/2
//!   preface before any timeout runs, so a client that connects and sends nothing would be held
//!   forever (found by `tests/tests/limits.rs`); browsers speak HTTP/2 only over TLS, which a
//!   reverse proxy in front of `streamd` terminates, so cleartext HTTP/2 buys nothing here;
//! - a **graceful stop**: at shutdown the listener closes, and connections finish their
//!   in-flight requests (bounded by the caller's drain).
//!
//! In the cloud none of this is the functions' business: API Gateway, CloudFront and S3 hold
//! the client connections, with their own limits.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::timeout::{TimeoutBody, TimeoutError};

/// How long a client may take (`STREAM_HEADER_TIMEOUT_SECONDS`,
/// `STREAM_BODY_IDLE_TIMEOUT_SECONDS`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// To send the request line and headers.
    pub header: Duration,
    /// Between two pieces of a request body.
    pub body_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections to
/// finish their requests (at most `drain`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: not fatal; a
                    // short pause keeps an error storm from spinning the loop.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let app = app.clone();
        let idle = timeouts.body_idle;
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let req = req.map(|b| Body::new(TimeoutBody::new(idle, b)));
            app.clone().oneshot(req)
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open at the end of the drain; closing them");
    }
}

/// What reading a request body failed on, in the domain's words: over the route's `limit`
/// (`413`), a client that stopped sending (`408`), or a connection that broke (`400`).
pub fn body_error(e: &(dyn std::error::Error + 'static), limit: u64) -> stream_core::Error {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return stream_core::Error::TooLarge {
                message: format!("this request's body is limited to {limit} bytes"),
            };
        }
        if err.is::<TimeoutError>() {
            return stream_core::Error::TimedOut {
                message: "the request body stopped arriving".into(),
            };
        }
        cause = err.source();
    }
    stream_core::Error::invalid(
        "body_interrupted",
        format!("the request body was interrupted: {e}"),
    )
}
