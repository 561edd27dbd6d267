//! The ffmpeg argument lists, as pure functions of the rendition and the time range (so the
//! init segment and every media segment of a rendition are made by exactly the same
//! encoder settings).

use stream_core::hls::ladder::{AudioRendition, VideoRendition};
use stream_core::model::{DynamicRange, VideoStream};

/// The timescale of every video track (`-video_track_timescale`).
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Copied video: the input seek point is this much before the keyframe a segment starts at
/// (the probe's keyframe times are rounded to the millisecond); packets before the seek point
/// are dropped (`-copypriorss 0`), so the segment starts at that keyframe.
pub const COPY_SEEK_SLACK: f64 = 0.002;
/// Copied video: ffmpeg's `-t` is read past the segment's end by this much; the fragment that
/// starts at the next keyframe is then dropped (see `encode_video_segment`).
pub const COPY_TAIL_MARGIN: f64 = 0.1;
/// Every output timestamp is the source's (relative to its start) plus this, in every run
/// (video, audio, init, fMP4 and TS alike). It keeps decode times positive: with B-frames the
/// first frame is decoded before it is shown (up to 16 frames), the AAC encoder's priming
/// packet precedes the first sample, and a source may start slightly below zero. Players map
/// the first segment's timestamp to the playlist's start, so the base does not show.
pub const TIMELINE_OFFSET: f64 = 10.0;
/// Audio fragments (`-frag_duration`, microseconds): the grain of the audio segment boundaries.
pub const AUDIO_FRAGMENT_US: u32 = 100_000;
/// Burn-in: the subtitle input is read from this long before a run's start, so a cue shown
/// before a chunk starts and still on screen is drawn in that chunk too (see
/// [`subtitle_input`]). Bitmap cues are rarely on screen longer; one that is shows from this
/// long before the chunk on, not from the chunk's first frame.
pub const BURN_LOOKBACK: f64 = 10.0;
/// A GOP length no segment reaches: x264 never places a keyframe inside a segment.
const HUGE_GOP: &str = "100000";

/// What an ffmpeg build offers that the arguments depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// The `zscale` filter (libzimg), for HDR tone mapping.
    pub zscale: bool,
}

