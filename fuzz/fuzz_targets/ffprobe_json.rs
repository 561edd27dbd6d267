//! ffprobe's JSON (`stream_media::probe`): arbitrary bytes through the serde structs and
//! `interpret` into the media model, then on through what the model feeds, for every device
//! profile: the decision, the HLS rendition set (ladder, codecs, content keys), the segment
//! plan and both playlists, held to the invariants of `stream_fuzz` (target duration, one
//! parsable name per segment, no broken URI line). None may panic on any JSON (an upload is
//! any file, and its container says what ffprobe prints); an accepted probe has a positive
//! finite duration and a video or an audio stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stream_core::hls::ladder::{build, ClientLimits, LadderConfig};
use stream_core::hls::playlist::SegmentUris;
use stream_core::playback::decision::{decide, select_audio};
use stream_core::playback::profiles::PROFILES;
use stream_core::segment::is_content_key;
use stream_media::probe::{explain_failure, interpret, parse_rate, FfprobeOutput};

const MEDIA_ID: &str = "0123456789abcdef0123456789abcdef";
/// Plans longer than this are checked for the plan alone (rendering a million segments per
/// input would slow the search for nothing the shorter ones do not show).
const MAX_RENDERED: usize = 20_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = explain_failure(text);
        let _ = parse_rate(text);
    }
    let Ok(out) = serde_json::from_slice::<FfprobeOutput>(data) else {
        return;
    };
    let _ = interpret(&out, "source.m4a");
    let Ok(probe) = interpret(&out, "source.mkv") else {
        return;
    };
    assert!(probe.duration_seconds.is_finite() && probe.duration_seconds > 0.0);
    assert!(probe.video.is_some() || !probe.audio.is_empty());

    for spec in PROFILES {
        let caps = spec.capabilities();
        let audio = select_audio(&probe, None).ok().flatten();
        for prefer_ts in [false, true] {
            let decision = decide(&probe, &caps, audio, prefer_ts);
            if !decision.method.is_hls() {
                continue;
            }
            let limits = ClientLimits::from(&caps);
            let Ok(set) = build(
                MEDIA_ID,
                &probe,
                &decision,
                &limits,
                &LadderConfig::default(),
            ) else {
                continue;
            };
            for v in &set.video {
                assert!(is_content_key(&set.video_key(v)));
            }
            stream_fuzz::check_master(&set, Some(probe.duration_seconds / 2.0), "token=1.x y");
            let Ok(plan) = set.plan.plan(&probe) else {
                continue;
            };
            stream_fuzz::check_plan(&plan);
            if plan.len() <= MAX_RENDERED {
                let uris = SegmentUris {
                    prefix: "/renditions/key/",
                    query: "Policy=a&Key-Pair-Id=local&Signature=b",
                };
                stream_fuzz::check_variant(&plan, set.format, uris);
            }
        }
    }
});
