//! Offline downloads (SPEC §3 "Downloads for offline playback"): `GET /download/{id}`'s work.
//!
//! **The original when it fits.** The media is checked as for `/stream` (visibility, state) and
//! the decision is the same function with the client's capabilities. `direct_play` (and a
//! `quality` at or above the source's size) gives the original: a presigned URL that answers
//! `Content-Disposition: attachment` (S3's `response-content-disposition`; the embedded object
//! route's signed `filename`). It is the store's URL, not the CDN's: a CloudFront signed URL
//! cannot ask for that header.
//!
//! **Else an MP4 of one rung, assembled, never encoded twice.** The rendition set is the one a
//! `transcode` session with the same limits plays (`stream_core::download`), the rung the best
//! one within `quality`. Its video segments and the audio rendition are the ordinary
//! content-addressed pieces, made just in time through the ordinary claims
//! (`segments::request::request_in_background`): what a viewer already made is not made again,
//! and what the download makes, viewers get. When every piece is made, one more claimed job
//! (`JobKind::Download`) copies them into a faststart MP4 (`stream_media::transcode::assemble`)
//! published write-once under its own content key, with a claim record like a segment's
//! (`pending → encoding (lease) → ready | failed`). Two users asking for the same rung get that
//! one object; a second request finds it ready and makes nothing.
//!
//! **A download does not starve players.** Its pieces and its assembly are dispatched as
//! read-ahead (`Priority::ReadAhead`): in-process they run niced, in their own lane, and start
//! only on a core no waited-for job needs (`segments::dispatch`); a player that asks for one of them promotes it
//! as usual. Audio is one continuous pass (never per chunk): a pass is started only when none
//! is running. In the cloud each piece is its own `transcode` invocation (in parallel, none
//! near Lambda's 15 min limit); each request dispatches at most [`DISPATCH_PER_REQUEST`] new
//! jobs, so a long film's request stays short, and the client's next poll goes on.
//!
//! **The assembly in a Lambda invocation.** It reads every piece from S3 once, writes them to
//! `/tmp`, copies them into the MP4 (ffmpeg `-c copy`, I/O bound) and uploads it: an hour of
//! 720p (about 1.3 GB at the top rung's 2.8 Mb/s) is about 20 s of S3 reads at Lambda's
//! ~100 MB/s, 10 s of copy and 20 s of upload, so about a minute per hour of video, and 1080p
//! (about 2.3 GB/h) about two. So it is not chunked: a four-hour 1080p film is well inside the
//! 15 min limit (`ASSEMBLE_TIMEOUT` stops ffmpeg at 12). What bounds it is `/tmp`: the inputs
//! and the output are on disk together (2x the file), and Lambda's ephemeral storage is at most
//! 10 GB, so about two hours of 1080p; the template gives the `transcode` function that
//! maximum. Longer films would need the MP4 written without a local copy: S3 multipart upload
//! (`UploadPartCopy` of the pieces' `mdat`s after a computed `moov`); not done.

use stream_core::download::{
    choose_rung, download_decision, download_id, file_name, pieces, progress,
};
use stream_core::error::{Error, Result};
use stream_core::hls::ladder::{build, ClientLimits, LadderConfig, RenditionSet};
use stream_core::model::{Caller, MediaStatus, SegmentRecord};
use stream_core::playback::capabilities::Capabilities;
use stream_core::playback::decision::{decide, select_audio, Method};
use stream_core::segment::{Piece, SegmentId};

use stream_media::transcode::assemble::ASSEMBLE_TIMEOUT;

use crate::media::load_visible;
use crate::playback::playable;
use crate::segments::claims::{self, Standing};
use crate::segments::dispatch::Priority;
use crate::segments::request::{request_in_background, Ask};
use crate::segments::worker::JobKind;
use crate::state::AppState;

/// New jobs one request dispatches at most (a long film's pieces over several polls).
pub const DISPATCH_PER_REQUEST: usize = 64;
/// Claim records read at once when a request counts the pieces made.
const READS_AT_ONCE: usize = 32;

