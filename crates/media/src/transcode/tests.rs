//! Unit tests of the box parsing and the audio grouping, and end-to-end tests that make tiny
//! media with ffmpeg, package every method as an HLS VOD tree and play it with ffmpeg as the
//! client.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;

use super::boxes::{self, box_header, fragment_info, fragments, track_info};
use super::*;
use stream_core::hls::ladder::{self, ClientLimits, LadderConfig, VideoRendition, AUDIO_ID};
use stream_core::hls::playlist;
use stream_core::model::{DolbyVision, HdrKind, VideoStream};
use stream_core::playback::decision::{Decision, Method};

// ---------- synthetic boxes ----------

fn mk_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(payload);
    v
}

fn mk_large_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(&((payload.len() + 16) as u64).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn full(version: u8, flags: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![version];
    v.extend_from_slice(&flags.to_be_bytes()[1..]);
    v.extend_from_slice(rest);
    v
}

fn be32(vals: &[u32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// ftyp + moov (mdhd timescale, trex defaults).
fn synthetic_init(timescale: u32) -> Vec<u8> {
    let mdhd = mk_box(b"mdhd", &full(0, 0, &be32(&[0, 0, timescale, 0, 0])));
    let mdia = mk_box(b"mdia", &mdhd);
    let trak = mk_box(b"trak", &mdia);
    let trex = mk_box(b"trex", &full(0, 0, &be32(&[1, 1, 1024, 0, 0x0200_0000])));
    let mvex = mk_box(b"mvex", &trex);
    let mut moov_payload = trak;
    moov_payload.extend(mvex);
    let mut out = mk_box(b"ftyp", b"iso6\0\0\0\0");
    out.extend(mk_box(b"moov", &moov_payload));
    out
}

/// moof (tfhd, tfdt v1, trun v1 with sizes, a first-sample flag and cts) + mdat.
fn synthetic_fragment(tfdt: u64, samples: u32, first_flags: u32, cts0: i32) -> Vec<u8> {
    let tfhd = mk_box(b"tfhd", &full(0, 0x02_0000, &be32(&[1])));
    let mut t = vec![];
    t.extend_from_slice(&tfdt.to_be_bytes());
    let tfdt = mk_box(b"tfdt", &full(1, 0, &t));
    // data offset, first sample flags; per sample: size, cts.
    let mut r = be32(&[samples, 0, first_flags]);
    for i in 0..samples {
        r.extend(be32(&[10]));
        r.extend_from_slice(&(if i == 0 { cts0 } else { 0 }).to_be_bytes());
    }
    let trun = mk_box(b"trun", &full(1, 0x1 | 0x4 | 0x200 | 0x800, &r));
    let mut traf = tfhd;
    traf.extend(tfdt);
    traf.extend(trun);
    let mut moof = mk_box(b"moof", &mk_box(b"mfhd", &full(0, 0, &be32(&[1]))));
    moof.extend(mk_box(b"traf", &traf));
    // Fix the moof size (built from two parts).
    let moof = {
        let payload = moof[8..].to_vec();
        mk_box(b"moof", &payload)
    };
    let mut out = moof;
    out.extend(mk_box(b"mdat", &vec![0xAB; 10 * samples as usize]));
    out
}

#[test]
fn box_iterator_handles_large_sizes_and_truncation() {
    let mut data = mk_box(b"ftyp", b"isom");
    data.extend(mk_large_box(b"mdat", &[1, 2, 3]));
    data.extend(mk_box(b"free", b""));
    let kinds: Vec<String> = boxes(&data).map(|b| b.unwrap().kind_str()).collect();
    assert_eq!(kinds, ["ftyp", "mdat", "free"]);
    let mdat = boxes(&data).nth(1).unwrap().unwrap();
    assert_eq!((mdat.header_len, mdat.payload()), (16, &[1u8, 2, 3][..]));

    // Truncated: the last box is cut short, then a header is cut short.
    let cut = &data[..data.len() - 3];
    let items: Vec<_> = boxes(&data[..data.len() - 8 - 1]).collect();
    assert!(items.last().unwrap().is_err(), "{items:?}");
    let items: Vec<_> = boxes(cut).collect();
    assert!(matches!(items.last(), Some(Err(EncodeError::Output(_)))));
    // A header whose size is below the header length.
    let bad = [0u8, 0, 0, 4, b'a', b'b', b'c', b'd'];
    assert!(boxes(&bad).next().unwrap().is_err());
    // Streaming headers: incomplete until the bytes are there; size 0 only at the end.
    assert_eq!(box_header(&data[..5], false).unwrap(), None);
    assert_eq!(box_header(&data[12..20], false).unwrap(), None); // largesize not complete
    assert_eq!(
        box_header(&data[12..], false).unwrap(),
        Some((*b"mdat", 16, 19))
    );
    let zero = [0u8, 0, 0, 0, b'm', b'd', b'a', b't', 9, 9];
    assert_eq!(box_header(&zero, false).unwrap(), None);
    assert_eq!(box_header(&zero, true).unwrap(), Some((*b"mdat", 8, 10)));
    assert_eq!(boxes(&zero).next().unwrap().unwrap().payload(), &[9, 9]);
}

#[test]
fn split_keeps_init_and_media_apart() {
    let mut data = synthetic_init(48_000);
    data.extend(mk_box(b"styp", b"msdh"));
    data.extend(synthetic_fragment(0, 2, 0x0200_0000, 0));
    data.extend(synthetic_fragment(2048, 2, 0x0200_0000, 0));
    data.extend(mk_box(b"mfra", b"xxxx"));
    let (init, media) = split_fmp4(&data).unwrap();
    assert_eq!(init, Bytes::from(synthetic_init(48_000)));
    let kinds: Vec<String> = boxes(&media).map(|b| b.unwrap().kind_str()).collect();
    assert_eq!(kinds, ["styp", "moof", "mdat", "moof", "mdat"]);
    assert!(split_fmp4(&data[..data.len() - 2]).is_err());
    let (i, m) = split_fmp4(&[]).unwrap();
    assert!(i.is_empty() && m.is_empty());
}

#[test]
fn fragments_are_parsed() {
    let init = synthetic_init(90_000);
    let track = track_info(&init).unwrap();
    assert_eq!(
        track,
        boxes::TrackInfo {
            timescale: 90_000,
            default_duration: 1024,
            default_flags: 0x0200_0000
        }
    );
    let mut media = synthetic_fragment(180_000, 3, 0x0200_0000, -3000);
    media.extend(synthetic_fragment(183_072, 2, 0x0101_0000, 0));
    let frags = fragments(&media, &track).unwrap();
    assert_eq!(frags.len(), 2);
    // Samples of 1024 (trex default); the first shown 3000 early: ends at 180000 + 3072.
    assert_eq!(
        frags[0].info,
        boxes::FragmentInfo {
            base_decode_time: 180_000,
            first_cts: -3000,
            duration: 3072,
            samples: 3,
            first_is_sync: true,
            end_pts: 183_072
        }
    );
    assert_eq!(frags[0].info.first_pts(), 177_000);
    assert!(!frags[1].info.first_is_sync);
    assert_eq!(frags[0].bytes.len() + frags[1].bytes.len(), media.len());
    let moof = boxes(&media).next().unwrap().unwrap();
    assert!(fragment_info(&moof, &track).is_ok());
    let mdat = boxes(&media).nth(1).unwrap().unwrap();
    assert!(fragment_info(&mdat, &track).is_err());
}

fn plan(starts: &[f64], total: f64) -> SegmentPlan {
    let segments = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| Segment {
            index: i as u32,
            start: s,
            duration: starts.get(i + 1).copied().unwrap_or(total) - s,
        })
        .collect();
    SegmentPlan {
        target_duration: 2.0,
        segments,
        total,
    }
}

#[test]
fn audio_fragments_are_grouped_by_plan_boundaries() {
    // 48 kHz, fragments of 4800 samples (0.1 s), boundaries at 0, 1.0, 2.03, 3.
    let p = plan(&[0.0, 1.0, 2.03, 3.0], 3.5);
    let mut g = AudioGrouper::new(&p, 0, 0.0);
    let mut stream = synthetic_init(48_000);
    for k in 0..35u64 {
        stream.extend(synthetic_fragment(k * 4800, 1, 0x0200_0000, 0));
    }
    // Fed in odd-sized pieces, as a pipe delivers them.
    let mut buf = BytesMut::new();
    let mut got = vec![];
    for piece in stream.chunks(37) {
        buf.extend_from_slice(piece);
        got.extend(g.push(&mut buf).unwrap());
    }
    assert!(buf.is_empty());
    got.extend(g.finish().unwrap());
    let counts: Vec<(u32, usize)> = got
        .iter()
        .map(|(i, b)| {
            (
                *i,
                fragments(b, &track_info(&synthetic_init(48_000)).unwrap())
                    .unwrap()
                    .len(),
            )
        })
        .collect();
    // 1.0 -> fragment 10 starts segment 1; 2.03: fragment 20 (2.0) is within half a fragment,
    // so it starts segment 2; 3.0: fragment 30.
    assert_eq!(counts, [(0, 10), (1, 10), (2, 10), (3, 5)]);

    // A run from segment 2 with a shift (priming) of 0.02 s.
    let mut g = AudioGrouper::new(&p, 2, 0.02);
    let mut stream = synthetic_init(48_000);
    for k in 0..15u64 {
        stream.extend(synthetic_fragment(
            ((2.03 + 0.02) * 48_000.0) as u64 + k * 4800,
            1,
            0x0200_0000,
            0,
        ));
    }
    let mut buf = BytesMut::from(&stream[..]);
    let mut got = g.push(&mut buf).unwrap();
    got.extend(g.finish().unwrap());
    assert_eq!(got.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 3]);

    // Audio that starts late (1.5 s) and has a gap (2.0 to 3.2): every segment from the first
    // gets something, in order.
    let mut g = AudioGrouper::new(&p, 0, 0.0);
    let mut stream = synthetic_init(48_000);
    for t in [1.5, 1.6, 1.7, 1.8, 1.9, 3.2, 3.3] {
        stream.extend(synthetic_fragment((t * 48_000.0) as u64, 1, 0x0200_0000, 0));
    }
    let mut buf = BytesMut::from(&stream[..]);
    let mut got = g.push(&mut buf).unwrap();
    got.extend(g.finish().unwrap());
    let track = track_info(&synthetic_init(48_000)).unwrap();
    let counts: Vec<(u32, usize)> = got
        .iter()
        .map(|(i, b)| (*i, fragments(b, &track).unwrap().len()))
        .collect();
    assert_eq!(counts, [(0, 1), (1, 4), (2, 1), (3, 1)]);
}

#[test]
fn argument_helpers() {
    assert_eq!(args::secs(2.021), "2.021");
    assert_eq!(args::secs(0.0), "0");
    assert_eq!(args::secs(4.0), "4");
    assert_eq!(args::secs(1.0 / 3.0), "0.333333");
    assert_eq!(args::rate(24.0), "24");
    assert_eq!(args::rate(24000.0 / 1001.0), "24000/1001");
    assert_eq!(args::rate(60000.0 / 1001.0), "60000/1001");
    assert_eq!(args::rate(29.97), "30000/1001");
    assert_eq!(args::rate(12.5), "12.500000");
}

// ---------- the workers' argument lists, pinned ----------
//
// The exact lists the workers run for the fixture film: copied and transcoded video segments, the
// ladder run of a segment, the audio pass encoded and copied. They come from the builders the
// workers run (`video_segment_command`, `video_ladder_command`, `audio_run_command`), which the
// benches call instead of rebuilding them: a change here changes what every worker runs and
// what the benches measure.

/// A pinned argument list, written as lines of arguments separated by spaces (no argument of
/// these lists has one).
fn pinned(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| l.split(' '))
        .map(String::from)
        .collect()
}

