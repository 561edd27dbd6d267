//! A transcode job: make the claimed pieces of a rendition (or a trick-play sheet) and publish
//! them. Run by the
//! in-process worker pool (embedded) or by the `transcode` Lambda function (cloud): the same
//! code, given only what it needs ([`WorkerContext`]), never the whole service state.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stream_core::error::{Error, Result};
use stream_core::hls::ladder::{Rendition, RenditionSet};
use stream_core::segment::{Piece, SegmentId, IMMUTABLE};
use stream_core::trickplay::TrickplayPlan;
use stream_media::transcode::assemble::assemble_mp4;
use stream_media::transcode::{
    encode_audio_run, encode_init, encode_video_segment, encode_video_segment_and_init,
    encode_video_segments, EncodeError, EncodeInput, READ_AHEAD_NICE,
};
use stream_media::trickplay::make_sheet;
use stream_storage::{MetaStore, ObjectStore};

use super::claims::Held;

/// What a worker needs: the stores, the ffmpeg binary, and where to signal completions.
#[derive(Clone)]
pub struct WorkerContext {
    pub objects: Arc<dyn ObjectStore>,
    pub meta: Arc<dyn MetaStore>,
    pub ffmpeg: String,
    /// Signalled whenever this worker publishes a piece or records a failure: a waiting request
    /// of this process looks again at once.
    pub events: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "index")]
pub enum JobKind {
    Init,
    /// A video rendition's init segment and segment `i`, from one encode: the first request of
    /// a stream (its init, then the segment it starts at) pays for one ffmpeg run. Both claims
    /// are held by the job.
    InitWith(u32),
    Segment(u32),
    /// The audio rendition, in one continuous pass from this segment on.
    AudioRun(u32),
    /// An offline download of the video rendition `Job::rendition` with the set's audio: every
    /// piece made, copied into one faststart MP4 (`download` module; never an encode).
    Download,
}

impl JobKind {
    /// The piece the job was claimed for.
    pub fn piece(self) -> Piece {
        match self {
            JobKind::Init | JobKind::InitWith(_) => Piece::Init,
            JobKind::Segment(i) | JobKind::AudioRun(i) => Piece::Media(i),
            JobKind::Download => Piece::Download,
        }
    }
}

/// The payload of a job (also the `transcode` function's event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub set: RenditionSet,
    pub rendition: String,
    pub kind: JobKind,
    /// The worker id the claim was made for.
    pub worker: String,
    /// With `Segment(i)` of a transcoded video rendition: other transcoded video renditions of
    /// the set whose segment `i` this job also holds the claim of, made by the same run from
    /// one decode (read-ahead of the whole ladder, `STREAM_READ_AHEAD_ALL_RUNGS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// Read-ahead (no player waits for it): its ffmpeg runs at `READ_AHEAD_NICE`, and the
    /// in-process pool may cancel it before it starts (SPEC §4 "Scheduling").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ahead: bool,
    /// The user whose request made this job (the in-process pool's per-user cap; not sent to
    /// a function, where every invocation has its own CPU). `None`: no user's (tests, tools).
    #[serde(skip)]
    pub requester: Option<String>,
    /// A waited-for video segment whose client played the one before (it caught up with
    /// read-ahead, or read-ahead was promoted for it): not a start or a seek, so the in-process
    /// pool lets read-ahead take a free core beside it (`dispatch`). Not sent to a function.
    #[serde(skip)]
    pub in_stride: bool,
}

impl Job {
    /// The identity of `piece` of rendition `rendition` of the job's set (a download's is
    /// keyed by the video rendition and the set's audio: `stream_core::download`).
    fn id(&self, rendition: &str, piece: Piece) -> Result<SegmentId> {
        match piece {
            Piece::Download => stream_core::download::download_id(&self.set, rendition),
            // Sheets are `SheetJob`s, never a rendition's job.
            Piece::Sheet(_) => None,
            _ => self.set.segment(rendition, piece),
        }
        .ok_or(Error::NotFound("rendition"))
    }

    /// Every claim the job holds when it starts.
    pub fn claims(&self) -> Result<Vec<SegmentId>> {
        let mut ids = vec![self.id(&self.rendition, self.kind.piece())?];
        if let JobKind::InitWith(i) = self.kind {
            ids.push(self.id(&self.rendition, Piece::Media(i))?);
        }
        if let JobKind::Segment(i) = self.kind {
            for other in &self.also {
                ids.push(self.id(other, Piece::Media(i))?);
            }
        }
        Ok(ids)
    }
}

/// A trick-play sheet to make (SPEC §3 "Trick-play"): one ffmpeg run, one claim, one JPEG
/// published under the plan's content key (`stream_core::trickplay`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetJob {
    pub plan: TrickplayPlan,
    pub sheet: u32,
    /// The worker id the claim was made for.
    pub worker: String,
}

