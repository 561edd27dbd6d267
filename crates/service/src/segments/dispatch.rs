//! Where jobs run: an in-process worker pool bounded by the cores (embedded, and the cloud
//! handlers in tests), or the `transcode` Lambda function invoked asynchronously (cloud).
//!
//! **Priority** (SPEC §4 "Scheduling"): a piece a client waits for (a segment, an init, the
//! first segment of another rung after an ABR switch, a seek) costs about what ffmpeg alone
//! takes for it, whatever read-ahead is doing. The in-process pool has two lanes:
//! - waited-for jobs have their own `workers` permits: they start at once, never behind
//!   read-ahead, queued or running;
//! - read-ahead runs its ffmpeg at `READ_AHEAD_NICE` (so a waited-for run sharing the cores
//!   gets nearly all of them) and starts (paused at its start, never interrupted) only when no
//!   waited-for video job of a **start or a seek** is queued or running, and on a free core:
//!   fewer waited-for jobs plus read-ahead running than `workers`. A video segment waited for
//!   **in stride** (`Priority::InStride`: its previous segment is made, so its client played on
//!   into it, or read-ahead queued for it was promoted) does not stop read-ahead: that is a
//!   player that caught up with read-ahead, or several players of a ladder, and leaving the
//!   second core idle under them is what cost the ladder's throughput. The continuous audio pass a session keeps running
//!   is waited-for work too, but long and light: it takes a core, it does not stop read-ahead.
//!   (Measured, BENCHMARKS.md: pausing behind any waited-for job, the audio pass included, left
//!   a core idle under players and the ladder fell to 0.82 of one ffmpeg; letting read-ahead
//!   start beside a waited-for video segment brought it to 0.88 but slowed a start-up's
//!   first segment from 1.13× to 1.60× of ffmpeg alone: a niced run still costs a short
//!   encode its process start and the source's first reads);
//! - switch-aware: when a client waits for a video rendition, queued read-ahead of the media's
//!   other video renditions is cancelled (its claims given up without counting an attempt):
//!   nobody asks for that rung any more, and a player that does gets it as waited-for work.
//!
//! **Per user** (SPEC §2 limits): one user cannot occupy every worker. A user's waited-for video
//! jobs run at most `per_user` at a time (`STREAM_ENCODES_PER_USER`, default one fewer than the
//! workers); more are held in the user's own line, in order, and enter the lane as that user's
//! jobs end, so another user's request always finds a worker. A held job is not in the lane,
//! so it does not pause read-ahead: the worker its user may not take goes to read-ahead (niced)
//! until another user's waited-for work arrives. Audio runs are not counted: one
//! cheap continuous pass per session that a start needs beside its first video segment (holding
//! it behind the video would make every start serial). Read-ahead is not counted either: it
//! yields to all waited-for work already. A job made for one user is shared by all (segments
//! are content-addressed); the cap bounds who makes the pool busy, not who may watch.
//!
//! In the cloud every invocation has its own CPU, so there is nothing to order: the priority is
//! not sent (read-ahead there still runs niced, which changes nothing in its own sandbox).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};

use stream_core::error::Result;

use stream_core::segment::SegmentId;

#[cfg(feature = "aws")]
use super::worker::Task;
use super::worker::{self, is_audio, Job, SheetJob, WorkerContext};

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
    /// A client now waits for `id`, which a job dispatched as read-ahead holds: if that job has
    /// not started, it becomes waited-for work. (Nothing to do where every job has its own CPU.)
    async fn promote(&self, _id: &SegmentId) {}
    /// Starts a claimed trick-play sheet without waiting for it: waited-for work (a viewer
    /// hovering the seek bar waits for it), see [`InProcess`]'s `dispatch_sheet`.
    async fn dispatch_sheet(&self, job: SheetJob) -> Result<()>;
}

