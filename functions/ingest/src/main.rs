//! The `ingest` function: S3 ObjectCreated on the upload prefix → probe → media record (SPEC §6).
//! Thin: the work is `stream_service::ingest::ingest_object_keys`.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{service_fn, LambdaEvent};
use stream_service::state::AppState;

async fn handle(
    state: &AppState,
    event: LambdaEvent<S3Event>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let keys = event
        .payload
        .records
        .iter()
        .filter_map(|r| r.s3.object.key.as_deref());
    // A storage error fails the invocation, so Lambda retries the event; ingest is idempotent.
    let outcomes = stream_service::ingest::ingest_object_keys(state, keys).await?;
    Ok(serde_json::json!({ "ingested": outcomes }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = AppState::init_from_env().await?;
    lambda_runtime::run(service_fn(|ev| handle(&state, ev))).await
}