/// A time for ffmpeg: seconds with microsecond precision (what ffmpeg parses durations to).
pub fn secs(t: f64) -> String {
    let t = if t.is_finite() { t.max(0.0) } else { 0.0 };
    let s = format!("{t:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A frame rate for `-r`: an exact rational for integer and NTSC (x/1001) rates, else decimal.
pub fn rate(fps: f64) -> String {
    match stream_core::frame_rate::exact(fps) {
        Some((n, 1)) => format!("{n}"),
        Some((n, d)) => format!("{n}/{d}"),
        None => format!("{fps:.6}"),
    }
}

/// The arguments every ffmpeg run starts with (segment, init, audio and TS remux runs alike).
pub fn global_args() -> Vec<String> {
    // `-loglevel -level+error`: errors only, without the `[error]` prefix ffmpeg-sidecar's
    // default `level+info` would add. `-nostdin`: never read commands from stdin (and keeps
    // ffmpeg-sidecar from adding `-n`).
    let mut args = vec![];
    push(
        &mut args,
        &[
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "-level+error",
            "-y",
        ],
    );
    args
}

/// The input options and the input, read from `seek` on (`-ss` before `-i`) if given. HTTP(S)
/// sources get a read timeout and reconnects, so a stalled connection ends in an error instead
/// of a hang.
pub fn input_args(source: &str, seek: Option<f64>) -> Vec<String> {
    let mut args = vec![];
    if source.starts_with("http://") || source.starts_with("https://") {
        push(
            &mut args,
            &[
                "-rw_timeout",
                "30000000",
                "-reconnect",
                "1",
                "-reconnect_on_network_error",
                "1",
                "-reconnect_delay_max",
                "4",
            ],
        );
    }
    if let Some(ss) = seek {
        push(&mut args, &["-ss", &secs(ss)]);
    }
    push(&mut args, &["-i", source]);
    args
}

/// The start of every run that encodes from the source: [`global_args`], [`input_args`] and
/// `-xerror` (a decoding error, a damaged source, ends the run with an error).
fn source_input(source: &str, seek: Option<f64>) -> Vec<String> {
    let mut args = global_args();
    args.extend(input_args(source, seek));
    push(&mut args, &["-xerror"]);
    args
}

/// The second input of a run that burns a bitmap subtitle stream in (input 1: the same
/// source, of which only the subtitle stream is used), for a run whose video input is read
/// from `seek` for `duration`.
///
/// Why a second input: a subtitle cue is one packet at the time it appears (a PGS display set;
/// the next one clears it). Read from the video's own seek point, the input misses a cue shown
/// before that point and still on screen: ffmpeg's demuxer lands on the video keyframe, and
/// `sub2video` (which turns cues into frames for `overlay`) drops a cue stamped before the
/// start, then repeats nothing (tried with ffmpeg 5.1: a chunk starting 1.5 s into a 2 s cue
/// showed none of it). This input is read from [`BURN_LOOKBACK`] earlier, without the accurate
/// seek's trim (`-noaccurate_seek`), shifted back onto the video's clock (`-itsoffset` of
/// minus the lookback), so that cue arrives before the chunk's first frame and `overlay` keeps
/// drawing it (`eof_action=repeat`) until the cue that clears it. `-t` ends it with the run.
fn subtitle_input(source: &str, seek: Option<f64>, duration: Option<f64>) -> Vec<String> {
    let seek = seek.unwrap_or(0.0);
    let sub_seek = (seek - BURN_LOOKBACK).max(0.0);
    let mut args = vec!["-noaccurate_seek".to_string()];
    if seek > sub_seek {
        push(
            &mut args,
            &["-itsoffset", &format!("-{}", secs(seek - sub_seek))],
        );
    }
    if let Some(t) = duration {
        push(&mut args, &["-t", &secs(seek - sub_seek + t + 1.0)]);
    }
    args.extend(input_args(source, (sub_seek > 0.0).then_some(sub_seek)));
    args
}

/// The filter graph of a run that burns subtitles in: the source's video (input 0, stream
/// `video_index`) through each rendition's [`video_filter`], the subtitle stream of input 1
/// ([`subtitle_input`]) scaled to each rendition's size and drawn over it; outputs `[v<k>]`
/// for `rungs[k]`. The subtitles are drawn after the scaling and tone-mapping: a bitmap cue
/// is SDR, and drawn before a tone-map it would be tone-mapped too.
fn burn_graph(
    src: Option<&VideoStream>,
    video_index: u32,
    subtitle_index: u32,
    rungs: &[&VideoRendition],
    features: Features,
) -> String {
    let n = rungs.len();
    let labels = |prefix: &str| -> String { (0..n).map(|k| format!("[{prefix}{k}]")).collect() };
    let mut graph = format!(
        "[0:{video_index}]split={n}{};[1:{subtitle_index}]split={n}{}",
        labels("s"),
        labels("t")
    );
    for (k, v) in rungs.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{k}]{}[p{k}];[t{k}]scale={}:{}[u{k}];[p{k}][u{k}]overlay=eof_action=repeat,format=yuv420p[v{k}]",
            video_filter(src, v, features),
            v.width,
            v.height,
        ));
    }
    graph
}

fn push(args: &mut Vec<String>, items: &[&str]) {
    args.extend(items.iter().map(|s| s.to_string()));
}

/// The muxer options and the output (`pipe:1` for a run whose output is read from stdout).
/// `delay_moov`: the moov is written with the first fragment (AC-3 and E-AC-3 need a parsed
/// packet for their `dac3`/`dec3` box).
fn muxer(args: &mut Vec<String>, offset: f64, audio: bool, delay_moov: bool, output: &str) {
    push(
        args,
        &[
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-fflags",
            "+bitexact",
            "-output_ts_offset",
            &secs(offset + TIMELINE_OFFSET),
        ],
    );
    // Timestamps are exactly the source's (plus the fixed base): no shifting to zero per run,
    // so independently made segments line up: decode times continue from one segment to the
    // next (also for open GOPs, whose leading frames follow the keyframe), presentation
    // times are the source's. `frag_discont` makes the first `tfdt` that of the first packet.
    push(args, &["-avoid_negative_ts", "disabled"]);
    if !audio {
        push(
            args,
            &["-video_track_timescale", &VIDEO_TIMESCALE.to_string()],
        );
    } else {
        push(args, &["-frag_duration", &AUDIO_FRAGMENT_US.to_string()]);
    }
    let mut flags = String::from(if audio {
        "+empty_moov+default_base_moof+frag_discont"
    } else {
        "+frag_keyframe+empty_moov+default_base_moof+frag_discont"
    });
    if delay_moov {
        flags.push_str("+delay_moov");
    }
    push(
        args,
        &[
            "-use_editlist",
            "0",
            "-movflags",
            &flags,
            "-f",
            "mp4",
            output,
        ],
    );
}

