//! The `stream` function: `GET|HEAD /api/v1/stream/{id}` — auth, decision, session, redirect or
//! JSON (SPEC §3, §6). A thin adapter: the request goes to `stream_http::handle`, whose router
//! sends it to `stream_http::handlers::stream`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stream_http::lambda::run_http().await
}
