//! Ingest on generated media, in both shapes: every file of the manifest is uploaded through
//! `POST /api/v1/uploads` + the presigned PUT and must end `ready` with the facts it was generated
//! with, or `failed` with an error a person understands.
//!
//! Embedded: over HTTP against an in-process streamd (the PUT itself starts ingest).
//! Cloud: the same HTTP handler in-process on LocalStack + DynamoDB Local, the PUT to the S3
//! presigned URL, then the S3 ObjectCreated event of `events/s3-object-created.json` with the key
//! replaced, handed to the ingest function's logic.

use std::path::Path;

use bytes::Bytes;
use futures::future::join_all;
use serde_json::Value;
use stream_service::state::AppState;
use stream_tests::{
    aws_state, http, manifest, media_dir, repo_root, token, upload, wait_settled, TestServer,
};

/// Compares a settled media view with the manifest entry for its file.
fn check_against_manifest(name: &str, view: &Value, want: &Value) {
    if want["corrupt"].as_bool() == Some(true) {
        // Damaged after a readable start: ingest may accept it (playback then fails clearly on
        // the damaged part, see hls.rs) or refuse it; either way it settles with a clear state.
        assert!(
            view["status"] == "ready" || view["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {view}"
        );
        return;
    }
    if let Some(expected_error) = want["broken"].as_str() {
        assert_eq!(view["status"], "failed", "{name} must fail: {view}");
        let error = view["error"].as_str().unwrap_or_default();
        assert!(
            error
                .to_lowercase()
                .contains(&expected_error.to_lowercase()),
            "{name}: error {error:?} should mention {expected_error:?}"
        );
        assert!(
            !error.contains("http") && !error.contains("/tmp") && !error.contains("X-Amz"),
            "{name}: error leaks internals: {error}"
        );
        return;
    }
    assert_eq!(view["status"], "ready", "{name}: {view}");
    assert_eq!(view["container"], want["container"], "{name} container");
    let duration = view["duration_seconds"].as_f64().expect("duration");
    let truth = want["duration"].as_f64().expect("manifest duration");
    assert!(
        (duration - truth).abs() <= 0.1,
        "{name}: duration {duration} vs {truth}"
    );
    assert_eq!(
        view["keyframe_count"], want["keyframes"],
        "{name} keyframes"
    );
    match want["video"].as_object() {
        None => {
            assert!(view["video"].is_null(), "{name}: no video expected");
            let notes = view["notes"].to_string().to_lowercase();
            assert!(
                notes.contains("audio only") || notes.contains("no video"),
                "{name}: an audio-only file says so: {notes}"
            );
        }
        Some(v) => {
            let got = &view["video"];
            for field in ["codec", "profile", "width", "height", "bit_depth"] {
                assert_eq!(got[field], v[field], "{name} video {field}");
            }
            // Phone-like files also state their orientation and HDR.
            for field in [
                "rotation",
                "display_width",
                "display_height",
                "hdr",
                "dolby_vision",
            ] {
                if let Some(want) = v.get(field) {
                    assert_eq!(&got[field], want, "{name} video {field}");
                }
            }
            let fps = got["frame_rate"].as_f64().expect("frame rate");
            assert!(
                (fps - v["frame_rate"].as_f64().unwrap()).abs() < 0.01,
                "{name}: frame rate {fps}"
            );
        }
    }
    let audio = view["audio"].as_array().expect("audio list");
    let want_audio = want["audio"].as_array().expect("manifest audio");
    assert_eq!(audio.len(), want_audio.len(), "{name} audio track count");
    for (got, w) in audio.iter().zip(want_audio) {
        assert_eq!(got["codec"], w["codec"], "{name} audio codec");
        assert_eq!(got["channels"], w["channels"], "{name} audio channels");
    }
    // Subtitle tracks: text ones converted at ingest (their cue times are checked in
    // subtitles.rs), bitmap ones listed with no cues (burned in: burn_in.rs).
    let subs = view["subtitles"].as_array().expect("subtitle list");
    let want_subs = want["subtitles"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        subs.len(),
        want_subs.len(),
        "{name} subtitle tracks: {subs:?}"
    );
    for (got, w) in subs.iter().zip(&want_subs) {
        for field in ["id", "language", "name", "codec", "forced", "default"] {
            assert_eq!(got[field], w[field], "{name} subtitle {field}: {got}");
        }
        let kind = w["kind"].as_str().unwrap_or("text");
        assert_eq!(
            (got["kind"].as_str(), got["source"].as_str()),
            (Some(kind), Some("embedded")),
            "{name}: {got}"
        );
        let cues = w["cues"].as_array().map_or(0, Vec::len);
        assert_eq!(got["cues"], cues, "{name} subtitle cues: {got}");
        assert!(got["error"].is_null(), "{name}: {got}");
    }
}

fn manifest_files() -> Vec<(String, Value)> {
    let m = manifest();
    let files = m["files"].as_object().expect("files").clone();
    files.into_iter().collect()
}

#[tokio::test]
async fn embedded_ingest_matches_the_generated_truth() {
    let server = TestServer::start().await;
    let t = token("ingest-user");
    let dir = media_dir();
    let files = manifest_files();
    let runs = files.iter().map(|(name, want)| {
        let (server, t, dir) = (&server, &t, &dir);
        async move {
            let id = upload(&server.base, t, &dir.join(name)).await;
            let view = wait_settled(&server.base, t, &id).await;
            check_against_manifest(name, &view, want);
        }
    });
    join_all(runs).await;
    server.stop().await;
}

#[tokio::test]
async fn a_second_put_after_ingest_is_refused_and_loses_nothing() {
    let server = TestServer::start().await;
    let t = token("ingest-user");
    let file = media_dir().join("h264_aac.mp4");
    let r = http()
        .post(server.url("/api/v1/uploads"))
        .bearer_auth(&t)
        .json(&serde_json::json!({"filename": "h264_aac.mp4"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let url = body["upload_url"].as_str().unwrap().to_string();
    let id = body["media_id"].as_str().unwrap().to_string();
    stream_tests::put_file(&url, &file).await;
    let view = wait_settled(&server.base, &t, &id).await;
    assert_eq!(view["status"], "ready");
    // Replaying the upload URL after ingest must not overwrite the probed source.
    let r = http()
        .put(&url)
        .body(Bytes::from_static(b"garbage"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap_or_default());
    let again = wait_settled(&server.base, &t, &id).await;
    assert_eq!(again["status"], "ready");
    assert_eq!(again["size_bytes"], view["size_bytes"]);
    // And the stored bytes are the first upload's (read back through direct play).
    let play = format!("/api/v1/stream/{id}?containers=mp4&video_codecs=h264&audio_codecs=aac");
    let r = http()
        .get(server.url(&play))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let location = if location.starts_with('/') {
        server.url(&location)
    } else {
        location
    };
    let stored = http()
        .get(location)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        stored[..] == std::fs::read(&file).unwrap()[..],
        "the stored bytes are the first upload's"
    );
    server.stop().await;
}

/// An upload URL writes its object once, in the cloud too: the write-once condition
/// (`If-None-Match: *`) is signed into the S3 URL, so replaying it with its headers is refused
/// by S3 (`412`) and without them too (`403`, the signature wants them); the media stays `ready`
/// with its first bytes.
#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh)"]
async fn cloud_a_second_put_after_ingest_is_refused_and_loses_nothing() {
    let api = stream_tests::Api::cloud().await;
    let t = token("ingest-user");
    let file = media_dir().join("h264_aac.mp4");
    let body = serde_json::json!({"filename": "h264_aac.mp4"});
    let created = api
        .call("POST", "/api/v1/uploads", Some(&t), &[], Some(body))
        .await
        .json();
    assert_eq!(
        created["upload_headers"],
        serde_json::json!({"if-none-match": "*"}),
        "{created}"
    );
    let url = api.absolute(created["upload_url"].as_str().unwrap());
    let id = created["media_id"].as_str().unwrap().to_string();
    stream_tests::put_file(&url, &media_dir().join("h264_aac.mp4")).await;
    let media = api.state().meta.get_media(&id).await.unwrap().unwrap();
    stream_service::ingest::ingest_object_keys(api.state(), [media.source_key.as_str()])
        .await
        .unwrap();
    let view = api.get(&format!("/api/v1/media/{id}"), &t).await.json();
    assert_eq!(view["status"], "ready", "{view}");
    for (headers, want) in [(vec![("if-none-match", "*")], 412), (vec![], 403)] {
        let mut rb = http().put(&url).body(Bytes::from_static(b"garbage"));
        for (k, v) in &headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "{headers:?}");
    }
    let stored = api
        .state()
        .objects
        .read_range(&media.source_key, 0, u64::MAX / 2)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored[..] == std::fs::read(&file).unwrap()[..],
        "the stored bytes are the first upload's"
    );
    let again = api.get(&format!("/api/v1/media/{id}"), &t).await.json();
    assert_eq!(again["status"], "ready");
    assert_eq!(again["size_bytes"], view["size_bytes"]);
    api.stop().await;
}

/// The in-process cloud HTTP handler: the api function's logic without the Lambda runtime.
async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map(|b| Bytes::from(b.to_string())).unwrap_or_default())
        .expect("request");
    let resp = stream_http::handle(state, req).await;
    let status = resp.status().as_u16();
    let v = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (status, v)
}