const GLOBAL: &str = "-hide_banner -nostdin -nostats -loglevel -level+error -y";
const X264: &str = "-c:v libx264 -preset veryfast -profile:v high";
const ONE_KEYFRAME: &str = "-force_key_frames 0 -g 100000 -keyint_min 100000 -sc_threshold 0 \
     -x264-params scenecut=0:open-gop=0";
const BASE: &str = "-map_metadata -1 -map_chapters -1 -fflags +bitexact -output_ts_offset";
const VIDEO_MUXER: &str =
    "-avoid_negative_ts disabled -video_track_timescale 90000 -use_editlist 0 \
     -movflags +frag_keyframe+empty_moov+default_base_moof+frag_discont -f mp4";
const AUDIO_MUXER: &str = "-avoid_negative_ts disabled -frag_duration 100000 -use_editlist 0";

/// The fixture film (`stream_core::fixtures`: 60 s of 720p H.264 and AAC stereo in Matroska,
/// a keyframe every 2 s) with its rendition set and plan for `method`, as the server builds them.
fn film(method: Method) -> (Probe, RenditionSet, SegmentPlan) {
    let (probe, remux, _) = stream_core::fixtures::remux_fixture();
    let decision = Decision { method, ..remux };
    let limits = ClientLimits::default();
    let set = ladder::build("m", &probe, &decision, &limits, &LadderConfig::default()).unwrap();
    let plan = set.plan.plan(&probe).unwrap();
    (probe, set, plan)
}