/// Whether a client is blocked on a job, or it is made ahead of the players.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A segment, init or rendition a request is waiting for.
    Waited,
    /// A video segment a request is waiting for, right after the one its client played (in
    /// stride: not a start or a seek). Waited-for work that read-ahead may run beside.
    InStride,
    /// Read-ahead.
    ReadAhead,
}

/// The jobs dispatched and not started yet, oldest first in each queue, and each user's count.
#[derive(Default)]
struct Queues {
    waited: VecDeque<Job>,
    ahead: VecDeque<Job>,
    /// Waited-for jobs over their user's cap, oldest first: they enter `waited` as the user's
    /// jobs end.
    held: VecDeque<Job>,
    /// Per user: the counted jobs in `waited` or running.
    per_user: HashMap<String, usize>,
    /// Read-ahead jobs started and not ended.
    ahead_running: usize,
    /// Waited-for video jobs that a client starts or seeks on (not in stride), started and not
    /// ended: read-ahead does not start beside them.
    starts_running: usize,
}

/// A waited-for video job that a start or a seek waits for (see [`Priority::InStride`]).
fn is_start(job: &Job) -> bool {
    !job.in_stride && !is_audio(&job.set, &job.rendition)
}

/// The user a job counts against, if it is counted (a video job some user asked for).
fn counted_user(job: &Job) -> Option<&str> {
    match is_audio(&job.set, &job.rendition) {
        true => None,
        false => job.requester.as_deref(),
    }
}

impl Queues {
    /// Puts a waited-for job into the lane, or holds it when its user is at `cap`. Returns
    /// whether it entered the lane (it then needs a task to run it).
    fn admit(&mut self, job: Job, cap: usize) -> bool {
        let Some(user) = counted_user(&job) else {
            self.waited.push_back(job);
            return true;
        };
        let n = self.per_user.entry(user.to_string()).or_default();
        if *n >= cap {
            self.held.push_back(job);
            return false;
        }
        *n += 1;
        self.waited.push_back(job);
        true
    }

    /// A counted job of `user` ended: its oldest held job, if any, enters the lane (returns
    /// whether one did).
    fn ended(&mut self, user: &str) -> bool {
        let at = self.held.iter().position(|j| counted_user(j) == Some(user));
        if let Some(job) = at.and_then(|i| self.held.remove(i)) {
            self.waited.push_back(job);
            return true;
        }
        match self.per_user.get_mut(user) {
            Some(n) if *n > 1 => *n -= 1,
            _ => {
                self.per_user.remove(user);
            }
        }
        false
    }

    /// Takes out the queued read-ahead that a client waiting for `job` makes pointless: the
    /// other video renditions of the same rendition set (the player switched rungs), unless a
    /// job also makes the rendition now waited for (whole-ladder read-ahead).
    fn take_switched_away(&mut self, job: &Job) -> Vec<Job> {
        if is_audio(&job.set, &job.rendition) {
            return vec![];
        }
        let stale = |j: &Job| {
            j.set == job.set
                && j.rendition != job.rendition
                && !j.also.contains(&job.rendition)
                && !is_audio(&j.set, &j.rendition)
        };
        let (stale, keep): (VecDeque<Job>, VecDeque<Job>) =
            self.ahead.drain(..).partition(|j| stale(j));
        self.ahead = keep;
        stale.into()
    }
}

type JobFn = Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;
type SheetFn = Arc<dyn Fn(SheetJob) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs jobs as tokio tasks in two lanes (see the module doc): waited-for work at once,
/// read-ahead niced and only on a core that no other job holds.
pub struct InProcess {
    lanes: Arc<Lanes>,
    started: AtomicU64,
    run: JobFn,
    cancel: JobFn,
    /// Makes a trick-play sheet (`None` in the lanes' own tests).
    sheet: Option<SheetFn>,
}

