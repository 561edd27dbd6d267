//! The request side of just-in-time segments: a request for a piece finds it made, or claims
//! it and has a worker make it, and waits a bounded time; read-ahead claims what comes next.

use std::time::Instant;

use stream_core::error::{Error, Result};
use stream_core::hls::ladder::RenditionSet;
use stream_core::model::{Claim, SegmentRecord};
use stream_core::segment::{Piece, SegmentId};
use stream_core::trickplay::TrickplayPlan;

use super::claims::{self, Standing};
use super::dispatch::Priority;
use super::worker::{is_audio, Job, JobKind, SheetJob};
use crate::state::AppState;

/// What a segment request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Made: the key of its published object (as its claim record names it).
    Ready(String),
    /// Not made within the wait: the encode goes on; ask again shortly.
    Pending,
    /// It failed for good (`claims::MAX_ATTEMPTS`): the encoder's last error.
    Failed(String),
}

/// A piece a client asks for, and who asks.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub set: &'a RenditionSet,
    pub rendition: &'a str,
    pub kind: JobKind,
    /// The user whose request it is (the in-process pool's per-user cap), if known.
    pub requester: Option<&'a str>,
}

/// The job that makes `kind` of `rendition`: audio segments come from one continuous pass.
fn job_kind(set: &RenditionSet, rendition: &str, kind: JobKind) -> JobKind {
    match kind {
        JobKind::Segment(i) if is_audio(set, rendition) => JobKind::AudioRun(i),
        other => other,
    }
}

/// What else a job may make with the piece it was claimed for, from the same run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Also {
    Nothing,
    /// For a video init: the segment the stream starts at (`InitWith`).
    SegmentWithInit(u32),
    /// For a transcoded video segment: the same segment of the set's other transcoded rungs.
    OtherRungs,
}

/// Claims the piece and dispatches its job if nobody holds it; returns the record as it stands.
/// With `also`, the job also makes what it can claim of that from the same run.
async fn claim_and_dispatch(
    state: &AppState,
    ask: Ask<'_>,
    id: &SegmentId,
    also: Also,
    priority: Priority,
) -> Result<SegmentRecord> {
    let Ask {
        set,
        rendition,
        kind,
        requester,
    } = ask;
    let worker = stream_core::ids::random_id();
    let meta = state.meta.as_ref();
    let rec = match claims::claim(meta, id, &worker).await? {
        Claim::Held(rec) => return Ok(rec),
        Claim::Claimed(rec) => rec,
    };
    let mut job = Job {
        set: set.clone(),
        rendition: rendition.to_string(),
        kind: job_kind(set, rendition, kind),
        worker,
        also: vec![],
        ahead: priority == Priority::ReadAhead,
        requester: requester.map(str::to_string),
        in_stride: false,
    };
    match (kind, also) {
        (JobKind::Init, Also::SegmentWithInit(i)) if !is_audio(set, rendition) => {
            if claims::claim_more(meta, &id.with_piece(Piece::Media(i)), &job.worker).await {
                job.kind = JobKind::InitWith(i);
            }
        }
        (JobKind::Segment(i), Also::OtherRungs)
            if set.video.iter().any(|v| v.id == rendition && !v.copy) =>
        {
            for other in set.video.iter().filter(|v| v.id != rendition && !v.copy) {
                let Some(seg) = set.segment(&other.id, Piece::Media(i)) else {
                    continue;
                };
                if claims::claim_more(meta, &seg, &job.worker).await {
                    job.also.push(other.id.clone());
                }
            }
        }
        _ => {}
    }
    let held = job.claims()?;
    if let Err(e) = state.dispatcher.dispatch(job, priority).await {
        // Release the claims at once so the next request can try again.
        let held = claims::Held::new(meta, &rec.worker, held);
        let _ = held.release_all("the worker could not be started").await;
        return Err(e);
    }
    Ok(rec)
}