const FILM: &str = "/media/film.mkv";

#[tokio::test]
async fn video_segment_commands_are_pinned() {
    // Copied video: a hair before the keyframe at 30 s, read 0.1 s past the segment's end.
    let (probe, set, plan) = film(Method::TranscodeAudio);
    let copy = video_segment_command(&input(FILM, &probe, &set, "copy", &plan), 5).await;
    let expected = [
        GLOBAL,
        "-ss 29.998 -i /media/film.mkv -xerror -map 0:0 -an -sn -dn -t 6.102",
        "-c:v copy -copypriorss 0",
        BASE,
        "39.998",
        VIDEO_MUXER,
        "pipe:1",
    ];
    assert_eq!(copy.unwrap(), pinned(&expected));

    // Transcoded: exactly the segment, one keyframe at its start.
    let (probe, set, plan) = film(Method::Transcode);
    let v720 = video_segment_command(&input(FILM, &probe, &set, "v720", &plan), 9).await;
    let expected = [
        GLOBAL,
        "-ss 28 -i /media/film.mkv -xerror -map 0:0 -an -sn -dn -t 4",
        "-vf scale=1280:720,setsar=1,format=yuv420p",
        X264,
        "-level 3.1 -pix_fmt yuv420p -b:v 2800000 -maxrate 2996000 -bufsize 4200000 -r 24",
        ONE_KEYFRAME,
        BASE,
        "38",
        VIDEO_MUXER,
        "pipe:1",
    ];
    assert_eq!(v720.unwrap(), pinned(&expected));
}

/// Every rung of segment 9 from one decode, each with exactly its single run's encoder.
#[tokio::test]
async fn ladder_command_is_pinned() {
    let (probe, set, plan) = film(Method::Transcode);
    let ids: Vec<&str> = set.video.iter().map(|v| v.id.as_str()).collect();
    let outputs: Vec<String> = ids.iter().map(|id| format!("/tmp/l/{id}.mp4")).collect();
    let inp = input(FILM, &probe, &set, ids[0], &plan);
    let ladder = video_ladder_command(&inp, 9, &ids, &outputs).await;
    let mut expected = vec![
        GLOBAL.to_string(),
        "-ss 28 -i /media/film.mkv -xerror -filter_complex".into(),
        "[0:0]split=3[s0][s1][s2];[s0]scale=1280:720,setsar=1,format=yuv420p[v0];\
         [s1]scale=854:480,setsar=1,format=yuv420p[v1];[s2]scale=640:360,setsar=1,format=yuv420p[v2]"
            .into(),
    ];
    let rungs = [
        "3.1 -pix_fmt yuv420p -b:v 2800000 -maxrate 2996000 -bufsize 4200000",
        "3 -pix_fmt yuv420p -b:v 1400000 -maxrate 1498000 -bufsize 2100000",
        "3 -pix_fmt yuv420p -b:v 800000 -maxrate 856000 -bufsize 1200000",
    ];
    for (k, (level, id)) in rungs.iter().zip(["v720", "v480", "v360"]).enumerate() {
        expected.extend([
            format!("-map [v{k}] -an -sn -dn -t 4 {X264} -level {level} -r 24"),
            format!("{ONE_KEYFRAME} {BASE} 38 {VIDEO_MUXER} /tmp/l/{id}.mp4"),
        ]);
    }
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(ladder.unwrap(), pinned(&expected));
}

/// The fixture film's 720p rung with its source made HDR: `range` with `transfer`, and a
/// Dolby Vision record when `dv` is given.
fn hdr_film(
    transfer: &str,
    hdr: HdrKind,
    dv: Option<DolbyVision>,
) -> (VideoStream, VideoRendition) {
    let (probe, set, _) = film(Method::Transcode);
    let mut src = probe.video.unwrap();
    (src.color_transfer, src.hdr, src.dolby_vision) = (Some(transfer.into()), hdr, dv);
    (src, set.video[0].clone())
}

#[test]
fn hdr_is_tone_mapped_from_its_own_transfer() {
    let zscale = args::Features { zscale: true };
    let dv = |profile, compatibility| DolbyVision {
        profile,
        level: 6,
        compatibility,
    };
    for (transfer, hdr, dv, tin) in [
        ("arib-std-b67", HdrKind::Hlg, None, Some("arib-std-b67")),
        ("smpte2084", HdrKind::Hdr10, None, Some("smpte2084")),
        // Phones' Dolby Vision: an HLG base layer.
        (
            "arib-std-b67",
            HdrKind::DolbyVision,
            Some(dv(8, 4)),
            Some("arib-std-b67"),
        ),
        (
            "smpte2084",
            HdrKind::DolbyVision,
            Some(dv(8, 1)),
            Some("smpte2084"),
        ),
        (
            "unknown",
            HdrKind::DolbyVision,
            Some(dv(5, 0)),
            Some("smpte2084"),
        ),
        // Profile 8.2 is SDR underneath: scaled only.
        ("bt709", HdrKind::DolbyVision, Some(dv(8, 2)), None),
    ] {
        let (src, v) = hdr_film(transfer, hdr, dv);
        let f = args::video_filter(Some(&src), &v, zscale);
        match tin {
            Some(tin) => {
                assert!(
                    f.starts_with(&format!("zscale=w=1280:h=720:tin={tin}:")),
                    "{f}"
                );
                assert!(
                    f.contains("npl=100") && f.contains("zscale=t=bt709:m=bt709"),
                    "{f}"
                );
            }
            None => assert!(f.starts_with("scale=1280:720,"), "{f}"),
        }
        assert!(f.ends_with(",setsar=1,format=yuv420p"), "{f}");
    }
}

