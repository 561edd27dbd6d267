//! Bitmap subtitles burned in on request, in both shapes (SPEC §3 "Tracks": `subtitle=<id>&
//! subtitle_mode=burn` forces `transcode` with the reason `subtitle_burn_in`).
//!
//! The generated `subs_pgs.mkv` has a PGS track (made by `scripts/make-pgs.py`) with a red box
//! from 1.0 to 2.5 s and a green box from 3.0 to 5.0 s over a plain grey picture; the truth
//! (times, places, colours) is in the media manifest, the times read back with ffprobe. A burn
//! session's segments, decoded by ffmpeg, show each box at its place while its cue is on and
//! not otherwise, including in the chunk that starts at 4 s, in the middle of the green cue
//! (each segment is its own ffmpeg run from its own seek point); a transcode without burn-in
//! shows no box; the JSON answer lists the reason; two sessions burning the same track share
//! their segments (same content paths), the same user's repeated request gets the same session;
//! and bad parameters get `400` naming the parameter.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use stream_tests::hls_client::{client, fetch_segment, ffprobe_lines, resolve, text, uris};
use stream_tests::{manifest, media_dir, token, Api};

const FILE: &str = "subs_pgs.mkv";
/// A client that would play the file's streams copied (remux): only burn-in makes it a
/// transcode.
const REMUX: &str =
    "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";
/// A client that needs the video transcoded anyway (it plays HEVC only).
const TRANSCODE: &str =
    "containers=mp4&video_codecs=hevc&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";
const FPS: f64 = 24.0;

/// One box of the track: when and where it shows, and its colour.
#[derive(Debug, Clone)]
struct Box_ {
    start: f64,
    end: f64,
    center: (usize, usize),
    green: bool,
}

/// The boxes of the manifest, with their times as ffprobe reads them from the file (the muxer
/// shifted the track by the video's encoder delay): each display set that shows a box, then
/// the one that clears it.
fn boxes() -> Vec<Box_> {
    let m = manifest();
    let track = &m["files"][FILE]["subtitles"][0];
    assert_eq!(track["kind"], "bitmap");
    let path = media_dir().join(FILE);
    let times: Vec<f64> = ffprobe_lines(
        &[
            "-select_streams",
            "s:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ],
        path.to_str().unwrap(),
    )
    .lines()
    .map(|l| l.trim().parse().unwrap())
    .collect();
    // A clear at 0, then (show, clear) per box.
    let want = track["boxes"].as_array().unwrap();
    assert_eq!(times.len(), 1 + 2 * want.len(), "{times:?}");
    want.iter()
        .enumerate()
        .map(|(i, b)| {
            let n = |k: &str| b[k].as_f64().unwrap();
            let (start, end) = (times[1 + 2 * i], times[2 + 2 * i]);
            assert!((start - n("start")).abs() < 0.05 && (end - n("end")).abs() < 0.05);
            Box_ {
                start,
                end,
                center: (
                    (n("x") + n("w") / 2.0) as usize,
                    (n("y") + n("h") / 2.0) as usize,
                ),
                green: b["rgb"][1].as_u64() == Some(255),
            }
        })
        .collect()
}

/// What a pixel looks like: the grey background, or a box's red or green.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    Grey,
    Red,
    Green,
    Other,
}

fn colour([r, g, b]: [u8; 3]) -> Colour {
    let near = |v: u8, to: u8| v.abs_diff(to) <= 24;
    if near(r, 128) && near(g, 128) && near(b, 128) {
        Colour::Grey
    } else if r > 180 && g < 80 && b < 80 {
        Colour::Red
    } else if g > 180 && r < 110 && b < 80 {
        Colour::Green
    } else {
        Colour::Other
    }
}

/// The frames of an fMP4 segment (with its init), decoded by ffmpeg: (width, height, RGB
/// frames).
fn decode(init: &[u8], segment: &[u8], dir: &Path, name: &str) -> (usize, usize, Vec<Vec<u8>>) {
    let path = dir.join(format!("{name}.mp4"));
    std::fs::write(&path, [init, segment].concat()).unwrap();
    let size = ffprobe_lines(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ],
        path.to_str().unwrap(),
    );
    let (w, h) = size.trim().split_once(',').unwrap();
    let (w, h): (usize, usize) = (w.parse().unwrap(), h.parse().unwrap());
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = out.stdout.chunks(w * h * 3).map(<[u8]>::to_vec).collect();
    (w, h, frames)
}