/// Has `id` (a piece of `ask.rendition`, or a download of it) made without waiting for it: claims
/// it and dispatches its job if nobody holds it, and returns its record as it stands. For work
/// nobody is playing (an offline download's pieces and its assembly: the `download` module).
pub async fn request_in_background(
    state: &AppState,
    ask: Ask<'_>,
    id: &SegmentId,
    priority: Priority,
) -> Result<SegmentRecord> {
    claim_and_dispatch(state, ask, id, Also::Nothing, priority).await
}

/// Delivers one piece (`Init` or `Segment(i)`) of `rendition`, making it if needed and waiting at
/// most the configured time. `init_from`: for an init, the segment the stream is expected to
/// start at (made by the same run when free).
pub async fn deliver(
    state: &AppState,
    ask: Ask<'_>,
    plan_len: u32,
    init_from: Option<u32>,
) -> Result<Delivery> {
    let Ask {
        set,
        rendition,
        kind,
        ..
    } = ask;
    let id = set
        .segment(rendition, kind.piece())
        .ok_or(Error::NotFound("rendition"))?;
    let deadline = Instant::now() + state.config.segment_wait;
    let mut read_ahead_done = false;
    let mut promoted = false;
    loop {
        // Registered before the record is read, so a completion in between is not missed.
        let notified = state.segment_events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let rec = state.meta.get_segment(&id.record_id()).await?;
        let standing = match Standing::of(rec.as_ref(), claims::now()) {
            Standing::Free => {
                let also = init_from.map_or(Also::Nothing, Also::SegmentWithInit);
                let priority = waited_priority(state, ask).await;
                let rec = claim_and_dispatch(state, ask, &id, also, priority).await?;
                Standing::of(Some(&rec), claims::now())
            }
            other => other,
        };
        if standing == Standing::Encoding && !promoted {
            // Held by a read-ahead job that may not have started: a client waits for it now.
            promoted = true;
            state.dispatcher.promote(&id).await;
        }
        if let Standing::FailedForGood(error) = standing {
            // No read-ahead past a piece that cannot be made.
            let message = error.unwrap_or_else(|| "The segment could not be made.".into());
            return Ok(Delivery::Failed(message));
        }
        if !read_ahead_done {
            read_ahead_done = true;
            if let JobKind::Segment(i) = kind {
                start_read_ahead(state, ask, &id, i, plan_len).await;
            }
        }
        match standing {
            Standing::Ready(key) => {
                let key = key.ok_or_else(|| {
                    Error::Internal(format!("segment {} ready without object", id.record_id()))
                })?;
                return Ok(Delivery::Ready(key));
            }
            // (A piece failed for good was answered above.)
            Standing::Encoding | Standing::Free | Standing::FailedForGood(_) => {}
        }
        if Instant::now() >= deadline {
            return Ok(Delivery::Pending);
        }
        // Woken by a job of this process, or at the next poll (a worker elsewhere).
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(state.config.segment_poll) => {}
        }
    }
}

/// [`Priority::InStride`] for a video segment whose previous segment is made (its client played
/// it, or read-ahead passed it: not a start or a seek), else [`Priority::Waited`]. Only the
/// in-process pool orders work, so only it pays the extra read.
async fn waited_priority(state: &AppState, ask: Ask<'_>) -> Priority {
    let JobKind::Segment(i) = ask.kind else {
        return Priority::Waited;
    };
    if i == 0 || !state.dispatcher.in_process() || is_audio(ask.set, ask.rendition) {
        return Priority::Waited;
    }
    let Some(before) = ask.set.segment(ask.rendition, Piece::Media(i - 1)) else {
        return Priority::Waited;
    };
    match state.meta.get_segment(&before.record_id()).await {
        Ok(rec)
            if matches!(
                Standing::of(rec.as_ref(), claims::now()),
                Standing::Ready(_)
            ) =>
        {
            Priority::InStride
        }
        _ => Priority::Waited,
    }
}

