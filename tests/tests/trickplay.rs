//! Trick-play images (SPEC §3 "Trick-play") in both shapes (embedded; the same handlers on
//! LocalStack + DynamoDB Local behind the CDN stand-in), checked with independent tools: the
//! storyboard and the image playlist are parsed here, every sheet is probed by ffprobe (a JPEG
//! of the announced size), and the tile a time maps to is compared pixel by pixel with the frame
//! ffmpeg extracts from the source at that thumbnail's time (`trickplay.mp4`: every frame tells
//! its time, its hue turning a full circle every 40 s), and with the frame one interval later,
//! which must differ clearly (so the comparison can fail). Jobs are counted: a second viewer
//! (another user too) and the image playlist's URI of the same sheet start none.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use stream_tests::{media_dir, token, Api, Reply};

/// Small parameters so the 45 s test media has several sheets: a thumbnail every 2 s, 160 px
/// wide, 3×3 per sheet: 23 thumbnails, sheets of 9, 9 and 5.
const PARAMS: &[(&str, &str)] = &[
    ("STREAM_TRICKPLAY_INTERVAL", "2"),
    ("STREAM_TRICKPLAY_WIDTH", "160"),
    ("STREAM_TRICKPLAY_GRID", "3x3"),
];
const INTERVAL: f64 = 2.0;
const DURATION: f64 = 45.0;
const TILE: (u32, u32) = (160, 90);

/// One storyboard cue.
#[derive(Debug, Clone)]
struct Cue {
    start: f64,
    end: f64,
    url: String,
    xywh: (u32, u32, u32, u32),
}

fn vtt_seconds(t: &str) -> f64 {
    let parts: Vec<f64> = t.split(':').map(|p| p.parse().expect("time")).collect();
    parts.iter().fold(0.0, |acc, p| acc * 60.0 + p)
}

fn parse_storyboard(text: &str) -> Vec<Cue> {
    assert!(text.starts_with("WEBVTT"), "{text}");
    let mut cues = vec![];
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((a, b)) = line.split_once(" --> ") else {
            continue;
        };
        let target = lines.next().expect("a cue's text");
        let (url, frag) = target.split_once("#xywh=").expect("#xywh");
        let v: Vec<u32> = frag.split(',').map(|x| x.parse().expect("xywh")).collect();
        cues.push(Cue {
            start: vtt_seconds(a),
            end: vtt_seconds(b),
            url: url.to_string(),
            xywh: (v[0], v[1], v[2], v[3]),
        });
    }
    cues
}

/// Asks for a sheet until it is made (`503` + `Retry-After` while it is), then checks how it is
/// served.
async fn fetch_sheet(api: &Api, url: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = api.call("GET", url, None, &[], None).await;
        match r.status {
            200 => {
                assert_eq!(r.header("content-type"), Some("image/jpeg"), "{url}");
                assert_eq!(
                    r.header("cache-control"),
                    Some("public, max-age=31536000, immutable")
                );
                return r;
            }
            503 => assert_eq!(r.header("cache-control"), Some("no-store")),
            s => panic!("{}: sheet answered {s}: {}", api.name(), r.text()),
        }
        assert!(Instant::now() < deadline, "the sheet was not made in 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn run(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().expect("run ffmpeg/ffprobe");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The RGB pixels of the tile at `xywh` of the JPEG `sheet` (decoded by ffmpeg).
fn tile_pixels(sheet: &Path, (x, y, w, h): (u32, u32, u32, u32)) -> Vec<u8> {
    run(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(sheet)
        .args(["-vf", &format!("crop={w}:{h}:{x}:{y}")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]))
}

/// The RGB pixels of the source's frame at `t` (ffmpeg's accurate seek: the first frame at or
/// after `t`), scaled to the tile size.
fn frame_pixels(source: &Path, t: f64) -> Vec<u8> {
    run(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{t:.3}"), "-i"])
        .arg(source)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("scale={}:{}", TILE.0, TILE.1),
        ])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]))
}

/// Mean absolute difference of two pictures of the same size, 0 to 255.
fn mad(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    sum as f64 / a.len() as f64
}

fn path_of(url: &str) -> String {
    let u = url.split('?').next().unwrap_or(url);
    u.find("/renditions/")
        .map_or(u.to_string(), |i| u[i..].to_string())
}

