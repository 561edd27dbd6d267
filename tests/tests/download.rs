//! Offline downloads (SPEC §3 "Downloads for offline playback") in both shapes (embedded; the
//! same handlers on LocalStack + DynamoDB Local behind the CDN stand-in), checked with
//! independent tools: ffprobe reads the file's container, duration and box order, ffmpeg
//! decodes it whole, and the jobs started are counted (a second download makes nothing).
//! The `transcode` function assembling a download under `cargo lambda watch` is in
//! `cloud_e2e.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use stream_tests::{assert_offline_mp4, media_dir, save_attachment, token, Api, Reply};

/// The generic profile (H.264/AAC in MP4, 8-bit): the 10-bit HEVC file needs a transcode.
const GENERIC: &str = "profile=generic";

/// Asks for a download until it is ready (`302`), checking every `202` on the way. Returns the
/// ready answer and how many `202`s came before it.
async fn download_until_ready(api: &Api, t: &str, id: &str, query: &str) -> (Reply, usize) {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut preparing = 0;
    loop {
        let r = api.get(&format!("/api/v1/download/{id}?{query}"), t).await;
        match r.status {
            302 => return (r, preparing),
            202 => {
                preparing += 1;
                let v = r.json();
                assert_eq!(v["status"], "preparing", "{}", r.text());
                let p = v["progress"].as_f64().expect("progress");
                assert!((0.0..1.0).contains(&p), "progress {p}");
                assert_eq!(r.header("retry-after"), Some("2"));
                assert_eq!(r.header("cache-control"), Some("no-store"));
            }
            s => panic!("{}: download answered {s}: {}", api.name(), r.text()),
        }
        assert!(
            Instant::now() < deadline,
            "{}: the download was not ready within 240 s",
            api.name()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Fetches the file a ready answer redirects to (checking that it is saved, not played).
async fn fetch(api: &Api, ready: &Reply, dest: &Path) -> String {
    let location = api.absolute(ready.header("location").expect("location"));
    save_attachment(&location, dest).await;
    location
}

async fn share(api: &Api, owner: &str, id: &str) {
    let r = api
        .call(
            "PATCH",
            &format!("/api/v1/media/{id}"),
            Some(owner),
            &[],
            Some(json!({"visibility": "shared"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A transcoded title: a valid faststart H.264/AAC MP4 of the asked rung, as long as the
/// source, that decodes without an error; assembled once; a second download (another user
/// too) makes nothing and gets the same object.
async fn a_transcoded_download_is_a_faststart_mp4_made_once(api: Api) {
    let (alice, bob) = (token("alice"), token("bob"));
    let source = media_dir().join("hevc10_ac3_51.mkv");
    let id = api.upload_settled(&alice, &source).await;
    let query = format!("{GENERIC}&quality=360");
    let before = api.state().dispatcher.started();
    let (ready, preparing) = download_until_ready(&api, &alice, &id, &query).await;
    assert!(preparing >= 1, "a transcoded download is made first: 202");
    let made = api.state().dispatcher.started() - before;
    assert!(made > 0, "{}: jobs were started", api.name());
    assert_eq!(ready.header("cache-control"), Some("private, no-store"));
    let disposition = ready.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with("(360p).mp4\""),
        "{disposition}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("download.mp4");
    let location = fetch(&api, &ready, &file).await;
    let object = location
        .split('?')
        .next()
        .unwrap_or_default()
        .replace("%2E", ".");
    assert!(object.ends_with("/download.mp4"), "{location}");
    // MP4, H.264 + AAC, the rung asked for, faststart, as long as the source, decodes.
    assert_offline_mp4(&file, &source, 360);

    // The assembly was claimed once.
    let key = location
        .split("renditions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the content key");
    let record = api
        .state()
        .meta
        .get_segment(&format!("{key}/download.mp4"))
        .await
        .unwrap()
        .expect("the download's record");
    assert_eq!(
        (record.state, record.attempts),
        (stream_core::model::SegmentState::Ready, 1)
    );

    // Again, and another user: nothing is made, the same object is given.
    share(&api, &alice, &id).await;
    let after = api.state().dispatcher.started();
    for who in [&alice, &bob] {
        let r = api
            .get(&format!("/api/v1/download/{id}?{query}"), who)
            .await;
        assert_eq!(r.status, 302, "{}: {}", api.name(), r.text());
        let again = api.absolute(r.header("location").unwrap());
        let path = |u: &str| u.split('?').next().unwrap_or_default().to_string();
        assert_eq!(path(&again), path(&location));
    }
    // The JSON form names the same file.
    let r = api
        .get_json(&format!("/api/v1/download/{id}?{query}"), &bob)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["status"].as_str(), v["original"].as_bool()),
        (Some("ready"), Some(false))
    );
    assert_eq!(v["rung"], "v360");
    assert_eq!(
        api.state().dispatcher.started(),
        after,
        "{}: a second download made nothing",
        api.name()
    );
    api.stop().await;
}

/// An original that fits the client is the download: `302` to it, saved as an attachment.
async fn a_fitting_original_is_the_download(api: Api) {
    let alice = token("alice");
    let source = media_dir().join("h264_aac.mp4");
    let id = api.upload_settled(&alice, &source).await;
    let before = api.state().dispatcher.started();
    let r = api
        .get(&format!("/api/v1/download/{id}?{GENERIC}"), &alice)
        .await;
    assert_eq!(r.status, 302, "{}: {}", api.name(), r.text());
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert!(disposition.ends_with(".mp4\""), "{disposition}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("original.mp4");
    let location = fetch(&api, &r, &file).await;
    assert!(location.contains("/uploads/"), "{location}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&source).unwrap()
    );
    assert_eq!(api.state().dispatcher.started(), before, "nothing made");
    // A quality the original is not above (it is 360 lines tall) is still the original.
    let r = api
        .get(
            &format!("/api/v1/download/{id}?{GENERIC}&quality=360"),
            &alice,
        )
        .await;
    assert_eq!(r.status, 302, "{}: {}", api.name(), r.text());
    let again = api.absolute(r.header("location").unwrap());
    assert!(again.contains("/uploads/"), "{again}");
    assert_eq!(api.state().dispatcher.started(), before, "nothing made");
    api.stop().await;
}

/// Unknown, hidden, bad parameters, no token.
async fn refusals(api: Api) {
    let (alice, bob) = (token("alice"), token("bob"));
    let id = api
        .upload_settled(&alice, &media_dir().join("h264_aac.mp4"))
        .await;
    let code = |r: &Reply| r.json()["error"]["code"].as_str().unwrap_or("").to_string();
    let unknown = api
        .get(
            "/api/v1/download/0123456789abcdef0123456789abcdef?profile=generic",
            &alice,
        )
        .await;
    assert_eq!((unknown.status, code(&unknown)), (404, "not_found".into()));
    let hidden = api.get(&format!("/api/v1/download/{id}"), &bob).await;
    assert_eq!((hidden.status, code(&hidden)), (404, "not_found".into()));
    // The same answer as for a media that does not exist (no existence leak).
    let message = |r: &Reply| r.json()["error"]["message"].clone();
    assert_eq!(message(&hidden), message(&unknown));
    for bad in [
        "quality=4k",
        "quality=540",
        "quality=",
        "profile=toaster",
        "max_height=0",
    ] {
        let r = api
            .get(&format!("/api/v1/download/{id}?{bad}"), &alice)
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(code(&r), "invalid_parameter");
        let name = bad.split('=').next().unwrap();
        assert!(
            r.text().contains(&format!("`{name}`")),
            "{bad}: {}",
            r.text()
        );
    }
    let r = api
        .call("GET", &format!("/api/v1/download/{id}"), None, &[], None)
        .await;
    assert_eq!(r.status, 401);
    // An audio-only file the client does not play as it is: no rung to make, said clearly.
    let audio = api
        .upload_settled(&alice, &media_dir().join("audio_only.m4a"))
        .await;
    let r = api
        .get(&format!("/api/v1/download/{audio}?{GENERIC}"), &alice)
        .await;
    assert_eq!(
        (r.status, code(&r)),
        (409, "not_downloadable".into()),
        "{}",
        r.text()
    );
    api.stop().await;
}

// ---- embedded ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_a_transcoded_download_is_a_faststart_mp4_made_once() {
    a_transcoded_download_is_a_faststart_mp4_made_once(Api::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_a_fitting_original_is_the_download() {
    a_fitting_original_is_the_download(Api::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_refusals() {
    refusals(Api::embedded().await).await;
}

// ---- cloud stores (LocalStack S3 + DynamoDB Local) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_a_transcoded_download_is_a_faststart_mp4_made_once() {
    a_transcoded_download_is_a_faststart_mp4_made_once(Api::cloud().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_a_fitting_original_is_the_download() {
    a_fitting_original_is_the_download(Api::cloud().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_refusals() {
    refusals(Api::cloud().await).await;
}
