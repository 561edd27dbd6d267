//! Subtitles to WebVTT (SPEC §3 "Tracks"): the text streams of an upload, extracted by one
//! ffmpeg run at ingest, and subtitle files users add (SRT, WebVTT, ASS/SSA), converted by one
//! function, [`to_webvtt`], so both kinds come out the same.
//!
//! - **Parsing and conversion** are `subcue`'s (README "Crates chosen"): typed errors for
//!   input that is not UTF-8 or has broken timestamps, warnings for what it recovered from or
//!   could not carry. ASS override tags WebVTT has no form for (`\pos`, `\fad`, colours, fonts)
//!   are dropped, italics/bold/underline kept, `\an8` becomes a top line, `\N` a line break:
//!   styling is dropped, never shown as `{\...}` garbage.
//! - **Timing.** Cue times are the container's own, as authored (ffmpeg runs with `-copyts`;
//!   a sidecar's are what its author timed against the original): a browser's `<track>`
//!   (direct play) shows them against the original's clock. The segments' clock is the
//!   source's time relative to its start, plus `TIMELINE_OFFSET` (`transcode`), so every
//!   WebVTT carries `X-TIMESTAMP-MAP=MPEGTS:<(TIMELINE_OFFSET − start time) in 90 kHz>,
//!   LOCAL:00:00:00.000` ([`timestamp_map`]): HLS players place each cue on the segments'
//!   clock with it, after a seek too, and `<track>` ignores it. (The start time is often
//!   −21 ms, AAC's priming: without it every cue would be a frame late in one of the two.)
//!   A cue that ends before 0 is dropped; one that starts before 0 starts at 0.
//! - **Extraction** ([`extract`]): one ffmpeg run writes every text stream at once (the file
//!   is read once), SubRip for SubRip/mov_text/WebVTT streams and ASS for ASS/SSA ones (their
//!   tags then go through the same conversion as a sidecar's). If the run fails, each stream
//!   is tried alone, so one broken stream is reported on that stream only.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use subcue::{Format, Time};
use tokio::process::Command;

use crate::transcode::args::TIMELINE_OFFSET;

/// The largest subtitle file accepted (a sidecar upload; an extracted stream's output).
pub const MAX_SUBTITLE_BYTES: usize = 5 * 1024 * 1024;

/// A subtitle text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    Srt,
    Vtt,
    Ass,
}

impl TextFormat {
    /// The format of a file from its first bytes (a `WEBVTT` signature, an ASS `[Script
    /// Info]` section, else SubRip).
    pub fn sniff(bytes: &[u8]) -> TextFormat {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        let text = text.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with("WEBVTT") {
            TextFormat::Vtt
        } else if text.to_ascii_lowercase().starts_with("[script info]") {
            TextFormat::Ass
        } else {
            TextFormat::Srt
        }
    }

    /// The short name stored as a sidecar track's codec.
    pub fn name(self) -> &'static str {
        match self {
            TextFormat::Srt => "srt",
            TextFormat::Vtt => "vtt",
            TextFormat::Ass => "ass",
        }
    }

    fn subcue(self) -> Format {
        match self {
            TextFormat::Srt => Format::Srt,
            TextFormat::Vtt => Format::Vtt,
            TextFormat::Ass => Format::Ass,
        }
    }
}

/// A WebVTT made from a subtitle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebVtt {
    pub text: String,
    pub cues: usize,
    /// How many pieces of styling WebVTT could not carry (dropped).
    pub dropped: usize,
}

/// Why a subtitle file cannot be used, in words for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubtitleError {
    #[error("the subtitle file is larger than {} MiB", MAX_SUBTITLE_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the subtitle file could not be read as {format}: {reason}")]
    Unreadable {
        format: &'static str,
        reason: String,
    },
    #[error("the subtitle file has no cues ({format})")]
    NoCues { format: &'static str },
    /// ffmpeg could not be run, or failed for a reason that is not the stream's.
    #[error("{0}")]
    Tool(String),
}

/// The `X-TIMESTAMP-MAP` header line of the WebVTT of a media whose container starts at
/// `start_time` (see the module doc): cue time 0 is `TIMELINE_OFFSET - start_time` on the
/// segments' clock.
pub fn timestamp_map(start_time: f64) -> String {
    let start = if start_time.is_finite() {
        start_time
    } else {
        0.0
    };
    let mpegts = ((TIMELINE_OFFSET - start) * 90_000.0).round().max(0.0) as u64;
    format!("X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000")
}

