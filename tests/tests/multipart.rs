//! Resumable multipart uploads (SPEC §3 "Uploads from phones"), on both shapes over real HTTP:
//! the embedded server (parts PUT to its signed object route) and the cloud handlers on
//! LocalStack + DynamoDB Local (parts PUT to presigned S3 UploadPart URLs; ingest from the
//! `ObjectCreated:CompleteMultipartUpload` event of `events/s3-object-created-multipart.json`).
//!
//! The file is a real video of about 27 MB (raw frames: generated at once, no encoder), sent in
//! parts of 5 MiB (S3's smallest): 6 parts, the last one short. The sequence is the issue's
//! "Must show": parts out of order and in parallel, one part sent wrong and retried, a client
//! that "crashes" (forgets everything) and resumes from `GET /uploads/{id}`, refusals of a
//! wrong ETag, a missing part and a part too small (`400` naming it, nothing ingested), then
//! the completed upload ingested `ready` with exactly the file's bytes (SHA-256), and a second
//! `PUT` after completion refused without changing a byte.

use std::path::Path;

use futures::future::join_all;
use serde_json::{json, Value};
use sha2::Digest;
use stream_tests::{http, repo_root, token, wait_settled, Api};

const PART_SIZE: usize = 5 * 1024 * 1024;
const SETTINGS: &[(&str, &str)] = &[("STREAM_UPLOAD_PART_SIZE", "5242880")];

fn md5_etag(bytes: &[u8]) -> String {
    use md5::Digest;
    let d = md5::Md5::digest(bytes);
    format!(
        "\"{}\"",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

/// PUTs a part; returns the status and the `ETag` answered.
async fn put_part(url: String, bytes: Vec<u8>) -> (u16, Option<String>) {
    let r = http().put(&url).body(bytes).send().await.expect("PUT part");
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), etag)
}

fn url_of(parts: &Value, n: u32) -> String {
    parts
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["number"] == n)
        .and_then(|p| p["url"].as_str())
        .unwrap_or_else(|| panic!("no URL for part {n}: {parts}"))
        .to_string()
}

async fn post(api: &Api, path: &str, t: &str, body: Value) -> stream_tests::Reply {
    api.call("POST", path, Some(t), &[], Some(body)).await
}

/// `POST /uploads/{id}/{action}` (`parts`, `complete`).
async fn on_upload(api: &Api, t: &str, id: &str, action: &str, body: Value) -> stream_tests::Reply {
    post(api, &format!("/api/v1/uploads/{id}/{action}"), t, body).await
}

async fn create(api: &Api, t: &str, size: usize) -> Value {
    let body = json!({"filename": "big.mkv", "content_type": "video/x-matroska", "size": size});
    let r = post(api, "/api/v1/uploads", t, body).await;
    assert_eq!(r.status, 201, "{}: {}", api.name(), r.text());
    r.json()
}

/// The upload is refused with `400` naming `needle`, and nothing was assembled or ingested.
async fn refused(api: &Api, t: &str, id: &str, list: Value, code: &str, needle: &str) {
    let r = on_upload(api, t, id, "complete", json!({"parts": list})).await;
    assert_eq!(r.status, 400, "{}: {}", api.name(), r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], code, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains(needle),
        "{needle}: {e}"
    );
    let media = api.state().meta.get_media(id).await.unwrap().unwrap();
    assert_eq!(
        media.status,
        stream_core::model::MediaStatus::Uploading,
        "nothing ingested"
    );
    assert_eq!(
        api.state().objects.head(&media.source_key).await.unwrap(),
        None
    );
}

/// Settles ingest: the embedded server ingests on completion itself; the cloud gets S3's
/// `ObjectCreated:CompleteMultipartUpload` event, as the `ingest` function would.
async fn settle(api: &Api, t: &str, id: &str) -> Value {
    match api {
        Api::Embedded(s) => wait_settled(&s.base, t, id).await,
        Api::Cloud(_) => {
            let key = api.state().meta.get_media(id).await.unwrap();
            let key = key.expect("the media").source_key;
            let text = std::fs::read_to_string(
                repo_root().join("events/s3-object-created-multipart.json"),
            )
            .expect("sample event");
            let mut event: aws_lambda_events::s3::S3Event = serde_json::from_str(&text).unwrap();
            assert_eq!(
                event.records[0].event_name.as_deref(),
                Some("ObjectCreated:CompleteMultipartUpload")
            );
            event.records[0].s3.object.key = Some(key);
            let keys = event
                .records
                .iter()
                .filter_map(|r| r.s3.object.key.as_deref());
            stream_service::ingest::ingest_object_keys(api.state(), keys)
                .await
                .expect("ingest");
            api.get(&format!("/api/v1/media/{id}"), t).await.json()
        }
    }
}

