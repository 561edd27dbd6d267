//! The `cleanup` function: the sessions table's DynamoDB stream, filtered to TTL deletions →
//! removes the renditions only the expired session used (SPEC §5, §6). Thin: the work is
//! `stream_service::cleanup::handle_stream_event`.

use lambda_runtime::{service_fn, LambdaEvent};
use stream_service::state::AppState;

async fn handle(
    state: &AppState,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let reports = stream_service::cleanup::handle_stream_event(state, &event.payload).await?;
    Ok(serde_json::json!({ "cleaned": reports }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = AppState::init_from_env().await?;
    lambda_runtime::run(service_fn(|ev| handle(&state, ev))).await
}