/// Converts a subtitle file of a media whose container starts at `start_time` to our WebVTT.
/// `require_cues`: a file without any cue is refused (a sidecar upload; an embedded stream may
/// legitimately have none).
pub fn to_webvtt(
    bytes: &[u8],
    format: TextFormat,
    start_time: f64,
    require_cues: bool,
) -> Result<WebVtt, SubtitleError> {
    if bytes.len() > MAX_SUBTITLE_BYTES {
        return Err(SubtitleError::TooLarge);
    }
    let parsed = subcue::parse(bytes, format.subcue()).map_err(|e| SubtitleError::Unreadable {
        format: format.name(),
        reason: e.to_string(),
    })?;
    finish(parsed, format, start_time, require_cues)
}

/// [`to_webvtt`] after parsing: converted, cut to times ≥ 0, with our header.
fn finish(
    parsed: subcue::Subtitles,
    format: TextFormat,
    start_time: f64,
    require_cues: bool,
) -> Result<WebVtt, SubtitleError> {
    let mut vtt = parsed.convert(Format::Vtt);
    let dropped = vtt
        .warnings
        .iter()
        .filter(|w| matches!(w, subcue::Warning::LossyTag { .. }))
        .count();
    vtt.cues.retain(|c| c.end.0 > 0 && c.end.0 >= c.start.0);
    for c in &mut vtt.cues {
        c.start = Time(c.start.0.max(0));
    }
    if require_cues && vtt.cues.is_empty() {
        return Err(SubtitleError::NoCues {
            format: format.name(),
        });
    }
    vtt.header.vtt_signature = None;
    vtt.header
        .vtt_header_lines
        .retain(|l| !l.trim_start().starts_with("X-TIMESTAMP-MAP"));
    vtt.header
        .vtt_header_lines
        .insert(0, timestamp_map(start_time));
    let (out, _) = vtt.compose();
    let text = String::from_utf8(out).map_err(|e| SubtitleError::Unreadable {
        format: format.name(),
        reason: e.to_string(),
    })?;
    Ok(WebVtt {
        cues: vtt.cues.len(),
        text,
        dropped,
    })
}

/// A text stream to extract: its index in the source and its codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStream {
    pub index: u32,
    pub codec: String,
}

impl TextStream {
    /// What ffmpeg writes it as: ASS keeps ASS's tags for [`to_webvtt`], the rest is SubRip.
    fn format(&self) -> TextFormat {
        match self.codec.as_str() {
            "ass" | "ssa" => TextFormat::Ass,
            _ => TextFormat::Srt,
        }
    }
}

/// The WebVTT of each of `streams` of the source at `location` (a path or URL) whose container
/// starts at `start_time`, in order; an error on a stream says why that one could not be
/// converted. The whole extraction is bounded by `limit` (each single-stream retry too).
pub async fn extract(
    ffmpeg: &str,
    location: &str,
    streams: &[TextStream],
    start_time: f64,
    limit: Duration,
) -> Vec<Result<WebVtt, SubtitleError>> {
    if streams.is_empty() {
        return vec![];
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            let e = SubtitleError::Tool(format!("no temporary directory: {e}"));
            return streams.iter().map(|_| Err(e.clone())).collect();
        }
    };
    if run(ffmpeg, location, streams, dir.path(), limit)
        .await
        .is_ok()
    {
        let read = |s| read_output(dir.path(), s, start_time);
        return streams.iter().map(read).collect();
    }
    // One of them (or the file) is broken: try each alone, so each says its own outcome.
    let mut out = Vec::with_capacity(streams.len());
    for s in streams {
        let one = std::slice::from_ref(s);
        out.push(match run(ffmpeg, location, one, dir.path(), limit).await {
            Ok(()) => read_output(dir.path(), s, start_time),
            Err(e) => Err(e),
        });
    }
    out
}

fn output_path(dir: &Path, s: &TextStream) -> std::path::PathBuf {
    dir.join(format!("{}.{}", s.index, s.format().name()))
}