/// How much longer than a segment's lease an assembly's claim is taken to live: a long film's
/// copy outlasts `claims::LEASE_SECONDS`, and a request that took it over would start a second
/// copy of the same bytes. The claim stands until ffmpeg's own limit has passed.
fn assembly_grace() -> i64 {
    (ASSEMBLE_TIMEOUT.as_secs() as i64 - claims::LEASE_SECONDS).max(0)
}

/// What a download request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadOutcome {
    /// The media is still uploading or being probed.
    Preparing(MediaStatus),
    /// Being made: how far it has come (0.0 to 1.0, never 1.0).
    Making { progress: f64 },
    /// Made (or the original fits): a URL that saves it under `file_name`.
    Ready(Ready),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub url: String,
    pub file_name: String,
    /// `true`: the original; `false`: the assembled MP4 of `rung`.
    pub original: bool,
    pub rung: Option<String>,
    /// When `url` stops working, epoch seconds.
    pub expires_at: i64,
}

/// Whether the source, at most `quality` tall (its short side), may be downloaded as it is.
fn within_quality(probe: &stream_core::model::Probe, quality: Option<u32>) -> bool {
    match (quality, &probe.video) {
        (Some(q), Some(v)) => v.width.min(v.height) <= q,
        _ => true,
    }
}

/// The download of `media_id` for a client with `caps`, at most `quality`: the original, the
/// assembled MP4, or how far that has come (starting what is missing).
// Long because it is the endpoint's whole sequence in the order SPEC §3 states it (the media,
// the decision, the original or a rung, the MP4's own record, then its pieces), each step a few
// lines over the helpers below.
pub async fn download(
    state: &AppState,
    caller: &Caller,
    media_id: &str,
    caps: &Capabilities,
    quality: Option<u32>,
) -> Result<DownloadOutcome> {
    let media = load_visible(state, caller, media_id).await?;
    let Some(probe) = playable(state, &media).await? else {
        return Ok(DownloadOutcome::Preparing(media.status));
    };
    // The default track (SPEC: a download carries the default audio track).
    let audio = select_audio(probe, None).map_err(|m| Error::invalid("invalid_parameter", m))?;
    let decision = decide(probe, caps, audio, false);
    let ttl = state.config.direct_play_url_ttl;
    let expires_at = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
    if decision.method == Method::DirectPlay && within_quality(probe, quality) {
        let ext = media.source_key.rsplit_once('.').map_or("", |(_, e)| e);
        let name = file_name(Some(&media.title), &media.id, None, ext);
        let url = state
            .objects
            .presign_download(&media.source_key, ttl, &name)
            .await?;
        tracing::info!(media_id = %media.id, "download: the original");
        return Ok(DownloadOutcome::Ready(Ready {
            url,
            file_name: name,
            original: true,
            rung: None,
            expires_at,
        }));
    }
    let not_downloadable = |what: String| Error::Conflict {
        code: "not_downloadable",
        message: what,
    };
    let set = build(
        &media.id,
        probe,
        &download_decision(&decision),
        &ClientLimits::from(caps),
        &LadderConfig::default(),
    )
    .map_err(|e| not_downloadable(format!("This media cannot be converted for download: {e}")))?;
    let rung = choose_rung(&set, quality)
        .ok_or_else(|| not_downloadable("This media has no video to download.".into()))?
        .id
        .clone();
    let segments = set
        .plan
        .plan(probe)
        .map_err(|e| not_downloadable(format!("No segment plan for this media: {e}")))?
        .len() as u32;
    let target = download_id(&set, &rung).ok_or(Error::NotFound("rendition"))?;
    let record = state.meta.get_segment(&target.record_id()).await?;
    match Standing::of(record.as_ref(), claims::now() - assembly_grace()) {
        Standing::Ready(Some(key)) if state.objects.head(&key).await?.is_some() => {
            let name = file_name(Some(&media.title), &media.id, Some(&rung), "mp4");
            let url = state.objects.presign_download(&key, ttl, &name).await?;
            tracing::info!(media_id = %media.id, rung = %rung, "download: ready");
            return Ok(DownloadOutcome::Ready(Ready {
                url,
                file_name: name,
                original: false,
                rung: Some(rung),
                expires_at,
            }));
        }
        // Made once, removed since (a lifecycle rule): made again.
        Standing::Ready(_) => state.meta.delete_segment(&target.record_id()).await?,
        Standing::FailedForGood(e) => return Err(failed(e)),
        Standing::Encoding => return Ok(DownloadOutcome::Making { progress: 0.99 }),
        Standing::Free => {}
    }
    let all = pieces(&set, &rung, segments);
    let now = claims::now();
    let standings = read_records(state, &all).await?;
    let standings = standings.iter().map(|r| Standing::of(r.as_ref(), now));
    let Next { made, request } = next(&set, &all, standings)?;
    if made == all.len() {
        // Every piece is made: the one assembly job.
        let rec = request_in_background(
            state,
            ask(&set, &rung, JobKind::Download),
            &target,
            Priority::ReadAhead,
        )
        .await?;
        tracing::info!(media_id = %media.id, rung = %rung, state = ?rec.state, "download: assembling");
        return Ok(DownloadOutcome::Making { progress: 0.99 });
    }
    for id in request {
        let rendition = rendition_of(&set, id, &rung);
        let kind = match id.piece {
            Piece::Init => JobKind::Init,
            Piece::Media(i) => JobKind::Segment(i),
            Piece::Download | Piece::Sheet(_) => continue,
        };
        request_in_background(state, ask(&set, rendition, kind), id, Priority::ReadAhead).await?;
    }
    let p = progress(made, all.len());
    tracing::info!(media_id = %media.id, rung = %rung, made, total = all.len(), "download: making");
    Ok(DownloadOutcome::Making { progress: p })
}