/// The sample event with its key replaced, handed to the ingest function's logic.
async fn deliver_object_created(state: &AppState, key: &str) {
    let text = std::fs::read_to_string(repo_root().join("events/s3-object-created.json"))
        .expect("sample event");
    let mut event: aws_lambda_events::s3::S3Event =
        serde_json::from_str(&text).expect("sample event parses as an S3 event");
    // S3 URL-encodes keys in notifications; our keys are plain, so encoding is the identity here.
    event.records[0].s3.object.key = Some(key.to_string());
    let keys = event
        .records
        .iter()
        .filter_map(|r| r.s3.object.key.as_deref());
    let outcomes = stream_service::ingest::ingest_object_keys(state, keys)
        .await
        .expect("ingest event");
    assert_eq!(outcomes.len(), 1);
}

async fn cloud_upload(state: &AppState, t: &str, file: &Path) -> (String, String) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let (status, body) = call(
        state,
        "POST",
        "/api/v1/uploads",
        t,
        Some(serde_json::json!({"filename": name})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let url = body["upload_url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-Signature"),
        "an S3 presigned PUT: {url}"
    );
    stream_tests::put_file(url, file).await;
    let id = body["media_id"].as_str().unwrap().to_string();
    let media = state.meta.get_media(&id).await.unwrap().unwrap();
    (id, media.source_key)
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_ingest_from_the_s3_event_matches_the_generated_truth() {
    let state = aws_state().await;
    let t = token("cloud-ingest-user");
    let dir = media_dir();
    let files = manifest_files();
    let runs = files.iter().map(|(name, want)| {
        let (state, t, dir) = (&state, &t, &dir);
        async move {
            let (id, key) = cloud_upload(state, t, &dir.join(name)).await;
            let (s, before) = call(state, "GET", &format!("/api/v1/media/{id}"), t, None).await;
            assert_eq!(s, 200);
            assert_eq!(
                before["status"], "uploading",
                "cloud: nothing happens before the event"
            );
            deliver_object_created(state, &key).await;
            // S3 delivers at least once: a duplicate event changes nothing.
            deliver_object_created(state, &key).await;
            let (s, view) = call(state, "GET", &format!("/api/v1/media/{id}"), t, None).await;
            assert_eq!(s, 200);
            check_against_manifest(name, &view, want);
        }
    });
    join_all(runs).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_events_for_foreign_keys_are_ignored() {
    let state = aws_state().await;
    let outcomes = stream_service::ingest::ingest_object_keys(
        &state,
        [
            "segments/x/y.m4s",
            "uploads/0123456789abcdef0123456789abcdef/source.mkv",
            "uploads/..%2F..%2Fetc/source.mp4",
        ],
    )
    .await
    .expect("foreign keys are skipped, not errors");
    assert!(outcomes.iter().all(|o| o.status.is_none()), "{outcomes:?}");
}