impl SheetJob {
    /// The sheet's identity (its claim record and object).
    pub fn id(&self) -> SegmentId {
        self.plan.sheet_id(self.sheet)
    }
}

/// What one `transcode` invocation is asked to do: a rendition's job, or a trick-play sheet.
/// Untagged, so a rendition job's event is exactly what it was before sheets existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Task {
    Rendition(Job),
    Sheet(SheetJob),
}

/// Runs a task to the end (see [`run`] and [`run_sheet`]).
pub async fn run_task(ctx: &WorkerContext, task: &Task) -> Result<()> {
    match task {
        Task::Rendition(job) => run(ctx, job).await,
        Task::Sheet(job) => run_sheet(ctx, job).await,
    }
}

/// Makes a claimed sheet and publishes it, with [`run`]'s one release path: an encode failure
/// is recorded on the claim (retried by the next request, up to the attempts), a storage
/// failure gives the claim back uncounted.
pub async fn run_sheet(ctx: &WorkerContext, job: &SheetJob) -> Result<()> {
    let id = job.id();
    let held = Held::new(ctx.meta.as_ref(), &job.worker, vec![id.clone()]);
    let made = async {
        let media = ctx
            .meta
            .get_media(&job.plan.media_id)
            .await?
            .ok_or(Error::NotFound("media"))?;
        let probe = media
            .probe
            .as_ref()
            .ok_or_else(|| Error::Internal("media without probe".into()))?;
        let location = ctx.objects.media_location(&media.source_key).await?;
        let bytes = make_sheet(&ctx.ffmpeg, &location, probe, &job.plan, job.sheet, 0).await?;
        publish(ctx, &held, &id, bytes).await?;
        Ok::<(), Failure>(())
    };
    let outcome = match made.await {
        Err(Failure::Encode(e)) => match source_outage(ctx, &job.plan.media_id).await {
            Some(outage) => Err(Failure::Storage(outage)),
            None => Err(Failure::Encode(e)),
        },
        other => other,
    };
    let message = match outcome {
        Ok(()) => {
            tracing::info!(sheet = job.sheet, "sheet made");
            "The job ended before making this sheet.".to_string()
        }
        Err(Failure::Encode(e)) => {
            tracing::warn!(sheet = job.sheet, error = %e, "sheet failed");
            format!("The sheet could not be made: {e}")
        }
        Err(Failure::Storage(e)) => {
            if held.cancel_all().await.is_err() {
                tracing::error!(sheet = job.sheet, error = %e, "sheet job could not reach storage; its claim is left to its lease");
            }
            ctx.events.notify_waiters();
            return Err(e);
        }
    };
    held.release_all(&message).await?;
    ctx.events.notify_waiters();
    Ok(())
}

/// A failed encode: the message recorded on every claim the job still holds.
fn failure_message(e: &EncodeError) -> String {
    match e {
        EncodeError::Source(m) => format!("The source could not be converted: {m}"),
        other => format!("The segment could not be made: {other}"),
    }
}

/// Publishes a made piece (a whole object: readers never see part of it) and marks it ready.
async fn publish(ctx: &WorkerContext, held: &Held<'_>, id: &SegmentId, bytes: Bytes) -> Result<()> {
    ctx.objects
        .put(&id.object_key(), bytes, id.content_type(), Some(IMMUTABLE))
        .await?;
    held.complete(id).await?;
    ctx.events.notify_waiters();
    Ok(())
}

/// Why a job stopped before it made everything it holds.
#[derive(Debug)]
enum Failure {
    /// ffmpeg could not make it: recorded on the claims it still holds (a waiting request then
    /// claims again at once, until `claims::MAX_ATTEMPTS`).
    Encode(EncodeError),
    /// The stores failed (also: ffmpeg could not read the source because its store is down).
    /// An outage is nobody's attempt: the claims are given back without counting one, so the
    /// next request claims them at once when the store answers again; if the record store is
    /// the one down, they are left to their lease. Either way an outage never makes a segment
    /// fail for good.
    Storage(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Storage(e)
    }
}

impl From<EncodeError> for Failure {
    fn from(e: EncodeError) -> Self {
        Failure::Encode(e)
    }
}

