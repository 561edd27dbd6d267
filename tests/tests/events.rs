//! Every sample event in `events/` (the files `cargo lambda invoke --data-file` takes) run through
//! the function it belongs to: HTTP API v2 requests through the Lambda adapter of the HTTP
//! functions, the DynamoDB TTL stream record through cleanup, a transcode job through the worker.
//! (`s3-object-created.json` is used by tests/tests/ingest.rs, `s3-object-created-multipart.json`
//! by tests/tests/multipart.rs.) Placeholders in the files
//! (REPLACE_WITH_TOKEN, the sample media and session ids) are replaced with live values.

use std::path::PathBuf;

use serde_json::Value;
use stream_core::model::{Claim, SegmentState};
use stream_core::segment::record_id as segment_id;
use stream_service::segments::worker::Job;
use stream_tests::{media_dir, repo_root, token, Api};

const SAMPLE_MEDIA: &str = "0123456789abcdef0123456789abcdef";
const SAMPLE_SESSION: &str = "fedcba9876543210fedcba9876543210";

fn event_path(name: &str) -> PathBuf {
    repo_root().join("events").join(name)
}

fn read_event(name: &str, replacements: &[(&str, &str)]) -> String {
    let mut text =
        std::fs::read_to_string(event_path(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"));
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    text
}

/// Runs an HTTP API v2 event through the same adapter the HTTP functions run.
async fn invoke_http(
    api: &Api,
    name: &str,
    replacements: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let req = lambda_http::request::from_str(&read_event(name, replacements))
        .unwrap_or_else(|e| panic!("events/{name} is an HTTP API event: {e}"));
    let resp = stream_http::lambda::handle(api.state(), req).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.into_body() {
        lambda_http::Body::Text(t) => t,
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    (status, headers, body)
}

// Long because it is a table: every sample event of `events/`, each with what its function
// must answer.
async fn every_event(api: Api) {
    let t = token("events-user");
    let id = api
        .upload_settled(&t, &media_dir().join("h264_irregular_gop.mkv"))
        .await;
    let r: &[(&str, &str)] = &[("REPLACE_WITH_TOKEN", &t), (SAMPLE_MEDIA, &id)];

    for (name, want) in [
        ("http-api-healthz.json", 200),
        ("http-api-create-upload.json", 201),
        ("http-api-list-media.json", 200),
        ("http-api-get-media.json", 200),
        ("http-api-patch-media.json", 200),
        ("http-api-put-progress.json", 204),
        ("http-api-get-progress.json", 200),
        ("http-stream-json.json", 200),
    ] {
        let (status, _, body) = invoke_http(&api, name, r).await;
        assert_eq!(status, want, "{} events/{name}: {body}", api.name());
    }
    // The redirect event starts a transcode session; its master URL feeds the HLS events.
    let (status, headers, _) = invoke_http(&api, "http-stream-redirect.json", r).await;
    assert_eq!(status, 302);
    let location = headers["location"].to_str().unwrap().to_string();
    let sid = location
        .split("/hls/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let session_token = location
        .split("token=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let session = api
        .state()
        .meta
        .get_session(&sid, now)
        .await
        .unwrap()
        .expect("session");
    let (master_status, _, master) = invoke_http(
        &api,
        "http-hls-master.json",
        &[
            (SAMPLE_SESSION, &sid),
            ("REPLACE_WITH_SESSION_TOKEN", &session_token),
        ],
    )
    .await;
    assert_eq!(master_status, 200, "{master}");
    let rung = master
        .lines()
        .find(|l| {
            l.ends_with(&format!("playlist.m3u8?token={session_token}")) && !l.starts_with('#')
        })
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let hls = [
        (SAMPLE_SESSION, sid.as_str()),
        ("REPLACE_WITH_SESSION_TOKEN", session_token.as_str()),
        ("v240", rung.as_str()),
    ];
    let (s, _, body) = invoke_http(&api, "http-hls-variant.json", &hls).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("#EXT-X-ENDLIST"));
    let (s, h, body) = invoke_http(&api, "http-hls-segment.json", &hls).await;
    assert_eq!(s, 302, "{body}");
    assert!(h.contains_key("location"));

    // The TTL deletion of that session (the AWS stream record shape) cleans up its renditions.
    let doc = serde_json::to_string(&session).unwrap();
    let doc_json = serde_json::to_string(&doc).unwrap();
    let event_text = read_event(
        "dynamodb-ttl-remove.json",
        &[
            (SAMPLE_SESSION, &sid),
            (SAMPLE_MEDIA, &id),
            ("\"REPLACE_WITH_SESSION_DOC\"", &doc_json),
        ],
    );
    let event: Value = serde_json::from_str(&event_text).unwrap();
    let (s, _, _) = invoke_http(&api, "http-hls-delete.json", &hls).await;
    assert_eq!(s, 204, "DELETE ends the session");
    let reports = stream_service::cleanup::handle_stream_event(api.state(), &event)
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].objects_deleted >= 1, "{:?}", reports[0]);
    // A removal by a user (not TTL) is not cleanup's business.
    let mut user_delete = event.clone();
    user_delete["Records"][0]["userIdentity"] = Value::Null;
    assert!(
        stream_service::cleanup::handle_stream_event(api.state(), &user_delete)
            .await
            .unwrap()
            .is_empty()
    );

    // The transcode job event runs on the worker: segment 0 of the copied rendition of a remux.
    let job_text = read_event("transcode-job.json", &[(SAMPLE_MEDIA, &id)]);
    let job: Job = serde_json::from_str(&job_text).expect("events/transcode-job.json is a Job");
    let key = job.set.content_key(&job.rendition).unwrap();
    let seg = segment_id(&key, "seg_00000.m4s");
    let now = chrono::Utc::now().timestamp();
    assert!(matches!(
        api.state()
            .meta
            .claim_segment(&seg, &job.worker, now, now + 60, 3)
            .await
            .unwrap(),
        Claim::Claimed(_)
    ));
    stream_service::segments::worker::run(&api.state().worker_context(), &job)
        .await
        .unwrap();
    let rec = api.state().meta.get_segment(&seg).await.unwrap().unwrap();
    assert_eq!(rec.state, SegmentState::Ready, "{rec:?}");
    assert!(api
        .state()
        .objects
        .head(rec.object_key.as_deref().unwrap())
        .await
        .unwrap()
        .is_some());
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_every_sample_event_runs() {
    every_event(Api::embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_every_sample_event_runs() {
    every_event(Api::cloud().await).await;
}

/// events/transcode-job.json is the real job for the sample remux: this fails when the job format
/// drifts from the file; `STREAM_WRITE_EVENTS=1 cargo test --test events transcode_job` rewrites it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transcode_job_event_is_current() {
    let api = Api::embedded().await;
    let t = token("gen");
    let id = api
        .upload_settled(&t, &media_dir().join("h264_irregular_gop.mkv"))
        .await;
    let media = api.state().meta.get_media(&id).await.unwrap().unwrap();
    let probe = media.probe.unwrap();
    let caps = stream_core::playback::query::from_query(
        &[("profile".to_string(), "chrome".to_string())]
            .into_iter()
            .collect(),
        None,
    )
    .unwrap()
    .0;
    let audio = stream_core::playback::decision::select_audio(&probe, None).unwrap();
    let decision = stream_core::playback::decision::decide(&probe, &caps, audio, false);
    let set = stream_core::hls::ladder::build(
        SAMPLE_MEDIA,
        &probe,
        &decision,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let job = Job {
        rendition: set.video[0].id.clone(),
        set,
        kind: stream_service::segments::worker::JobKind::Segment(0),
        worker: "sample-worker-0001".into(),
        also: vec![],
        ahead: false,
        requester: None,
        in_stride: false,
    };
    let text = serde_json::to_string_pretty(&job)
        .unwrap()
        .replace(&id, SAMPLE_MEDIA)
        + "\n";
    if std::env::var("STREAM_WRITE_EVENTS").is_ok_and(|v| v == "1") {
        std::fs::write(event_path("transcode-job.json"), &text).unwrap();
    } else {
        let stored = std::fs::read_to_string(event_path("transcode-job.json")).unwrap();
        let (a, b): (Value, Value) = (
            serde_json::from_str(&stored).unwrap(),
            serde_json::from_str(&text).unwrap(),
        );
        assert_eq!(
            a, b,
            "events/transcode-job.json is stale: regenerate with STREAM_WRITE_EVENTS=1"
        );
    }
    api.stop().await;
}