/// The transfer function zscale is told the HDR input has: the picture's own, HLG for phones'
/// HDR (and Dolby Vision 8.4, whose base layer is HLG), PQ for HDR10 and Dolby Vision 8.1.
/// A profile 5 stream has no base layer a plain decoder shows right (its colours are Dolby's
/// IPT), so its tone-mapped picture is only approximate; see the module doc.
fn hdr_transfer(range: DynamicRange) -> Option<&'static str> {
    match range {
        DynamicRange::Sdr => None,
        DynamicRange::Hlg => Some("arib-std-b67"),
        DynamicRange::Pq => Some("smpte2084"),
    }
}

/// True when a transcode of `src` is tone-mapped to BT.709 (HDR in, and zscale at hand).
fn tone_mapped(src: Option<&VideoStream>, features: Features) -> bool {
    features.zscale && src.is_some_and(|s| s.video_range() != DynamicRange::Sdr)
}

/// The `-vf` of a transcode: deinterlace (when the probe says interlaced), scale to the
/// rendition's size, and make 8-bit SDR 4:2:0 with square pixels: tone-mapped (zscale +
/// tonemap hable) from HDR when this ffmpeg has zscale, a plain format conversion otherwise.
///
/// The filters see the picture upright: ffmpeg applies a source's display matrix when it
/// decodes (autorotate) and writes none on the encoded output, and the rendition's size is the
/// upright one (`ladder`). `setsar=1` makes the pixels square: `scale` would otherwise keep
/// the display aspect through the sample aspect ratio when the even rounding of a size moves
/// it, and players stretch by it.
///
/// Both HDR transfers go to linear light with 1.0 = 100 cd/m² (`npl=100`): zimg scales PQ by
/// its absolute 10000 cd/m² and HLG by its nominal 1000 cd/m² display, so HLG's reference
/// white (75 %) and PQ's 203 cd/m² land at the same SDR level.
pub fn video_filter(src: Option<&VideoStream>, v: &VideoRendition, features: Features) -> String {
    picture_filter(src, v.width, v.height, features)
}

/// [`video_filter`] for any upright `width` × `height` (a rendition's size, or a trick-play
/// tile's): the same deinterlacing, tone mapping and square pixels.
pub fn picture_filter(
    src: Option<&VideoStream>,
    width: u32,
    height: u32,
    features: Features,
) -> String {
    let mut parts: Vec<String> = vec![];
    if src.is_some_and(|s| s.interlaced) {
        parts.push("yadif=mode=send_frame:deint=interlaced".into());
    }
    let tin = src.and_then(|s| hdr_transfer(s.video_range()));
    match tin {
        Some(tin) if features.zscale => parts.push(format!(
            "zscale=w={width}:h={height}:tin={tin}:min=bt2020nc:pin=bt2020:rin=tv:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv",
        )),
        _ => parts.push(format!("scale={width}:{height}")),
    }
    parts.push("setsar=1".into());
    parts.push("format=yuv420p".into());
    parts.join(",")
}

/// The time range of one video run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoRange {
    /// Input seek (`-ss` before `-i`).
    pub seek: f64,
    /// Output duration (`-t`); None with `frames1`.
    pub duration: Option<f64>,
    /// Only the first frame (`-frames:v 1`): for the init segment.
    pub frames1: bool,
    /// The source time at the seek point (output timestamps are source times plus
    /// [`TIMELINE_OFFSET`]).
    pub offset: f64,
}

