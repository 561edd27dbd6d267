//! Micro-benchmarks of the pure request-path code (SPEC §8: "decision and playlist handlers:
//! microseconds, not milliseconds"). Run by `scripts/bench.sh` (5 times; BENCHMARKS.md reports
//! the median of the 5 criterion medians with min and max), or alone:
//!
//! ```sh
//! cargo bench -p stream-bench --bench micro
//! # a subset:
//! cargo bench -p stream-bench --bench micro -- --warm-up-time 0.5 --measurement-time 2 plan_
//! ```
//!
//! Results: `target/criterion/<id>/new/estimates.json` (nanoseconds per iteration).
//! The ids are flat (no `/`) so that path is simple.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use stream_core::hls::ladder::{self, ClientLimits, LadderConfig};
use stream_core::hls::plan::{plan_copy, plan_transcode, TRANSCODE_TARGET};
use stream_core::hls::playlist;
use stream_core::model::{AudioStream, HdrKind, Probe, VideoStream};
use stream_core::playback::decision::{decide, select_audio, Method, SegmentFormat};
use stream_core::playback::profiles;
use stream_core::playback::query::from_query;
use stream_service::auth::{mint_hs256, SessionTokens, TokenVerifier};
use stream_service::config::JwtConfig;

/// Two hours.
const FILM_SECONDS: f64 = 7200.0;
const SECRET: &str = "bench-secret-0123456789abcdef0123456789";
/// The query a player sends with its capabilities (the `transcode` case of BENCHMARKS.md).
const CAPS: &str =
    "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";

/// A typical probe: a 2-hour 1080p HEVC Main 10 film in MKV with E-AC-3 5.1 and an AAC stereo
/// commentary track, keyframes every ~2 s (2.002 s, 23.976 fps with a GOP of 48), with a
/// little jitter so the keyframe index is not perfectly regular.
fn film_probe() -> Probe {
    let video = VideoStream {
        index: 0,
        codec: "hevc".into(),
        profile: Some("Main 10".into()),
        level: Some(4.0),
        width: 1920,
        height: 1080,
        bit_depth: 10,
        pix_fmt: Some("yuv420p10le".into()),
        frame_rate: Some(24000.0 / 1001.0),
        codec_tag: None,
        color_transfer: Some("bt709".into()),
        hdr: HdrKind::Sdr,
        interlaced: false,
        bitrate: Some(8_000_000),
    };
    let audio = vec![
        AudioStream {
            index: 1,
            codec: "eac3".into(),
            profile: None,
            channels: 6,
            channel_layout: Some("5.1(side)".into()),
            sample_rate: Some(48_000),
            bitrate: Some(640_000),
            language: Some("eng".into()),
            default: true,
        },
        AudioStream {
            index: 2,
            codec: "aac".into(),
            profile: Some("LC".into()),
            channels: 2,
            channel_layout: Some("stereo".into()),
            sample_rate: Some(48_000),
            bitrate: Some(128_000),
            language: Some("eng".into()),
            default: false,
        },
    ];
    Probe {
        container: "mkv".into(),
        format_name: "matroska,webm".into(),
        duration_seconds: FILM_SECONDS,
        start_time: 0.0,
        bitrate: Some(8_800_000),
        video: Some(video),
        audio,
        subtitles: vec![],
        keyframes: film_keyframes(),
        notes: vec![],
    }
}

