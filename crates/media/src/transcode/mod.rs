//! The encode engine (SPEC §4): pure "bytes in, bytes out" functions that turn (source,
//! rendition, segment) into the exact bytes of HLS objects. No storage and no claims: the
//! caller decides what to make and where the bytes go.
//!
//! ffmpeg runs through `ffmpeg-sidecar` (in `spawn_blocking`) and reads the source itself (a
//! local path or a presigned URL, by HTTP range: never downloaded whole); its output goes to
//! stdout and is parsed here ([`boxes`]).
//!
//! **One timeline.** Every output timestamp is the source's time (relative to its start) plus
//! [`args::TIMELINE_OFFSET`] (10 s), in every run: `-output_ts_offset <seek point + 10>`,
//! `-avoid_negative_ts disabled`, `-use_editlist 0`, `-movflags +frag_discont` (the first
//! `tfdt` is the first packet's decode time). So segments made independently, in any order,
//! by any worker, line up exactly: presentation times are the source's, decode times continue
//! from one segment into the next (B-frames, open GOPs), and audio and video are in sync. The
//! base keeps decode times positive (B-frames decode before they show, AAC's priming packet
//! precedes the first sample, sources may start slightly below zero); players map the first
//! segment's timestamp to the playlist's start, so it does not show.
//!
//! - **Video** ([`encode_video_segment`]): one ffmpeg per segment, input seek (`-ss` before
//!   `-i`), fragmented MP4 (`-f mp4 -movflags +frag_keyframe+empty_moov+default_base_moof+frag_discont`,
//!   `-video_track_timescale 90000`), split into init (`ftyp` + `moov`) and media.
//!   - copy: `-c:v copy -copypriorss 0`, seek 2 ms before the keyframe the segment starts at
//!     (the probe's times are rounded to the millisecond) so packets before it are dropped and
//!     the segment starts with it; `-t` reads 0.1 s past the end, and the fragment that begins
//!     at the next keyframe (`frag_keyframe` starts one at every keyframe) is dropped, so the
//!     segment is exactly its GOPs (`-t` alone cannot cut there: it counts decode times).
//!     HEVC is tagged `hvc1`; a display matrix (a phone's rotation) is kept, so players turn
//!     the picture; Dolby Vision keeps its configuration record (`-strict unofficial`).
//!   - transcode: libx264 High at the rendition's level, size, rate and bitrate, 8-bit SDR
//!     4:2:0, upright with square pixels (ffmpeg turns a rotated source when it decodes; the
//!     rung's size is the upright one; `setsar=1`), no display matrix: HDR10 / HLG / Dolby
//!     Vision are tone-mapped from their own transfer (PQ, or HLG for phones' HDR and Dolby
//!     Vision 8.4) to BT.709 (zscale + tonemap=hable) when this ffmpeg has zscale (asked once
//!     per binary: `ffmpeg -filters`); without it a plain conversion (colours look washed
//!     out). Dolby Vision profile 5 has no backward-compatible base layer (IPT colours, which
//!     only libplacebo's GPU filter maps) and comes out with wrong colours either way. Interlaced sources are deinterlaced
//!     (yadif). Exactly one keyframe, at the start (`-force_key_frames 0`, huge GOP, no scene
//!     cuts), the segment's exact duration (`-t`).
//!   - The init segment ([`encode_init`]) is the `ftyp` + `moov` of the same arguments on one
//!     frame; it is byte-identical to the `moov` every segment run writes (tested).
//!   - TS: the same fMP4, remuxed to MPEG-TS by a second short ffmpeg (`ts`).
//! - **Audio** ([`encode_audio_run`]): one continuous ffmpeg from a segment's start to the end
//!   (never per chunk: AAC priming would click at every boundary), fMP4 in fragments of
//!   [`args::AUDIO_FRAGMENT_US`] (0.1 s) read as they arrive and grouped into the plan's
//!   segments by their `tfdt` (a fragment starting up to half a fragment before a boundary
//!   belongs to the segment after it); each segment is handed over as soon as the next one
//!   begins. AAC: `aresample=async=1` (sample-exact timestamps) and padded with silence to
//!   the plan's end (`apad`), so every segment is delivered. Copied audio that ends before the
//!   plan leaves the last segments undelivered (the count says so). A run that starts after
//!   segment 0 begins with a fresh AAC priming packet 21 ms before its start.
//! - **Downloads** ([`assemble::assemble_mp4`]): a rung's init and segments and the audio
//!   rendition's, copied (`-c copy`) into one faststart MP4. Never an encode.
//! - **Errors**: `-xerror` ends a run on a decoding error; stderr (`-loglevel error`) is read
//!   for the message and for demuxer complaints that do not change the exit status (a
//!   truncated Matroska file exits 0 with "File ended prematurely"); a segment with no video,
//!   or far less than its duration, is a `Source` error too. Network failures (HTTP 403/404,
//!   timeouts) and time limits are `Tool` errors (worth a retry). Messages never carry the
//!   source's location. Every video run is killed after [`FFMPEG_TIMEOUT`]; the audio run
//!   after [`AUDIO_STALL_TIMEOUT`] without output.
//! - **Commands**: each kind of run gets its argument list from one public builder
//!   ([`video_segment_command`], [`video_ladder_command`], [`audio_run_command`], over the pure
//!   [`args`]), which the workers run and the benchmarks and tests call instead of rebuilding
//!   it: a baseline measures exactly what a worker runs, and a change to it shows in the tests
//!   that pin the lists.