/// The full argument list of a video run (everything after the ffmpeg binary).
pub fn video_args(
    source: &str,
    src: Option<&VideoStream>,
    v: &VideoRendition,
    range: VideoRange,
    features: Features,
) -> Vec<String> {
    let mut a = source_input(source, Some(range.seek));
    let burn = v.burn_subtitle.filter(|_| !v.copy);
    if let Some(subtitle) = burn {
        let duration = range.duration.or(range.frames1.then_some(1.0));
        a.extend(subtitle_input(source, Some(range.seek), duration));
        let graph = burn_graph(src, v.source_index, subtitle, &[v], features);
        push(&mut a, &["-filter_complex", &graph, "-map", "[v0]"]);
    } else {
        push(&mut a, &["-map", &format!("0:{}", v.source_index)]);
    }
    push(&mut a, &["-an", "-sn", "-dn"]);
    if range.frames1 {
        push(&mut a, &["-frames:v", "1"]);
    }
    if let Some(t) = range.duration {
        push(&mut a, &["-t", &secs(t)]);
    }
    if v.copy {
        push(&mut a, &["-c:v", "copy", "-copypriorss", "0"]);
        if v.codec == "hevc" {
            push(&mut a, &["-tag:v", "hvc1"]);
        }
        if v.supplemental_codecs.is_some() {
            // ffmpeg writes a Dolby Vision configuration record (`dvcC`) only when asked to
            // write "unofficial" boxes; without it the copy would lose what makes it Dolby
            // Vision while the master still announced it.
            push(&mut a, &["-strict", "unofficial"]);
        }
    } else {
        if burn.is_none() {
            push(&mut a, &["-vf", &video_filter(src, v, features)]);
        }
        x264(&mut a, src, v, features, "0");
    }
    muxer(&mut a, range.offset, false, false, "pipe:1");
    a
}

/// The encoder arguments of a transcoded video rendition (after its filter), with keyframes
/// forced at `force_key_frames` (ffmpeg's list of output times) and nowhere else.
fn x264(
    a: &mut Vec<String>,
    src: Option<&VideoStream>,
    v: &VideoRendition,
    features: Features,
    force_key_frames: &str,
) {
    let level = v.h264_level.map(|l| l.x264_arg());
    push(
        a,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "high",
        ],
    );
    if let Some(level) = &level {
        push(a, &["-level", level]);
    }
    push(
        a,
        &[
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            &v.bitrate.to_string(),
            "-maxrate",
            &v.maxrate.to_string(),
            "-bufsize",
            &v.bufsize.to_string(),
        ],
    );
    if let Some(fps) = v.frame_rate.filter(|f| f.is_finite() && *f > 0.0) {
        push(a, &["-r", &rate(fps)]);
    }
    if tone_mapped(src, features) {
        push(
            a,
            &[
                "-color_primaries",
                "bt709",
                "-color_trc",
                "bt709",
                "-colorspace",
                "bt709",
            ],
        );
    }
    // Keyframes only where forced (a segment run: one, at its start): no scene cuts, and a GOP
    // longer than any run.
    push(
        a,
        &[
            "-force_key_frames",
            force_key_frames,
            "-g",
            HUGE_GOP,
            "-keyint_min",
            HUGE_GOP,
            "-sc_threshold",
            "0",
            "-x264-params",
            "scenecut=0:open-gop=0",
        ],
    );
}

/// What one ladder run ([`video_ladder_args`]) covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LadderSpan<'a> {
    /// One segment's time range, as a worker makes it: one keyframe, at its start.
    Segment(VideoRange),
    /// The whole source, read from its start without a seek, with a keyframe at 0 and at each
    /// of `keyframes` (source seconds: the plan's segment starts, where the workers' segments
    /// each begin with one): what one ffmpeg alone makes of the whole ladder (the bench's
    /// baseline).
    WholeFile { keyframes: &'a [f64] },
}

/// The argument list of one run that makes the same span of several transcoded video
/// renditions of one source from **one decode**: the source's video is `split` into one chain
/// per rendition (each [`video_filter`]), each encoded with exactly [`video_args`]' encoder and
/// muxer arguments and written to its own file, `outputs[k]` for `rungs[k]`.
pub fn video_ladder_args(
    source: &str,
    src: Option<&VideoStream>,
    rungs: &[&VideoRendition],
    span: LadderSpan<'_>,
    features: Features,
    outputs: &[String],
) -> Vec<String> {
    let (seek, duration, offset, force_key_frames) = match span {
        LadderSpan::Segment(r) => (Some(r.seek), r.duration, r.offset, "0".to_string()),
        LadderSpan::WholeFile { keyframes } => {
            let times = keyframes.iter().map(|t| format!(",{}", secs(*t)));
            (
                None,
                None,
                0.0,
                std::iter::once("0".to_string()).chain(times).collect(),
            )
        }
    };
    let mut a = source_input(source, seek);
    a.reserve(60 * rungs.len());
    let index = rungs.first().map_or(0, |v| v.source_index);
    // The rungs of one set burn the same track (the decision's), or none.
    let graph = match rungs.first().and_then(|v| v.burn_subtitle) {
        Some(subtitle) => {
            a.extend(subtitle_input(source, seek, duration));
            burn_graph(src, index, subtitle, rungs, features)
        }
        None => {
            let labels: String = (0..rungs.len()).map(|k| format!("[s{k}]")).collect();
            let mut graph = format!("[0:{index}]split={}{labels}", rungs.len());
            for (k, v) in rungs.iter().enumerate() {
                graph.push_str(&format!(";[s{k}]{}[v{k}]", video_filter(src, v, features)));
            }
            graph
        }
    };
    push(&mut a, &["-filter_complex", &graph]);
    for (k, (v, out)) in rungs.iter().zip(outputs).enumerate() {
        push(&mut a, &["-map", &format!("[v{k}]"), "-an", "-sn", "-dn"]);
        if let Some(t) = duration {
            push(&mut a, &["-t", &secs(t)]);
        }
        x264(&mut a, src, v, features, &force_key_frames);
        muxer(&mut a, offset, false, false, out);
    }
    a
}