async fn stored_bytes(api: &Api, id: &str) -> Vec<u8> {
    stream_tests::stored_source(api.state(), id).await.1
}

// Long because it is the "Must show", one step after another, on either shape.
async fn must_show(api: &Api, file: &Path) {
    let t = token("multipart-user");
    let bytes = std::fs::read(file).unwrap();
    let size = bytes.len();
    let v = create(api, &t, size).await;
    let id = v["media_id"].as_str().unwrap().to_string();
    let count = size.div_ceil(PART_SIZE) as u32;
    assert!(count >= 5, "at least 5 parts: {count}");
    assert_eq!(
        (v["part_size"].as_u64(), v["part_count"].as_u64()),
        (Some(PART_SIZE as u64), Some(count.into()))
    );
    assert_eq!(v["parts"].as_array().unwrap().len(), count as usize, "{v}");
    assert!(v.get("upload_url").is_none(), "no single PUT: {v}");
    let chunk =
        |n: u32| bytes[(n as usize - 1) * PART_SIZE..(n as usize * PART_SIZE).min(size)].to_vec();

    // The first client: the last part and part 2 in parallel, then part 4 sent wrong and retried.
    let sent = join_all([
        put_part(url_of(&v["parts"], count), chunk(count)),
        put_part(url_of(&v["parts"], 2), chunk(2)),
    ])
    .await;
    assert!(sent.iter().all(|(s, _)| *s == 200), "{sent:?}");
    let mut garbled = chunk(4);
    garbled[1000] ^= 0xff;
    let (status, bad) = put_part(url_of(&v["parts"], 4), garbled).await;
    assert_eq!(status, 200);
    let (status, good) = put_part(url_of(&v["parts"], 4), chunk(4)).await;
    assert_eq!((status, good.clone()), (200, Some(md5_etag(&chunk(4)))));
    assert_ne!(bad, good);

    // It "crashes": all it knows is the media id. GET /uploads/{id} says what is there.
    drop(v);
    let r = api.get(&format!("/api/v1/uploads/{id}"), &t).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    let have: Vec<(u64, u64, String)> = p["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["number"].as_u64().unwrap(),
                x["size"].as_u64().unwrap(),
                x["etag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let last = (count, (size - (count as usize - 1) * PART_SIZE) as u64);
    assert_eq!(
        have,
        vec![
            (2, PART_SIZE as u64, md5_etag(&chunk(2))),
            (4, PART_SIZE as u64, md5_etag(&chunk(4))),
            (last.0.into(), last.1, md5_etag(&chunk(count))),
        ],
        "the retried part 4 is the good one"
    );
    assert_eq!(p["part_count"].as_u64(), Some(count.into()));
    let missing: Vec<u32> = (1..=count).filter(|n| ![2, 4, count].contains(n)).collect();
    let r = on_upload(api, &t, &id, "parts", json!({"numbers": missing})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let urls = r.json()["parts"].clone();
    let sent = join_all(
        missing
            .iter()
            .map(|&n| put_part(url_of(&urls, n), chunk(n))),
    )
    .await;
    assert!(sent.iter().all(|(s, _)| *s == 200), "{sent:?}");

    // Refusals: a wrong ETag, a part missing from the list. Nothing assembled, nothing ingested.
    let etags: Vec<Value> = (1..=count)
        .map(|n| json!({"number": n, "etag": md5_etag(&chunk(n))}))
        .collect();
    let mut wrong = etags.clone();
    wrong[2]["etag"] = json!(md5_etag(b"not part 3"));
    refused(api, &t, &id, json!(wrong), "invalid_part", "part 3").await;
    let without5: Vec<Value> = etags.iter().filter(|e| e["number"] != 5).cloned().collect();
    refused(api, &t, &id, json!(without5), "invalid_part", "part 5").await;

    // Another user cannot see the upload at all.
    let r = api
        .get(&format!("/api/v1/uploads/{id}"), &token("someone-else"))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    // The right list: each part with its ETag, the MD5 of its bytes (as S3 and the GET give it).
    let r = on_upload(api, &t, &id, "complete", json!({"parts": etags})).await;
    assert_eq!(r.status, 202, "{}: {}", api.name(), r.text());
    let view = settle(api, &t, &id).await;
    assert_eq!(view["status"], "ready", "{}: {view}", api.name());
    assert_eq!(view["size_bytes"].as_u64(), Some(size as u64));
    assert_eq!(view["container"], "mkv", "{view}");
    let stored = stored_bytes(api, &id).await;
    assert_eq!(sha256(&stored), sha256(&bytes), "the exact bytes");

    // The upload writes once: a second PUT of a part, a second completion, a resume are refused.
    let (status, _) = put_part(url_of(&urls, missing[0]), chunk(2)).await;
    match api {
        // The media is no longer `uploading`.
        Api::Embedded(_) => assert_eq!(status, 409),
        // S3 knows the upload no more (`NoSuchUpload`).
        Api::Cloud(_) => assert_eq!(status, 404),
    }
    let r = on_upload(api, &t, &id, "complete", json!({"parts": etags})).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (409, json!("upload_complete"))
    );
    let r = api.get(&format!("/api/v1/uploads/{id}"), &t).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        sha256(&stored_bytes(api, &id).await),
        sha256(&bytes),
        "unchanged"
    );

    // Body limits of the JSON routes: 16 KiB for part numbers, 1 MiB for the completion list.
    for (path, limit) in [("parts", 16 * 1024), ("complete", 1024 * 1024)] {
        let body = format!("{{\"numbers\":[{}1]}}", "1,".repeat(limit / 2));
        let r = http()
            .post(api.absolute(&format!("/api/v1/uploads/{id}/{path}")))
            .bearer_auth(&t)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
    }
}

/// A part too small is refused naming it, then the owner aborts: the parts are dropped, the
/// media ends `failed`, its part URLs write nothing.
async fn too_small_then_abort(api: &Api) {
    let t = token("multipart-aborter");
    let size = 2 * PART_SIZE + 1;
    let v = create(api, &t, size).await;
    let id = v["media_id"].as_str().unwrap().to_string();
    assert_eq!(v["part_count"], 3);
    let sizes = [1024 * 1024, PART_SIZE, 1];
    let mut list = vec![];
    for (i, len) in sizes.into_iter().enumerate() {
        let n = i as u32 + 1;
        let (status, etag) = put_part(url_of(&v["parts"], n), vec![n as u8; len]).await;
        assert_eq!(status, 200);
        list.push(json!({"number": n, "etag": etag.unwrap()}));
    }
    refused(api, &t, &id, json!(list), "part_too_small", "part 1").await;
    let r = api
        .call(
            "DELETE",
            &format!("/api/v1/uploads/{id}"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = api.get(&format!("/api/v1/uploads/{id}"), &t).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (410, json!("upload_expired"))
    );
    let media = api.get(&format!("/api/v1/media/{id}"), &t).await.json();
    assert_eq!(media["status"], "failed", "{media}");
    let (status, _) = put_part(url_of(&v["parts"], 2), vec![0; PART_SIZE]).await;
    assert!(
        status == 404 || status == 409,
        "a part after abort: {status}"
    );
    // A small file is still one PUT.
    let v = create(api, &t, PART_SIZE).await;
    assert!(
        v["upload_url"].is_string() && v.get("parts").is_none(),
        "{v}"
    );
}

/// What a hostile or confused client may send: each gets a clear `4xx` naming what is wrong.
async fn bad_requests(api: &Api) {
    let t = token("multipart-hostile");
    for (size, status) in [
        (json!(-1), 400),
        (json!("big"), 400),
        (json!(6u64 << 40), 413),
    ] {
        let body = json!({"filename": "x.mkv", "size": size});
        let r = post(api, "/api/v1/uploads", &t, body).await;
        assert_eq!(r.status, status, "size {size}: {}", r.text());
    }
    let v = create(api, &t, 3 * PART_SIZE).await;
    let id = v["media_id"].as_str().unwrap().to_string();
    let too_many: Vec<u32> = (1..=101).collect();
    for numbers in [
        json!([]),
        json!([0]),
        json!([4]),
        json!(too_many),
        json!(["1"]),
    ] {
        let r = on_upload(api, &t, &id, "parts", json!({"numbers": numbers})).await;
        assert_eq!(r.status, 400, "numbers {numbers}: {}", r.text());
    }
    let r = on_upload(api, &t, &id, "parts", json!({"numbers": [4]})).await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("part 4"),
        "{}",
        r.text()
    );
    for parts in [
        json!([{"number": 0, "etag": "x"}]),
        json!([{"number": 1}]),
        json!("all"),
    ] {
        let r = on_upload(api, &t, &id, "complete", json!({"parts": parts})).await;
        assert_eq!(r.status, 400, "parts {parts}: {}", r.text());
    }
    // Another user's upload: not found, whatever the route.
    let other = token("multipart-other");
    for (method, path) in [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/parts"),
        ("POST", "/complete"),
    ] {
        let body = (method == "POST").then(|| json!({"numbers": [1], "parts": []}));
        let r = api
            .call(
                method,
                &format!("/api/v1/uploads/{id}{path}"),
                Some(&other),
                &[],
                body,
            )
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
    }
    // A media uploaded in one PUT has no multipart upload.
    let (single, _) = api.create_upload(&t, "small.mkv").await;
    assert_eq!(
        api.get(&format!("/api/v1/uploads/{single}"), &t)
            .await
            .status,
        404
    );
    // A part URL edited to name another part or another upload is refused by its signature
    // (S3's `partNumber`/`uploadId`, the embedded route's `part`/`upload_id`).
    let url = url_of(&v["parts"], 1);
    let other_part = url
        .replacen("partNumber=1&", "partNumber=2&", 1)
        .replacen("&part=1&", "&part=2&", 1);
    let other_upload =
        url.replacen("uploadId=", "uploadId=0", 1)
            .replacen("upload_id=", "upload_id=0", 1);
    for edited in [other_part, other_upload] {
        assert_ne!(edited, url);
        assert_eq!(put_part(edited, vec![1; 10]).await.0, 403, "{url}");
    }
}

async fn every_case(api: Api) {
    must_show(&api, &stream_tests::multipart_video()).await;
    too_small_then_abort(&api).await;
    bad_requests(&api).await;
    api.stop().await;
}

#[tokio::test]
async fn embedded_multipart_upload() {
    every_case(Api::embedded_with(SETTINGS).await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh)"]
async fn cloud_multipart_upload() {
    every_case(Api::cloud_with(SETTINGS).await).await;
}

/// The embedded sweep drops a multipart upload left open past `STREAM_UPLOAD_EXPIRY_SECONDS`
/// (S3's lifecycle rule does it in the cloud); resuming it then answers `410`.
#[tokio::test]
async fn embedded_sweep_drops_abandoned_uploads() {
    let api = Api::embedded_with(&[
        ("STREAM_UPLOAD_PART_SIZE", "5242880"),
        ("STREAM_UPLOAD_EXPIRY_SECONDS", "1"),
    ])
    .await;
    let t = token("multipart-abandoner");
    let v = create(&api, &t, PART_SIZE + 1).await;
    let id = v["media_id"].as_str().unwrap().to_string();
    let (status, _) = put_part(url_of(&v["parts"], 1), vec![7; PART_SIZE]).await;
    assert_eq!(status, 200);
    assert_eq!(
        api.get(&format!("/api/v1/uploads/{id}"), &t).await.status,
        200
    );
    // Past its expiry (the sweep compares with the upload's start, 1 s before).
    let mut swept = 0;
    for _ in 0..50 {
        swept = stream_service::uploads::sweep_abandoned(api.state())
            .await
            .unwrap();
        if swept > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(swept, 1);
    let r = api.get(&format!("/api/v1/uploads/{id}"), &t).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (410, json!("upload_expired"))
    );
    let (status, _) = put_part(url_of(&v["parts"], 2), vec![7; 1]).await;
    assert_eq!(status, 404, "no such upload");
    api.stop().await;
}