/// Runs a claimed job to the end: publishes what it made. What it still holds when it stops is
/// released as failed after an encode failure (with the encoder's message) or after a normal
/// end (an audio run stopped before a claim it took); after a storage failure it is given back
/// uncounted (or, when that fails too, left to the lease). Only a storage failure is an error
/// of the run.
pub async fn run(ctx: &WorkerContext, job: &Job) -> Result<()> {
    let held = Held::new(ctx.meta.as_ref(), &job.worker, job.claims()?);
    let started = std::time::Instant::now();
    let outcome = match make(ctx, job, &held).await {
        Err(Failure::Encode(e)) => match source_outage(ctx, &job.set.media_id).await {
            Some(outage) => {
                tracing::warn!(error = %e, "the encode failed while the source's store is down");
                Err(Failure::Storage(outage))
            }
            None => Err(Failure::Encode(e)),
        },
        other => other,
    };
    let message = match outcome {
        Ok(()) => {
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(rendition = %job.rendition, kind = ?job.kind, elapsed_ms = ms, "job done");
            "The job ended before making this segment.".to_string()
        }
        Err(Failure::Encode(e)) => {
            tracing::warn!(rendition = %job.rendition, kind = ?job.kind, error = %e, "job failed");
            failure_message(&e)
        }
        Err(Failure::Storage(e)) => {
            match held.cancel_all().await {
                Ok(()) => {
                    tracing::error!(rendition = %job.rendition, kind = ?job.kind, error = %e, "job could not reach storage; its claims are given back")
                }
                Err(_) => {
                    tracing::error!(rendition = %job.rendition, kind = ?job.kind, error = %e, "job could not reach storage; its claims are left to their lease")
                }
            }
            ctx.events.notify_waiters();
            return Err(e);
        }
    };
    held.release_all(&message).await?;
    ctx.events.notify_waiters();
    Ok(())
}

/// After an encode failure: the storage error, if the source could not be read because its
/// store is down (ffmpeg reads the source from the store: a presigned URL in the cloud, so an
/// S3 outage looks to it like a broken input). `None` when the source is reachable (or gone):
/// then the failure is the encode's own. Costs nothing on the path where encodes succeed.
async fn source_outage(ctx: &WorkerContext, media_id: &str) -> Option<Error> {
    let media = match ctx.meta.get_media(media_id).await {
        Ok(Some(media)) => media,
        Ok(None) => return None,
        Err(e) => return Some(e),
    };
    ctx.objects.head(&media.source_key).await.err()
}

/// Gives up a job that never started (a read-ahead cancelled because the player moved on): its
/// claims are released without counting an attempt, so the pieces are free again.
pub async fn cancel(ctx: &WorkerContext, job: &Job) -> Result<()> {
    let held = Held::new(ctx.meta.as_ref(), &job.worker, job.claims()?);
    held.cancel_all().await?;
    tracing::info!(rendition = %job.rendition, kind = ?job.kind, "read-ahead cancelled");
    ctx.events.notify_waiters();
    Ok(())
}

/// The encode of each kind of job, and the publishing of what it made.
async fn make(ctx: &WorkerContext, job: &Job, held: &Held<'_>) -> Result<(), Failure> {
    let set = &job.set;
    let media = ctx
        .meta
        .get_media(&set.media_id)
        .await?
        .ok_or(Error::NotFound("media"))?;
    let probe = media
        .probe
        .as_ref()
        .ok_or_else(|| Error::Internal("media without probe".into()))?;
    let plan = set
        .plan
        .plan(probe)
        .map_err(|e| Error::Internal(format!("segment plan: {e}")))?;
    let location = ctx.objects.media_location(&media.source_key).await?;
    let input = EncodeInput {
        ffmpeg: &ctx.ffmpeg,
        source: &location,
        probe,
        set,
        rendition_id: &job.rendition,
        plan: &plan,
        nice: if job.ahead { READ_AHEAD_NICE } else { 0 },
    };
    let own = job.id(&job.rendition, job.kind.piece())?;
    match job.kind {
        JobKind::Init => publish(ctx, held, &own, encode_init(&input).await?).await?,
        JobKind::Segment(i) if !job.also.is_empty() => {
            let ids: Vec<&str> = std::iter::once(job.rendition.as_str())
                .chain(job.also.iter().map(String::as_str))
                .collect();
            let all = encode_video_segments(&input, i, &ids).await?;
            for (rendition, (_, bytes)) in ids.iter().zip(all) {
                publish(ctx, held, &job.id(rendition, Piece::Media(i))?, bytes).await?;
            }
        }
        JobKind::Segment(i) => {
            publish(ctx, held, &own, encode_video_segment(&input, i).await?).await?
        }
        JobKind::InitWith(i) => {
            let (init, media) = encode_video_segment_and_init(&input, i).await?;
            // The segment first: the request waiting on the init asks for it next.
            publish(ctx, held, &own.with_piece(Piece::Media(i)), media).await?;
            publish(ctx, held, &own, init).await?;
        }
        JobKind::AudioRun(from) => audio_run(ctx, held, &input, &own, from).await?,
        JobKind::Download => {
            let pieces = stream_core::download::pieces(set, &job.rendition, plan.len() as u32);
            let dir = tempfile::tempdir().map_err(|e| Error::Internal(format!("temp dir: {e}")))?;
            let out = assemble(ctx, &pieces, &job.rendition, dir.path()).await?;
            ctx.objects
                .put_file(&own.object_key(), &out, own.content_type(), Some(IMMUTABLE))
                .await?;
            held.complete(&own).await?;
            ctx.events.notify_waiters();
        }
    }
    Ok(())
}