/// The tone-mapping chain itself, run on flat grey frames: HLG's reference white (75 % signal)
/// and PQ's (203 cd/m², 58 %) come out at the same SDR level, and HLG's peak at white: the
/// chain is right for HLG as well as for PQ (an HLG picture read as PQ would be far darker).
#[test]
fn hlg_and_pq_reference_white_tone_map_alike() {
    let zscale = args::Features { zscale: true };
    let sdr_level = |transfer: &str, hdr: HdrKind, code: u32| -> u8 {
        let (src, mut v) = hdr_film(transfer, hdr, None);
        (v.width, v.height) = (16, 16);
        let chain = args::video_filter(Some(&src), &v, zscale);
        let graph = format!(
            "format=yuv420p10le,lutyuv=y={code}:u=512:v=512,setparams=color_trc={transfer}:\
             color_primaries=bt2020:colorspace=bt2020nc:range=tv,{chain},format=gray"
        );
        let out = Command::new(FFMPEG)
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "color=black:s=16x16:d=0.04",
            ])
            .args(["-vf", &graph, "-frames:v", "1", "-f", "rawvideo", "-"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout[0]
    };
    let hlg_white = sdr_level("arib-std-b67", HdrKind::Hlg, 64 + 876 * 3 / 4);
    let pq_white = sdr_level("smpte2084", HdrKind::Hdr10, 64 + 876 * 58 / 100);
    assert!(
        hlg_white.abs_diff(pq_white) <= 6,
        "HLG {hlg_white} vs PQ {pq_white}"
    );
    assert!(
        (170..=220).contains(&hlg_white),
        "reference white at {hlg_white}"
    );
    assert!(sdr_level("arib-std-b67", HdrKind::Hlg, 940) >= 250);
}

#[tokio::test]
async fn audio_run_commands_are_pinned() {
    // From segment 9: AAC, padded with silence to the plan's end.
    let (probe, set, plan) = film(Method::Transcode);
    let expected = [
        GLOBAL,
        "-ss 28 -i /media/film.mkv -xerror -map 0:1 -vn -sn -dn -t 32",
        "-af aresample=async=1:first_pts=0,apad=whole_dur=32",
        "-c:a aac -b:a 128000 -ac 2 -ar 48000",
        BASE,
        "38",
        AUDIO_MUXER,
        "-movflags +empty_moov+default_base_moof+frag_discont -f mp4 pipe:1",
    ];
    let audio = audio_run_command(&input(FILM, &probe, &set, AUDIO_ID, &plan), 9);
    assert_eq!(audio.unwrap(), pinned(&expected));

    // Copied AAC from segment 5: to the source's end, ADTS turned into MP4's decoder config, the
    // moov written with the first packet.
    let (probe, set, plan) = film(Method::Remux);
    let expected = [
        GLOBAL,
        "-ss 30 -i /media/film.mkv -xerror -map 0:1 -vn -sn -dn -c:a copy -copypriorss 0",
        "-bsf:a aac_adtstoasc",
        BASE,
        "40",
        AUDIO_MUXER,
        "-movflags +empty_moov+default_base_moof+frag_discont+delay_moov -f mp4 pipe:1",
    ];
    let audio = audio_run_command(&input(FILM, &probe, &set, AUDIO_ID, &plan), 5);
    assert_eq!(audio.unwrap(), pinned(&expected));
}

// ---------- end to end, with real ffmpeg ----------

const FFMPEG: &str = "ffmpeg";
const FFPROBE: &str = "ffprobe";

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "transcode-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sh(program: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ffmpeg_ok(args: &[&str]) {
    let mut all = vec!["-v", "error", "-y", "-nostdin"];
    all.extend_from_slice(args);
    let (ok, _, err) = sh(FFMPEG, &all);
    assert!(ok, "ffmpeg {args:?}: {err}");
}

/// 6 s of H.264 (B-frames, a keyframe every 2 s) + AAC stereo in Matroska.
fn make_h264(dir: &Path) -> PathBuf {
    let p = dir.join("h264.mkv");
    ffmpeg_ok(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=24",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "6",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "48",
        "-keyint_min",
        "48",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-b:a",
        "96k",
        p.to_str().unwrap(),
    ]);
    p
}

/// 4 s of HEVC Main 10 tagged HDR10 (PQ, BT.2020) + AC-3 5.1 in Matroska.
fn make_hevc(dir: &Path) -> PathBuf {
    let p = dir.join("hevc.mkv");
    ffmpeg_ok(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=24",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "4",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
        "-x265-params",
        "keyint=48:min-keyint=48:log-level=error",
        "-c:a",
        "ac3",
        "-ac",
        "6",
        "-b:a",
        "384k",
        p.to_str().unwrap(),
    ]);
    p
}

async fn probe_of(path: &Path) -> Probe {
    crate::probe::Prober::new(FFPROBE)
        .probe(
            path.to_str().unwrap(),
            path.file_name().unwrap().to_str().unwrap(),
        )
        .await
        .unwrap()
}

fn set_of(probe: &Probe, method: Method) -> RenditionSet {
    set_in(probe, method, SegmentFormat::Fmp4)
}

fn set_in(probe: &Probe, method: Method, format: SegmentFormat) -> RenditionSet {
    let decision = Decision {
        method,
        reasons: vec![],
        audio_track: probe.audio.first().map(|a| a.index),
        segment_format: Some(format),
        subtitle_burn: None,
    };
    // Copied video cut at every source keyframe (2 s), so there are several segments.
    let config = LadderConfig {
        copy_target: 2.0,
        ..LadderConfig::default()
    };
    ladder::build("m", probe, &decision, &ClientLimits::default(), &config).unwrap()
}

fn input<'a>(
    source: &'a str,
    probe: &'a Probe,
    set: &'a RenditionSet,
    id: &'a str,
    plan: &'a SegmentPlan,
) -> EncodeInput<'a> {
    EncodeInput {
        ffmpeg: FFMPEG,
        source,
        probe,
        set,
        rendition_id: id,
        plan,
        nice: 0,
    }
}

/// Per codec type: (first pts, last pts + duration) of the packets ffprobe reads from `path`.
fn spans(path: &Path) -> HashMap<String, (f64, f64)> {
    let (ok, out, err) = sh(
        FFPROBE,
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=index,codec_type:packet=stream_index,pts_time,duration_time",
            "-of",
            "json",
            path.to_str().unwrap(),
        ],
    );
    assert!(ok, "ffprobe {path:?}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: HashMap<u64, String> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["index"].as_u64().unwrap(),
                s["codec_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut spans: HashMap<String, (f64, f64)> = HashMap::new();
    for p in v["packets"].as_array().unwrap() {
        let kind = kinds[&p["stream_index"].as_u64().unwrap()].clone();
        let pts: f64 = p["pts_time"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN);
        let dur: f64 = p["duration_time"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        if pts.is_nan() {
            continue;
        }
        let e = spans.entry(kind).or_insert((f64::MAX, f64::MIN));
        e.0 = e.0.min(pts);
        e.1 = e.1.max(pts + dur);
    }
    spans
}

/// (pts, is keyframe) of the video packets of a file, in decode order.
fn video_packets(path: &Path) -> Vec<(f64, bool)> {
    let (ok, out, err) = sh(
        FFPROBE,
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            path.to_str().unwrap(),
        ],
    );
    assert!(ok, "ffprobe {path:?}: {err}");
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (pts, flags) = l.split_once(',').unwrap();
            (pts.parse().unwrap_or(f64::NAN), flags.starts_with('K'))
        })
        .collect()
}