/// The time range of one audio run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioRange {
    /// Input seek.
    pub seek: f64,
    /// Output duration (`-t`).
    pub duration: Option<f64>,
    /// Encoded audio is padded with silence to at least this long (so it covers the plan).
    pub pad_to: Option<f64>,
    pub offset: f64,
}

/// The full argument list of an audio run: the source's input and [`audio_output_args`] to
/// stdout.
pub fn audio_args(source: &str, a: &AudioRendition, range: AudioRange) -> Vec<String> {
    // No seek from the very start: after any seek the Matroska demuxer skips the packets
    // before the video keyframe it lands on, which drops the first audio frames.
    let mut args = source_input(source, (range.seek > 0.0).then_some(range.seek));
    args.extend(audio_output_args(a, range, "pipe:1"));
    args
}

/// The output half of an audio run (from `-map` on): the stream, the encoder or copy, and the
/// muxer writing to `output`. A run that also makes video from the same input (the bench's
/// whole-file ladder) appends it to its own arguments.
pub fn audio_output_args(a: &AudioRendition, range: AudioRange, output: &str) -> Vec<String> {
    let mut args = Vec::with_capacity(40);
    push(
        &mut args,
        &[
            "-map",
            &format!("0:{}", a.source_index),
            "-vn",
            "-sn",
            "-dn",
        ],
    );
    if let Some(t) = range.duration {
        push(&mut args, &["-t", &secs(t)]);
    }
    if a.copy {
        push(&mut args, &["-c:a", "copy"]);
        if range.seek > 0.0 {
            // Not from the start: drop the packets between the demuxer's seek point and ours.
            // From the start everything is kept, also a first frame that begins slightly
            // before zero (E-AC-3 / AAC priming in MP4 edit lists): the base keeps it positive.
            push(&mut args, &["-copypriorss", "0"]);
        }
        if a.codec == "aac" {
            // ADTS (TS, .aac sources) to MP4's AudioSpecificConfig; a no-op for other sources.
            push(&mut args, &["-bsf:a", "aac_adtstoasc"]);
        }
        if a.codec == "flac" {
            // FLAC in MP4 is "experimental" in ffmpeg 5.1 (the fLaC sample entry of the
            // spec, which Safari and Chrome play).
            push(&mut args, &["-strict", "-2"]);
        }
    } else {
        // aresample=async=1: timestamps counted in samples (no millisecond jitter from the
        // source), gaps filled, and (first_pts=0) silence from the run's start if the audio
        // starts later; apad: silence up to the plan's end.
        let mut af = String::from("aresample=async=1:first_pts=0");
        if let Some(p) = range.pad_to.filter(|p| *p > 0.0) {
            af.push_str(&format!(",apad=whole_dur={}", secs(p)));
        }
        let sr = a
            .sample_rate
            .unwrap_or(stream_core::hls::ladder::AAC_SAMPLE_RATE);
        push(
            &mut args,
            &[
                "-af",
                &af,
                "-c:a",
                "aac",
                "-b:a",
                &a.bitrate.to_string(),
                "-ac",
                &a.channels.max(1).to_string(),
                "-ar",
                &sr.to_string(),
            ],
        );
    }
    // Copied AC-3/E-AC-3 need a parsed frame for their sample entry; copied AAC from ADTS
    // (MPEG-TS sources, through aac_adtstoasc) has no decoder config before the first packet.
    // Without delay_moov the init segment lacks it and MSE players refuse the audio.
    muxer(
        &mut args,
        range.offset,
        true,
        a.copy && matches!(a.codec.as_str(), "ac3" | "eac3" | "aac"),
        output,
    );
    args
}
