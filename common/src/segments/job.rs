//! A transcode job: make one claimed piece of a rendition and publish it. Run by the in-process
//! worker pool (embedded) or by the `transcode` Lambda function (cloud): the same code.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hls::ladder::{Rendition, RenditionSet};
use crate::hls::playlist::{segment_file_name, INIT_NAME};
use crate::model::Claim;
use crate::playback::decision::SegmentFormat;
use crate::state::AppState;
use crate::transcode::{encode_audio_run, encode_init, encode_video_segment, encode_video_segment_and_init, encode_video_segments, EncodeError, EncodeInput};

/// Cache-Control of segment objects: keyed by content, so immutable (SPEC §4).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// How long a claim lasts before another worker may take it over.
pub const LEASE_SECONDS: i64 = 90;
/// Claims per segment before it is failed for good (no endless retries of a broken source).
pub const MAX_ATTEMPTS: u32 = 3;

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
}

/// `<content key>/<file name>`: the segment's record id.
pub fn segment_id(content_key: &str, file: &str) -> String {
    format!("{content_key}/{file}")
}

/// Where a segment's bytes live: by media and content, never by session.
pub fn object_key(media_id: &str, content_key: &str, file: &str) -> String {
    format!("renditions/{media_id}/{content_key}/{file}")
}

pub fn file_name(kind: JobKind, format: SegmentFormat) -> String {
    match kind {
        JobKind::Init | JobKind::InitWith(_) => INIT_NAME.to_string(),
        JobKind::Segment(i) | JobKind::AudioRun(i) => segment_file_name(i, format),
    }
}

fn content_type(format: SegmentFormat, file: &str) -> &'static str {
    match format {
        SegmentFormat::Ts => "video/mp2t",
        SegmentFormat::Fmp4 if file == INIT_NAME => "video/mp4",
        SegmentFormat::Fmp4 => "video/iso.segment",
    }
}

/// Publishes a made piece (a whole object: readers never see part of it) and marks it ready.
async fn publish(state: &AppState, set: &RenditionSet, content_key: &str, file: &str, worker: &str, bytes: Bytes) -> Result<()> {
    let key = object_key(&set.media_id, content_key, file);
    state.objects.put(&key, bytes, content_type(set.format, file), Some(IMMUTABLE)).await?;
    if !state.meta.complete_segment(&segment_id(content_key, file), worker, &key).await? {
        // Our lease ran out and another worker took over: its bytes are the same; nothing to do.
        tracing::warn!(segment = %file, "claim lost before completion; the object is identical");
    }
    state.segment_events.notify_waiters();
    Ok(())
}

fn failure_message(e: &EncodeError) -> String {
    match e {
        EncodeError::Source(m) => format!("The source could not be converted: {m}"),
        other => format!("The segment could not be made: {other}"),
    }
}

/// Runs a claimed job to the end: publishes what it made, or records the failure.
pub async fn run(state: &AppState, job: &Job) -> Result<()> {
    let set = &job.set;
    let content_key = set.content_key(&job.rendition).ok_or(Error::NotFound("rendition"))?;
    let media = state.meta.get_media(&set.media_id).await?.ok_or(Error::NotFound("media"))?;
    let probe = media.probe.as_ref().ok_or_else(|| Error::Internal("media without probe".into()))?;
    let plan = set.plan.plan(probe).map_err(|e| Error::Internal(format!("segment plan: {e}")))?;
    let location = state.objects.media_location(&media.source_key).await?;
    let input = EncodeInput { ffmpeg: &state.config.ffmpeg, source: &location, probe, set, rendition_id: &job.rendition, plan: &plan };
    let started = std::time::Instant::now();
    let first_file = file_name(job.kind, set.format);
    let result = match job.kind {
        JobKind::Init => match encode_init(&input).await {
            Ok(bytes) => publish(state, set, &content_key, &first_file, &job.worker, bytes).await.map(|_| Ok(())),
            Err(e) => Ok(Err((first_file.clone(), e))),
        },
        JobKind::Segment(i) if !job.also.is_empty() => rungs(state, job, &input, i, &first_file).await,
        JobKind::Segment(i) => match encode_video_segment(&input, i).await {
            Ok(bytes) => publish(state, set, &content_key, &first_file, &job.worker, bytes).await.map(|_| Ok(())),
            Err(e) => Ok(Err((first_file.clone(), e))),
        },
        JobKind::InitWith(i) => {
            let file = segment_file_name(i, set.format);
            match encode_video_segment_and_init(&input, i).await {
                Ok((init, media)) => {
                    // The segment first: the request waiting on the init asks for it next.
                    let published = async {
                        publish(state, set, &content_key, &file, &job.worker, media).await?;
                        publish(state, set, &content_key, &first_file, &job.worker, init).await
                    };
                    published.await.map(|_| Ok(()))
                }
                Err(e) => {
                    // The segment's claim is released with the same error (the init's below).
                    state.meta.fail_segment(&segment_id(&content_key, &file), &job.worker, &failure_message(&e)).await?;
                    Ok(Err((first_file.clone(), e)))
                }
            }
        }
        JobKind::AudioRun(from) => audio_run(state, job, &input, &content_key, from).await,
    };
    match result? {
        Ok(()) => {
            tracing::info!(rendition = %job.rendition, kind = ?job.kind, elapsed_ms = started.elapsed().as_millis() as u64, "job done");
            Ok(())
        }
        Err((file, e)) => {
            tracing::warn!(rendition = %job.rendition, segment = %file, error = %e, "job failed");
            state.meta.fail_segment(&segment_id(&content_key, &file), &job.worker, &failure_message(&e)).await?;
            // Waiters look again (`publish` signals what is made).
            state.segment_events.notify_waiters();
            Ok(())
        }
    }
}

