//! One trick-play sheet, made by one ffmpeg run (SPEC §3 "Trick-play"; the plan, and the rule
//! of which frame a tile shows, are `stream_core::trickplay`).
//!
//! The run reads the source by range (a path or a presigned URL, as segments do), from an input
//! seek to the sheet's first thumbnail time (`-ss` before `-i`: the demuxer jumps to the
//! keyframe at or before it, nothing earlier is read), with `-noaccurate_seek` so that keyframe
//! is not trimmed away. Then:
//!
//! - `-skip_frame nokey` when the plan says keyframes suffice: the decoder skips every other
//!   frame, so a sheet of 100 thumbnails costs about 100 keyframe decodes (a 1000 s span of
//!   video is never decoded whole). Otherwise every frame is decoded.
//! - `fps=1/interval:round=up:start_time=0`: output tick `n` takes the last decoded frame whose
//!   time, rounded **up** to a tick, is at most `n`, i.e. the last frame at or before the
//!   thumbnail time `first + n·interval` (rounding to nearest would take a frame up to half an
//!   interval later). Timestamps are relative to the seek point (no `-copyts`), so tick 0 is the
//!   sheet's first thumbnail.
//! - the picture filter of the transcoder (`args::picture_filter`: deinterlace, HDR tone
//!   mapping to SDR when this ffmpeg has zscale, scale to the tile size, square pixels); the
//!   picture is upright because ffmpeg applies the display matrix when it decodes.
//! - `tile=CxR:nb_frames=n`: the sheet's tiles row by row (a last sheet with fewer thumbnails
//!   is emitted after its `n`th, the rest black), one JPEG (`mjpeg`, full-range 4:2:0).

use bytes::Bytes;
use stream_core::model::Probe;
use stream_core::trickplay::{keyframes_suffice, TrickplayPlan};

use crate::transcode::args::{self, global_args, input_args, secs, Features};
use crate::transcode::{run, EncodeError, FFMPEG_TIMEOUT};

/// JPEG quality of the sheets (`-q:v`, 2 best .. 31 worst): small tiles stay legible.
const JPEG_QUALITY: &str = "5";

/// The arguments of the run that makes sheet `s` of `plan` from `source`.
pub fn sheet_args(
    source: &str,
    probe: &Probe,
    plan: &TrickplayPlan,
    s: u32,
    features: Features,
) -> Result<Vec<String>, EncodeError> {
    let thumbs = plan.thumbnails_of(s);
    if thumbs.is_empty() {
        return Err(EncodeError::NoSuchSegment(s));
    }
    let first = plan.time_of(thumbs.start);
    let mut a = global_args();
    if keyframes_suffice(plan, &probe.keyframes, s) {
        a.extend(["-skip_frame".into(), "nokey".into()]);
    }
    a.push("-noaccurate_seek".into());
    a.extend(input_args(source, Some(first)));
    let picture = args::picture_filter(
        probe.video.as_ref(),
        plan.tile_width,
        plan.tile_height,
        features,
    );
    let filter = format!(
        "fps=fps=1/{}:round=up:start_time=0,{picture},format=yuvj420p,tile={}x{}:nb_frames={}",
        plan.params.interval,
        plan.columns,
        plan.rows,
        thumbs.len()
    );
    for x in [
        "-xerror",
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        &filter,
        "-fps_mode",
        "passthrough",
        "-frames:v",
        "1",
        "-c:v",
        "mjpeg",
        "-q:v",
        JPEG_QUALITY,
        "-f",
        "image2pipe",
        "pipe:1",
    ] {
        a.push(x.to_string());
    }
    // The seek is where the sheet's first thumbnail is (logged with the run's arguments).
    debug_assert!(a.contains(&secs(first)));
    Ok(a)
}

/// Makes sheet `s` of `plan`: the JPEG's bytes. `nice`: 0, the process's own priority (a
/// viewer hovering waits for it).
pub async fn make_sheet(
    ffmpeg: &str,
    source: &str,
    probe: &Probe,
    plan: &TrickplayPlan,
    s: u32,
    nice: i32,
) -> Result<Bytes, EncodeError> {
    let features = run::features(ffmpeg).await;
    let a = sheet_args(source, probe, plan, s, features)?;
    let (out, status, stderr) = run::run_to_end(ffmpeg, &a, nice, FFMPEG_TIMEOUT).await?;
    run::check(status, &stderr, source)?;
    // A JPEG starts with SOI (FF D8) and ends with EOI (FF D9).
    if out.len() < 4 || out[..2] != [0xFF, 0xD8] || out[out.len() - 2..] != [0xFF, 0xD9] {
        return Err(EncodeError::Output(format!(
            "sheet {s}: ffmpeg wrote no JPEG ({} bytes)",
            out.len()
        )));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream_core::trickplay::TrickplayParams;

    fn probe(keyframes: Vec<f64>) -> Probe {
        let (mut p, _, _) = stream_core::fixtures::remux_fixture();
        p.duration_seconds = 45.0;
        p.keyframes = keyframes;
        p
    }

    fn params() -> TrickplayParams {
        TrickplayParams {
            interval: 2,
            width: 160,
            columns: 3,
            rows: 3,
        }
    }

    #[test]
    fn a_sheet_seeks_to_its_first_time_and_tiles_its_thumbnails() {
        let p = probe((0..45).map(f64::from).collect());
        let plan = TrickplayPlan::new("m", &p, params()).unwrap();
        assert_eq!(plan.sheets(), 3); // 23 thumbnails, 9 per sheet
        let a = sheet_args("/src.mp4", &p, &plan, 1, Features::default()).unwrap();
        let line = a.join(" ");
        assert!(
            line.contains("-skip_frame nokey -noaccurate_seek -ss 18 -i /src.mp4"),
            "{line}"
        );
        assert!(
            line.contains("fps=fps=1/2:round=up:start_time=0,scale=160:90,setsar=1"),
            "{line}"
        );
        assert!(line.contains("tile=3x3:nb_frames=9"), "{line}");
        assert!(line.ends_with("-frames:v 1 -c:v mjpeg -q:v 5 -f image2pipe pipe:1"));
        // The last sheet: 5 thumbnails.
        let last = sheet_args("/src.mp4", &p, &plan, 2, Features::default()).unwrap();
        assert!(last.join(" ").contains("tile=3x3:nb_frames=5"));
        assert!(matches!(
            sheet_args("/src.mp4", &p, &plan, 3, Features::default()),
            Err(EncodeError::NoSuchSegment(3))
        ));
    }

    #[test]
    fn sparse_keyframes_decode_every_frame() {
        let p = probe(vec![0.0, 30.0]);
        let plan = TrickplayPlan::new("m", &p, params()).unwrap();
        let a = sheet_args("/src.mp4", &p, &plan, 0, Features::default()).unwrap();
        assert!(!a.iter().any(|x| x == "-skip_frame"), "{a:?}");
    }
}