/// The presentation time (seconds, on the source's timeline) of the first sample of fMP4
/// media: `tfdt` + its composition offset, less the timeline base.
fn media_start(init: &[u8], media: &[u8]) -> f64 {
    let track = track_info(init).unwrap();
    let frags = fragments(media, &track).unwrap();
    frags[0].info.first_pts() as f64 / f64::from(track.timescale) - args::TIMELINE_OFFSET
}

/// Decodes a file (or playlist) with ffmpeg, exactly as a client does
/// (`ffmpeg -v error -i <file> -map 0 -f null -`): it must succeed without a word on stderr.
/// (Copied Matroska video is put on its frame grid: its millisecond timestamps would
/// otherwise collide when the null muxer re-times frames to 1/fps, see `frame_grid`.)
fn decodes_cleanly(path: &Path) {
    let (ok, _, err) = sh(
        FFMPEG,
        &[
            "-v",
            "error",
            "-nostdin",
            "-i",
            path.to_str().unwrap(),
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        ok && err.trim().is_empty(),
        "decoding {path:?}: ok={ok} stderr={err}"
    );
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Writes the whole HLS VOD package of `set` into `dir` and checks every video segment.
// Long because it writes a whole HLS package (master, playlists, init, every segment) and
// checks each video segment as it goes: one fixture for the decode tests.
async fn package(dir: &Path, source: &str, probe: &Probe, set: &RenditionSet) -> PathBuf {
    let plan = set.plan.plan(probe).unwrap();
    let fmt = set.format;
    let master = dir.join("master.m3u8");
    write(&master, playlist::master(set, None, "").as_bytes());
    for v in &set.video {
        let inp = input(source, probe, set, &v.id, &plan);
        let rdir = dir.join(&v.id);
        write(
            &rdir.join(playlist::PLAYLIST_NAME),
            playlist::variant(&plan, fmt, playlist::SegmentUris::relative("")).as_bytes(),
        );
        let init = if fmt == SegmentFormat::Fmp4 {
            let init = encode_init(&inp).await.unwrap();
            write(&rdir.join(stream_core::segment::INIT_NAME), &init);
            init
        } else {
            assert!(matches!(encode_init(&inp).await, Err(EncodeError::Tool(_))));
            Bytes::new()
        };
        for s in &plan.segments {
            let media = encode_video_segment(&inp, s.index)
                .await
                .unwrap_or_else(|e| panic!("{} segment {}: {e}", v.id, s.index));
            write(
                &rdir.join(stream_core::segment::segment_file_name(s.index, fmt)),
                &media,
            );
            // The segment alone (after the init): starts with a keyframe at the segment's start.
            let alone = dir.join(format!(
                "check_{}_{}.{}",
                v.id,
                s.index,
                if fmt == SegmentFormat::Ts {
                    "ts"
                } else {
                    "mp4"
                }
            ));
            write(&alone, &[&init[..], &media[..]].concat());
            let pk = video_packets(&alone);
            assert!(
                pk.first().is_some_and(|p| p.1),
                "{} segment {} does not start with a keyframe: {:?}",
                v.id,
                s.index,
                pk.first()
            );
            let first_pts = if fmt == SegmentFormat::Fmp4 {
                media_start(&init, &media)
            } else {
                pk.iter().map(|p| p.0).fold(f64::MAX, f64::min) - args::TIMELINE_OFFSET
            };
            assert!(
                (first_pts - s.start).abs() < 0.03,
                "{} segment {} starts at {first_pts}, planned {}",
                v.id,
                s.index,
                s.start
            );
            if !v.copy {
                assert_eq!(
                    pk.iter().filter(|p| p.1).count(),
                    1,
                    "{} segment {}: one keyframe",
                    v.id,
                    s.index
                );
                let frames = pk.len() as f64;
                let expected = s.duration * v.frame_rate.unwrap();
                assert!(
                    (frames - expected).abs() <= 1.0,
                    "{} segment {}: {frames} frames, expected {expected}",
                    v.id,
                    s.index
                );
            }
            std::fs::remove_file(&alone).unwrap();
        }
    }
    if let Some(a) = &set.audio {
        let inp = input(source, probe, set, &a.id, &plan);
        let rdir = dir.join(&a.id);
        write(
            &rdir.join(playlist::PLAYLIST_NAME),
            playlist::variant(&plan, fmt, playlist::SegmentUris::relative("")).as_bytes(),
        );
        if fmt == SegmentFormat::Fmp4 {
            write(
                &rdir.join(stream_core::segment::INIT_NAME),
                &encode_init(&inp).await.unwrap(),
            );
        }
        let mut seen = vec![];
        let n = encode_audio_run(&inp, 0, |i, bytes| {
            seen.push(i);
            write(
                &rdir.join(stream_core::segment::segment_file_name(i, fmt)),
                &bytes,
            );
            async { true }
        })
        .await
        .unwrap();
        assert_eq!(n as usize, plan.len());
        assert_eq!(seen, (0..plan.len() as u32).collect::<Vec<_>>());
    }
    master
}

/// Packages `source` with `method` and plays it with ffmpeg: clean decode, durations as the
/// source's.
async fn play_method(source: &Path, method: Method) -> (Probe, RenditionSet) {
    play_method_in(source, method, SegmentFormat::Fmp4).await
}

async fn play_method_in(
    source: &Path,
    method: Method,
    format: SegmentFormat,
) -> (Probe, RenditionSet) {
    let probe = probe_of(source).await;
    let set = set_in(&probe, method, format);
    let dir = TempDir::new(method.as_str());
    let master = package(dir.path(), source.to_str().unwrap(), &probe, &set).await;
    decodes_cleanly(&master);
    let src = spans(source);
    let played = spans(&master);
    for kind in ["video", "audio"] {
        let (s0, s1) = src[kind];
        let (p0, p1) = played[kind];
        assert!(
            ((p1 - p0) - (s1 - s0)).abs() < 0.1,
            "{method:?} {kind}: played {p0}..{p1}, source {s0}..{s1}"
        );
    }
    // In sync: the audio starts where it starts in the source, relative to the video (AAC's
    // priming packet sits one frame, 21 ms, before the first sample).
    let skew = (played["audio"].0 - played["video"].0) - (src["audio"].0 - src["video"].0);
    assert!(
        skew.abs() < 0.03,
        "{method:?}: audio/video start skew {skew}"
    );
    let dv = played["video"].1 - played["video"].0;
    let da = played["audio"].1 - played["audio"].0;
    assert!(
        (dv - da).abs() < 0.1,
        "{method:?}: video {dv} s, audio {da} s"
    );
    (probe, set)
}

/// The init segment of the worker's ffmpeg run of segment `index` (its own ftyp + moov): for
/// audio, the continuous pass from that segment.
async fn init_of_segment_run(inp: &EncodeInput<'_>, index: u32) -> Bytes {
    let args = match inp.set.rendition(inp.rendition_id).unwrap() {
        Rendition::Video(_) => video_segment_command(inp, index).await.unwrap(),
        Rendition::Audio(_) => audio_run_command(inp, index).unwrap(),
    };
    let out = run_checked(inp, &args).await.unwrap();
    split_fmp4(&out).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_aac_every_method_plays() {
    let dir = TempDir::new("h264");
    let source = make_h264(dir.path());
    for method in [Method::Remux, Method::TranscodeAudio, Method::Transcode] {
        let (probe, set) = play_method(&source, method).await;
        // The init made alone is byte-identical to the moov of a later segment's run, and
        // stable.
        let plan = set.plan.plan(&probe).unwrap();
        let ids: Vec<&str> = set
            .video
            .iter()
            .map(|v| v.id.as_str())
            .chain(set.audio.iter().map(|a| a.id.as_str()))
            .collect();
        for id in ids {
            let inp = input(source.to_str().unwrap(), &probe, &set, id, &plan);
            let init = encode_init(&inp).await.unwrap();
            assert_eq!(
                init,
                encode_init(&inp).await.unwrap(),
                "{method:?} {id}: init is deterministic"
            );
            let later = plan.len() as u32 - 1;
            assert_eq!(
                init,
                init_of_segment_run(&inp, later).await,
                "{method:?} {id}: init matches segment {later}'s moov"
            );
        }
    }
}

#[tokio::test]
async fn a_niced_run_and_its_threads_yield_the_cores() {
    let args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=24",
        "-t",
        "10",
        "-c:v",
        "libx264",
        "-threads",
        "2",
        "-f",
        "null",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (running, _stdout) = run::Running::spawn_niced(FFMPEG, &args, 10).unwrap();
    let pid = running.pid();
    // ffmpeg starts its threads once it has opened its input and encoder: on a loaded machine
    // that takes a while, so wait (bounded) for them.
    let tasks_of = || -> Vec<_> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.flatten().collect())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tasks_of().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value: every thread has it.
    let tasks = tasks_of();
    assert!(tasks.len() > 1, "ffmpeg runs threads");
    for t in tasks {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or_default();
        let nice: i32 = after
            .split_whitespace()
            .nth(16)
            .and_then(|v| v.parse().ok())
            .unwrap_or(-99);
        assert_eq!(nice, 10, "thread {:?}", t.file_name());
    }
    running.kill();
    let _ = running.finish().await;
}

/// 854x480 H.264, 5 s: a transcode ladder of two rungs (480p, 360p).
fn make_480p(dir: &Path) -> PathBuf {
    let p = dir.join("h264_480p.mkv");
    ffmpeg_ok(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=854x480:rate=24",
        "-t",
        "5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "48",
        "-pix_fmt",
        "yuv420p",
        p.to_str().unwrap(),
    ]);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_makes_a_segment_of_every_rung() {
    let dir = TempDir::new("rungs");
    let source = make_480p(dir.path());
    let probe = probe_of(&source).await;
    for format in [SegmentFormat::Fmp4, SegmentFormat::Ts] {
        let set = set_in(&probe, Method::Transcode, format);
        assert!(
            set.video.len() >= 2,
            "a ladder: {:?}",
            set.video.iter().map(|v| &v.id).collect::<Vec<_>>()
        );
        let plan = set.plan.plan(&probe).unwrap();
        let ids: Vec<&str> = set.video.iter().map(|v| v.id.as_str()).collect();
        let inp = input(source.to_str().unwrap(), &probe, &set, ids[0], &plan);
        let all = encode_video_segments(&inp, 2, &ids).await.unwrap();
        assert_eq!(all.len(), ids.len());
        for (id, (run_init, bytes)) in ids.iter().zip(all) {
            let one = input(source.to_str().unwrap(), &probe, &set, id, &plan);
            let single = encode_video_segment(&one, 2).await.unwrap();
            if format == SegmentFormat::Fmp4 {
                // The same `moov` as the rendition's own init: the segment plays after it.
                let init = encode_init(&one).await.unwrap();
                assert_eq!(
                    run_init, init,
                    "{id}: the ladder run's init is the rendition's"
                );
                let p = dir.path().join(format!("{id}_seg2.mp4"));
                write(&p, &[&init[..], &bytes[..]].concat());
                decodes_cleanly(&p);
                let pk = video_packets(&p);
                assert!(pk[0].1, "{id}: starts with a keyframe");
                let single_p = dir.path().join(format!("{id}_single2.mp4"));
                write(&single_p, &[&init[..], &single[..]].concat());
                assert_eq!(
                    pk.len(),
                    video_packets(&single_p).len(),
                    "{id}: as many frames as its own run"
                );
                let start = media_start(&init, &bytes);
                assert!(
                    (start - plan.segments[2].start).abs() < 0.01,
                    "{id}: {start}"
                );
            } else {
                let p = dir.path().join(format!("{id}_seg2.ts"));
                write(&p, &bytes);
                decodes_cleanly(&p);
                assert!(video_packets(&p)[0].1);
            }
        }
    }
    // A rendition that is not a transcoded video is refused before any work.
    let set = set_of(&probe, Method::Transcode);
    let plan = set.plan.plan(&probe).unwrap();
    let inp = input(
        source.to_str().unwrap(),
        &probe,
        &set,
        &set.video[0].id,
        &plan,
    );
    assert!(matches!(
        encode_video_segments(&inp, 0, &["nope"]).await,
        Err(EncodeError::NoSuchRendition)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp4_and_ts_sources_play() {
    let dir = TempDir::new("containers");
    let mkv = make_h264(dir.path());
    // MP4 (edit list for the B-frame delay, AAC priming) and MPEG-TS (timestamps from 1.4 s,
    // ADTS AAC).
    for ext in ["mp4", "ts"] {
        let p = dir.path().join(format!("h264.{ext}"));
        ffmpeg_ok(&[
            "-i",
            mkv.to_str().unwrap(),
            "-map",
            "0",
            "-c",
            "copy",
            p.to_str().unwrap(),
        ]);
        for method in [Method::Remux, Method::Transcode] {
            play_method(&p, method).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_10bit_hdr_ac3_every_method_plays() {
    let dir = TempDir::new("hevc");
    let source = make_hevc(dir.path());
    for method in [Method::Remux, Method::TranscodeAudio, Method::Transcode] {
        let (probe, set) = play_method(&source, method).await;
        let plan = set.plan.plan(&probe).unwrap();
        let v = &set.video[0];
        let inp = input(source.to_str().unwrap(), &probe, &set, &v.id, &plan);
        let init = encode_init(&inp).await.unwrap();
        assert_eq!(
            init,
            init_of_segment_run(&inp, plan.len() as u32 - 1).await,
            "{method:?}: init matches"
        );
        // Copied AC-3 (delay_moov) and encoded AAC alike.
        let a = set.audio.as_ref().unwrap();
        let ainp = input(source.to_str().unwrap(), &probe, &set, &a.id, &plan);
        assert_eq!(
            encode_init(&ainp).await.unwrap(),
            init_of_segment_run(&ainp, 1).await,
            "{method:?}: audio init matches"
        );
        if method == Method::Transcode {
            // 8-bit SDR H.264 out of 10-bit PQ.
            let p = dir.path().join("t_seg0.mp4");
            write(
                &p,
                &[&init[..], &encode_video_segment(&inp, 0).await.unwrap()[..]].concat(),
            );
            let (_, out, _) = sh(
                FFPROBE,
                &[
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_name,pix_fmt,color_transfer",
                    "-of",
                    "csv=p=0",
                    p.to_str().unwrap(),
                ],
            );
            assert!(out.starts_with("h264,yuv420p"), "{out}");
            assert!(!out.contains("smpte2084"), "{out}");
        } else {
            let p = dir.path().join("c_init.mp4");
            write(&p, &init);
            let (_, out, _) = sh(
                FFPROBE,
                &[
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_tag_string",
                    "-of",
                    "csv=p=0",
                    p.to_str().unwrap(),
                ],
            );
            assert_eq!(out.trim(), "hvc1");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_aac_every_method_plays_as_ts() {
    let dir = TempDir::new("h264ts");
    let source = make_h264(dir.path());
    for method in [Method::Remux, Method::TranscodeAudio, Method::Transcode] {
        play_method_in(&source, method, SegmentFormat::Ts).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_alone_decodes() {
    let dir = TempDir::new("seek");
    let source = make_h264(dir.path());
    let probe = probe_of(&source).await;
    for method in [Method::Remux, Method::Transcode] {
        let set = set_of(&probe, method);
        let plan = set.plan.plan(&probe).unwrap();
        let v = &set.video[0];
        let inp = input(source.to_str().unwrap(), &probe, &set, &v.id, &plan);
        let seg2 = encode_video_segment(&inp, 2).await.unwrap();
        let init = encode_init(&inp).await.unwrap();
        let p = dir.path().join(format!("seg2_{}.mp4", method.as_str()));
        write(&p, &[&init[..], &seg2[..]].concat());
        decodes_cleanly(&p);
        let pk = video_packets(&p);
        assert!(pk[0].1);
        let start = media_start(&init, &seg2);
        assert!((start - plan.segments[2].start).abs() < 0.03, "{start}");
        // The audio run from segment 2 delivers 2.. only.
        let a = set.audio.as_ref().unwrap();
        let inp = input(source.to_str().unwrap(), &probe, &set, &a.id, &plan);
        let mut got = vec![];
        let n = encode_audio_run(&inp, 2, |i, b| {
            got.push((i, b.len()));
            async { true }
        })
        .await
        .unwrap();
        assert_eq!(n as usize, plan.len() - 2);
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            (2..plan.len() as u32).collect::<Vec<_>>()
        );
        // Stopping after the first segment.
        let n = encode_audio_run(&inp, 2, |_, _| async { false })
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // Wrong ids and indices.
    let set = set_of(&probe, Method::Transcode);
    let plan = set.plan.plan(&probe).unwrap();
    let inp = input(source.to_str().unwrap(), &probe, &set, "nope", &plan);
    assert!(matches!(
        encode_init(&inp).await,
        Err(EncodeError::NoSuchRendition)
    ));
    let inp = input(
        source.to_str().unwrap(),
        &probe,
        &set,
        &set.video[0].id,
        &plan,
    );
    assert!(matches!(
        encode_video_segment(&inp, 99).await,
        Err(EncodeError::NoSuchSegment(99))
    ));
    assert!(matches!(
        encode_audio_run(&inp, 0, |_, _| async { true }).await,
        Err(EncodeError::NoSuchRendition)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_sources_fail_with_source_errors() {
    let dir = TempDir::new("damaged");
    let good = make_h264(dir.path());
    let probe = probe_of(&good).await;
    let bytes = std::fs::read(&good).unwrap();
    // Garbage over 10 % of the middle; and the second half cut off.
    let garbled = dir.path().join("garbled.mkv");
    let mut g = bytes.clone();
    let (a, b) = (g.len() * 45 / 100, g.len() * 55 / 100);
    let mut x: u32 = 12345;
    for byte in &mut g[a..b] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *byte = (x >> 16) as u8;
    }
    write(&garbled, &g);
    let truncated = dir.path().join("truncated.mkv");
    write(&truncated, &bytes[..bytes.len() / 2]);

    for (path, what) in [(&garbled, "garbled"), (&truncated, "truncated")] {
        let src = path.to_str().unwrap();
        for method in [Method::Remux, Method::Transcode] {
            // The plan is the intact file's (the probe was made before the damage).
            let set = set_of(&probe, method);
            let plan = set.plan.plan(&probe).unwrap();
            let v = &set.video[0];
            let inp = input(src, &probe, &set, &v.id, &plan);
            let mut failed = vec![];
            for s in &plan.segments {
                let t = Instant::now();
                let r = encode_video_segment(&inp, s.index).await;
                assert!(t.elapsed() < FFMPEG_TIMEOUT);
                match r {
                    Ok(_) => {}
                    Err(EncodeError::Source(m)) => {
                        eprintln!("{what} {method:?} segment {}: {m}", s.index);
                        assert!(
                            !m.contains(src) && !m.contains(dir.path().to_str().unwrap()),
                            "{m}"
                        );
                        failed.push(s.index);
                    }
                    Err(e) => panic!("{what} {method:?} segment {}: {e:?}", s.index),
                }
            }
            // The first segment (before the damage) is fine, the damaged ones fail.
            assert!(!failed.contains(&0), "{what} {method:?}: {failed:?}");
            assert!(!failed.is_empty(), "{what} {method:?}: no segment failed");
            // The audio run delivers what precedes the damage, then fails.
            let a = set.audio.as_ref().unwrap();
            let inp = input(src, &probe, &set, &a.id, &plan);
            let mut got = 0;
            let r = encode_audio_run(&inp, 0, |_, _| {
                got += 1;
                async { true }
            })
            .await;
            eprintln!("{what} {method:?} audio: {r:?} after {got}");
            assert!(
                matches!(r, Err(EncodeError::Source(_))),
                "{what} {method:?} audio: {r:?} after {got} segments"
            );
            assert!(got < plan.len(), "{what} {method:?} audio");
        }
    }
}

/// A minimal HTTP/1.1 file server with Range support (one request per connection); records
/// the largest range start asked for.
async fn serve_file(path: PathBuf) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let data = std::sync::Arc::new(std::fs::read(&path).unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let data = data.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).to_string();
                let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                if !target.starts_with("/media.mkv") {
                    let _ = sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
                    return;
                }
                let size = data.len();
                let range = text.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("range: bytes=")
                        .map(str::to_string)
                });
                let (start, end, status) = match range {
                    Some(r) => {
                        let (a, b) = r.trim().split_once('-').unwrap_or(("0", ""));
                        let start: usize = a.parse().unwrap_or(0);
                        let end: usize =
                            b.parse().ok().map_or(size - 1, |e: usize| e.min(size - 1));
                        (start.min(size), end, "206 Partial Content")
                    }
                    None => (0, size - 1, "200 OK"),
                };
                counter.fetch_max(start as u64, Ordering::SeqCst);
                let body = if start < size {
                    &data[start..=end]
                } else {
                    &data[0..0]
                };
                let head = format!("HTTP/1.1 {status}\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{size}\r\nConnection: close\r\n\r\n", body.len());
                if sock.write_all(head.as_bytes()).await.is_ok() {
                    let _ = sock.write_all(body).await;
                }
            });
        }
    });
    (
        format!("http://{addr}/media.mkv?X-Amz-Signature=secret123"),
        sent,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_http_sources_by_range_and_hides_the_url() {
    let dir = TempDir::new("http");
    let source = make_h264(dir.path());
    let size = std::fs::metadata(&source).unwrap().len();
    let probe = probe_of(&source).await;
    let (url, sent) = serve_file(source.clone()).await;
    let set = set_of(&probe, Method::Remux);
    let plan = set.plan.plan(&probe).unwrap();
    let last = plan.len() as u32 - 1;
    let local = encode_video_segment(
        &input(source.to_str().unwrap(), &probe, &set, "copy", &plan),
        last,
    )
    .await
    .unwrap();
    let remote = encode_video_segment(&input(&url, &probe, &set, "copy", &plan), last)
        .await
        .unwrap();
    assert_eq!(local, remote);
    // ffmpeg seeked by Range (to the cues at the end, to the last cluster).
    let furthest = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        furthest > size / 2,
        "furthest range start {furthest} of {size} bytes"
    );
    // A missing object: a Tool error (worth a retry), without the URL or its signature.
    let missing = url.replace("/media.mkv", "/gone.mkv");
    match encode_video_segment(&input(&missing, &probe, &set, "copy", &plan), 0).await {
        Err(EncodeError::Tool(m)) => assert!(
            m.contains("404") && !m.contains("secret123") && !m.contains("127.0.0.1"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Every file of the shared test corpus (`scripts/gen-media.sh`, in `target/test-media` or
/// `$TRANSCODE_CORPUS`) with every method its probe allows, played as fMP4 and TS.
/// `cargo test -p stream-media --lib transcode -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
// Long because it walks the whole generated corpus through every method with the checks of
// each (a table-driven end-to-end test of the engine).
async fn corpus_plays() {
    let root = std::env::var("TRANSCODE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-media"));
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with(".json") {
            continue;
        }
        let path = root.join(&name);
        let Ok(probe) = crate::probe::Prober::new(FFPROBE)
            .probe(path.to_str().unwrap(), &name)
            .await
        else {
            eprintln!("{name}: not probed (broken on purpose)");
            continue;
        };
        for method in [Method::Remux, Method::TranscodeAudio, Method::Transcode] {
            for format in [SegmentFormat::Fmp4, SegmentFormat::Ts] {
                let decision = Decision {
                    method,
                    reasons: vec![],
                    audio_track: probe.audio.first().map(|a| a.index),
                    segment_format: Some(format),
                    subtitle_burn: None,
                };
                let Ok(set) = ladder::build(
                    "m",
                    &probe,
                    &decision,
                    &ClientLimits::default(),
                    &LadderConfig::default(),
                ) else {
                    continue;
                };
                if format == SegmentFormat::Ts && set.video.iter().any(|v| v.codec != "h264") {
                    continue;
                }
                let dir = TempDir::new("corpus");
                let plan = set.plan.plan(&probe).unwrap();
                if name.starts_with("corrupt") {
                    let v = &set.video[0];
                    let mut results = vec![];
                    for s in &plan.segments {
                        results.push(
                            match encode_video_segment(
                                &input(path.to_str().unwrap(), &probe, &set, &v.id, &plan),
                                s.index,
                            )
                            .await
                            {
                                Ok(_) => "ok".to_string(),
                                Err(e) => format!("{e:?}"),
                            },
                        );
                    }
                    eprintln!("{name} {method:?} {format:?}: {results:?}");
                    // Decoding the damaged half fails clearly; copying it (remux, and the copied
                    // video of transcode_audio) passes the damaged bytes through if the demuxer
                    // resyncs, which is the decoder's business downstream.
                    if method == Method::Transcode {
                        assert!(
                            results.iter().any(|r| r.starts_with("Source")),
                            "{results:?}"
                        );
                    }
                    assert!(
                        !results.iter().any(|r| r.starts_with("Tool")),
                        "failures are the source's, not the tool's: {results:?}"
                    );
                    continue;
                }
                let master = package(dir.path(), path.to_str().unwrap(), &probe, &set).await;
                decodes_cleanly(&master);
                let src = spans(&path);
                let played = spans(&master);
                for (kind, (p0, p1)) in &played {
                    let (s0, s1) = src[kind];
                    assert!(
                        ((p1 - p0) - (s1 - s0)).abs() < 0.1,
                        "{name} {method:?} {format:?} {kind}: played {p0}..{p1}, source {s0}..{s1}"
                    );
                }
                eprintln!(
                    "{name} {method:?} {format:?}: {} segments, played {:?}",
                    plan.len(),
                    played
                );
            }
        }
    }
}

/// The encode futures can be spawned (`tokio::spawn` needs `Send`).
#[allow(dead_code)]
fn futures_are_send(inp: &'static EncodeInput<'static>) {
    fn send<T: Send>(_: T) {}
    send(encode_init(inp));
    send(encode_video_segment(inp, 0));
    send(encode_audio_run(inp, 0, |_, _| async { true }));
}
