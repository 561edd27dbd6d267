//! An offline download's MP4 from the fMP4 pieces of one video rendition and one audio
//! rendition (SPEC §3 "Downloads"): a stream copy, never an encode.
//!
//! Each input is a rendition's `init.mp4` followed by its media segments, byte for byte (a
//! valid fragmented MP4: the pieces were cut to follow one another). ffmpeg copies both into one
//! progressive MP4 with its `moov` before the `mdat` (`-movflags +faststart`: a phone starts
//! playing the file before it has read it all, and a player seeks in it without an index scan).
//!
//! **Timeline**: the pieces carry the source's time plus [`TIMELINE_OFFSET`]. `-copyts` keeps
//! both inputs on that one timeline and `-output_ts_offset -10` moves it back to the source's;
//! without `-copyts` ffmpeg would shift each input to zero by its own first timestamp, and the
//! AAC priming packet (21 ms before the video's first frame) would pull the audio out of sync.
//! The priming then sits before zero, which the MP4 muxer writes as an edit list, as an encoder
//! would.
//!
//! **Cost**: a copy reads and writes every byte twice (once to write, once more when faststart
//! moves the `moov` to the front): I/O bound, a few hundred MB/s on a local disk, so about 10 s
//! per hour of 720p (1.3 GB) here; the store transfers around it dominate (see the service's
//! `download` module).

use std::path::Path;
use std::time::Duration;

use super::args::{global_args, secs, TIMELINE_OFFSET};
use super::{run, EncodeError};

/// The most one assembly may take (then it is a `Tool` error: retried by the next request).
/// Below Lambda's 15 min, so an invocation that runs it is never cut off by its own limit.
pub const ASSEMBLE_TIMEOUT: Duration = Duration::from_secs(12 * 60);

/// The arguments of the copy of `video` (and `audio`) into the faststart MP4 `out`.
pub fn assemble_args(video: &Path, audio: Option<&Path>, out: &Path) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut args = global_args();
    args.extend(["-copyts".into(), "-i".into(), s(video)]);
    if let Some(a) = audio {
        args.extend(["-copyts".into(), "-i".into(), s(a)]);
    }
    args.extend(["-map".into(), "0:v:0".into()]);
    if audio.is_some() {
        args.extend(["-map".into(), "1:a:0".into()]);
    }
    for a in [
        "-c",
        "copy",
        "-output_ts_offset",
        &format!("-{}", secs(TIMELINE_OFFSET)),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ] {
        args.push(a.to_string());
    }
    args.push(s(out));
    args
}

/// Copies `video` (and `audio`) into the faststart MP4 `out`.
pub async fn assemble_mp4(
    ffmpeg: &str,
    video: &Path,
    audio: Option<&Path>,
    out: &Path,
) -> Result<(), EncodeError> {
    let args = assemble_args(video, audio, out);
    let (_, status, stderr) = run::run_to_end(ffmpeg, &args, 0, ASSEMBLE_TIMEOUT).await?;
    run::check(status, &stderr, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_copy_with_faststart_on_the_source_timeline() {
        let args = assemble_args(
            Path::new("/t/v.mp4"),
            Some(Path::new("/t/a.mp4")),
            Path::new("/t/o.mp4"),
        );
        let line = args.join(" ");
        assert!(
            line.contains("-copyts -i /t/v.mp4 -copyts -i /t/a.mp4"),
            "{line}"
        );
        assert!(line.contains("-map 0:v:0 -map 1:a:0 -c copy"), "{line}");
        assert!(line.contains("-output_ts_offset -10"), "{line}");
        assert!(
            line.ends_with("-movflags +faststart -f mp4 /t/o.mp4"),
            "{line}"
        );
        // Never an encoder.
        assert!(!args.iter().any(|a| a.starts_with("lib") || a == "-c:v"));
        let video_only = assemble_args(Path::new("v"), None, Path::new("o")).join(" ");
        assert!(!video_only.contains("1:a"), "{video_only}");
    }
}