/// Keyframes every 2.002 s, every 7th GOP a scene cut 0.5 s early, rounded to the millisecond
/// like the probe's (3,597 keyframes for 2 h).
fn film_keyframes() -> Vec<f64> {
    let mut t = 0.0;
    let mut out = vec![];
    let mut i = 0u32;
    while t < FILM_SECONDS {
        out.push((t * 1000.0_f64).round() / 1000.0);
        i += 1;
        t += if i % 7 == 0 { 1.502 } else { 2.002 };
    }
    out
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn benches(c: &mut Criterion) {
    let probe = film_probe();
    decision(c, &probe);
    plans(c, &probe);
    let tokens = SessionTokens::new(b"bench-session-key-0123456789abcdef");
    let sid = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8";
    ladder_and_playlists(c, &probe, &tokens, sid);
    token_checks(c, &tokens, sid);
}

/// The decision: the pure function alone, and with what the stream handler does around it
/// (capability parsing from the query, audio track selection).
fn decision(c: &mut Criterion, probe: &Probe) {
    let generic = profiles::by_name("generic")
        .expect("generic profile")
        .capabilities();
    let audio = select_audio(probe, None).unwrap();
    c.bench_function("decision_decide", |b| {
        b.iter(|| {
            decide(
                black_box(probe),
                black_box(&generic),
                black_box(audio),
                false,
            )
        })
    });
    let query = parse_query(CAPS);
    c.bench_function("decision_with_caps_parsing", |b| {
        b.iter(|| {
            let (caps, opts) = from_query(
                black_box(&query),
                Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"),
            )
            .unwrap();
            let audio = select_audio(probe, opts.audio_track).unwrap();
            decide(probe, &caps, audio, opts.prefer_ts)
        })
    });
}

/// The segment plan of the 2-hour film: copied video from its keyframe index (remux,
/// transcode_audio), and the fixed plan of a transcode.
fn plans(c: &mut Criterion, probe: &Probe) {
    let keyframes = probe.keyframes.clone();
    c.bench_function("plan_copy_2h", |b| {
        b.iter(|| plan_copy(black_box(&keyframes), black_box(FILM_SECONDS), 6.0).unwrap())
    });
    c.bench_function("plan_transcode_2h", |b| {
        b.iter(|| {
            plan_transcode(black_box(FILM_SECONDS), TRANSCODE_TARGET, &[1.0, 1.0, 2.0]).unwrap()
        })
    });
}

/// The rendition set (the playlist route builds it on every request, with the plan), and the
/// playlists: the master of the 4-rung ladder, and a 1,800-segment variant (2 h in 4 s
/// segments), both with the session token on every URI as the route writes them.
fn ladder_and_playlists(c: &mut Criterion, probe: &Probe, tokens: &SessionTokens, sid: &str) {
    let generic = profiles::by_name("generic")
        .expect("generic profile")
        .capabilities();
    let audio = select_audio(probe, None).unwrap();
    let decision = decide(probe, &generic, audio, false);
    assert_eq!(decision.method, Method::Transcode);
    let limits = ClientLimits::from(&generic);
    c.bench_function("ladder_build", |b| {
        b.iter(|| {
            ladder::build(
                black_box("m0123456789abcdef"),
                black_box(probe),
                black_box(&decision),
                &limits,
                &LadderConfig::default(),
            )
            .unwrap()
        })
    });
    let set = ladder::build(
        "m0123456789abcdef",
        probe,
        &decision,
        &limits,
        &LadderConfig::default(),
    )
    .unwrap();
    let token_query = format!("token={}", tokens.mint(sid, "alice", 4_102_444_800));
    c.bench_function("playlist_master", |b| {
        b.iter(|| playlist::master(black_box(&set), None, black_box(&token_query)))
    });
    let plan = plan_transcode(FILM_SECONDS, TRANSCODE_TARGET, &[]).unwrap();
    assert_eq!(plan.len(), 1800);
    c.bench_function("playlist_variant_1800", |b| {
        b.iter(|| {
            playlist::variant(
                black_box(&plan),
                SegmentFormat::Fmp4,
                playlist::SegmentUris::relative(black_box(&token_query)),
            )
        })
    });
}

/// Tokens: the bearer JWT (HS256, jsonwebtoken) of every API request, and the session token
/// of every HLS request. `verify` is async (JWKS keys may need a fetch): it is driven by a
/// current-thread runtime's block_on, which adds well under a microsecond.
fn token_checks(c: &mut Criterion, tokens: &SessionTokens, sid: &str) {
    let verifier = TokenVerifier::new(&JwtConfig {
        secret: Some(SECRET.into()),
        ..Default::default()
    })
    .unwrap();
    let jwt = mint_hs256(SECRET, "alice", &["viewer"], Duration::from_secs(3600));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function("jwt_verify_hs256", |b| {
        b.iter(|| rt.block_on(verifier.verify(black_box(&jwt))).unwrap())
    });
    let now = chrono::Utc::now().timestamp();
    let session_token = tokens.mint(sid, "alice", now + 3600);
    c.bench_function("session_token_verify", |b| {
        b.iter(|| {
            tokens
                .verify(Some(black_box(&session_token)), sid, "alice", now)
                .unwrap()
        })
    });
    c.bench_function("session_token_mint", |b| {
        b.iter(|| tokens.mint(black_box(sid), "alice", now + 3600))
    });
}

criterion_group! {
    name = micro;
    // Short by default (a shared 2-core machine); the command line overrides these.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50);
    targets = benches
}
criterion_main!(micro);