pub mod args;
pub mod assemble;
pub mod boxes;
pub mod frame_grid;
pub(crate) mod run;
mod ts;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

pub use boxes::{boxes, split_fmp4, BoxIter, Mp4Box};
pub use run::features;

use args::{AudioRange, LadderSpan, VideoRange};
use stream_core::hls::ladder::{AudioRendition, Rendition, RenditionSet, VideoRendition};
use stream_core::hls::plan::{Segment, SegmentPlan};
use stream_core::model::Probe;
use stream_core::playback::decision::SegmentFormat;

/// The `nice` of the continuous audio pass (video runs go at their input's `nice`).
pub const AUDIO_NICE: i32 = 10;
/// The `nice` of read-ahead video runs: a segment a player waits for (nice 0) gets the cores.
pub const READ_AHEAD_NICE: i32 = 10;
/// Wall-clock limit of one video (or init) ffmpeg run.
pub const FFMPEG_TIMEOUT: Duration = Duration::from_secs(120);
/// The audio run is stopped when ffmpeg writes nothing for this long.
pub const AUDIO_STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// A non-last video segment that ends more than this much before its planned end (or 10 % of
/// its duration, whichever is larger) means the source ended early.
pub const SHORTFALL_SECONDS: f64 = 0.5;

/// What to encode from.
#[derive(Debug, Clone, Copy)]
pub struct EncodeInput<'a> {
    /// The ffmpeg binary.
    pub ffmpeg: &'a str,
    /// A local path or an http(s) URL (presigned); read by range by ffmpeg itself.
    pub source: &'a str,
    pub probe: &'a Probe,
    pub set: &'a RenditionSet,
    /// A video rendition id or the audio id.
    pub rendition_id: &'a str,
    /// `set.plan.plan(probe)`.
    pub plan: &'a SegmentPlan,
    /// The `nice` of the video runs: 0 for what a player waits for, [`READ_AHEAD_NICE`] for
    /// read-ahead (SPEC §4 "Scheduling").
    pub nice: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The set has no rendition with this id (or not of the kind asked for: video segments of
    /// the audio rendition, the audio run of a video rendition).
    #[error("no such rendition")]
    NoSuchRendition,
    #[error("segment {0} is not in the plan")]
    NoSuchSegment(u32),
    /// ffmpeg failed on the input (damaged, truncated, undecodable): a one-line message,
    /// without the source's location. Retrying will not help.
    #[error("{0}")]
    Source(String),
    /// ffmpeg could not run, was stopped by a time limit, or the network failed: may be
    /// worth a retry.
    #[error("ffmpeg failed: {0}")]
    Tool(String),
    /// ffmpeg's output could not be parsed, or lacks what it must have.
    #[error("unexpected ffmpeg output: {0}")]
    Output(String),
}

fn video<'a>(input: &EncodeInput<'a>) -> Result<&'a VideoRendition, EncodeError> {
    match input.set.rendition(input.rendition_id) {
        Some(Rendition::Video(v)) => Ok(v),
        _ => Err(EncodeError::NoSuchRendition),
    }
}

