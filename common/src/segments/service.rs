//! The request side of just-in-time segments.

use std::time::{Duration, Instant};

use super::job::{file_name, is_audio, segment_id, Job, JobKind, LEASE_SECONDS, MAX_ATTEMPTS};
use crate::error::{Error, Result};
use crate::hls::ladder::RenditionSet;
use crate::model::{Claim, SegmentRecord, SegmentState};
use crate::state::AppState;

/// What a segment request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Made: a presigned URL of its object.
    Ready(String),
    /// Not made within the wait: answer 503 + Retry-After; the encode goes on.
    Pending,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
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
async fn claim_and_dispatch(state: &AppState, set: &RenditionSet, rendition: &str, content_key: &str, kind: JobKind, also: Also) -> Result<SegmentRecord> {
    let id = segment_id(content_key, &file_name(kind, set.format));
    let worker = crate::ids::random_id();
    let t = now();
    match state.meta.claim_segment(&id, &worker, t, t + LEASE_SECONDS, MAX_ATTEMPTS).await? {
        Claim::Held(rec) => Ok(rec),
        Claim::Claimed(rec) => {
            let mut run_kind = job_kind(set, rendition, kind);
            // Further claims this job holds: (record id, rendition).
            let mut extra: Vec<(String, String)> = vec![];
            // A further claim that fails (the store is down) is simply not taken: the job makes
            // its own piece, and the piece it holds is never left without a job.
            let claim = |seg: String| {
                let worker = worker.clone();
                async move {
                    match state.meta.claim_segment(&seg, &worker, t, t + LEASE_SECONDS, MAX_ATTEMPTS).await {
                        Ok(c) => matches!(c, Claim::Claimed(_)),
                        Err(e) => {
                            tracing::warn!(error = %e, "a further claim failed; the job makes its own piece only");
                            false
                        }
                    }
                }
            };
            match (kind, also) {
                (JobKind::Init, Also::SegmentWithInit(i)) if !is_audio(set, rendition) => {
                    let seg = segment_id(content_key, &file_name(JobKind::Segment(i), set.format));
                    if claim(seg.clone()).await {
                        run_kind = JobKind::InitWith(i);
                        extra.push((seg, rendition.to_string()));
                    }
                }
                (JobKind::Segment(i), Also::OtherRungs) if set.video.iter().any(|v| v.id == rendition && !v.copy) => {
                    for other in set.video.iter().filter(|v| v.id != rendition && !v.copy) {
                        let Some(key) = set.content_key(&other.id) else { continue };
                        let seg = segment_id(&key, &file_name(JobKind::Segment(i), set.format));
                        if claim(seg.clone()).await {
                            extra.push((seg, other.id.clone()));
                        }
                    }
                }
                _ => {}
            }
            let also_rungs = if matches!(run_kind, JobKind::Segment(_)) { extra.iter().map(|(_, r)| r.clone()).collect() } else { vec![] };
            let job = Job { set: set.clone(), rendition: rendition.to_string(), kind: run_kind, worker, also: also_rungs };
            if let Err(e) = state.dispatcher.dispatch(state, job).await {
                // Release the claims at once so the next request can try again.
                let _ = state.meta.fail_segment(&id, &rec.worker, "the worker could not be started").await;
                for (seg, _) in &extra {
                    let _ = state.meta.fail_segment(seg, &rec.worker, "the worker could not be started").await;
                }
                return Err(e);
            }
            Ok(rec)
        }
    }
}

