//! Where jobs run: an in-process worker pool bounded by the cores (embedded, and the cloud
//! handlers in tests), or the `transcode` Lambda function invoked asynchronously (cloud).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use stream_core::error::Result;

use super::worker::{self, Job, WorkerContext};

#[async_trait]
pub trait Dispatcher: Send + Sync {
    /// Starts `job` (already claimed) without waiting for it.
    async fn dispatch(&self, job: Job) -> Result<()>;
    /// Jobs started by this process (for tests and logs).
    fn started(&self) -> u64;
    /// Whether jobs run in this process (their completion then signals `segment_events`, and
    /// work may go on after a response, which a Lambda invocation cannot count on).
    fn in_process(&self) -> bool {
        false
    }
}

/// Runs jobs as tokio tasks, at most `workers` at once (ffmpeg is CPU-bound). FIFO: the segment
/// a player waits for is dispatched before its read-ahead.
pub struct InProcess {
    permits: Arc<Semaphore>,
    started: AtomicU64,
    ctx: WorkerContext,
}

impl InProcess {
    pub fn new(workers: usize, ctx: WorkerContext) -> Self {
        InProcess {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            started: AtomicU64::new(0),
            ctx,
        }
    }
}

#[async_trait]
impl Dispatcher for InProcess {
    async fn dispatch(&self, job: Job) -> Result<()> {
        self.started.fetch_add(1, Ordering::Relaxed);
        let (ctx, permits) = (self.ctx.clone(), self.permits.clone());
        // Not tied to the request: a client that disconnects does not cancel the encode (its
        // retry will want it).
        // It carries the request's span (its request id) into the job's logs.
        let job_run = async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            if let Err(e) = worker::run(&ctx, &job).await {
                tracing::error!(error = %e, rendition = %job.rendition, kind = ?job.kind, "job could not run; its claims are left to their lease");
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(job_run));
        Ok(())
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    fn in_process(&self) -> bool {
        true
    }
}

/// Invokes the `transcode` function with `InvocationType=Event` (returns at once in AWS).
#[cfg(feature = "aws")]
pub struct LambdaInvoke {
    client: aws_sdk_lambda::Client,
    function: String,
    started: AtomicU64,
}

#[cfg(feature = "aws")]
impl LambdaInvoke {
    pub fn new(sdk: &aws_config::SdkConfig, function: &str) -> Self {
        LambdaInvoke {
            client: aws_sdk_lambda::Client::new(sdk),
            function: function.to_string(),
            started: AtomicU64::new(0),
        }
    }
}

#[cfg(feature = "aws")]
#[async_trait]
impl Dispatcher for LambdaInvoke {
    async fn dispatch(&self, job: Job) -> Result<()> {
        self.started.fetch_add(1, Ordering::Relaxed);
        use stream_core::error::Error;
        let payload = serde_json::to_vec(&job).map_err(Error::internal)?;
        self.client
            .invoke()
            .function_name(&self.function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| {
                Error::Unavailable(format!(
                    "Lambda Invoke {}: {}",
                    self.function,
                    aws_sdk_lambda::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(())
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
}
