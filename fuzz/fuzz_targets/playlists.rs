//! The playlist writer (`stream_core::hls::{plan, playlist}`) on arbitrary plans: a copy plan
//! from arbitrary keyframes (unsorted, repeated, negative, past the end, not finite) or a
//! transcode plan from arbitrary first durations, for arbitrary media and target durations,
//! rendered as a variant playlist with an arbitrary URI prefix and query; and the master
//! playlist of the rendition set of an arbitrary probe (codec, size, rate, audio language) for
//! every device profile. The invariants (`stream_fuzz`): the plan is contiguous from 0 to the
//! end with no empty segment; `EXT-X-TARGETDURATION` >= every rounded EXTINF; one EXTINF per
//! segment, each URI's name parses back with `parse_segment_name` as its segment; no URI
//! breaks its line or carries a control character, space or quote.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use stream_core::hls::ladder::{build, ClientLimits, LadderConfig};
use stream_core::hls::plan::{plan_copy, plan_transcode};
use stream_core::hls::playlist::SegmentUris;
use stream_core::model::{AudioStream, HdrKind, Probe, VideoStream};
use stream_core::playback::decision::{decide, SegmentFormat};
use stream_core::playback::profiles::PROFILES;

/// Plans longer than this are not rendered (see `ffprobe_json`).
const MAX_RENDERED: f64 = 20_000.0;

/// Seconds: mostly milliseconds (values a real file has), sometimes any f64.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Secs {
    Millis(u32),
    Raw(f64),
}

impl Secs {
    fn get(self) -> f64 {
        match self {
            Secs::Millis(ms) => f64::from(ms) / 1000.0,
            Secs::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Media<'a> {
    video_codec: u8,
    width: u16,
    height: u16,
    fps: Secs,
    level: Option<f64>,
    bit_depth: u8,
    hdr: u8,
    audio_codec: u8,
    channels: u8,
    language: Option<&'a str>,
    start: Option<f64>,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    copy: bool,
    ts: bool,
    duration: Secs,
    target: Secs,
    keyframes: Vec<Secs>,
    first: Vec<Secs>,
    prefix: &'a str,
    query: &'a str,
    media: Option<Media<'a>>,
}

const VIDEO_CODECS: [&str; 5] = ["h264", "hevc", "av1", "vp9", "mpeg4"];
const AUDIO_CODECS: [&str; 6] = ["aac", "ac3", "eac3", "opus", "mp3", "flac"];

fn probe(m: &Media<'_>, duration: f64, keyframes: Vec<f64>) -> Probe {
    let codec = VIDEO_CODECS[usize::from(m.video_codec) % VIDEO_CODECS.len()];
    let video = (m.width > 0).then(|| VideoStream {
        index: 0,
        codec: codec.to_string(),
        profile: Some(if codec == "h264" { "High" } else { "Main" }.to_string()),
        level: m.level,
        width: u32::from(m.width),
        height: u32::from(m.height),
        bit_depth: m.bit_depth,
        pix_fmt: None,
        frame_rate: Some(m.fps.get()),
        codec_tag: None,
        color_transfer: None,
        hdr: [
            HdrKind::Sdr,
            HdrKind::Hdr10,
            HdrKind::Hlg,
            HdrKind::DolbyVision,
        ][usize::from(m.hdr % 4)],
        interlaced: false,
        bitrate: None,
        rotation: 0,
        display_width: 0,
        display_height: 0,
        dolby_vision: None,
    });
    let audio = (m.channels > 0).then(|| AudioStream {
        index: 1,
        codec: AUDIO_CODECS[usize::from(m.audio_codec) % AUDIO_CODECS.len()].to_string(),
        profile: Some("LC".to_string()),
        channels: u32::from(m.channels),
        channel_layout: None,
        sample_rate: Some(48_000),
        bitrate: None,
        language: m.language.map(str::to_string),
        default: true,
    });
    Probe {
        container: "mkv".to_string(),
        format_name: "matroska,webm".to_string(),
        duration_seconds: duration,
        bitrate: None,
        video,
        audio: audio.into_iter().collect(),
        subtitles: vec![],
        keyframes,
        notes: vec![],
    }
}

fn master(m: &Media<'_>, duration: f64, keyframes: Vec<f64>, query: &str) {
    let p = probe(m, duration, keyframes);
    for spec in PROFILES {
        let caps = spec.capabilities();
        for prefer_ts in [false, true] {
            let decision = decide(&p, &caps, p.audio.first(), prefer_ts);
            if !decision.method.is_hls() {
                continue;
            }
            let limits = ClientLimits::from(&caps);
            if let Ok(set) = build("m", &p, &decision, &limits, &LadderConfig::default()) {
                stream_fuzz::check_master(&set, m.start, query);
            }
        }
    }
}

fuzz_target!(|i: Input<'_>| {
    let duration = i.duration.get();
    let target = i.target.get();
    let keyframes: Vec<f64> = i.keyframes.iter().map(|s| s.get()).collect();
    let first: Vec<f64> = i.first.iter().map(|s| s.get()).collect();
    let format = if i.ts {
        SegmentFormat::Ts
    } else {
        SegmentFormat::Fmp4
    };
    if let Some(m) = &i.media {
        master(m, duration, keyframes.clone(), i.query);
    }
    let plan = if i.copy {
        plan_copy(&keyframes, duration, target)
    } else {
        plan_transcode(duration, target, &first)
    };
    let Ok(plan) = plan else {
        return;
    };
    stream_fuzz::check_plan(&plan);
    if (plan.len() as f64) <= MAX_RENDERED {
        let uris = SegmentUris {
            prefix: i.prefix,
            query: i.query,
        };
        stream_fuzz::check_variant(&plan, format, uris);
    }
});