/// A download's MP4, in `dir`: each rendition's pieces (init, then segments) concatenated into
/// one fragmented MP4 on the local disk, read one piece at a time (memory stays at one piece),
/// then copied by ffmpeg into a faststart MP4 (`stream_media::transcode::assemble`). A piece
/// whose record says made but whose object is gone (a lifecycle rule removed it) has its record
/// deleted, and the job stops as a storage failure (nobody's attempt): the next request for the
/// download makes that piece again, then the download.
async fn assemble(
    ctx: &WorkerContext,
    pieces: &[SegmentId],
    video_rendition: &str,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf, Failure> {
    use tokio::io::AsyncWriteExt;
    let disk = |e: std::io::Error| Error::Internal(format!("assembling a download: {e}"));
    let video_key = pieces.first().map(|p| p.content_key.clone());
    let (video, audio) = (dir.join("video.mp4"), dir.join("audio.mp4"));
    let mut has_audio = false;
    let mut files: Vec<(std::path::PathBuf, tokio::fs::File)> = vec![];
    for id in pieces {
        let is_video = Some(&id.content_key) == video_key.as_ref();
        let path = if is_video { &video } else { &audio };
        has_audio |= !is_video;
        if files.last().is_none_or(|(p, _)| p != path) {
            let f = tokio::fs::File::create(path).await.map_err(disk)?;
            files.push((path.clone(), f));
        }
        let Some((_, file)) = files.last_mut() else {
            continue;
        };
        let Some(bytes) = ctx
            .objects
            .read_range(&id.object_key(), 0, u64::MAX / 2)
            .await?
        else {
            ctx.meta.delete_segment(&id.record_id()).await?;
            let m = format!(
                "piece {} of a download is gone; it is made again",
                id.record_id()
            );
            return Err(Failure::Storage(Error::Unavailable(m)));
        };
        file.write_all(&bytes).await.map_err(disk)?;
    }
    for (_, mut f) in files {
        f.flush().await.map_err(disk)?;
    }
    let out = dir.join("download.mp4");
    tracing::info!(rendition = %video_rendition, pieces = pieces.len(), "assembling a download");
    let audio = has_audio.then_some(audio.as_path());
    assemble_mp4(&ctx.ffmpeg, &video, audio, &out).await?;
    Ok(out)
}

/// One continuous audio pass: publishes each segment as it completes and claims the next; stops
/// where another worker already holds (or made) the rest.
async fn audio_run(
    ctx: &WorkerContext,
    held: &Held<'_>,
    input: &EncodeInput<'_>,
    first: &SegmentId,
    from: u32,
) -> Result<(), Failure> {
    let total = input.plan.len() as u32;
    // The first storage error stops the pass (the callback answers `false`) and is returned.
    // The callback's futures run one at a time, so a plain lock borrowed by each is enough.
    let storage_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
    let outcome = encode_audio_run(input, from, |i, bytes| {
        let (id, next) = (
            first.with_piece(Piece::Media(i)),
            first.with_piece(Piece::Media(i + 1)),
        );
        let storage_error = &storage_error;
        async move {
            if let Err(e) = publish(ctx, held, &id, bytes).await {
                *storage_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return false;
            }
            i + 1 < total && held.add(next).await
        }
    })
    .await;
    if let Some(e) = storage_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        return Err(Failure::Storage(e));
    }
    match outcome {
        Ok(_) => Ok(()),
        // Failed after its last claimed segment: nothing is left to release.
        Err(e) if !held_any(held, first, from, total) => {
            tracing::warn!(error = %e, "audio pass failed after its last claimed segment");
            Ok(())
        }
        Err(e) => Err(Failure::Encode(e)),
    }
}

fn held_any(held: &Held<'_>, first: &SegmentId, from: u32, total: u32) -> bool {
    (from..total).any(|i| held.holds(&first.with_piece(Piece::Media(i))))
}

/// Whether a rendition id is the audio rendition of `set`.
pub fn is_audio(set: &RenditionSet, rendition: &str) -> bool {
    matches!(set.rendition(rendition), Some(Rendition::Audio(_)))
}