/// What one download request does about its pieces.
#[derive(Debug, PartialEq)]
struct Next<'a> {
    /// Pieces made.
    made: usize,
    /// Pieces to request now, in order, at most [`DISPATCH_PER_REQUEST`]: the audio pass first
    /// (one continuous run from the first audio segment not made, started only when no pass is
    /// running: never a second pass beside it), then every free video piece and the audio init.
    request: Vec<&'a SegmentId>,
}

/// [`Next`] from the claim records' standings of `all` (in `pieces` order); a piece failed for
/// good fails the download.
fn next<'a>(
    set: &RenditionSet,
    all: &'a [SegmentId],
    standings: impl Iterator<Item = Standing>,
) -> Result<Next<'a>> {
    let audio_key = set.audio.as_ref().and_then(|a| set.content_key(&a.id));
    let mut made = 0;
    let mut audio_running = false;
    let mut free: Vec<&SegmentId> = vec![];
    let mut audio_from: Option<&SegmentId> = None;
    for (id, standing) in all.iter().zip(standings) {
        let audio_media =
            audio_key.as_deref() == Some(id.content_key.as_str()) && id.piece != Piece::Init;
        match standing {
            Standing::Ready(_) => made += 1,
            Standing::FailedForGood(e) => return Err(failed(e)),
            Standing::Encoding => audio_running |= audio_media,
            Standing::Free if audio_media => {
                audio_from.get_or_insert(id);
            }
            Standing::Free => free.push(id),
        }
    }
    let audio_pass = audio_from.filter(|_| !audio_running);
    let request = audio_pass
        .into_iter()
        .chain(free)
        .take(DISPATCH_PER_REQUEST)
        .collect();
    Ok(Next { made, request })
}

/// A request of background work (no user waits for it: not counted against anyone's cap).
fn ask<'a>(set: &'a RenditionSet, rendition: &'a str, kind: JobKind) -> Ask<'a> {
    Ask {
        set,
        rendition,
        kind,
        requester: None,
    }
}

/// The rendition id of a piece of the download: the audio rendition's, else the rung's.
fn rendition_of<'s>(set: &'s RenditionSet, id: &SegmentId, rung: &'s str) -> &'s str {
    match &set.audio {
        Some(a) if set.content_key(&a.id).as_deref() == Some(id.content_key.as_str()) => &a.id,
        _ => rung,
    }
}

fn failed(error: Option<String>) -> Error {
    let why = error.unwrap_or_else(|| "a piece could not be made".into());
    Error::Conflict {
        code: "download_failed",
        message: format!("The download could not be made: {why}"),
    }
}

