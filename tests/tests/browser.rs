//! The player page in a real browser: Debian's Chromium driven by playwright-core
//! (tests/browser/*.mjs) against an in-process `streamd` serving the page from the repository's
//! `player/` directory.
//!
//! - Serving: `/` and `/player/...` (content types, hostile paths, no API path shadowed, the note
//!   when the page is not installed) and the test-only throttle of rendition objects: plain HTTP,
//!   always run.
//! - Playback (`#[ignore]`d like the other tests that need an installed tool; `scripts/test.sh` runs
//!   them): one case per method: the page detects the browser's capabilities, the server decides,
//!   the page plays (`<video src>` or hls.js), seeks to the middle, reports progress on pause, and
//!   after a reload offers and performs the resume. The method expected is the one the real
//!   capabilities imply.
//! - ABR: a transcode ladder played by hls.js switches down under a throttle well below the top
//!   rung, and climbs to the top rung without one.
//!
//! Screenshots (and each run's JSON) are kept under `target/browser-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use stream_tests::{http, media_dir, repo_root, token, upload, wait_settled, TestServer};

/// One browser at a time: Chromium and the just-in-time encodes share two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// An in-process streamd with streamd's own options (player dir, throttle) set explicitly.
async fn start_server(player_dir: PathBuf, throttle: Option<u64>) -> TestServer {
    TestServer::start_with_options(
        &[],
        streamd::Options {
            player_dir,
            throttle_bytes_per_sec: throttle,
            ..Default::default()
        },
    )
    .await
}

fn player_dir() -> PathBuf {
    repo_root().join("player")
}

fn artifacts() -> PathBuf {
    let d = repo_root().join("target/browser-artifacts");
    std::fs::create_dir_all(&d).expect("create target/browser-artifacts");
    d
}

/// Chromium, node and the npm assets (hls.js copied into player/vendor, playwright-core), or a
/// clear failure saying how to get them.
fn prerequisites() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&chromium).exists(),
            "Chromium is missing ({chromium}): the browser tests drive Debian's Chromium. Install it with `scripts/setup.sh --test` (apt-get install chromium), or set CHROMIUM to a Chromium binary."
        );
        let node = std::process::Command::new("node").arg("--version").output();
        assert!(node.is_ok_and(|o| o.status.success()), "node is missing: the browser tests run playwright-core on node (`scripts/setup.sh --test` installs npm and node)");
        let root = repo_root();
        std::fs::create_dir_all(root.join("target")).expect("target dir");
        let status = std::process::Command::new("flock")
            .arg(root.join("target/.player-assets.lock"))
            .arg(root.join("scripts/player-assets.sh"))
            .arg("--test")
            .current_dir(&root)
            .status()
            .expect("run scripts/player-assets.sh");
        assert!(status.success(), "scripts/player-assets.sh --test failed: it installs hls.js (player/) and playwright-core (tests/browser/) with npm ci");
        assert!(root.join("player/vendor/hls.min.js").is_file(), "player/vendor/hls.min.js is missing after scripts/player-assets.sh");
    });
}

/// Media made for these tests only (cached under target/browser-media, keyed by the command).
fn made_media(name: &str, args: &[&str]) -> PathBuf {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo_root().join("target/browser-media");
    std::fs::create_dir_all(&dir).expect("browser media dir");
    let out = dir.join(name);
    let stamp = dir.join(format!("{name}.args"));
    let key = args.join(" ");
    if out.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == key) {
        return out;
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .arg(&tmp)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not make {name}");
    std::fs::rename(&tmp, &out).expect("publish media");
    std::fs::write(&stamp, key).expect("stamp");
    out
}

/// H.264/AAC with irregular keyframes in a QuickTime container: Chromium plays the codecs but
/// does not claim `video/quicktime` (`canPlayType` answers ""), so the server remuxes.
fn remux_source() -> PathBuf {
    let src = media_dir().join("h264_irregular_gop.mkv");
    let src = src.to_string_lossy().into_owned();
    made_media(
        "h264_irregular_gop.mov",
        &["-i", &src, "-map", "0", "-c", "copy", "-f", "mov"],
    )
}

/// 12 s of 1280x720 HEVC 8-bit / AAC stereo in MP4: Chromium has no HEVC, so a transcode with a
/// three-rung ladder (720p, 480p, 360p).
fn abr_source() -> PathBuf {
    made_media(
        "hevc_720p_12s.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=24:duration=12",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=12",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "keyint=48:min-keyint=48:scenecut=0:log-level=error",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-ac",
            "2",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ],
    )
}

