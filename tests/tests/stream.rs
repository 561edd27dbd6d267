//! `GET /api/v1/stream/{id}` in both shapes (embedded over HTTP; the cloud handler on LocalStack +
//! DynamoDB Local): every method with generated media, every reason, direct play through the
//! redirect with byte-exact ranges, session reuse under concurrency, resume, and every error
//! status where it belongs.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use stream_tests::{http, media_dir, token, Api};

fn reasons(v: &Value) -> BTreeSet<String> {
    v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r.as_str().expect("reason").to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The stream request for `id` with `query`, JSON mode.
async fn decide(api: &Api, t: &str, id: &str, query: &str) -> Value {
    let r = api
        .get_json(&format!("/api/v1/stream/{id}?{query}"), t)
        .await;
    assert_eq!(
        r.status,
        200,
        "{} {query}: {}",
        api.name(),
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    r.json()
}

const STEREO_AAC_H264_MP4: &str =
    "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";

// Long because it is a table of (file, capabilities) → method and reasons, one row per case
// of the decision.
async fn every_method_with_its_reasons(api: Api) {
    let t = token("viewer");
    let dir = media_dir();
    let files = [
        "h264_aac.mp4",
        "h264_aac.mkv",
        "h264_ac3_51.mkv",
        "hevc10_ac3_51.mkv",
    ];
    let paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    let ids: Vec<String> = join_all(paths.iter().map(|p| api.upload_settled(&t, p))).await;
    let (mp4, mkv, ac3, hevc) = (&ids[0], &ids[1], &ids[2], &ids[3]);

    let cases: Vec<(&str, &str, &str, BTreeSet<String>)> = vec![
        (mp4, "profile=chrome", "direct_play", set(&[])),
        (
            mkv,
            "profile=chrome",
            "remux",
            set(&["container_not_supported"]),
        ),
        (
            ac3,
            STEREO_AAC_H264_MP4,
            "transcode_audio",
            set(&[
                "container_not_supported",
                "audio_codec_not_supported",
                "audio_channels_exceed_limit",
            ]),
        ),
        (
            hevc,
            STEREO_AAC_H264_MP4,
            "transcode",
            set(&[
                "container_not_supported",
                "video_codec_not_supported",
                "video_bit_depth_not_supported",
                "audio_codec_not_supported",
                "audio_channels_exceed_limit",
            ]),
        ),
        (
            mp4,
            "profile=chrome&max_bitrate=100000",
            "transcode",
            set(&["bitrate_exceeds_limit"]),
        ),
        (
            mp4,
            "profile=chrome&max_height=240",
            "transcode",
            set(&["video_resolution_exceeds_limit"]),
        ),
        (
            mp4,
            "profile=chrome&max_width=320",
            "transcode",
            set(&["video_resolution_exceeds_limit"]),
        ),
        // Explicit parameters override the named profile.
        (
            mp4,
            "profile=chrome&containers=webm",
            "remux",
            set(&["container_not_supported"]),
        ),
    ];
    for (id, query, method, want) in cases {
        let v = decide(&api, &t, id, query).await;
        assert_eq!(v["method"], method, "{} {query}: {v}", api.name());
        assert_eq!(reasons(&v), want, "{} {query}", api.name());
        assert!(
            v["expires_at"].as_str().is_some_and(|e| e.ends_with('Z')),
            "{v}"
        );
        assert!(
            v.get("resume_position_seconds").is_some(),
            "resume_position_seconds is always present: {v}"
        );
        let url = v["url"].as_str().expect("url");
        if method == "direct_play" {
            assert_eq!(v["protocol"], "file");
            assert!(v["session_id"].is_null());
        } else {
            assert_eq!(v["protocol"], "hls");
            let sid = v["session_id"].as_str().expect("session id");
            assert!(
                stream_core::ids::is_valid_id(sid),
                "128-bit hex session id: {sid}"
            );
            assert!(
                url.contains(&format!("/api/v1/hls/{sid}/master.m3u8?token=")),
                "{url}"
            );
        }
        // Redirect mode: 302 to the same place, never cached.
        let r = api.get(&format!("/api/v1/stream/{id}?{query}"), &t).await;
        assert_eq!(r.status, 302, "{} {query}", api.name());
        assert_eq!(r.header("cache-control"), Some("private, no-store"));
        let location = r.header("location").expect("location");
        let stable = |u: &str| {
            u.split("token=")
                .next()
                .unwrap_or_default()
                .split("X-Amz-Date")
                .next()
                .unwrap_or_default()
                .split("expires=")
                .next()
                .unwrap_or_default()
                // CloudFront's canned policy (direct play through the CDN) says `Expires=`.
                .split("Expires=")
                .next()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            stable(location),
            stable(url),
            "{query}: the redirect goes where the JSON says"
        );
    }

    // A user agent refines the default profile: Safari plays HEVC 10-bit in MP4 but not MKV.
    let r = api
        .call(
            "GET",
            &format!("/api/v1/stream/{hevc}"),
            Some(&t),
            &[("accept", "application/json"), ("user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["method"], "remux", "{}", r.json());
    api.stop().await;
}

async fn direct_play_ranges_are_byte_exact(api: Api) {
    let t = token("viewer");
    let file = media_dir().join("h264_aac.mp4");
    let source = std::fs::read(&file).unwrap();
    let len = source.len();
    let id = api.upload_settled(&t, &file).await;
    let r = api
        .get(&format!("/api/v1/stream/{id}?profile=chrome"), &t)
        .await;
    assert_eq!(r.status, 302);
    let url = r.header("location").expect("location").to_string();
    assert!(
        !url.to_lowercase().contains("range"),
        "never presigned with a range: {url}"
    );

    let whole = http().get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), source.as_slice());
    let mid = len / 2;
    let cases = [
        ("bytes=0-99".to_string(), 0, 100),
        (format!("bytes={}-{}", mid, mid + 4095), mid, mid + 4096),
        (format!("bytes={}-", len - 5000), len - 5000, len),
        ("bytes=-1000".to_string(), len - 1000, len),
    ];
    for (range, from, to) in cases {
        let r = http()
            .get(&url)
            .header("range", &range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{} {range}", api.name());
        assert_eq!(
            r.headers()["content-range"].to_str().unwrap(),
            format!("bytes {}-{}/{}", from, to - 1, len),
            "{range}"
        );
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            &source[from..to],
            "{} {range}: bytes differ",
            api.name()
        );
    }
    // HEAD through the endpoint gets a URL that answers HEAD.
    let r = api
        .call(
            "HEAD",
            &format!("/api/v1/stream/{id}?profile=chrome"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 302);
    let head_url = r.header("location").unwrap().to_string();
    let h = http().head(&head_url).send().await.unwrap();
    assert_eq!(h.status(), 200, "{}", api.name());
    assert_eq!(
        h.headers()["content-length"].to_str().unwrap(),
        len.to_string()
    );
    // A tampered URL is refused.
    let pos = url.rfind("ignature=").unwrap() + "ignature=".len();
    let mut tampered = url.clone();
    let c = if &url[pos..pos + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(pos..pos + 1, c);
    assert_eq!(
        http().get(&tampered).send().await.unwrap().status(),
        403,
        "{}",
        api.name()
    );
    api.stop().await;
}

async fn expired_direct_play_urls_are_refused(api: Api) {
    let t = token("viewer");
    let id = api
        .upload_settled(&t, &media_dir().join("h264_aac.mp4"))
        .await;
    let r = api
        .get(&format!("/api/v1/stream/{id}?profile=chrome"), &t)
        .await;
    assert_eq!(r.status, 302);
    let url = r.header("location").unwrap().to_string();
    assert_eq!(
        http()
            .get(&url)
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap()
            .status(),
        206
    );
    // Expiries are whole epoch seconds: a TTL of 3 s leaves the first request at least 2 s (a
    // TTL of 1 s left as little as a millisecond on a busy machine), and 4.5 s is past it.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let r = http()
        .get(&url)
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "{}: an expired URL is refused", api.name());
    api.stop().await;
}

// Long because it races identical requests on both stores and checks every reuse rule.
async fn one_session_for_concurrent_identical_requests(api: Api) {
    let alice = token("alice");
    let id = api
        .upload_settled(&alice, &media_dir().join("h264_aac.mkv"))
        .await;
    // Share it so a second user may play it too.
    let r = api
        .call(
            "PATCH",
            &format!("/api/v1/media/{id}"),
            Some(&alice),
            &[],
            Some(json!({"visibility": "shared"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let path = format!("/api/v1/stream/{id}?profile=chrome");
    let replies = join_all((0..50).map(|_| api.get_json(&path, &alice))).await;
    let sessions: BTreeSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            r.json()["session_id"]
                .as_str()
                .expect("session")
                .to_string()
        })
        .collect();
    assert_eq!(
        sessions.len(),
        1,
        "{}: 50 concurrent identical requests yield one session: {sessions:?}",
        api.name()
    );
    let sid = sessions.into_iter().next().unwrap();
    // Later identical requests reuse it too; a different user or decision gets another.
    assert_eq!(
        decide(&api, &alice, &id, "profile=chrome").await["session_id"],
        sid.as_str()
    );
    let bob = token("bob");
    let other_user = decide(&api, &bob, &id, "profile=chrome").await;
    assert_ne!(other_user["session_id"], sid.as_str());
    let other_decision = decide(&api, &alice, &id, "profile=chrome&segment_format=ts").await;
    assert_eq!(other_decision["method"], "remux");
    assert_eq!(other_decision["segment_format"], "ts");
    assert_ne!(other_decision["session_id"], sid.as_str());
    let transcode = decide(&api, &alice, &id, "profile=chrome&max_height=240").await;
    assert_ne!(transcode["session_id"], sid.as_str());
    // The stored session is what was decided.
    let now = chrono::Utc::now().timestamp();
    let session = api
        .state()
        .meta
        .get_session(&sid, now)
        .await
        .unwrap()
        .expect("stored session");
    assert_eq!(session.user_id, "alice");
    assert_eq!(session.media_id, id);
    assert!(
        session.expires_at > now + 3600,
        "idle timeout ahead: {}",
        session.expires_at
    );
    // An ended session is not reused.
    api.state().meta.delete_session(&sid).await.unwrap();
    assert!(api
        .state()
        .meta
        .get_session(&sid, now)
        .await
        .unwrap()
        .is_none());
    let fresh = decide(&api, &alice, &id, "profile=chrome").await;
    assert_ne!(fresh["session_id"], sid.as_str());
    // One that expired (as seen from a later clock) is gone too.
    let fresh_id = fresh["session_id"].as_str().unwrap().to_string();
    assert!(api
        .state()
        .meta
        .get_session(&fresh_id, now + 3 * 3600)
        .await
        .unwrap()
        .is_none());
    api.stop().await;
}

async fn progress_and_resume(api: Api) {
    let t = token("resumer");
    let id = api
        .upload_settled(&t, &media_dir().join("h264_aac.mkv"))
        .await;
    let v = decide(&api, &t, &id, "profile=chrome&resume=true").await;
    assert!(
        v["resume_position_seconds"].is_null(),
        "nothing saved yet: {v}"
    );
    assert!(v["start_position_seconds"].is_null());
    let r = api
        .call(
            "PUT",
            &format!("/api/v1/progress/{id}"),
            Some(&t),
            &[],
            Some(json!({"position_seconds": 3.5})),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = api.get(&format!("/api/v1/progress/{id}"), &t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["position_seconds"], 3.5);
    let v = decide(&api, &t, &id, "profile=chrome&resume=true").await;
    assert_eq!(v["resume_position_seconds"], 3.5);
    assert_eq!(v["start_position_seconds"], 3.5);
    assert!(v["url"].as_str().unwrap().ends_with("&start=3.5"), "{v}");
    let v = decide(&api, &t, &id, "profile=chrome").await;
    assert_eq!(
        v["resume_position_seconds"], 3.5,
        "reported without resume=true too"
    );
    assert!(v["start_position_seconds"].is_null());
    let v = decide(&api, &t, &id, "profile=chrome&resume=true&start=1").await;
    assert_eq!(v["start_position_seconds"], 1.0, "an explicit start wins");
    // Direct play reports the saved position for the client to seek to.
    let mp4 = api
        .upload_settled(&t, &media_dir().join("h264_aac.mp4"))
        .await;
    api.call(
        "PUT",
        &format!("/api/v1/progress/{mp4}"),
        Some(&t),
        &[],
        Some(json!({"position_seconds": 2})),
    )
    .await;
    let v = decide(&api, &t, &mp4, "profile=chrome&resume=true").await;
    assert_eq!(v["method"], "direct_play");
    assert_eq!(v["resume_position_seconds"], 2.0);
    // Another user's progress is their own.
    let v = decide(&api, &token("resumer"), &id, "profile=chrome").await;
    assert_eq!(v["resume_position_seconds"], 3.5);
    api.stop().await;
}

// Long because it is a table of error cases of the stream endpoint, each with its status and
// code.
async fn every_error_where_it_belongs(api: Api) {
    let t = token("owner");
    let dir = media_dir();
    // 202 + Retry-After while uploading.
    let (pending, _) = api.create_upload(&t, "later.mp4").await;
    let r = api
        .get(&format!("/api/v1/stream/{pending}?profile=chrome"), &t)
        .await;
    assert_eq!(r.status, 202, "{}", api.name());
    assert!(r
        .header("retry-after")
        .is_some_and(|v| v.parse::<u32>().is_ok()));
    assert_eq!(r.json()["status"], "preparing");
    // 409 for a failed media, with its error.
    let broken = api.upload_settled(&t, &dir.join("random.bin")).await;
    let r = api.get(&format!("/api/v1/stream/{broken}"), &t).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "media_failed");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Not a media file"),
        "{}",
        r.json()
    );
    // 410 when the source object is gone.
    let gone = api.upload_settled(&t, &dir.join("h264_aac.mp4")).await;
    let key = api
        .state()
        .meta
        .get_media(&gone)
        .await
        .unwrap()
        .unwrap()
        .source_key;
    api.state().objects.delete(&key).await.unwrap();
    let r = api
        .get(&format!("/api/v1/stream/{gone}?profile=chrome"), &t)
        .await;
    assert_eq!(r.status, 410);
    assert_eq!(r.json()["error"]["code"], "source_gone");
    // 400 naming the parameter.
    let ok = api.upload_settled(&t, &dir.join("h264_aac.mkv")).await;
    for (query, param) in [
        ("max_width=abc", "max_width"),
        ("max_height=-5", "max_height"),
        ("max_bitrate=1e99", "max_bitrate"),
        ("profile=nokia3310", "profile"),
        ("video_codecs=h264,divx", "video_codecs"),
        ("containers=", "containers"),
        ("hdr=maybe", "hdr"),
        ("resume=yes", "resume"),
        ("audio_track=7", "audio_track"),
        ("start=-1", "start"),
        ("start=999", "start"),
        ("segment_format=flv", "segment_format"),
        ("max_video_bit_depth=99", "max_video_bit_depth"),
    ] {
        let r = api.get(&format!("/api/v1/stream/{ok}?{query}"), &t).await;
        assert_eq!(r.status, 400, "{} {query}", api.name());
        let msg = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            msg.contains(&format!("`{param}`")),
            "{query}: the message names `{param}`: {msg}"
        );
    }
    // 404: unknown, malformed, or another user's private media (no existence leak).
    for id in [
        "0123456789abcdef0123456789abcdef",
        "..%2F..%2Fetc%2Fpasswd",
        "x",
    ] {
        assert_eq!(
            api.get(&format!("/api/v1/stream/{id}"), &t).await.status,
            404,
            "{id}"
        );
    }
    let r = api
        .get(
            &format!("/api/v1/stream/{ok}?profile=chrome"),
            &token("stranger"),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    // 405 for other methods, 401 without a token.
    assert_eq!(
        api.call("POST", &format!("/api/v1/stream/{ok}"), Some(&t), &[], None)
            .await
            .status,
        405
    );
    assert_eq!(
        api.call("GET", &format!("/api/v1/stream/{ok}"), None, &[], None)
            .await
            .status,
        401
    );
    api.stop().await;
}

// ---- embedded shape ----

#[tokio::test]
async fn embedded_every_method_with_its_reasons() {
    every_method_with_its_reasons(Api::embedded().await).await;
}

#[tokio::test]
async fn embedded_direct_play_ranges_are_byte_exact() {
    direct_play_ranges_are_byte_exact(Api::embedded().await).await;
}

#[tokio::test]
async fn embedded_expired_direct_play_urls_are_refused() {
    expired_direct_play_urls_are_refused(
        Api::embedded_with(&[("STREAM_DIRECT_PLAY_URL_TTL_SECONDS", "3")]).await,
    )
    .await;
}

#[tokio::test]
async fn embedded_one_session_for_concurrent_identical_requests() {
    one_session_for_concurrent_identical_requests(Api::embedded().await).await;
}

#[tokio::test]
async fn embedded_progress_and_resume() {
    progress_and_resume(Api::embedded().await).await;
}

#[tokio::test]
async fn embedded_every_error_where_it_belongs() {
    every_error_where_it_belongs(Api::embedded().await).await;
}

// ---- cloud shape (LocalStack S3 + DynamoDB Local) ----

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_every_method_with_its_reasons() {
    every_method_with_its_reasons(Api::cloud().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_direct_play_ranges_are_byte_exact() {
    direct_play_ranges_are_byte_exact(Api::cloud().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_expired_direct_play_urls_are_refused() {
    expired_direct_play_urls_are_refused(
        Api::cloud_with(&[("STREAM_DIRECT_PLAY_URL_TTL_SECONDS", "3")]).await,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_one_session_for_concurrent_identical_requests() {
    one_session_for_concurrent_identical_requests(Api::cloud().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_progress_and_resume() {
    progress_and_resume(Api::cloud().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_every_error_where_it_belongs() {
    every_error_where_it_belongs(Api::cloud().await).await;
}