fn read_output(dir: &Path, s: &TextStream, start_time: f64) -> Result<WebVtt, SubtitleError> {
    let path = output_path(dir, s);
    let size = std::fs::metadata(&path)
        .map_err(|e| SubtitleError::Tool(format!("ffmpeg wrote no output for the stream: {e}")))?
        .len();
    if size > MAX_SUBTITLE_BYTES as u64 {
        return Err(SubtitleError::TooLarge);
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| SubtitleError::Tool(format!("reading ffmpeg's output: {e}")))?;
    to_webvtt(&bytes, s.format(), start_time, false)
}

async fn run(
    ffmpeg: &str,
    location: &str,
    streams: &[TextStream],
    dir: &Path,
    limit: Duration,
) -> Result<(), SubtitleError> {
    let mut cmd = Command::new(ffmpeg);
    // `-copyts`: the container's own times (see the module doc).
    let quiet = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-copyts",
    ];
    cmd.args(quiet).args(["-i", location]);
    for s in streams {
        let (codec, muxer) = match s.format() {
            TextFormat::Ass => ("ass", "ass"),
            _ => ("srt", "srt"),
        };
        cmd.args([
            "-map",
            &format!("0:{}", s.index),
            "-c:s",
            codec,
            "-f",
            muxer,
        ]);
        cmd.arg(output_path(dir, s));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| SubtitleError::Tool(format!("cannot run `{ffmpeg}`: {e}")))?;
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(SubtitleError::Tool(e.to_string())),
        Err(_) => {
            let reason = format!(
                "reading the subtitles took longer than {} s",
                limit.as_secs()
            );
            return Err(SubtitleError::Tool(reason));
        }
    };
    if output.status.success() {
        return Ok(());
    }
    // The first line, without the input's location (it may be a presigned URL).
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
    let reason = first.map_or("ffmpeg failed", |l| l.rsplit(": ").next().unwrap_or(l));
    Err(SubtitleError::Unreadable {
        format: "a subtitle stream",
        reason: reason.chars().take(200).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRT: &str = "1\n00:00:01,000 --> 00:00:02,500\nHéllo <i>wörld</i> — 你好\n\n\
                       2\n00:00:03,000 --> 00:00:04,000\nsecond\nline\n";

    const ASS: &str = "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n\
        Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
        Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n\
        [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n\
        Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,{\\an8\\pos(10,10)}Ünïcödé {\\i1}italic{\\i0}\\Nnext line\n\
        Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,{\\fad(200,200)\\c&H00FF00&}green\n";

    #[test]
    fn srt_becomes_webvtt_with_the_timeline_map_and_its_text_intact() {
        let v = to_webvtt(SRT.as_bytes(), TextFormat::Srt, 0.0, true).unwrap();
        assert_eq!(v.cues, 2);
        let mut lines = v.text.lines();
        assert_eq!(lines.next(), Some("WEBVTT"));
        assert_eq!(
            lines.next(),
            Some("X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000")
        );
        assert!(v
            .text
            .contains("00:00:01.000 --> 00:00:02.500\nHéllo <i>wörld</i> — 你好"));
        assert!(v
            .text
            .contains("00:00:03.000 --> 00:00:04.000\nsecond\nline"));
    }

    #[test]
    fn ass_styling_webvtt_cannot_carry_is_dropped_not_shown() {
        let v = to_webvtt(ASS.as_bytes(), TextFormat::Ass, 0.0, true).unwrap();
        assert_eq!(v.cues, 2);
        assert!(
            !v.text.contains('{') && !v.text.contains('\\'),
            "{}",
            v.text
        );
        assert!(
            v.text.contains("Ünïcödé <i>italic</i>\nnext line"),
            "{}",
            v.text
        );
        assert!(v.text.contains("\ngreen\n"), "{}", v.text);
        assert!(v.dropped >= 2, "{v:?}");
    }

    #[test]
    fn a_vtt_is_rewritten_with_our_map_only() {
        let src =
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n00:01.000 --> 00:02.000\nhi\n";
        let v = to_webvtt(src.as_bytes(), TextFormat::Vtt, -0.021, true).unwrap();
        assert_eq!(v.text.matches("X-TIMESTAMP-MAP").count(), 1);
        assert!(v
            .text
            .contains("X-TIMESTAMP-MAP=MPEGTS:901890,LOCAL:00:00:00.000"));
        assert!(v.text.contains("00:00:01.000 --> 00:00:02.000\nhi"));
    }

    #[test]
    fn what_cannot_be_read_is_refused_with_a_reason() {
        let bad_utf8 = b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\n";
        assert!(matches!(
            to_webvtt(bad_utf8, TextFormat::Srt, 0.0, true),
            Err(SubtitleError::Unreadable { format: "srt", .. })
        ));
        assert_eq!(
            to_webvtt(b"hello world\n", TextFormat::Srt, 0.0, true),
            Err(SubtitleError::NoCues { format: "srt" })
        );
        assert!(to_webvtt(b"hello world\n", TextFormat::Srt, 0.0, false).is_ok());
        let big = vec![b'a'; MAX_SUBTITLE_BYTES + 1];
        assert_eq!(
            to_webvtt(&big, TextFormat::Srt, 0.0, true),
            Err(SubtitleError::TooLarge)
        );
        assert!(to_webvtt(b"WEBVTT\n\nnot a cue\n", TextFormat::Vtt, 0.0, true).is_err());
    }

    /// Real ffmpeg: one run converts every text stream; a stream that cannot be converted
    /// says so on its own, and the others still come out.
    #[tokio::test]
    async fn extract_converts_each_text_stream_and_reports_a_broken_one() {
        let dir = tempfile::tempdir().unwrap();
        let srt = dir.path().join("a.srt");
        std::fs::write(&srt, SRT).unwrap();
        let ass = dir.path().join("b.ass");
        std::fs::write(&ass, ASS).unwrap();
        let mkv = dir.path().join("a.mkv");
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc2=size=160x90:rate=10:duration=5"])
            .args(["-i"])
            .arg(&srt)
            .args(["-i"])
            .arg(&ass)
            .args([
                "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset",
            ])
            .args(["ultrafast", "-c:s:0", "srt", "-c:s:1", "ass"])
            .arg(&mkv)
            .status()
            .unwrap();
        assert!(status.success());
        let streams = [
            TextStream {
                index: 1,
                codec: "subrip".into(),
            },
            TextStream {
                index: 2,
                codec: "ass".into(),
            },
            TextStream {
                index: 7,
                codec: "subrip".into(),
            },
        ];
        let location = mkv.to_string_lossy();
        let out = extract("ffmpeg", &location, &streams, 0.0, Duration::from_secs(60)).await;
        assert_eq!(out.len(), 3);
        let srt = out[0].as_ref().unwrap();
        assert_eq!(srt.cues, 2);
        assert!(
            srt.text
                .contains("00:00:01.000 --> 00:00:02.500\nHéllo <i>wörld</i> — 你好"),
            "{}",
            srt.text
        );
        let ass = out[1].as_ref().unwrap();
        assert!(
            ass.text.contains("Ünïcödé <i>italic</i>\nnext line"),
            "{}",
            ass.text
        );
        assert!(!ass.text.contains('{'), "{}", ass.text);
        assert!(
            matches!(out[2], Err(SubtitleError::Unreadable { .. })),
            "{:?}",
            out[2]
        );
    }

    #[test]
    fn formats_are_sniffed() {
        assert_eq!(TextFormat::sniff(b"\xef\xbb\xbfWEBVTT\n"), TextFormat::Vtt);
        assert_eq!(TextFormat::sniff(ASS.as_bytes()), TextFormat::Ass);
        assert_eq!(TextFormat::sniff(SRT.as_bytes()), TextFormat::Srt);
    }

    #[test]
    fn cues_before_the_start_are_cut_at_zero() {
        // SubRip cannot write a negative time: set them in the parsed model.
        let mut subs = subcue::parse(SRT.as_bytes(), Format::Srt).unwrap();
        subs.cues[0].start = Time(-500);
        subs.cues[1].start = Time(-3000);
        subs.cues[1].end = Time(-1000);
        let v = finish(subs, TextFormat::Srt, 0.0, true).unwrap();
        assert_eq!(v.cues, 1);
        assert!(
            v.text.contains("00:00:00.000 --> 00:00:02.500"),
            "{}",
            v.text
        );
    }
}
