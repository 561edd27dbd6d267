//! The `stream` function: `GET|HEAD /api/v1/stream/{id}` — auth, decision, session, redirect or
//! JSON (SPEC §3, §6). A thin adapter: the request goes to `common::api::handle`, whose router
//! sends it to `common::api::stream`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    common::lambda::run_http().await
}