/// Starts read-ahead from segment `i`: off the response path when jobs run in this process (a
/// segment that is made is answered at once); before answering in a Lambda invocation, which
/// may be frozen once it has answered.
async fn start_read_ahead(state: &AppState, ask: Ask<'_>, id: &SegmentId, i: u32, plan_len: u32) {
    if state.dispatcher.in_process() {
        let (state, set, rendition, id) = (
            state.clone(),
            ask.set.clone(),
            ask.rendition.to_string(),
            id.clone(),
        );
        let requester = ask.requester.map(str::to_string);
        let ahead = async move {
            let ask = Ask {
                set: &set,
                rendition: &rendition,
                kind: ask.kind,
                requester: requester.as_deref(),
            };
            read_ahead(&state, ask, &id, i, plan_len).await
        };
        // With the request's span: read-ahead's logs carry its request id.
        tokio::spawn(tracing::Instrument::in_current_span(ahead));
    } else {
        read_ahead(state, ask, id, i, plan_len).await;
    }
}

/// Claims and starts the next `read_ahead` video segments (audio runs carry on by themselves),
/// so playback does not stall after the start or a seek. Best effort: errors are logged.
async fn read_ahead(state: &AppState, ask: Ask<'_>, from: &SegmentId, i: u32, plan_len: u32) {
    if is_audio(ask.set, ask.rendition) || state.config.read_ahead == 0 {
        return;
    }
    let last = (i + state.config.read_ahead).min(plan_len.saturating_sub(1));
    if last <= i {
        return;
    }
    // Cheap check first: if the furthest one exists, the run ahead is covered.
    let far = from.with_piece(Piece::Media(last));
    if matches!(state.meta.get_segment(&far.record_id()).await, Ok(Some(_))) {
        return;
    }
    let also = if state.config.read_ahead_all_rungs {
        Also::OtherRungs
    } else {
        Also::Nothing
    };
    for j in i + 1..=last {
        let id = from.with_piece(Piece::Media(j));
        let next = Ask {
            kind: JobKind::Segment(j),
            ..ask
        };
        if let Err(e) = claim_and_dispatch(state, next, &id, also, Priority::ReadAhead).await {
            tracing::warn!(error = %e, segment = j, "read-ahead could not start");
            return;
        }
    }
}

/// Delivers trick-play sheet `sheet` of `plan` as [`deliver`] does a segment: made, or claimed
/// (one maker, a lease) and dispatched as waited-for work (a viewer hovering the seek bar waits
/// for it), then waited for at most the configured time. Nothing is read ahead: a media has
/// few sheets, each asked for when a viewer reaches its part of the seek bar.
pub async fn deliver_sheet(state: &AppState, plan: &TrickplayPlan, sheet: u32) -> Result<Delivery> {
    let id = plan.sheet_id(sheet);
    let meta = state.meta.as_ref();
    let deadline = Instant::now() + state.config.segment_wait;
    loop {
        // Registered before the record is read, so a completion in between is not missed.
        let notified = state.segment_events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let rec = state.meta.get_segment(&id.record_id()).await?;
        let standing = match Standing::of(rec.as_ref(), claims::now()) {
            Standing::Free => {
                let worker = stream_core::ids::random_id();
                let rec = match claims::claim(meta, &id, &worker).await? {
                    Claim::Held(rec) => rec,
                    Claim::Claimed(rec) => {
                        let job = SheetJob {
                            plan: plan.clone(),
                            sheet,
                            worker,
                        };
                        if let Err(e) = state.dispatcher.dispatch_sheet(job).await {
                            let held = claims::Held::new(meta, &rec.worker, vec![id.clone()]);
                            let _ = held.release_all("the worker could not be started").await;
                            return Err(e);
                        }
                        rec
                    }
                };
                Standing::of(Some(&rec), claims::now())
            }
            other => other,
        };
        match standing {
            Standing::Ready(key) => {
                let key = key.ok_or_else(|| {
                    Error::Internal(format!("sheet {} ready without object", id.record_id()))
                })?;
                return Ok(Delivery::Ready(key));
            }
            Standing::FailedForGood(error) => {
                let message = error.unwrap_or_else(|| "The sheet could not be made.".into());
                return Ok(Delivery::Failed(message));
            }
            Standing::Encoding | Standing::Free => {}
        }
        if Instant::now() >= deadline {
            return Ok(Delivery::Pending);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(state.config.segment_poll) => {}
        }
    }
}
