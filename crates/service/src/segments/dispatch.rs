//! Where jobs run: an in-process worker pool bounded by the cores (embedded, and the cloud
//! handlers in tests), or the `transcode` Lambda function invoked asynchronously (cloud).
//!
//! **Priority** (SPEC §4 "Scheduling"): a job a client is waiting for goes before read-ahead.
//! The in-process pool keeps two queues and a free worker always takes the oldest waited-for job
//! before any read-ahead, whenever either was dispatched; read-ahead already running is not
//! interrupted. In the cloud every invocation has its own CPU, so there is nothing to order: the
//! priority is not sent.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::Semaphore;

use stream_core::error::Result;

use super::worker::{self, Job, WorkerContext};

#[async_trait]
pub trait Dispatcher: Send + Sync {
    /// Starts `job` (already claimed) without waiting for it.
    async fn dispatch(&self, job: Job, priority: Priority) -> Result<()>;
    /// Jobs started by this process (for tests and logs).
    fn started(&self) -> u64;
    /// Whether jobs run in this process (their completion then signals `segment_events`, and
    /// work may go on after a response, which a Lambda invocation cannot count on).
    fn in_process(&self) -> bool {
        false
    }
}

/// Whether a client is blocked on a job, or it is made ahead of the players.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A segment, init or rendition a request is waiting for.
    Waited,
    /// Read-ahead.
    ReadAhead,
}

/// The jobs dispatched and not started yet, oldest first in each queue.
#[derive(Default)]
struct Queues {
    waited: VecDeque<Job>,
    ahead: VecDeque<Job>,
}

impl Queues {
    fn push(&mut self, job: Job, priority: Priority) {
        match priority {
            Priority::Waited => self.waited.push_back(job),
            Priority::ReadAhead => self.ahead.push_back(job),
        }
    }

    /// The next job to run: waited-for work first.
    fn pop(&mut self) -> Option<Job> {
        self.waited.pop_front().or_else(|| self.ahead.pop_front())
    }
}

type RunJob = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs jobs as tokio tasks, at most `workers` at once (ffmpeg is CPU-bound), waited-for work
/// before read-ahead.
pub struct InProcess {
    permits: Arc<Semaphore>,
    queues: Arc<Mutex<Queues>>,
    started: AtomicU64,
    run: RunJob,
}

impl InProcess {
    pub fn new(workers: usize, ctx: WorkerContext) -> Self {
        Self::with_runner(workers, move |job: Job| {
            let ctx = ctx.clone();
            let run = async move {
                if let Err(e) = worker::run(&ctx, &job).await {
                    tracing::error!(error = %e, rendition = %job.rendition, kind = ?job.kind, "job could not run; its claims are left to their lease");
                }
            };
            Box::pin(run) as Pin<Box<dyn Future<Output = ()> + Send>>
        })
    }

    /// A pool that runs each job with `run` (the worker; tests give their own).
    fn with_runner<F>(workers: usize, run: F) -> Self
    where
        F: Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    {
        InProcess {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            queues: Arc::default(),
            started: AtomicU64::new(0),
            run: Arc::new(run),
        }
    }
}

#[async_trait]
impl Dispatcher for InProcess {
    async fn dispatch(&self, job: Job, priority: Priority) -> Result<()> {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(job, priority);
        let (queues, permits, run) = (self.queues.clone(), self.permits.clone(), self.run.clone());
        // One task per dispatch; each takes the best queued job once it has a worker (not
        // necessarily the one it was spawned for). Not tied to the request: a client that
        // disconnects does not cancel the encode (its retry will want it). It carries the
        // request's span into the logs.
        let task = async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let next = queues.lock().unwrap_or_else(|p| p.into_inner()).pop();
            if let Some(job) = next {
                run(job).await;
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
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
    // Every invocation has its own CPU: there is no queue to order, the priority is not sent.
    async fn dispatch(&self, job: Job, _priority: Priority) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::worker::JobKind;

    fn job(name: &str) -> Job {
        let (_, _, set) = stream_core::fixtures::remux_fixture();
        let rendition = set.video[0].id.clone();
        Job {
            set,
            rendition,
            kind: JobKind::Segment(0),
            worker: name.into(),
            also: vec![],
        }
    }

    /// With one worker busy on read-ahead and more read-ahead queued, a waited-for job
    /// dispatched last runs next, then the read-ahead in its order.
    #[tokio::test]
    async fn waited_for_work_runs_before_queued_read_ahead() {
        let order = Arc::new(Mutex::new(Vec::<String>::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (o, g) = (order.clone(), gate.clone());
        let pool = InProcess::with_runner(1, move |job: Job| {
            let (o, g) = (o.clone(), g.clone());
            Box::pin(async move {
                o.lock().unwrap().push(job.worker.clone());
                // Each job runs until the test lets it finish.
                g.acquire().await.unwrap().forget();
            })
        });
        pool.dispatch(job("ahead-1"), Priority::ReadAhead)
            .await
            .unwrap();
        while order.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        pool.dispatch(job("ahead-2"), Priority::ReadAhead)
            .await
            .unwrap();
        pool.dispatch(job("ahead-3"), Priority::ReadAhead)
            .await
            .unwrap();
        pool.dispatch(job("waited"), Priority::Waited)
            .await
            .unwrap();
        for n in 2..=4 {
            gate.add_permits(1);
            while order.lock().unwrap().len() < n {
                tokio::task::yield_now().await;
            }
        }
        gate.add_permits(1);
        assert_eq!(
            *order.lock().unwrap(),
            ["ahead-1", "waited", "ahead-2", "ahead-3"]
        );
        assert_eq!(pool.started(), 4);
    }
}