/// Delivers one piece (`Init` or `Segment(i)`) of `rendition`, making it if needed and waiting at
/// most the configured time. A piece that failed for good is a clear error. `init_from`: for
/// an init, the segment the stream is expected to start at (made by the same run when free).
pub async fn deliver(state: &AppState, set: &RenditionSet, rendition: &str, kind: JobKind, plan_len: u32, init_from: Option<u32>) -> Result<Delivery> {
    let content_key = set.content_key(rendition).ok_or(Error::NotFound("rendition"))?;
    let id = segment_id(&content_key, &file_name(kind, set.format));
    let deadline = Instant::now() + state.config.segment_wait;
    let poll = if state.local_meta.is_some() { Duration::from_millis(20) } else { Duration::from_millis(100) };
    let mut read_ahead_done = false;
    loop {
        // Registered before the record is read, so a completion in between is not missed.
        let notified = state.segment_events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let rec = match state.meta.get_segment(&id).await? {
            Some(r) if r.state == SegmentState::Ready => r,
            Some(r) if r.state == SegmentState::Failed && r.attempts >= MAX_ATTEMPTS => {
                return Err(Error::Conflict { code: "segment_failed", message: r.error.unwrap_or_else(|| "The segment could not be made.".into()) });
            }
            Some(r) if r.state == SegmentState::Encoding && r.lease_until >= now() => r,
            // Absent, retryable failure, or a dead worker's expired lease: claim it ourselves.
            _ => claim_and_dispatch(state, set, rendition, &content_key, kind, init_from.map_or(Also::Nothing, Also::SegmentWithInit)).await?,
        };
        if !read_ahead_done {
            read_ahead_done = true;
            if let JobKind::Segment(i) = kind {
                if state.dispatcher.in_process() {
                    // Off the response path: a segment that is made is answered at once.
                    let (state, set, rendition, key) = (state.clone(), set.clone(), rendition.to_string(), content_key.clone());
                    tokio::spawn(async move { read_ahead(&state, &set, &rendition, &key, i, plan_len).await });
                } else {
                    // A Lambda invocation may be frozen once it has answered: claim first.
                    read_ahead(state, set, rendition, &content_key, i, plan_len).await;
                }
            }
        }
        if rec.state == SegmentState::Ready {
            let key = rec.object_key.ok_or_else(|| Error::Internal(format!("segment {id} ready without object")))?;
            let url = state.objects.presign_get(&key, state.config.segment_url_ttl).await?;
            return Ok(Delivery::Ready(on_origin(url, state.config.segment_url_base.as_ref())));
        }
        if Instant::now() >= deadline {
            return Ok(Delivery::Pending);
        }
        // Woken by a job of this process, or at the next poll (a worker elsewhere).
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// `url` with its scheme, host and port replaced by `origin`'s (path and query, the
/// signature, unchanged): the CDN forwards it to the bucket, whose host the signature names.
fn on_origin(url: String, origin: Option<&url::Url>) -> String {
    let Some(origin) = origin else { return url };
    match url::Url::parse(&url) {
        Ok(mut u) => {
            let ok = u.set_scheme(origin.scheme()).is_ok() && u.set_host(origin.host_str()).is_ok() && u.set_port(origin.port()).is_ok();
            if ok {
                u.to_string()
            } else {
                url
            }
        }
        // Relative (the embedded object route): already on the service's host.
        Err(_) => url,
    }
}

/// Claims and starts the next `read_ahead` video segments (audio runs carry on by themselves),
/// so playback does not stall after the start or a seek. Best effort: errors are logged.
async fn read_ahead(state: &AppState, set: &RenditionSet, rendition: &str, content_key: &str, from: u32, plan_len: u32) {
    if is_audio(set, rendition) || state.config.read_ahead == 0 {
        return;
    }
    let last = (from + state.config.read_ahead).min(plan_len.saturating_sub(1));
    if last <= from {
        return;
    }
    // Cheap check first: if the furthest one exists, the run ahead is covered.
    let far = segment_id(content_key, &file_name(JobKind::Segment(last), set.format));
    if matches!(state.meta.get_segment(&far).await, Ok(Some(_))) {
        return;
    }
    for j in from + 1..=last {
        let also = if state.config.read_ahead_all_rungs { Also::OtherRungs } else { Also::Nothing };
        if let Err(e) = claim_and_dispatch(state, set, rendition, content_key, JobKind::Segment(j), also).await {
            tracing::warn!(error = %e, segment = j, "read-ahead could not start");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::on_origin;

    #[test]
    fn segment_urls_move_to_the_cdn_with_their_signature() {
        let cdn = url::Url::parse("https://d1.cloudfront.net").unwrap();
        let s3 = "https://b.s3.eu-west-1.amazonaws.com/renditions/ab/v1/seg_00001.m4s?X-Amz-Signature=f00&X-Amz-SignedHeaders=host".to_string();
        assert_eq!(on_origin(s3.clone(), Some(&cdn)), "https://d1.cloudfront.net/renditions/ab/v1/seg_00001.m4s?X-Amz-Signature=f00&X-Amz-SignedHeaders=host");
        let local = url::Url::parse("http://127.0.0.1:4001").unwrap();
        assert_eq!(on_origin("http://127.0.0.1:4566/bucket/renditions/k?sig=1".into(), Some(&local)), "http://127.0.0.1:4001/bucket/renditions/k?sig=1");
        assert_eq!(on_origin(s3.clone(), None), s3);
        assert_eq!(on_origin("/objects/k?sig=1".into(), Some(&cdn)), "/objects/k?sig=1");
    }
}