struct Lanes {
    /// The pool's size: the waited-for lane's permits, and the most jobs read-ahead may start
    /// beside.
    workers: usize,
    /// The most waited-for video jobs one user may have in the lane (queued or running).
    per_user: usize,
    waited_permits: Semaphore,
    queues: Mutex<Queues>,
    /// Waited-for jobs queued or running.
    waited_active: AtomicUsize,
    /// Signalled when a job ends (`waited_active` or `Queues::ahead_running` went down).
    freed: Notify,
}

impl Lanes {
    fn queues(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a free core (fewer waited-for jobs queued or running plus read-ahead running
    /// than workers), then takes the oldest queued read-ahead job, counted as running until
    /// its `AheadRunning` is dropped. `None` when the queue is empty by then (the job was
    /// promoted or cancelled).
    async fn start_ahead(self: &Arc<Self>) -> Option<(Job, AheadRunning)> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut q = self.queues();
                let start_waits = q.starts_running > 0 || q.waited.iter().any(is_start);
                let busy = self.waited_active.load(Ordering::SeqCst) + q.ahead_running;
                if !start_waits && busy < self.workers {
                    let job = q.ahead.pop_front()?;
                    q.ahead_running += 1;
                    return Some((job, AheadRunning(self.clone())));
                }
            }
            freed.await;
        }
    }

    fn waited_done(&self) {
        self.waited_active.fetch_sub(1, Ordering::SeqCst);
        self.freed.notify_waiters();
    }

    /// Starts the task that runs the oldest waited-for job (one was just put in the lane: it
    /// counts as waited-for work from now). When it ends, even by a panic, the count comes down
    /// (read-ahead would otherwise wait forever) and its user's next held job, if any, enters
    /// the lane.
    fn spawn_waited(self: &Arc<Self>, run: JobFn) {
        self.waited_active.fetch_add(1, Ordering::SeqCst);
        struct Done {
            lanes: Arc<Lanes>,
            run: JobFn,
            user: Option<String>,
            start: bool,
        }
        impl Drop for Done {
            fn drop(&mut self) {
                let next = {
                    let mut q = self.lanes.queues();
                    if self.start {
                        q.starts_running -= 1;
                    }
                    match &self.user {
                        Some(user) => q.ended(user),
                        None => false,
                    }
                };
                // The released job is counted before this one is uncounted: no false idle.
                if next {
                    self.lanes.spawn_waited(self.run.clone());
                }
                self.lanes.waited_done();
            }
        }
        let lanes = self.clone();
        let task = async move {
            let mut done = Done {
                lanes: lanes.clone(),
                run: run.clone(),
                user: None,
                start: false,
            };
            if let Ok(_permit) = lanes.waited_permits.acquire().await {
                let next = {
                    let mut q = lanes.queues();
                    let next = q.waited.pop_front();
                    if next.as_ref().is_some_and(is_start) {
                        q.starts_running += 1;
                        done.start = true;
                    }
                    next
                };
                if let Some(job) = next {
                    done.user = counted_user(&job).map(str::to_string);
                    run(job).await;
                }
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
    }
}

/// A read-ahead job running: its core is free again when this is dropped (even by a panic).
struct AheadRunning(Arc<Lanes>);

impl Drop for AheadRunning {
    fn drop(&mut self) {
        self.0.queues().ahead_running -= 1;
        self.0.freed.notify_waiters();
    }
}

impl InProcess {
    /// A pool of `workers` per lane, where one user's waited-for video jobs run at most
    /// `per_user` at a time.
    pub fn new(workers: usize, per_user: usize, ctx: WorkerContext) -> Self {
        let run_ctx = ctx.clone();
        let sheet_ctx = ctx.clone();
        let sheet: SheetFn = Arc::new(move |job: SheetJob| {
            let ctx = sheet_ctx.clone();
            let run = async move {
                if let Err(e) = worker::run_sheet(&ctx, &job).await {
                    tracing::error!(error = %e, sheet = job.sheet, "sheet job could not run");
                }
            };
            Box::pin(run) as Pin<Box<dyn Future<Output = ()> + Send>>
        });
        let pool = Self::with_runner(
            workers,
            per_user,
            move |job: Job| {
                let ctx = run_ctx.clone();
                let run = async move {
                    if let Err(e) = worker::run(&ctx, &job).await {
                        tracing::error!(error = %e, rendition = %job.rendition, kind = ?job.kind, "job could not run; its claims are left to their lease");
                    }
                };
                Box::pin(run) as Pin<Box<dyn Future<Output = ()> + Send>>
            },
            move |job: Job| {
                let ctx = ctx.clone();
                let cancel = async move {
                    if let Err(e) = worker::cancel(&ctx, &job).await {
                        tracing::warn!(error = %e, rendition = %job.rendition, "cancelled read-ahead left to its lease");
                    }
                };
                Box::pin(cancel) as Pin<Box<dyn Future<Output = ()> + Send>>
            },
        );
        InProcess {
            sheet: Some(sheet),
            ..pool
        }
    }

    /// A pool that runs each job with `run` and gives up a cancelled one with `cancel` (the
    /// worker; tests give their own).
    fn with_runner<F, C>(workers: usize, per_user: usize, run: F, cancel: C) -> Self
    where
        F: Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
        C: Fn(Job) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    {
        let workers = workers.max(1);
        InProcess {
            lanes: Arc::new(Lanes {
                workers,
                per_user: per_user.max(1),
                waited_permits: Semaphore::new(workers),
                queues: Mutex::default(),
                waited_active: AtomicUsize::new(0),
                freed: Notify::new(),
            }),
            started: AtomicU64::new(0),
            run: Arc::new(run),
            cancel: Arc::new(cancel),
            sheet: None,
        }
    }
}

#[async_trait]
impl Dispatcher for InProcess {
    async fn dispatch(&self, job: Job, priority: Priority) -> Result<()> {
        self.started.fetch_add(1, Ordering::Relaxed);
        let lanes = &self.lanes;
        // One task per dispatch; each takes the oldest job of its lane once it may start (not
        // necessarily the one it was spawned for). Not tied to the request: a client that
        // disconnects does not cancel the encode (its retry will want it). It carries the
        // request's span into the logs.
        match priority {
            Priority::Waited | Priority::InStride => {
                let mut job = job;
                job.in_stride = priority == Priority::InStride;
                let (stale, admitted) = {
                    let mut q = lanes.queues();
                    let stale = q.take_switched_away(&job);
                    (stale, q.admit(job, lanes.per_user))
                };
                for j in stale {
                    tokio::spawn(tracing::Instrument::in_current_span((self.cancel)(j)));
                }
                if admitted {
                    lanes.spawn_waited(self.run.clone());
                }
            }
            Priority::ReadAhead => {
                lanes.queues().ahead.push_back(job);
                let (lanes, run) = (lanes.clone(), self.run.clone());
                let task = async move {
                    if let Some((job, _running)) = lanes.start_ahead().await {
                        run(job).await;
                    }
                };
                tokio::spawn(tracing::Instrument::in_current_span(task));
            }
        }
        Ok(())
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    fn in_process(&self) -> bool {
        true
    }

    async fn promote(&self, id: &SegmentId) {
        let promoted = {
            let mut q = self.lanes.queues();
            let at = q
                .ahead
                .iter()
                .position(|j| j.claims().is_ok_and(|ids| ids.contains(id)));
            match at.and_then(|i| q.ahead.remove(i)) {
                // Read-ahead ran ahead of this client: it is in stride.
                Some(job) => q.admit(
                    Job {
                        in_stride: true,
                        ..job
                    },
                    self.lanes.per_user,
                ),
                None => false,
            }
        };
        // Its read-ahead task finds one job fewer in its lane and ends without running any. (A
        // promoted job over its user's cap is held, and enters the lane as that user's end.)
        if promoted {
            self.lanes.spawn_waited(self.run.clone());
        }
    }

    /// A sheet is waited-for work on the waited-for lane's permits, counted as such (read-ahead
    /// leaves it a core), but like the audio pass it is no start or seek: it does not stop
    /// read-ahead, and it is not counted against its user (one short run per sheet of a media,
    /// shared by every viewer through its claim).
    async fn dispatch_sheet(&self, job: SheetJob) -> Result<()> {
        let Some(run) = self.sheet.clone() else {
            return Err(stream_core::error::Error::Internal(
                "this pool makes no sheets".into(),
            ));
        };
        self.started.fetch_add(1, Ordering::Relaxed);
        let lanes = self.lanes.clone();
        lanes.waited_active.fetch_add(1, Ordering::SeqCst);
        /// Uncounts the sheet when it ends, even by a panic.
        struct Done(Arc<Lanes>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.waited_done();
            }
        }
        let task = async move {
            let _done = Done(lanes.clone());
            if let Ok(_permit) = lanes.waited_permits.acquire().await {
                run(job).await;
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Ok(())
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
        self.invoke(&Task::Rendition(job)).await
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    async fn dispatch_sheet(&self, job: SheetJob) -> Result<()> {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.invoke(&Task::Sheet(job)).await
    }
}

#[cfg(feature = "aws")]
impl LambdaInvoke {
    /// Invokes the function with `task` as its event, asynchronously.
    async fn invoke(&self, task: &Task) -> Result<()> {
        use stream_core::error::Error;
        let payload = serde_json::to_vec(task).map_err(Error::internal)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::worker::JobKind;

    fn job(name: &str, rendition: usize) -> Job {
        let (_, _, set) = stream_core::fixtures::remux_fixture();
        let rendition = set.video[0].id.clone() + if rendition == 0 { "" } else { "-other" };
        Job {
            set,
            rendition,
            kind: JobKind::Segment(0),
            worker: name.into(),
            also: vec![],
            ahead: false,
            requester: None,
            in_stride: false,
        }
    }

    type Log = Arc<Mutex<Vec<String>>>;

    /// A one-worker pool whose jobs log their start (and cancellation), then run until the test
    /// lets one finish (one permit of `gate` each).
    fn pool(workers: usize) -> (InProcess, Log, Arc<Semaphore>) {
        capped_pool(workers, workers)
    }

    /// [`pool`] with a per-user cap.
    fn capped_pool(workers: usize, per_user: usize) -> (InProcess, Log, Arc<Semaphore>) {
        let log: Log = Arc::default();
        let gate = Arc::new(Semaphore::new(0));
        let (l, g, c) = (log.clone(), gate.clone(), log.clone());
        let pool = InProcess::with_runner(
            workers,
            per_user,
            move |job: Job| {
                let (l, g) = (l.clone(), g.clone());
                Box::pin(async move {
                    l.lock().unwrap().push(job.worker.clone());
                    g.acquire().await.unwrap().forget();
                })
            },
            move |job: Job| {
                let c = c.clone();
                Box::pin(async move { c.lock().unwrap().push(format!("cancel {}", job.worker)) })
            },
        );
        (pool, log, gate)
    }

    /// A client waiting for a piece that queued read-ahead holds: that job runs at once, in the
    /// waited-for lane, while the read-ahead worker is still busy; a panicking job still lets
    /// read-ahead go on afterwards.
    #[tokio::test]
    async fn a_waited_for_piece_held_by_queued_read_ahead_is_promoted() {
        let (pool, log, gate) = pool(1);
        pool.dispatch(job("ahead-1", 0), Priority::ReadAhead)
            .await
            .unwrap();
        until(&log, 1).await;
        let mut held = job("ahead-2", 0);
        held.kind = JobKind::Segment(7);
        let id = held.claims().unwrap()[0].clone();
        pool.dispatch(held, Priority::ReadAhead).await.unwrap();
        pool.dispatch(job("ahead-3", 0), Priority::ReadAhead)
            .await
            .unwrap();
        pool.promote(&id).await;
        until(&log, 2).await;
        assert_eq!(*log.lock().unwrap(), ["ahead-1", "ahead-2"]);
        gate.add_permits(2);
        until(&log, 3).await;
        gate.add_permits(1);
        assert_eq!(*log.lock().unwrap(), ["ahead-1", "ahead-2", "ahead-3"]);
    }

    #[tokio::test]
    async fn a_panicking_waited_job_does_not_stop_read_ahead() {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let pool = InProcess::with_runner(
            1,
            1,
            move |job: Job| {
                let r = r.clone();
                Box::pin(async move {
                    if job.worker == "boom" {
                        panic!("a job that panics");
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                })
            },
            |_job: Job| Box::pin(async {}),
        );
        pool.dispatch(job("boom", 0), Priority::Waited)
            .await
            .unwrap();
        pool.dispatch(job("ahead", 0), Priority::ReadAhead)
            .await
            .unwrap();
        for _ in 0..1000 {
            if ran.load(Ordering::SeqCst) == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("read-ahead never ran after a waited-for job panicked");
    }

    /// A job `name` that user `user` waits for (an audio one with `audio`).
    fn users_job(name: &str, user: &str, audio: bool) -> Job {
        let mut j = job(name, 0);
        if audio {
            j.rendition = j.set.audio.as_ref().map(|a| a.id.clone()).unwrap();
            j.kind = JobKind::AudioRun(0);
        }
        j.requester = Some(user.into());
        j
    }

    /// Two workers, at most one video job per user: a user's second waited-for job is held
    /// while their first runs, so another user's job, dispatched after it, starts at once; the
    /// held one runs when the user's first ends. Audio runs are not counted.
    #[tokio::test]
    async fn one_user_cannot_occupy_every_worker() {
        let (pool, log, gate) = capped_pool(2, 1);
        pool.dispatch(users_job("a-1", "a", false), Priority::Waited)
            .await
            .unwrap();
        until(&log, 1).await;
        pool.dispatch(users_job("a-2", "a", false), Priority::Waited)
            .await
            .unwrap();
        pool.dispatch(users_job("b-1", "b", false), Priority::Waited)
            .await
            .unwrap();
        until(&log, 2).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*log.lock().unwrap(), ["a-1", "b-1"], "a-2 is held");
        // a-1 ends (the gate is first come, first served): a-2 takes its place.
        gate.add_permits(1);
        until(&log, 3).await;
        assert_eq!(*log.lock().unwrap(), ["a-1", "b-1", "a-2"]);
        // An audio run of a user at the cap is not held (it starts when a worker is free).
        pool.dispatch(users_job("a-audio", "a", true), Priority::Waited)
            .await
            .unwrap();
        gate.add_permits(1);
        until(&log, 4).await;
        assert_eq!(log.lock().unwrap()[3], "a-audio");
        // a-2 and the audio run end; a's next job runs (held or not, it is not lost).
        gate.add_permits(2);
        pool.dispatch(users_job("a-3", "a", false), Priority::Waited)
            .await
            .unwrap();
        let started = tokio::time::timeout(std::time::Duration::from_secs(30), until(&log, 5));
        assert!(started.await.is_ok(), "a-3 never started: {log:?}");
        gate.add_permits(1);
    }

    /// A sheet (a viewer hovering the seek bar waits for it) is waited-for work: on one worker
    /// busy with read-ahead it starts at once, in its own lane; queued read-ahead does not start
    /// beside it; when it ends, read-ahead goes on. A pool without a sheet maker refuses it.
    #[tokio::test]
    async fn a_sheet_is_waited_for_work() {
        let (mut pool, log, gate) = pool(1);
        let (l, g) = (log.clone(), gate.clone());
        pool.sheet = Some(Arc::new(move |job: SheetJob| {
            let (l, g) = (l.clone(), g.clone());
            Box::pin(async move {
                l.lock().unwrap().push(format!("sheet {}", job.sheet));
                g.acquire().await.unwrap().forget();
            })
        }));
        let (probe, _, _) = stream_core::fixtures::remux_fixture();
        let plan =
            stream_core::trickplay::TrickplayPlan::new("m", &probe, Default::default()).unwrap();
        let sheet = |i| SheetJob {
            plan: plan.clone(),
            sheet: i,
            worker: format!("s{i}"),
        };
        pool.dispatch(job("ahead-1", 0), Priority::ReadAhead)
            .await
            .unwrap();
        until(&log, 1).await;
        pool.dispatch_sheet(sheet(0)).await.unwrap();
        until(&log, 2).await;
        pool.dispatch(job("ahead-2", 0), Priority::ReadAhead)
            .await
            .unwrap();
        // ahead-1 ends; the sheet still runs: ahead-2 waits for it.
        gate.add_permits(1);
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*log.lock().unwrap(), ["ahead-1", "sheet 0"]);
        gate.add_permits(1);
        until(&log, 3).await;
        gate.add_permits(1);
        assert_eq!(log.lock().unwrap()[2], "ahead-2");
        let (bare, _, _) = super::tests::pool(1);
        assert!(bare.dispatch_sheet(sheet(1)).await.is_err());
    }

    async fn until(log: &Log, n: usize) {
        while log.lock().unwrap().len() < n {
            tokio::task::yield_now().await;
        }
    }

    /// With one worker busy on read-ahead and more read-ahead queued, a waited-for job
    /// dispatched last starts at once (its own lane), and queued read-ahead waits until it is
    /// done, then runs in its order.
    #[tokio::test]
    async fn waited_for_work_starts_at_once_and_read_ahead_waits_for_it() {
        let (pool, log, gate) = pool(1);
        pool.dispatch(job("ahead-1", 0), Priority::ReadAhead)
            .await
            .unwrap();
        until(&log, 1).await;
        pool.dispatch(job("ahead-2", 0), Priority::ReadAhead)
            .await
            .unwrap();
        pool.dispatch(job("ahead-3", 0), Priority::ReadAhead)
            .await
            .unwrap();
        pool.dispatch(job("waited", 0), Priority::Waited)
            .await
            .unwrap();
        // Started while ahead-1 still runs: it does not wait for a read-ahead worker.
        until(&log, 2).await;
        assert_eq!(*log.lock().unwrap(), ["ahead-1", "waited"]);
        // ahead-1 ends; ahead-2 may not start while the waited-for job runs.
        gate.add_permits(1);
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(log.lock().unwrap().len(), 2, "read-ahead paused: {log:?}");
        gate.add_permits(1);
        until(&log, 3).await;
        gate.add_permits(1);
        until(&log, 4).await;
        gate.add_permits(1);
        assert_eq!(
            *log.lock().unwrap(),
            ["ahead-1", "waited", "ahead-2", "ahead-3"]
        );
        assert_eq!(pool.started(), 4);
    }

    /// Two workers. A session's continuous audio pass (waited-for) takes a core, not the
    /// other: one read-ahead job starts beside it, the next waits for a free core. A waited-for
    /// video segment stops new read-ahead while it is queued or running, even with a core free
    /// (a start-up's first segment runs alone).
    #[tokio::test]
    async fn read_ahead_takes_a_free_core_unless_a_video_segment_is_waited_for() {
        let (pool, log, gate) = pool(2);
        pool.dispatch(users_job("audio-1", "a", true), Priority::Waited)
            .await
            .unwrap();
        until(&log, 1).await;
        for name in ["ahead-1", "ahead-2"] {
            pool.dispatch(job(name, 0), Priority::ReadAhead)
                .await
                .unwrap();
        }
        let beside = tokio::time::timeout(std::time::Duration::from_secs(30), until(&log, 2));
        assert!(beside.await.is_ok(), "read-ahead never took the free core");
        pool.dispatch(users_job("video-1", "b", false), Priority::Waited)
            .await
            .unwrap();
        until(&log, 3).await;
        // audio-1 ends (the gate is first come, first served), then ahead-1: a core is free,
        // but a video segment is waited for: ahead-2 waits.
        gate.add_permits(2);
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            *log.lock().unwrap(),
            ["audio-1", "ahead-1", "video-1"],
            "a waited-for video segment runs without read-ahead beside it"
        );
        // video-1 ends: read-ahead goes on.
        gate.add_permits(1);
        until(&log, 4).await;
        gate.add_permits(1);
        assert_eq!(log.lock().unwrap()[3], "ahead-2");
    }

    /// Two workers. A waited-for video segment in stride (its client played the one before:
    /// the ladder, or a player that caught up with read-ahead) does not stop read-ahead from
    /// taking the free core; a start's does (the rule above).
    #[tokio::test]
    async fn read_ahead_runs_beside_a_segment_waited_for_in_stride() {
        let (pool, log, gate) = pool(2);
        pool.dispatch(users_job("stride-1", "a", false), Priority::InStride)
            .await
            .unwrap();
        until(&log, 1).await;
        for name in ["ahead-1", "ahead-2"] {
            pool.dispatch(job(name, 0), Priority::ReadAhead)
                .await
                .unwrap();
        }
        let beside = tokio::time::timeout(std::time::Duration::from_secs(30), until(&log, 2));
        assert!(
            beside.await.is_ok(),
            "read-ahead never ran beside an in-stride segment"
        );
        assert_eq!(log.lock().unwrap()[1], "ahead-1");
        // Both cores busy now; a start arrives (waited-for lane: it runs at once), and when
        // the in-stride job and ahead-1 end, ahead-2 still waits for the start to end.
        pool.dispatch(users_job("start-1", "b", false), Priority::Waited)
            .await
            .unwrap();
        until(&log, 3).await;
        gate.add_permits(2);
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            *log.lock().unwrap(),
            ["stride-1", "ahead-1", "start-1"],
            "a start runs without read-ahead beside it"
        );
        gate.add_permits(1);
        until(&log, 4).await;
        gate.add_permits(1);
        assert_eq!(log.lock().unwrap()[3], "ahead-2");
    }

    /// A player that waits for another rung of the media: the queued read-ahead of the rung it
    /// left is cancelled (never started); running read-ahead and its own rung's are kept.
    #[tokio::test]
    async fn a_switch_cancels_queued_read_ahead_of_the_rung_left() {
        let (pool, log, gate) = pool(1);
        pool.dispatch(job("top-1", 0), Priority::ReadAhead)
            .await
            .unwrap();
        until(&log, 1).await;
        pool.dispatch(job("top-2", 0), Priority::ReadAhead)
            .await
            .unwrap();
        pool.dispatch(job("low-ahead", 1), Priority::ReadAhead)
            .await
            .unwrap();
        pool.dispatch(job("low-waited", 1), Priority::Waited)
            .await
            .unwrap();
        until(&log, 3).await;
        let seen = log.lock().unwrap().clone();
        assert!(seen.contains(&"cancel top-2".to_string()), "{seen:?}");
        assert!(seen.contains(&"low-waited".to_string()), "{seen:?}");
        gate.add_permits(3);
        until(&log, 4).await;
        gate.add_permits(1);
        let seen = log.lock().unwrap().clone();
        assert_eq!(
            seen.last().map(String::as_str),
            Some("low-ahead"),
            "{seen:?}"
        );
        assert!(
            !seen.contains(&"top-2".to_string()),
            "never started: {seen:?}"
        );
    }
}