/// The subtitle test's MP4 (mov_text) in a QuickTime container: remuxed to HLS for Chromium.
fn subtitles_mov() -> PathBuf {
    let src = media_dir().join("subs_mov_text.mp4");
    let src = src.to_string_lossy().into_owned();
    made_media(
        "subs_mov_text.mov",
        &["-i", &src, "-map", "0", "-c", "copy", "-f", "mov"],
    )
}

/// The audio-languages MKV in a QuickTime container: remuxed to HLS for Chromium.
fn audio_langs_mov() -> PathBuf {
    let src = media_dir().join("audio_langs.mkv");
    let src = src.to_string_lossy().into_owned();
    made_media(
        "audio_langs.mov",
        &["-i", &src, "-map", "0", "-c", "copy", "-f", "mov"],
    )
}

/// Runs `node tests/browser/<script> args...`; returns its JSON report, panicking with it on failure.
async fn node(script: &str, args: &[&str], name: &str) -> Value {
    let root = repo_root();
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(root.join("tests/browser").join(script))
        .args(args)
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("run node");
    let out = tokio::time::timeout(NODE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name}: {script} did not finish within {NODE_TIMEOUT:?}"))
        .expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::write(
        artifacts().join(format!("{name}.json")),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    assert!(
        out.status.success() && report["ok"] == true,
        "{name}: {script} failed ({}):\n{}\nstderr:\n{stderr}",
        out.status,
        serde_json::to_string_pretty(&report).unwrap_or_else(|_| stdout.into_owned())
    );
    eprintln!(
        "{name}: ok in {:.1} s: {report}",
        started.elapsed().as_secs_f64()
    );
    report
}

/// Uploads `file` as a fresh user on a fresh server and plays it in Chromium (play.mjs).
async fn play_case(name: &str, file: &Path, expected: &str) -> Value {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let srv = start_server(player_dir(), None).await;
    let t = token("viewer");
    let id = upload(&srv.base, &t, file).await;
    let media = wait_settled(&srv.base, &t, &id).await;
    assert_eq!(media["status"], "ready", "{name}: {media}");
    let shot = artifacts().join(format!("{name}.png"));
    let report = node(
        "play.mjs",
        &[&srv.base, &t, &id, expected, &shot.to_string_lossy()],
        name,
    )
    .await;
    assert!(
        shot.is_file(),
        "{name}: no screenshot at {}",
        shot.display()
    );

    // The pause's report reached the server (a later report may have moved it on).
    let r = http()
        .get(format!("{}/api/v1/progress/{id}", srv.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("GET progress");
    assert_eq!(r.status(), 200, "{name}: no progress saved");
    let p: Value = r.json().await.expect("progress JSON");
    let saved = report["saved"].as_f64().expect("saved position");
    let at = p["position_seconds"].as_f64().expect("position_seconds");
    assert!(
        at >= saved - 0.01,
        "{name}: the server holds {at} s, the page saved {saved} s"
    );
    srv.stop().await;
    report
}

fn has_container(report: &Value, name: &str) -> bool {
    report["caps"]["containers"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .any(|c| c == name)
}

// ------------------------------------------------------------------------------ serving

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Long because it checks every file of the player page and its headers, then the API beside it.
async fn the_player_page_is_served_beside_the_api() {
    let srv = start_server(player_dir(), None).await;
    let c = http();
    let get = |path: &str| c.get(format!("{}{path}", srv.base)).send();

    let r = get("/").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<base href="/player/">"#),
        "the page at / resolves its files under /player/"
    );
    assert!(html.contains(r#"src="app.js""#));

    let r = get("/player/").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains(r#"<base href="./">"#),
        "served from /player/ the page is as deployed"
    );
    let r = get("/player").await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (308, "/player/")
    );

    for (path, ct) in [
        ("/player/app.js", "text/javascript; charset=utf-8"),
        ("/player/caps.js", "text/javascript; charset=utf-8"),
        ("/player/style.css", "text/css; charset=utf-8"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ct, "{path}");
    }
    let r = c
        .head(format!("{}/player/app.js", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Hostile or private paths: nothing outside the directory, no npm tree, no dot files.
    for path in [
        "/player/../Cargo.toml",
        "/player/%2e%2e/Cargo.toml",
        "/player/..%2fCargo.toml",
        "/player/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/player/package.json",
        "/player/node_modules/hls.js/package.json",
        "/player/.gitignore",
        "/player/nope.js",
    ] {
        let r = c.get(format!("{}{path}", srv.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("[workspace]") && !body.contains("root:"),
            "{path} leaked a file"
        );
    }

    // Nothing of the API is shadowed.
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let r = get("/api/v1/media").await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/json");
    let r = c
        .get(format!("{}/api/v1/media", srv.base))
        .bearer_auth(token("someone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = get("/objects/uploads/x/source.mp4").await.unwrap();
    assert_eq!(r.status(), 403, "the object route still checks signatures");
    // A page on another origin (deployed beside the API) may PUT uploads: the preflight passes.
    let r = c
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/objects/uploads/x/source.mp4", srv.base),
        )
        .header("origin", "https://player.example")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    srv.stop().await;

    // Not installed: a short note at /, the API unaffected.
    let empty = tempfile::tempdir().unwrap();
    let srv = start_server(empty.path().join("player"), None).await;
    let r = http().get(format!("{}/", srv.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.text().await.unwrap().contains("not installed"));
    assert_eq!(
        http()
            .get(format!("{}/healthz", srv.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_throttle_slows_rendition_objects_only() {
    const RATE: u64 = 200_000;
    const SIZE: usize = 300_000;
    let srv = start_server(player_dir(), Some(RATE)).await;
    let body = bytes::Bytes::from(vec![7u8; SIZE]);
    let mut took = vec![];
    for key in ["renditions/m1/k1/seg_00000.m4s", "uploads/m1/source.mp4"] {
        srv.state
            .objects
            .put(key, body.clone(), "application/octet-stream", None)
            .await
            .expect("put");
        let url = srv
            .state
            .objects
            .presign_get(key, Duration::from_secs(60))
            .await
            .expect("presign");
        let t0 = Instant::now();
        let r = http().get(&url).send().await.expect("GET object");
        assert_eq!(r.status(), 200, "{key}");
        let got = r.bytes().await.expect("body");
        assert_eq!(got.len(), SIZE, "{key}: the whole body");
        assert!(got.iter().all(|b| *b == 7), "{key}: the same bytes");
        took.push(t0.elapsed().as_secs_f64());
    }
    let expected = SIZE as f64 / RATE as f64;
    assert!(
        took[0] >= expected * 0.9,
        "a rendition object at {RATE} B/s took {:.2} s, expected about {expected:.2} s",
        took[0]
    );
    assert!(
        took[0] < expected * 3.0,
        "a rendition object took {:.2} s, far beyond {expected:.2} s",
        took[0]
    );
    assert!(
        took[1] < expected * 0.5,
        "an upload object is not throttled, took {:.2} s",
        took[1]
    );
    srv.stop().await;
    // Unset: nothing is throttled.
    let srv = start_server(player_dir(), None).await;
    let key = "renditions/m1/k1/seg_00001.m4s";
    srv.state
        .objects
        .put(key, body.clone(), "application/octet-stream", None)
        .await
        .expect("put");
    let url = srv
        .state
        .objects
        .presign_get(key, Duration::from_secs(60))
        .await
        .expect("presign");
    let t0 = Instant::now();
    assert_eq!(
        http()
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len(),
        SIZE
    );
    assert!(
        t0.elapsed().as_secs_f64() < expected * 0.5,
        "unthrottled by default"
    );
    srv.stop().await;
}

// ------------------------------------------------------------------------------ playback

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_uploads_through_the_page() {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let srv = start_server(player_dir(), None).await;
    let t = token("uploader");
    let file = media_dir().join("h264_aac.mp4");
    let shot = artifacts().join("upload-h264_aac.mp4.png");
    let r = node(
        "upload.mjs",
        &[
            &srv.base,
            &t,
            &file.to_string_lossy(),
            &shot.to_string_lossy(),
        ],
        "upload-h264_aac.mp4",
    )
    .await;
    let summary = r["summary"].as_str().unwrap();
    for part in ["mp4", "h264 High 640×360 8-bit 24 fps", "aac"] {
        assert!(summary.contains(part), "summary {summary:?} lacks {part:?}");
    }
    // The server has it, ready, owned by the token's user, with the title given in the page.
    let id = r["id"].as_str().unwrap();
    let m: Value = http()
        .get(format!("{}/api/v1/media/{id}", srv.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            m["status"].as_str(),
            m["owner"].as_str(),
            m["title"].as_str(),
            m["content_type"].as_str()
        ),
        (
            Some("ready"),
            Some("uploader"),
            Some("upload test h264_aac.mp4"),
            Some("video/mp4")
        )
    );
    srv.stop().await;
}

/// A file above the part size goes up in parts; the connection dies after two, the page is
/// reloaded, the same file picked again: only the missing parts are sent, and the server has the
/// exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_uploads_in_parts_and_resumes_after_a_reload() {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let options = streamd::Options {
        player_dir: player_dir(),
        ..Default::default()
    };
    let srv =
        TestServer::start_with_options(&[("STREAM_UPLOAD_PART_SIZE", "5242880")], options).await;
    let t = token("part-uploader");
    let file = stream_tests::multipart_video();
    let shot = artifacts().join("upload-parts.png");
    let args = [
        srv.base.as_str(),
        &t,
        &file.to_string_lossy(),
        &shot.to_string_lossy(),
    ];
    let r = node("upload-parts.mjs", &args, "upload-parts").await;
    let numbers = |k: &str| -> Vec<u64> {
        let mut v: Vec<u64> = r[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        v.sort_unstable();
        v
    };
    let (before, after) = (numbers("before"), numbers("after"));
    let bytes = std::fs::read(&file).unwrap();
    let count = bytes.len().div_ceil(5 << 20) as u64;
    assert_eq!(before.len(), 2, "{r}");
    assert_eq!(r["partsAtStart"], 2, "{r}");
    let mut all = [before.clone(), after.clone()].concat();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=count).collect::<Vec<_>>(),
        "each part sent once: {before:?} then {after:?}"
    );
    let id = r["id"].as_str().unwrap();
    let m = wait_settled(&srv.base, &t, id).await;
    assert_eq!(
        (
            m["status"].as_str(),
            m["title"].as_str(),
            m["size_bytes"].as_u64()
        ),
        (
            Some("ready"),
            Some("multipart upload test"),
            Some(bytes.len() as u64)
        )
    );
    let (_, stored) = stream_tests::stored_source(&srv.state, id).await;
    assert!(stored == bytes, "the exact bytes");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_direct_plays_an_h264_aac_mp4() {
    let r = play_case(
        "direct_play-h264_aac.mp4",
        &media_dir().join("h264_aac.mp4"),
        "direct_play",
    )
    .await;
    assert_eq!(r["delivery"], "file");
    assert_eq!(r["reasons"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_plays_a_remux_through_hls_js() {
    let r = play_case("remux-h264_irregular_gop.mov", &remux_source(), "remux").await;
    assert_eq!(r["delivery"], "hls.js");
    assert_eq!(r["reasons"], serde_json::json!(["container_not_supported"]));
}

/// MKV: Chromium (at least since 13x) opens Matroska with H.264/AAC itself and says so
/// (`canPlayType('video/x-matroska; codecs="avc1.640028, mp4a.40.2"')` is "probably"), so the page
/// reports `mkv` and the file plays directly; a browser that does not gets a remux.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_plays_an_mkv_as_its_capabilities_say() {
    let r = play_case(
        "mkv-h264_irregular_gop.mkv",
        &media_dir().join("h264_irregular_gop.mkv"),
        "direct_play|remux",
    )
    .await;
    let expected = if has_container(&r, "mkv") {
        "direct_play"
    } else {
        "remux"
    };
    assert_eq!(r["method"], expected, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_plays_a_transcode_of_10_bit_hevc() {
    let r = play_case(
        "transcode-hevc10_ac3_51.mkv",
        &media_dir().join("hevc10_ac3_51.mkv"),
        "transcode",
    )
    .await;
    assert_eq!(r["delivery"], "hls.js");
    let reasons: Vec<&str> = r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for reason in [
        "video_codec_not_supported",
        "audio_codec_not_supported",
        "audio_channels_exceed_limit",
    ] {
        assert!(
            reasons.contains(&reason),
            "{reason} missing from {reasons:?}"
        );
    }
}

// ------------------------------------------------------------------------------ download

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn chromium_downloads_a_transcode_through_the_button() {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let srv = start_server(player_dir(), None).await;
    let t = token("viewer");
    let source = media_dir().join("hevc10_ac3_51.mkv");
    let id = upload(&srv.base, &t, &source).await;
    let media = wait_settled(&srv.base, &t, &id).await;
    assert_eq!(media["status"], "ready", "{media}");
    let saved = artifacts().join("download-hevc10_ac3_51-360p.mp4");
    let _ = std::fs::remove_file(&saved);
    let name = "download-hevc10_ac3_51";
    let r = node(
        "download.mjs",
        &[&srv.base, &t, &id, "360", &saved.to_string_lossy()],
        name,
    )
    .await;
    // The page showed the progress while the server made it, then Chromium saved the MP4
    // under the name the server gave.
    assert!(r["preparing"].as_u64().unwrap_or(0) >= 1, "{r}");
    assert_eq!(r["suggested"], r["fileName"], "{r}");
    assert!(
        r["suggested"]
            .as_str()
            .unwrap_or("")
            .ends_with("(360p).mp4"),
        "{r}"
    );
    stream_tests::assert_offline_mp4(&saved, &source, 360);
    srv.stop().await;
}

// ------------------------------------------------------------------------------ ABR

/// The URIs a playlist refers to (segment lines, `URI="..."` of `EXT-X-MEDIA` / `EXT-X-MAP`),
/// resolved against its URL.
fn playlist_uris(base: &url::Url, text: &str) -> Vec<url::Url> {
    let mut out = vec![];
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let uri = if let Some(i) = line.find("URI=\"") {
            line[i + 5..].split('"').next()
        } else if !line.starts_with('#') {
            Some(line)
        } else {
            None
        };
        if let Some(u) = uri {
            out.push(base.join(u).expect("playlist URI"));
        }
    }
    out
}

/// Makes every segment of a transcode's ladder, as a first viewer (or a CDN fill) would, so the
/// next player measures the network rather than the just-in-time encoder. Segment requests
/// answer `200` once the segment is made; only the headers are waited for (the bytes would go
/// through the throttle).
async fn warm_ladder(base: &str, t: &str, id: &str) -> Duration {
    let started = Instant::now();
    let q = "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_width=1920&max_height=1080";
    let r = http()
        .get(format!("{base}/api/v1/stream/{id}?{q}"))
        .bearer_auth(t)
        .header("accept", "application/json")
        .send()
        .await
        .expect("stream");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["method"], "transcode", "{v}");
    let client = http();
    let master = url::Url::parse(v["url"].as_str().expect("url")).expect("master URL");
    let text = client
        .get(master.clone())
        .send()
        .await
        .expect("master")
        .text()
        .await
        .expect("master text");
    let tasks = playlist_uris(&master, &text).into_iter().map(|playlist| {
        let client = client.clone();
        async move {
            let text = client
                .get(playlist.clone())
                .send()
                .await
                .expect("playlist")
                .text()
                .await
                .expect("playlist text");
            for seg in playlist_uris(&playlist, &text) {
                for attempt in 0.. {
                    let r = client.get(seg.clone()).send().await.expect("segment");
                    if r.status() == 503 && attempt < 10 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    assert_eq!(r.status(), 200, "warming {}", seg.path());
                    break;
                }
            }
        }
    });
    futures::future::join_all(tasks).await;
    started.elapsed()
}

/// Plays the ABR source with hls.js against a server throttled to `throttle` (or not).
async fn abr_case(name: &str, throttle: Option<u64>, direction: &str) -> Value {
    prerequisites();
    let file = abr_source();
    let _serial = SERIAL.lock().await;
    let srv = start_server(player_dir(), throttle).await;
    let t = token("viewer");
    let id = upload(&srv.base, &t, &file).await;
    let media = wait_settled(&srv.base, &t, &id).await;
    assert_eq!(media["status"], "ready", "{name}: {media}");
    // Both runs on a made ladder: the network (the throttle or its absence) is then the only
    // difference, not the encoder.
    let took = warm_ladder(&srv.base, &t, &id).await;
    eprintln!("{name}: ladder made in {:.1} s", took.as_secs_f64());
    let shot = artifacts().join(format!("{name}.png"));
    let report = node(
        "abr.mjs",
        &[&srv.base, &t, &id, direction, &shot.to_string_lossy()],
        name,
    )
    .await;
    srv.stop().await;
    report
}

/// 150 kB/s (1.2 Mbit/s shared by video and audio) is well below the top rung (720p, 2.8 Mbit/s
/// video) and the middle one (480p, 1.4 Mbit/s), above the lowest (360p, 0.8 Mbit/s). The
/// ladder is made beforehand; playback starts on the top rung; hls.js must go down and play on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn hls_js_switches_down_when_the_network_is_slow() {
    let r = abr_case("abr-down-throttled", Some(150_000), "down").await;
    assert!(r["levels"].as_array().is_some_and(|l| l.len() >= 2), "{r}");
}

/// No throttle (loopback), the ladder made beforehand (a second viewer, or a CDN-filled one):
/// playback starts on the lowest rung and hls.js climbs to the top. (On a cold ladder it climbs
/// too, but slowly: every switch asks for a rung the read-ahead has not made, and the encode wait
/// before the first byte reads as low bandwidth.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and npm (scripts/test.sh runs it)"]
async fn hls_js_climbs_to_the_top_rung_on_a_fast_network() {
    let r = abr_case("abr-up-unthrottled", None, "up").await;
    assert!(r["levels"].as_array().is_some_and(|l| l.len() >= 2), "{r}");
}

/// Subtitles in the page: `<track>`s in direct play (the forced track on by itself, a chosen
/// cue shown at its time, ASS styling never shown as text), hls.js's subtitle track in HLS (the
/// language remembered, a cue at its time after seeks) (tests/browser/subtitles.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and node (scripts/test.sh runs it)"]
async fn subtitles_show_at_their_times_in_direct_play_and_hls() {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let srv = start_server(player_dir(), None).await;
    let t = token("subtitle-viewer");
    let mkv = upload(&srv.base, &t, &media_dir().join("subs.mkv")).await;
    let mov = upload(&srv.base, &t, &subtitles_mov()).await;
    for id in [&mkv, &mov] {
        let m = wait_settled(&srv.base, &t, id).await;
        assert_eq!(m["status"], "ready", "{m}");
    }
    let shot = artifacts().join("subtitles.png");
    let name = "subtitles";
    let args = [srv.base.as_str(), &t, &mkv, &mov, &shot.to_string_lossy()];
    node("subtitles.mjs", &args, name).await;
    srv.stop().await;
}

/// Audio languages in the page: hls.js plays the default track, the viewer picks another in
/// the menu and the pitch a Web Audio analyser measures changes to that track's tone, with no
/// new stream request (tests/browser/audio.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and node (scripts/test.sh runs it)"]
async fn switching_audio_language_changes_the_sound_within_the_session() {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let srv = start_server(player_dir(), None).await;
    let t = token("audio-viewer");
    let id = upload(&srv.base, &t, &audio_langs_mov()).await;
    let m = wait_settled(&srv.base, &t, &id).await;
    assert_eq!(m["status"], "ready", "{m}");
    let shot = artifacts().join("audio.png");
    let args = [srv.base.as_str(), &t, &id, &shot.to_string_lossy()];
    node("audio.mjs", &args, "audio").await;
    srv.stop().await;
}

// ------------------------------------------------------------------------------ trick-play

/// Seek-bar previews in the page: hovering the seek bar at a time shows the storyboard's tile
/// of that time (its sheet, its offset, the sheet loaded), in direct play and through hls.js
/// (tests/browser/trickplay.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and node (scripts/test.sh runs it)"]
async fn hovering_the_seek_bar_previews_that_time() {
    let _serial = SERIAL.lock().await;
    prerequisites();
    let srv = start_server(player_dir(), None).await;
    let t = token("trickplay-viewer");
    let source = media_dir().join("trickplay.mp4");
    let src = source.to_string_lossy().into_owned();
    // Chromium does not claim QuickTime: the copy is remuxed to HLS.
    let mov = made_media(
        "trickplay.mov",
        &["-i", &src, "-map", "0", "-c", "copy", "-f", "mov"],
    );
    let mp4 = upload(&srv.base, &t, &source).await;
    let mov = upload(&srv.base, &t, &mov).await;
    for id in [&mp4, &mov] {
        let m = wait_settled(&srv.base, &t, id).await;
        assert_eq!(m["status"], "ready", "{m}");
    }
    let shot = artifacts().join("trickplay.png");
    let args = [srv.base.as_str(), &t, &mp4, &mov, &shot.to_string_lossy()];
    node("trickplay.mjs", &args, "trickplay").await;
    srv.stop().await;
}
