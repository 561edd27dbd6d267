//! Small, fixed domain values for other crates' tests (feature `fixtures`): a test of the
//! session cache or of a handler needs a real probe, decision and rendition set, built by the
//! real functions, without restating them.

use crate::hls::ladder::{build, ClientLimits, LadderConfig, RenditionSet};
use crate::model::{AudioStream, HdrKind, Probe, VideoStream};
use crate::playback::decision::{Decision, Method, SegmentFormat};

/// A 60 s 720p H.264/AAC Matroska file (keyframes every 2 s) played as remux:
/// (probe, decision, rendition set).
pub fn remux_fixture() -> (Probe, Decision, RenditionSet) {
    let video = VideoStream {
        index: 0,
        codec: "h264".into(),
        profile: Some("High".into()),
        level: Some(4.0),
        width: 1280,
        height: 720,
        bit_depth: 8,
        pix_fmt: None,
        frame_rate: Some(24.0),
        codec_tag: None,
        color_transfer: None,
        hdr: HdrKind::Sdr,
        interlaced: false,
        bitrate: None,
        rotation: 0,
        display_width: 0,
        display_height: 0,
        dolby_vision: None,
    };
    let audio = AudioStream {
        index: 1,
        codec: "aac".into(),
        profile: None,
        channels: 2,
        channel_layout: None,
        sample_rate: Some(48_000),
        bitrate: Some(192_000),
        language: Some("eng".into()),
        default: true,
    };
    let probe = Probe {
        container: "mkv".into(),
        format_name: "matroska,webm".into(),
        duration_seconds: 60.0,
        start_time: 0.0,
        bitrate: Some(6_000_000),
        video: Some(video),
        audio: vec![audio],
        subtitles: vec![],
        keyframes: (0..30).map(|i| i as f64 * 2.0).collect(),
        notes: vec![],
    };
    let decision = Decision {
        method: Method::Remux,
        reasons: vec![],
        audio_track: Some(1),
        segment_format: Some(SegmentFormat::Fmp4),
        subtitle_burn: None,
    };
    let set = build(
        "m1",
        &probe,
        &decision,
        &ClientLimits::default(),
        &LadderConfig::default(),
    )
    .expect("the remux fixture builds");
    (probe, decision, set)
}
