//! The `api` function: uploads, media and progress routes (SPEC §6). A thin adapter.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stream_http::lambda::run_http().await
}