/// The claim records of `ids`, in order, [`READS_AT_ONCE`] at a time.
async fn read_records(state: &AppState, ids: &[SegmentId]) -> Result<Vec<Option<SegmentRecord>>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(READS_AT_ONCE) {
        let mut reads = tokio::task::JoinSet::new();
        for (i, id) in chunk.iter().enumerate() {
            let (meta, record) = (state.meta.clone(), id.record_id());
            reads.spawn(async move { (i, meta.get_segment(&record).await) });
        }
        let mut got = vec![None; chunk.len()];
        while let Some(joined) = reads.join_next().await {
            let (i, record) = joined.map_err(Error::internal)?;
            got[i] = record?;
        }
        out.extend(got);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream_core::download::{download_decision, pieces};

    fn set() -> RenditionSet {
        let (probe, decision, _) = stream_core::fixtures::remux_fixture();
        let d = download_decision(&decision);
        build(
            "m1",
            &probe,
            &d,
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap()
    }

    fn names(n: &Next<'_>) -> Vec<String> {
        n.request
            .iter()
            .map(|id| format!("{}:{}", &id.content_key[..4], id.file_name()))
            .collect()
    }

    #[test]
    fn one_audio_pass_first_then_every_free_video_piece() {
        let set = set();
        let (v, a) = (
            set.content_key("v360").unwrap(),
            set.content_key("a").unwrap(),
        );
        let all = pieces(&set, "v360", 3);
        let free = || std::iter::repeat_n(Standing::Free, all.len());
        let n = next(&set, &all, free()).unwrap();
        assert_eq!(n.made, 0);
        let (v, a) = (&v[..4], &a[..4]);
        assert_eq!(
            names(&n),
            [
                format!("{a}:seg_00000.m4s"),
                format!("{v}:init.mp4"),
                format!("{v}:seg_00000.m4s"),
                format!("{v}:seg_00001.m4s"),
                format!("{v}:seg_00002.m4s"),
                format!("{a}:init.mp4"),
            ]
        );
        // A pass is running (segment 0 being made): no second one; the rest as before.
        let running = |i: usize| match i {
            5 => Standing::Encoding,
            _ => Standing::Free,
        };
        let n = next(&set, &all, (0..all.len()).map(running)).unwrap();
        assert!(
            !names(&n)
                .iter()
                .any(|x| x.ends_with(".m4s") && x.starts_with(a)),
            "{n:?}"
        );
        // The pass stopped after segment 0: the next one starts where it stopped.
        let stopped = |i: usize| match i {
            // The video, the audio init and audio segment 0.
            0..=5 => Standing::Ready(Some("k".into())),
            _ => Standing::Free,
        };
        let n = next(&set, &all, (0..all.len()).map(stopped)).unwrap();
        assert_eq!(n.made, 6);
        assert_eq!(names(&n), [format!("{a}:seg_00001.m4s")]);
        // Everything made: nothing to request (the assembly comes next).
        let done = std::iter::repeat_n(Standing::Ready(Some("k".into())), all.len());
        let n = next(&set, &all, done).unwrap();
        assert_eq!((n.made, n.request.len()), (all.len(), 0));
    }

    #[test]
    fn a_piece_failed_for_good_fails_the_download_and_requests_are_bounded() {
        let set = set();
        let all = pieces(&set, "v360", 3);
        let broken = (0..all.len()).map(|i| match i {
            2 => Standing::FailedForGood(Some("the source is damaged".into())),
            _ => Standing::Free,
        });
        let e = next(&set, &all, broken).unwrap_err();
        assert_eq!(e.code(), "download_failed");
        assert!(e.to_string().contains("the source is damaged"), "{e}");
        let long = pieces(&set, "v360", 500);
        let free = std::iter::repeat_n(Standing::Free, long.len());
        assert_eq!(
            next(&set, &long, free).unwrap().request.len(),
            DISPATCH_PER_REQUEST
        );
    }

    #[test]
    fn quality_below_the_source_is_not_the_original() {
        let (probe, _, _) = stream_core::fixtures::remux_fixture();
        assert!(within_quality(&probe, None));
        assert!(within_quality(&probe, Some(1080)));
        assert!(within_quality(&probe, Some(720)));
        assert!(!within_quality(&probe, Some(480)));
    }
}
