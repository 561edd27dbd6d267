//! TS segments: the fMP4 a segment run makes (exactly cut, checked) remuxed to MPEG-TS by a
//! second, short ffmpeg (`-c copy -copyts`), so TS and fMP4 segments have the same frames and
//! the same timeline (source time + `TIMELINE_OFFSET`, in 90 kHz PTS; no extra mux delay).
//! Every TS segment is a complete stream of its own (PAT/PMT first).

use bytes::Bytes;

use super::{args, run, EncodeError, EncodeInput, FFMPEG_TIMEOUT};

/// The remux arguments: fMP4 on stdin, TS on stdout.
pub fn remux_args() -> Vec<String> {
    let mut args = args::global_args();
    args.extend(
        [
            "-f",
            "mp4",
            "-i",
            "pipe:0",
            "-map",
            "0",
            "-c",
            "copy",
            "-copyts",
            "-mpegts_copyts",
            "1",
            "-fflags",
            "+bitexact",
            "-f",
            "mpegts",
            "pipe:1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args
}

/// `init` + `media` (fMP4) as one MPEG-TS segment.
pub(super) async fn fmp4_to_ts(
    input: &EncodeInput<'_>,
    init: &[u8],
    media: &[u8],
) -> Result<Bytes, EncodeError> {
    let mut data = Vec::with_capacity(init.len() + media.len());
    data.extend_from_slice(init);
    data.extend_from_slice(media);
    let (out, status, stderr) =
        run::run_with_stdin(input.ffmpeg, &remux_args(), data, FFMPEG_TIMEOUT).await?;
    if !status.success() || !stderr.trim().is_empty() {
        // Our own fMP4 did not remux: not the source's fault.
        let line = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no message");
        return Err(EncodeError::Output(format!(
            "remuxing to TS failed: {}",
            run::sanitize(line, input.source)
        )));
    }
    if out.len() < 188 * 3 || out.len() % 188 != 0 {
        return Err(EncodeError::Output(format!(
            "remuxing to TS gave {} bytes",
            out.len()
        )));
    }
    Ok(Bytes::from(out))
}