/// Segment `i` of the job's rendition and of its `also` renditions, from one run.
async fn rungs(state: &AppState, job: &Job, input: &EncodeInput<'_>, i: u32, file: &str) -> Result<std::result::Result<(), (String, EncodeError)>> {
    let set = &job.set;
    let ids: Vec<&str> = std::iter::once(job.rendition.as_str()).chain(job.also.iter().map(String::as_str)).collect();
    let keys: Vec<String> = ids.iter().map(|id| set.content_key(id).ok_or(Error::NotFound("rendition"))).collect::<Result<_>>()?;
    match encode_video_segments(input, i, &ids).await {
        Ok(all) => {
            for (key, (_, bytes)) in keys.iter().zip(all) {
                publish(state, set, key, file, &job.worker, bytes).await?;
            }
            Ok(Ok(()))
        }
        Err(e) => {
            // The other renditions' claims are released with the same error (the job's own by
            // the caller).
            for key in &keys[1..] {
                state.meta.fail_segment(&segment_id(key, file), &job.worker, &failure_message(&e)).await?;
            }
            Ok(Err((file.to_string(), e)))
        }
    }
}

/// One continuous audio pass: publishes each segment as it completes and claims the next; stops
/// where another worker already holds (or made) the rest.
async fn audio_run(state: &AppState, job: &Job, input: &EncodeInput<'_>, content_key: &str, from: u32) -> Result<std::result::Result<(), (String, EncodeError)>> {
    let format = job.set.format;
    // The segment this run holds a claim on right now (None once it stopped holding one).
    let holding: Arc<Mutex<Option<u32>>> = Arc::new(Mutex::new(Some(from)));
    let storage_error: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
    let total = input.plan.len() as u32;
    let outcome = encode_audio_run(input, from, |i, bytes| {
        let (state, set, worker, key) = (state.clone(), job.set.clone(), job.worker.clone(), content_key.to_string());
        let (holding, storage_error) = (holding.clone(), storage_error.clone());
        async move {
            let file = segment_file_name(i, format);
            if let Err(e) = publish(&state, &set, &key, &file, &worker, bytes).await {
                *storage_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return false;
            }
            let next = i + 1;
            if next >= total {
                *holding.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return true;
            }
            let now = chrono::Utc::now().timestamp();
            let claimed = matches!(state.meta.claim_segment(&segment_id(&key, &segment_file_name(next, format)), &worker, now, now + LEASE_SECONDS, MAX_ATTEMPTS).await, Ok(Claim::Claimed(_)));
            *holding.lock().unwrap_or_else(|p| p.into_inner()) = claimed.then_some(next);
            claimed
        }
    })
    .await;
    if let Some(e) = storage_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    let held = *holding.lock().unwrap_or_else(|p| p.into_inner());
    match (outcome, held) {
        (Ok(_), None) => Ok(Ok(())),
        // Stopped (or ended) while holding a claim it did not fill: release it as a failure so a
        // waiting request re-claims it at once instead of waiting out the lease.
        (Ok(_), Some(i)) => Ok(Err((segment_file_name(i, format), EncodeError::Output("the audio pass ended before this segment".into())))),
        (Err(e), Some(i)) => Ok(Err((segment_file_name(i, format), e))),
        (Err(e), None) => {
            tracing::warn!(error = %e, "audio pass failed after its last claimed segment");
            Ok(Ok(()))
        }
    }
}

/// Whether a rendition id is the audio rendition of `set`.
pub fn is_audio(set: &RenditionSet, rendition: &str) -> bool {
    matches!(set.rendition(rendition), Some(Rendition::Audio(_)))
}
