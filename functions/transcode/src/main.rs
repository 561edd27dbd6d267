//! The `transcode` function (container image with ffmpeg): runs one claimed job — an init
//! segment, a video segment, a continuous audio pass, a download's assembly or a trick-play
//! sheet — and publishes what it made (SPEC §6). Invoked asynchronously by `hls` and `api`; the
//! event is a `stream_service::segments::worker::Task` (a rendition's `Job`, or a `SheetJob`).
//! It holds only what a worker needs (`WorkerContext`: the stores and ffmpeg).

use lambda_runtime::{service_fn, LambdaEvent};
use stream_service::segments::worker::{self, Task, WorkerContext};
use stream_service::state::AppState;

async fn handle(
    ctx: &WorkerContext,
    event: LambdaEvent<Task>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let task = event.payload;
    // A failed encode is recorded on the segment (not an invocation error: retrying the same
    // input would fail the same way; the claim's attempts bound the retries). Storage errors
    // fail the invocation; its claims are left to their lease.
    worker::run_task(ctx, &task).await?;
    Ok(match &task {
        Task::Rendition(job) => serde_json::json!({"rendition": job.rendition, "kind": job.kind}),
        Task::Sheet(job) => serde_json::json!({"sheet": job.sheet}),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ctx = AppState::worker_from_env().await?;
    lambda_runtime::run(service_fn(|ev| handle(&ctx, ev))).await
}