fn audio<'a>(input: &EncodeInput<'a>) -> Result<&'a AudioRendition, EncodeError> {
    match input.set.rendition(input.rendition_id) {
        Some(Rendition::Audio(a)) => Ok(a),
        _ => Err(EncodeError::NoSuchRendition),
    }
}

/// Segment `index` of the plan, and whether it is the last.
fn segment(plan: &SegmentPlan, index: u32) -> Result<(Segment, bool), EncodeError> {
    let seg = plan
        .get(index)
        .copied()
        .ok_or(EncodeError::NoSuchSegment(index))?;
    Ok((seg, index as usize + 1 >= plan.len()))
}

/// The input seek of copied video starting at `start`: a hair before its keyframe.
fn copy_seek(start: f64) -> f64 {
    if start <= args::COPY_SEEK_SLACK {
        0.0
    } else {
        start - args::COPY_SEEK_SLACK
    }
}

/// The time range of video segment `seg`.
fn video_range(v: &VideoRendition, seg: &Segment, last: bool) -> VideoRange {
    if v.copy {
        let seek = copy_seek(seg.start);
        VideoRange {
            seek,
            duration: (!last).then(|| seg.end() - seek + args::COPY_TAIL_MARGIN),
            frames1: false,
            offset: seek,
        }
    } else {
        VideoRange {
            seek: seg.start,
            duration: Some(seg.duration),
            frames1: false,
            offset: seg.start,
        }
    }
}

/// Runs ffmpeg to the end and checks how it ended.
async fn run_checked(input: &EncodeInput<'_>, args: &[String]) -> Result<Vec<u8>, EncodeError> {
    let (out, status, stderr) =
        run::run_to_end(input.ffmpeg, args, input.nice, FFMPEG_TIMEOUT).await?;
    run::check(status, &stderr, input.source)?;
    Ok(out)
}

/// The fMP4 initialization segment (`ftyp` + `moov`) of the rendition. TS renditions have
/// none (a `Tool` error).
pub async fn encode_init(input: &EncodeInput<'_>) -> Result<Bytes, EncodeError> {
    if input.set.format != SegmentFormat::Fmp4 {
        return Err(EncodeError::Tool(
            "TS renditions have no init segment".into(),
        ));
    }
    let args = match input
        .set
        .rendition(input.rendition_id)
        .ok_or(EncodeError::NoSuchRendition)?
    {
        Rendition::Video(v) => {
            let features = run::features(input.ffmpeg).await;
            let range = VideoRange {
                seek: 0.0,
                duration: None,
                frames1: true,
                offset: 0.0,
            };
            args::video_args(input.source, input.probe.video.as_ref(), v, range, features)
        }
        Rendition::Audio(a) => args::audio_args(input.source, a, audio_init_range(a, input.plan)),
    };
    let out = run_checked(input, &args).await?;
    let (init, _) = split_fmp4(&out)?;
    check_init(&init)?;
    Ok(init)
}

/// The bytes of video segment `index`: fMP4 media (`moof` + `mdat`, no init) or a complete TS
/// segment.
pub async fn encode_video_segment(
    input: &EncodeInput<'_>,
    index: u32,
) -> Result<Bytes, EncodeError> {
    let (init, media) = video_segment_run(input, index).await?;
    match input.set.format {
        SegmentFormat::Fmp4 => Ok(media),
        SegmentFormat::Ts => ts::fmp4_to_ts(input, &init, &media).await,
    }
}