/// The colour at a point of the 320x180 source picture, in a frame of `w`x`h`.
fn at(frame: &[u8], w: usize, h: usize, (x, y): (usize, usize)) -> Colour {
    let (x, y) = (x * w / 320, y * h / 180);
    let i = (y * w + x) * 3;
    colour([frame[i], frame[i + 1], frame[i + 2]])
}

/// A session's best video variant: (its init, its segments with their start times).
async fn variant(api: &Api, master_url: &str) -> (String, Vec<(String, f64)>) {
    let master = text(master_url).await;
    let uri = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let url = resolve(master_url, uri);
    let playlist = text(&url).await;
    let (init, segs) = uris(&url, &playlist);
    let mut at = 0.0;
    let mut out = vec![];
    for (seg, d) in segs.into_iter().zip(
        playlist
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|l| l.trim_end_matches(',').parse::<f64>().unwrap()),
    ) {
        out.push((seg, at));
        at += d;
    }
    assert!(out.len() >= 4, "{}: {playlist}", api.name());
    (init.expect("EXT-X-MAP"), out)
}

/// The content path of a segment URI (what every session of the rendition shares).
fn path_of(uri: &str) -> String {
    url::Url::parse(uri).unwrap().path().to_string()
}

/// Checks every frame of every segment of a session: a box shows exactly while its cue is on
/// (`burned`), or never.
async fn check_frames(api: &Api, master_url: &str, burned: bool, dir: &Path, name: &str) {
    let boxes = boxes();
    let (init_url, segs) = variant(api, master_url).await;
    // The last segment first: a chunk made alone, starting inside the green cue.
    let mut order: Vec<usize> = (0..segs.len()).collect();
    order.rotate_right(1);
    let init = fetch_segment(&init_url).await.unwrap();
    let mut shown = 0;
    for i in order {
        let (url, start) = &segs[i];
        let bytes = fetch_segment(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        let (w, h, frames) = decode(&init, &bytes, dir, &format!("{name}-{i}"));
        for (k, frame) in frames.iter().enumerate() {
            let t = start + k as f64 / FPS;
            for b in &boxes {
                // A frame within a frame of a cue's edge may go either way.
                if (t - b.start).abs() < 1.0 / FPS || (t - b.end).abs() < 1.0 / FPS {
                    continue;
                }
                let on = burned && t >= b.start && t < b.end;
                let want = match (on, b.green) {
                    (false, _) => Colour::Grey,
                    (true, false) => Colour::Red,
                    (true, true) => Colour::Green,
                };
                let got = at(frame, w, h, b.center);
                assert_eq!(
                    got,
                    want,
                    "{}: {name} segment {i} frame {k} (t = {t:.3}): box {b:?}",
                    api.name()
                );
                shown += usize::from(on);
            }
        }
        if burned && i + 1 == segs.len() {
            // The chunk that starts mid-cue shows the cue from its first frame.
            let first = at(&frames[0], w, h, boxes[1].center);
            assert_eq!(
                first,
                Colour::Green,
                "{}: segment {i} starts mid-cue",
                api.name()
            );
        }
    }
    assert_eq!(shown > 0, burned, "{}: {name}", api.name());
}

async fn stream(api: &Api, t: &str, id: &str, query: &str) -> Value {
    let r = api
        .get_json(&format!("/api/v1/stream/{id}?{query}"), t)
        .await;
    assert_eq!(r.status, 200, "{}: {query}: {}", api.name(), r.text());
    r.json()
}

async fn bad_parameters(api: &Api, t: &str, id: &str) {
    // A text track (a sidecar SubRip) to burn is refused: players show it as WebVTT.
    let r = client()
        .post(api.absolute(&format!("/api/v1/media/{id}/subtitles?language=en")))
        .bearer_auth(t)
        .header("content-type", "text/plain")
        .body("1\n00:00:01,000 --> 00:00:02,000\nHello\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", api.name());
    let sidecar: Value = r.json().await.unwrap();
    let sidecar = sidecar["id"].as_str().unwrap().to_string();
    for (query, param) in [
        ("subtitle_mode=sideways&subtitle=s2", "subtitle_mode"),
        ("subtitle_mode=burn", "subtitle_mode"),
        ("subtitle=s9&subtitle_mode=burn", "subtitle"),
        ("subtitle=s9", "subtitle"),
        ("subtitle=..%2Fs2&subtitle_mode=burn", "subtitle"),
        (
            &format!("subtitle={sidecar}&subtitle_mode=burn"),
            "subtitle_mode",
        ),
    ] {
        let r = api
            .get_json(&format!("/api/v1/stream/{id}?{REMUX}&{query}"), t)
            .await;
        assert_eq!(r.status, 400, "{}: {query}: {}", api.name(), r.text());
        let e = &r.json()["error"];
        assert_eq!(e["code"], "invalid_parameter", "{query}: {e}");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{param}`")),
            "{query}: {message}"
        );
    }
    // `external` with the bitmap track (or the sidecar) changes nothing: a remux as without it.
    for query in [
        "subtitle=s2",
        &format!("subtitle={sidecar}&subtitle_mode=external"),
    ] {
        let v = stream(api, t, id, &format!("{REMUX}&{query}")).await;
        assert_eq!(v["method"], "remux", "{query}: {v}");
        assert_eq!(v["reasons"], serde_json::json!(["container_not_supported"]));
    }
}

async fn all(api: Api) {
    let dir = tempfile::tempdir().unwrap();
    let (t, other) = (token("burn-user"), token("burn-other"));
    let id = api.upload_settled(&t, &media_dir().join(FILE)).await;
    // The other user may see it.
    let r = api
        .call(
            "PATCH",
            &format!("/api/v1/media/{id}"),
            Some(&t),
            &[],
            Some(serde_json::json!({"visibility": "shared"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", api.name(), r.text());

    let burn = format!("{REMUX}&subtitle=s2&subtitle_mode=burn");
    let v = stream(&api, &t, &id, &burn).await;
    assert_eq!(v["method"], "transcode", "{v}");
    assert_eq!(
        v["reasons"],
        serde_json::json!(["container_not_supported", "subtitle_burn_in"]),
        "{v}"
    );
    let session = v["session_id"].as_str().unwrap().to_string();
    let master = api.absolute(v["url"].as_str().unwrap());
    // The same request again: the same session.
    let again = stream(&api, &t, &id, &burn).await;
    assert_eq!(again["session_id"].as_str(), Some(session.as_str()));
    check_frames(&api, &master, true, dir.path(), "burned").await;

    // A transcode without burn-in: another session, other content paths, no box.
    let clean = stream(&api, &t, &id, TRANSCODE).await;
    assert_eq!(clean["method"], "transcode");
    assert!(
        !clean["reasons"].to_string().contains("subtitle_burn_in"),
        "{clean}"
    );
    assert_ne!(clean["session_id"].as_str(), Some(session.as_str()));
    let clean_master = api.absolute(clean["url"].as_str().unwrap());
    check_frames(&api, &clean_master, false, dir.path(), "clean").await;
    let (_, burned_segs) = variant(&api, &master).await;
    let (_, clean_segs) = variant(&api, &clean_master).await;
    assert_ne!(path_of(&burned_segs[0].0), path_of(&clean_segs[0].0));

    // Another user burning the same track: another session, the same segments.
    let theirs = stream(&api, &other, &id, &burn).await;
    assert_ne!(theirs["session_id"].as_str(), Some(session.as_str()));
    let (_, their_segs) = variant(&api, &api.absolute(theirs["url"].as_str().unwrap())).await;
    let paths = |s: &[(String, f64)]| s.iter().map(|(u, _)| path_of(u)).collect::<Vec<_>>();
    assert_eq!(paths(&their_segs), paths(&burned_segs), "{}", api.name());

    bad_parameters(&api, &t, &id).await;
    api.stop().await;
}

#[tokio::test]
async fn embedded_burn_in() {
    all(Api::embedded().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_burn_in() {
    all(Api::cloud().await).await;
}