async fn stream_json(api: &Api, t: &str, id: &str, query: &str) -> serde_json::Value {
    let r = api
        .call(
            "GET",
            &format!("/api/v1/stream/{id}?{query}"),
            Some(t),
            &[("accept", "application/json")],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", api.name(), r.text());
    r.json()
}

async fn storyboard(api: &Api, url: &str) -> Vec<Cue> {
    let r = api.call("GET", url, None, &[], None).await;
    assert_eq!(r.status, 200, "{}: storyboard: {}", api.name(), r.text());
    assert_eq!(r.header("content-type"), Some("text/vtt; charset=utf-8"));
    parse_storyboard(&r.text())
}

// Long because it is the feature's whole story, one check after another: the storyboard of a
// direct-play answer, its sheets' pixels, a second user, the HLS image playlist, bad requests.
async fn previews_show_the_frame_of_their_time(api: Api) {
    let (alice, bob) = (token("alice"), token("bob"));
    let source = media_dir().join("trickplay.mp4");
    let id = api.upload_settled(&alice, &source).await;
    let answer = stream_json(&api, &alice, &id, "profile=chrome").await;
    assert_eq!(answer["method"], "direct_play", "{answer}");
    let url = answer["storyboard_url"].as_str().expect("storyboard_url");
    let cues = storyboard(&api, url).await;

    // The cues cover the whole media, without a gap, one per thumbnail.
    assert_eq!(cues.len(), 23, "{cues:?}");
    assert_eq!(cues[0].start, 0.0);
    for w in cues.windows(2) {
        assert!((w[1].start - w[0].end).abs() < 1e-9, "a gap: {w:?}");
    }
    assert!(
        (cues.last().unwrap().end - DURATION).abs() < 0.05,
        "{cues:?}"
    );

    // The tile of a time shows the frame at its thumbnail's time (the last frame at or before
    // floor(t / interval) * interval; this source has a keyframe every second, so that frame is
    // decoded alone), and clearly not the frame of the next thumbnail.
    let dir = tempfile::tempdir().unwrap();
    let before = api.state().dispatcher.started();
    for t in [0.0, 7.3, 21.0, 37.9, 44.5] {
        let cue = cues
            .iter()
            .find(|c| c.start <= t && t < c.end)
            .expect("a cue for every time");
        let thumb = (t / INTERVAL).floor() * INTERVAL;
        assert_eq!(cue.start, thumb, "time {t}");
        let sheet = fetch_sheet(&api, &api.absolute(&cue.url)).await;
        let file = dir.path().join(format!("sheet-{t}.jpg"));
        std::fs::write(&file, &sheet.body).unwrap();
        let probe = run(std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height",
            ])
            .args(["-of", "csv=p=0"])
            .arg(&file));
        assert_eq!(String::from_utf8_lossy(&probe).trim(), "mjpeg,480,270");
        assert_eq!((cue.xywh.2, cue.xywh.3), TILE);
        let tile = tile_pixels(&file, cue.xywh);
        let right = mad(&tile, &frame_pixels(&source, thumb));
        let later = (thumb + INTERVAL).min(DURATION - 0.2);
        let wrong = mad(&tile, &frame_pixels(&source, later));
        eprintln!(
            "{}: time {t}: tile vs {thumb} s: {right:.2}, vs {later} s: {wrong:.2}",
            api.name()
        );
        assert!(
            right < 8.0,
            "time {t}: the tile is not the frame at {thumb} s ({right:.1})"
        );
        assert!(
            wrong > 2.0 * right && wrong > 8.0,
            "time {t}: the frame at {later} s looks as close ({wrong:.1} vs {right:.1})"
        );
    }
    let made = api.state().dispatcher.started() - before;
    assert!(
        (1..=3).contains(&made),
        "{}: one job per sheet, got {made}",
        api.name()
    );

    // Another user's storyboard names the same sheets (content paths) and makes nothing.
    let r = api
        .call(
            "PATCH",
            &format!("/api/v1/media/{id}"),
            Some(&alice),
            &[],
            Some(json!({"visibility": "shared"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let bobs = stream_json(&api, &bob, &id, "profile=chrome").await;
    let bob_cues = storyboard(&api, bobs["storyboard_url"].as_str().unwrap()).await;
    assert_eq!(path_of(&bob_cues[3].url), path_of(&cues[3].url));
    let before = api.state().dispatcher.started();
    fetch_sheet(&api, &api.absolute(&bob_cues[3].url)).await;

    // HLS: the master announces the image playlist; its sheets are the storyboard's, and its
    // durations add up to the media's.
    let hls = stream_json(
        &api,
        &bob,
        &id,
        "containers=webm&video_codecs=h264&audio_codecs=aac",
    )
    .await;
    assert_eq!(hls["method"], "remux", "{hls}");
    let master_url = api.absolute(hls["url"].as_str().unwrap());
    let master = api.call("GET", &master_url, None, &[], None).await.text();
    let line = master
        .lines()
        .find(|l| l.starts_with("#EXT-X-IMAGE-STREAM-INF:"))
        .unwrap_or_else(|| panic!("no image stream: {master}"));
    assert!(
        line.contains("RESOLUTION=160x90,CODECS=\"jpeg\",URI=\"images/playlist.m3u8?token="),
        "{line}"
    );
    let uri = line.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
    let base = master_url.rsplit_once('/').unwrap().0;
    let images = api
        .call("GET", &format!("{base}/{uri}"), None, &[], None)
        .await;
    assert_eq!(images.status, 200, "{}", images.text());
    let text = images.text();
    assert!(text.contains("#EXT-X-IMAGES-ONLY\n"), "{text}");
    assert!(text.contains("#EXT-X-VERSION:7\n") && text.ends_with("#EXT-X-ENDLIST\n"));
    let total: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse::<f64>().unwrap())
        .sum();
    assert!((total - DURATION).abs() < 0.05, "{total}: {text}");
    let tiles = text.matches("#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=3x3,DURATION=2\n");
    assert_eq!(tiles.count(), 3, "{text}");
    let sheets: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(path_of(sheets[0]), path_of(&cues[0].url));
    assert!(sheets[0].contains("session="), "{}", sheets[0]);
    fetch_sheet(&api, &api.absolute(sheets[0])).await;
    assert_eq!(
        api.state().dispatcher.started() - before,
        0,
        "{}: a made sheet started a job",
        api.name()
    );

    // Bad requests: a sheet past the plan, a name no plan writes, a forged token, no video.
    let signed = &cues[0].url;
    for bad in [
        signed.replace("sheet_00000.jpg", "sheet_00003.jpg"),
        signed.replace("sheet_00000.jpg", "sheet_99999.jpg"),
        signed.replace("sheet_00000.jpg", "sheet_0.jpg"),
        signed.replace("sheet_00000.jpg", "sheet_4294967296.jpg"),
    ] {
        let r = api.call("GET", &api.absolute(&bad), None, &[], None).await;
        assert!(
            matches!(r.status, 403 | 404),
            "{}: {bad} answered {}",
            api.name(),
            r.status
        );
    }
    let forged = url.rsplit_once('.').unwrap().0.to_string() + ".AAAA";
    let r = api.call("GET", &forged, None, &[], None).await;
    assert!(matches!(r.status, 401 | 403), "forged token: {}", r.status);
    let other = url.replace(&id, "0123456789abcdef0123456789abcdef");
    let r = api.call("GET", &other, None, &[], None).await;
    assert!(matches!(r.status, 403 | 404), "another media: {}", r.status);
    // A phone clip turned a quarter (coded 640x360, shown 360x640): portrait tiles, upright,
    // like the frame ffmpeg shows (it applies the display matrix).
    let phone = media_dir().join("phone_h264_r270.mov");
    let pid = api.upload_settled(&alice, &phone).await;
    let p = stream_json(&api, &alice, &pid, "profile=chrome").await;
    let pcues = storyboard(&api, p["storyboard_url"].as_str().expect("storyboard_url")).await;
    assert_eq!((pcues[0].xywh.2, pcues[0].xywh.3), (160, 284), "{pcues:?}");
    let sheet = fetch_sheet(&api, &api.absolute(&pcues[0].url)).await;
    let file = dir.path().join("phone.jpg");
    std::fs::write(&file, &sheet.body).unwrap();
    let tile = tile_pixels(&file, pcues[0].xywh);
    let upright = run(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&phone)
        .args(["-frames:v", "1", "-vf", "scale=160:284"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]));
    let flipped = run(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&phone)
        .args(["-frames:v", "1", "-vf", "scale=160:284,hflip,vflip"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]));
    let (good, bad) = (mad(&tile, &upright), mad(&tile, &flipped));
    eprintln!(
        "{}: phone tile: upright {good:.2}, turned {bad:.2}",
        api.name()
    );
    assert!(
        good < 8.0 && bad > 2.0 * good,
        "phone tile: upright {good:.1}, turned {bad:.1}"
    );

    let audio = api
        .upload_settled(&alice, &media_dir().join("audio_only.m4a"))
        .await;
    let a = stream_json(&api, &alice, &audio, "profile=chrome").await;
    assert!(a["storyboard_url"].is_null(), "{a}");
    api.stop().await;
}

// ---- embedded ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_previews_show_the_frame_of_their_time() {
    previews_show_the_frame_of_their_time(Api::embedded_with(PARAMS).await).await;
}

// ---- cloud stores (LocalStack S3 + DynamoDB Local) behind the CDN stand-in ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_previews_show_the_frame_of_their_time() {
    previews_show_the_frame_of_their_time(Api::cloud_with(PARAMS).await).await;
}
