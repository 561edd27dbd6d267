//! The `transcode` function (container image with ffmpeg): runs one claimed job — an init
//! segment, a video segment, or a continuous audio pass — and publishes what it made (SPEC §6).
//! Invoked asynchronously by `hls`; the event is a `common::segments::job::Job`.

use common::segments::job::{self, Job};
use common::state::AppState;
use lambda_runtime::{service_fn, LambdaEvent};

async fn handle(state: &AppState, event: LambdaEvent<Job>) -> Result<serde_json::Value, lambda_runtime::Error> {
    let job = event.payload;
    // A failed encode is recorded on the segment (not an invocation error: retrying the same
    // input would fail the same way; the claim's attempts bound the retries). Storage errors
    // fail the invocation.
    job::run(state, &job).await?;
    Ok(serde_json::json!({"rendition": job.rendition, "kind": job.kind}))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = AppState::init_from_env().await?;
    lambda_runtime::run(service_fn(|ev| handle(&state, ev))).await
}