/// Segment `index` of several transcoded video renditions of the set (`rendition_ids`, all
/// `copy: false`), from **one** ffmpeg run that decodes the source once and `split`s it into one
/// encoder per rendition, each with exactly the arguments of its own single run (so its media
/// fits the rendition's init segment; tested). Returns (the run's init, the segment's bytes: fMP4
/// media or a complete TS segment) in the order of `rendition_ids`. Each output goes to a file in
/// a private temporary directory, removed afterwards.
pub async fn encode_video_segments(
    input: &EncodeInput<'_>,
    index: u32,
    rendition_ids: &[&str],
) -> Result<Vec<(Bytes, Bytes)>, EncodeError> {
    let rungs = ladder_rungs(input, rendition_ids)?;
    let (seg, last) = segment(input.plan, index)?;
    let dir = TempDir::create()?;
    let outputs: Vec<String> = (0..rungs.len())
        .map(|k| {
            dir.0
                .join(format!("v{k}.mp4"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let args = video_ladder_command(input, index, rendition_ids, &outputs).await?;
    run_checked(input, &args).await?;
    let mut out = Vec::with_capacity(rungs.len());
    for (v, path) in rungs.iter().zip(&outputs) {
        let bytes = tokio::fs::read(path).await.map_err(|e| {
            EncodeError::Output(format!("reading an output of the ladder run: {e}"))
        })?;
        let (init, media) = fmp4_segment(&bytes, v, index, &seg, last, None)?;
        let bytes = match input.set.format {
            SegmentFormat::Fmp4 => media,
            SegmentFormat::Ts => ts::fmp4_to_ts(input, &init, &media).await?,
        };
        out.push((init, bytes));
    }
    Ok(out)
}

/// The exact ffmpeg arguments of the ladder run of segment `index` that
/// [`encode_video_segments`] runs for `rendition_ids`, writing `outputs[k]` for
/// `rendition_ids[k]` (benches and tests call this instead of rebuilding the list).
pub async fn video_ladder_command(
    input: &EncodeInput<'_>,
    index: u32,
    rendition_ids: &[&str],
    outputs: &[String],
) -> Result<Vec<String>, EncodeError> {
    let rungs = ladder_rungs(input, rendition_ids)?;
    let (seg, last) = segment(input.plan, index)?;
    let features = run::features(input.ffmpeg).await;
    Ok(args::video_ladder_args(
        input.source,
        input.probe.video.as_ref(),
        &rungs,
        LadderSpan::Segment(video_range(rungs[0], &seg, last)),
        features,
        outputs,
    ))
}

/// The renditions `ids` of the set, in order: at least one, all transcoded (a ladder run
/// `split`s one decode into encoders; copied video has none).
fn ladder_rungs<'a>(
    input: &EncodeInput<'a>,
    ids: &[&str],
) -> Result<Vec<&'a VideoRendition>, EncodeError> {
    let mut rungs = Vec::with_capacity(ids.len());
    for id in ids {
        match input.set.rendition(id) {
            Some(Rendition::Video(v)) if !v.copy => rungs.push(v),
            _ => return Err(EncodeError::NoSuchRendition),
        }
    }
    if rungs.is_empty() {
        return Err(EncodeError::NoSuchRendition);
    }
    Ok(rungs)
}

/// A private temporary directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn create() -> Result<Self, EncodeError> {
        let path =
            std::env::temp_dir().join(format!("stream-encode-{}", stream_core::ids::random_id()));
        std::fs::create_dir(&path)
            .map_err(|e| EncodeError::Tool(format!("creating a temporary directory: {e}")))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The rendition's init segment and the fMP4 media of video segment `index`, from one ffmpeg
/// run: the `moov` a segment run writes is byte-identical to [`encode_init`]'s (tested), so the
/// first request of a stream (init, then the segment it starts at) pays for one run, not two.
/// fMP4 renditions only (a `Tool` error for TS).
pub async fn encode_video_segment_and_init(
    input: &EncodeInput<'_>,
    index: u32,
) -> Result<(Bytes, Bytes), EncodeError> {
    if input.set.format != SegmentFormat::Fmp4 {
        return Err(EncodeError::Tool(
            "TS renditions have no init segment".into(),
        ));
    }
    let (init, media) = video_segment_run(input, index).await?;
    check_init(&init)?;
    Ok((init, media))
}

/// The exact ffmpeg arguments of video segment `index` of the input's rendition: the list
/// [`encode_video_segment`] (and [`encode_video_segment_and_init`]) runs (benches and tests call
/// this instead of rebuilding it).
pub async fn video_segment_command(
    input: &EncodeInput<'_>,
    index: u32,
) -> Result<Vec<String>, EncodeError> {
    let v = video(input)?;
    let (seg, last) = segment(input.plan, index)?;
    let features = if v.copy {
        args::Features::default()
    } else {
        run::features(input.ffmpeg).await
    };
    Ok(args::video_args(
        input.source,
        input.probe.video.as_ref(),
        v,
        video_range(v, &seg, last),
        features,
    ))
}

/// One video segment run: (the run's init, the segment's fMP4 media).
async fn video_segment_run(
    input: &EncodeInput<'_>,
    index: u32,
) -> Result<(Bytes, Bytes), EncodeError> {
    let v = video(input)?;
    let (seg, last) = segment(input.plan, index)?;
    let args = video_segment_command(input, index).await?;
    let bytes = run_checked(input, &args).await?;
    // Copied video goes on the source's frame grid (see `frame_grid`), from its first keyframe.
    let grid_origin = if v.copy {
        input.probe.keyframes.first().copied()
    } else {
        None
    };
    fmp4_segment(&bytes, v, index, &seg, last, grid_origin)
}

/// An init segment must have a usable track and an `ftyp`.
fn check_init(init: &[u8]) -> Result<(), EncodeError> {
    boxes::track_info(init)?;
    if boxes::find(init, b"ftyp")?.is_none() {
        return Err(EncodeError::Output("no `ftyp` box".into()));
    }
    Ok(())
}

fn no_video(index: u32, seg: &Segment) -> String {
    format!("the source has no video for segment {index} ({:.3}–{:.3} s): it is probably truncated or damaged", seg.start, seg.end())
}

/// Checks and trims the fMP4 output of a video segment run: the fragments that start before
/// the segment's end (a copy reads into the next GOP), which must start with a keyframe and
/// cover the segment.
/// With `grid_origin` (copied video: the source time of its first keyframe) the media is put on
/// the exact frame grid when it is within rounding of it ([`frame_grid`]).
/// Returns (the run's init, the segment's media).
fn fmp4_segment(
    bytes: &[u8],
    v: &VideoRendition,
    index: u32,
    seg: &Segment,
    last: bool,
    grid_origin: Option<f64>,
) -> Result<(Bytes, Bytes), EncodeError> {
    let (init, media) = split_fmp4(bytes)?;
    let track = boxes::track_info(&init)?;
    let ts = f64::from(track.timescale);
    let frags = boxes::fragments(&media, &track)?;
    let half_frame = 0.5
        / v.frame_rate
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(50.0);
    let base = args::TIMELINE_OFFSET;
    let limit = ((seg.end() + base - half_frame) * ts).round() as i128;
    let kept: Vec<&boxes::Fragment<'_>> = frags
        .iter()
        .filter(|f| f.info.samples > 0 && (last || f.info.first_pts() < limit))
        .collect();
    let Some(first) = kept.first() else {
        return Err(EncodeError::Source(no_video(index, seg)));
    };
    if !first.info.first_is_sync {
        return Err(EncodeError::Output(format!(
            "segment {index} does not start with a keyframe"
        )));
    }
    if !last {
        let end = kept.iter().map(|f| f.info.end_pts).max().unwrap_or(0) as f64 / ts - base;
        let allowed = SHORTFALL_SECONDS.max(0.1 * seg.duration);
        if end < seg.end() - allowed {
            return Err(EncodeError::Source(format!("the source ends early: segment {index} has video up to {end:.3} s of {:.3} s; it is probably truncated", seg.end())));
        }
    }
    let mut out = BytesMut::with_capacity(kept.iter().map(|f| f.bytes.len()).sum());
    for f in kept {
        out.extend_from_slice(f.bytes);
    }
    let grid = grid_origin
        .zip(v.frame_rate)
        .and_then(|(origin, fps)| frame_grid::FrameGrid::new(track.timescale, origin + base, fps));
    if let Some(grid) = grid {
        match frame_grid::snap_media(&out, &track, &grid)? {
            Some(snapped) => return Ok((init, Bytes::from(snapped))),
            None => {
                tracing::debug!(target: "transcode", index, "copied video is not on a constant frame grid: timestamps kept")
            }
        }
    }
    Ok((init, out.freeze()))
}

/// The time range of the continuous audio pass from source time `start` to the plan's end:
/// encoded audio is cut at that end (`-t`) and padded with silence up to it, so every segment
/// is delivered; copied audio runs to the source's end.
pub fn audio_run_range(a: &AudioRendition, plan: &SegmentPlan, start: f64) -> AudioRange {
    let rest = (plan.total - start).max(0.0);
    AudioRange {
        seek: start,
        duration: (!a.copy).then_some(rest),
        pad_to: (!a.copy).then_some(rest),
        offset: start,
    }
}

/// The time range of the audio init run: the pass from the start, cut to a tenth of a second.
fn audio_init_range(a: &AudioRendition, plan: &SegmentPlan) -> AudioRange {
    AudioRange {
        duration: Some(0.1),
        pad_to: None,
        ..audio_run_range(a, plan, 0.0)
    }
}

/// The exact ffmpeg arguments of the continuous audio pass from segment `from`: the list
/// [`encode_audio_run`] runs (benches and tests call this instead of rebuilding it).
pub fn audio_run_command(input: &EncodeInput<'_>, from: u32) -> Result<Vec<String>, EncodeError> {
    let a = audio(input)?;
    let (seg, _) = segment(input.plan, from)?;
    Ok(args::audio_args(
        input.source,
        a,
        audio_run_range(a, input.plan, seg.start),
    ))
}

/// Encodes the audio rendition in one pass from segment `from` to the end, calling
/// `on_segment(i, bytes)` with each segment's fMP4 media (`moof` + `mdat` fragments, no init)
/// as soon as the next segment begins (the last at the end). `on_segment` returning false
/// stops the run (ffmpeg is killed) and returns `Ok`. Returns the number of segments
/// delivered; it is less than `plan.len() - from` only when stopped or when copied audio ends
/// before the plan does.
///
/// For TS renditions (`set.format == Ts`) each segment is remuxed to a complete `.ts`
/// (one short ffmpeg per segment) before it is handed over.
// One loop over ffmpeg's output with every way it can end (stall, read error, stop, EOF).
pub async fn encode_audio_run<F, Fut>(
    input: &EncodeInput<'_>,
    from: u32,
    on_segment: F,
) -> Result<u32, EncodeError>
where
    F: FnMut(u32, Bytes) -> Fut,
    Fut: Future<Output = bool>,
{
    let a = audio(input)?;
    let (seg, _) = segment(input.plan, from)?;
    let to_ts = input.set.format == SegmentFormat::Ts;
    let range = audio_run_range(a, input.plan, seg.start);
    let args = audio_run_command(input, from)?;
    let mut grouper = AudioGrouper::new(
        input.plan,
        from,
        range.offset - range.seek + args::TIMELINE_OFFSET,
    );
    let mut on_segment = on_segment;
    // At a lower priority: the continuous pass runs beside the video segment a player is
    // waiting for (and delivers its first audio segment long before that one is done).
    let mut stream = run::Streaming::spawn(input.ffmpeg, &args, AUDIO_NICE)?;
    let mut buf = BytesMut::with_capacity(1 << 20);
    let mut delivered = 0u32;
    loop {
        let chunk = match tokio::time::timeout(AUDIO_STALL_TIMEOUT, stream.chunks.recv()).await {
            Err(_) => {
                let _ = stream.stop().await;
                return Err(EncodeError::Tool(format!(
                    "ffmpeg wrote no audio for {} s and was stopped",
                    AUDIO_STALL_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let _ = stream.stop().await;
                return Err(EncodeError::Tool(format!("reading ffmpeg's output: {e}")));
            }
            Ok(Some(Ok(c))) => c,
        };
        buf.extend_from_slice(&chunk);
        let ready = match grouper.push(&mut buf) {
            Ok(r) => r,
            Err(e) => {
                let _ = stream.stop().await;
                return Err(e);
            }
        };
        for (i, bytes) in ready {
            let bytes = if to_ts {
                match ts::fmp4_to_ts(input, &grouper.init, &bytes).await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = stream.stop().await;
                        return Err(e);
                    }
                }
            } else {
                bytes
            };
            delivered += 1;
            if !on_segment(i, bytes).await {
                let _ = stream.stop().await;
                return Ok(delivered);
            }
        }
    }
    let (status, stderr) = stream.finish().await?;
    run::check(status, &stderr, input.source)?;
    if !buf.is_empty() {
        // Whatever is left must be whole boxes we do not use (mfra).
        for b in boxes(&buf) {
            let b = b?;
            if b.is(b"moof") || b.is(b"mdat") {
                return Err(EncodeError::Output(
                    "the audio output ends with an incomplete fragment".into(),
                ));
            }
        }
    }
    if let Some((i, bytes)) = grouper.finish()? {
        let bytes = if to_ts {
            ts::fmp4_to_ts(input, &grouper.init, &bytes).await?
        } else {
            bytes
        };
        delivered += 1;
        on_segment(i, bytes).await;
    }
    if delivered == 0 {
        return Err(EncodeError::Source(format!(
            "the source has no audio from {:.3} s on: it is probably truncated or damaged",
            seg.start
        )));
    }
    Ok(delivered)
}

/// Groups a stream of audio fragments into plan segments by their start time.
struct AudioGrouper<'p> {
    plan: &'p SegmentPlan,
    /// Output time minus source time (the timeline base), seconds.
    shift: f64,
    /// Slack of a boundary: a fragment starting up to this much before a boundary belongs to
    /// the segment after it.
    epsilon: f64,
    init: Vec<u8>,
    track: Option<boxes::TrackInfo>,
    /// The moof waiting for its mdat.
    moof: Option<(Vec<u8>, boxes::FragmentInfo)>,
    current: u32,
    pending: BytesMut,
}

impl<'p> AudioGrouper<'p> {
    fn new(plan: &'p SegmentPlan, from: u32, shift: f64) -> Self {
        AudioGrouper {
            plan,
            shift,
            epsilon: f64::from(args::AUDIO_FRAGMENT_US) / 2e6,
            init: vec![],
            track: None,
            moof: None,
            current: from,
            pending: BytesMut::new(),
        }
    }

    /// The segment a fragment starting at `t` (source seconds) belongs to.
    fn segment_of(&self, t: f64) -> u32 {
        let after = self
            .plan
            .segments
            .partition_point(|s| s.start - self.epsilon <= t);
        (after.saturating_sub(1) as u32).max(self.current)
    }

    /// Consumes the complete boxes at the front of `buf`; returns the segments completed.
    fn push(&mut self, buf: &mut BytesMut) -> Result<Vec<(u32, Bytes)>, EncodeError> {
        let mut ready = vec![];
        while let Some((kind, _, size)) = boxes::box_header(buf, false)? {
            if buf.len() < size {
                break;
            }
            let b = buf.split_to(size);
            match &kind {
                b"ftyp" | b"moov" => {
                    self.init.extend_from_slice(&b);
                    if &kind == b"moov" {
                        self.track = Some(boxes::track_info(&self.init)?);
                    }
                }
                b"moof" => {
                    let track = self.track.as_ref().ok_or_else(|| {
                        EncodeError::Output("a fragment before the `moov`".into())
                    })?;
                    let parsed = boxes::boxes(&b)
                        .next()
                        .ok_or_else(|| EncodeError::Output("empty moof".into()))??;
                    let info = boxes::fragment_info(&parsed, track)?;
                    if self.moof.is_some() {
                        return Err(EncodeError::Output("a `moof` without its `mdat`".into()));
                    }
                    self.moof = Some((b.to_vec(), info));
                }
                b"mdat" => {
                    let (moof, info) = self
                        .moof
                        .take()
                        .ok_or_else(|| EncodeError::Output("an `mdat` without a `moof`".into()))?;
                    let ts = f64::from(self.track.map_or(1, |t| t.timescale));
                    let t = info.first_pts() as f64 / ts - self.shift;
                    let seg = self.segment_of(t);
                    if seg > self.current && !self.pending.is_empty() {
                        ready.push((self.current, std::mem::take(&mut self.pending).freeze()));
                        if seg > self.current + 1 {
                            // A gap in (copied) audio longer than a segment: every segment gets
                            // something, in order (this fragment starts the next one).
                            tracing::warn!(target: "transcode", at = t, "audio gap: fragment moved to the next segment");
                        }
                        self.current += 1;
                    } else if seg > self.current {
                        // (Copied) audio that starts after the run's first segment: it still
                        // opens that segment.
                        tracing::warn!(target: "transcode", at = t, "audio starts late: fragment kept in the first segment");
                    }
                    self.pending.extend_from_slice(&moof);
                    self.pending.extend_from_slice(&b);
                }
                // styp, sidx, mfra, free, ...: not part of the segments.
                _ => {}
            }
        }
        Ok(ready)
    }

    /// The last segment, at the end of the stream.
    fn finish(&mut self) -> Result<Option<(u32, Bytes)>, EncodeError> {
        if self.moof.is_some() {
            return Err(EncodeError::Output(
                "the audio output ends with a `moof` without its `mdat`".into(),
            ));
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        Ok(Some((
            self.current,
            std::mem::take(&mut self.pending).freeze(),
        )))
    }
}
