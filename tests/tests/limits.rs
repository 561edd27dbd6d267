//! The request limits of SPEC §2, on both shapes: a bearer token not yet valid (`nbf`) or
//! longer than 8 KiB is refused with `401`; a header block over 16 KiB with `431`, before any
//! work; a request body over its route's limit with `413`; the server keeps serving. On the
//! embedded server (in the cloud, API Gateway, CloudFront and S3 hold the connections): a client
//! that sends its headers too slowly is cut off, one that stalls in a body gets `408` and its
//! half-sent upload is dropped without losing the upload. (That an upload URL writes once is
//! `ingest.rs`'s `a_second_put_after_ingest_is_refused_and_loses_nothing`.)

use std::time::{SystemTime, UNIX_EPOCH};

use std::time::Duration;

use serde_json::json;
use stream_tests::{media_dir, token, Api, TestServer, SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token of the tests' secret with these claims.
fn jwt(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// `GET /api/v1/media` with `token`.
async fn media(api: &Api, token: &str) -> stream_tests::Reply {
    api.call("GET", "/api/v1/media", Some(token), &[], None)
        .await
}

// Long because it is one table of limits (nbf, token size, header block), each with its
// control just inside the limit, run against one server.
async fn check(api: Api) {
    let name = api.name();
    // `nbf`: an hour ahead is refused like an expired token; a minute ago is fine.
    let early = jwt(json!({"sub": "u", "exp": now() + 7200, "nbf": now() + 3600}));
    let r = media(&api, &early).await;
    assert_eq!(r.status, 401, "{name}: a token not valid yet: {}", r.text());
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.contains("invalid_token")),
        "{name}"
    );
    let valid = jwt(json!({"sub": "u", "exp": now() + 7200, "nbf": now() - 60}));
    assert_eq!(
        media(&api, &valid).await.status,
        200,
        "{name}: nbf in the past"
    );

    // A bearer token over 8 KiB, correctly signed: refused for its size alone.
    let padded = |n: usize| jwt(json!({"sub": "u", "exp": now() + 3600, "pad": "x".repeat(n)}));
    let (small, big) = (padded(1000), padded(9 * 1024));
    assert!(big.len() > 8 * 1024 && big.len() < 14 * 1024);
    assert_eq!(
        media(&api, &small).await.status,
        200,
        "{name}: the same token, small"
    );
    let r = media(&api, &big).await;
    assert_eq!(r.status, 401, "{name}: a 9 KiB token: {}", r.text());
    assert_eq!(r.json()["error"]["code"], "invalid_token", "{name}");

    // A header block over 16 KiB: 431, whatever the route and the token. Asked of the server
    // itself: in the cloud shape the CDN forwards only the headers its policies name.
    let pad = "y".repeat(20 * 1024);
    for path in [
        "/api/v1/media",
        "/api/v1/hls/0123456789abcdef0123456789abcdef/master.m3u8",
        "/healthz",
        // streamd's own routes: the player page and the signed object route.
        "/",
        "/objects/uploads/x/source.mp4",
    ] {
        let r = api
            .call_origin("GET", path, Some(&token("u")), &[("x-pad", pad.as_str())])
            .await;
        assert_eq!(r.status, 431, "{name}: {path}: {}", r.text());
        assert_eq!(
            r.json()["error"]["code"],
            "request_header_fields_too_large",
            "{name}"
        );
        let tagged =
            r.header("access-control-allow-origin").is_some() && r.header("x-request-id").is_some();
        assert!(
            tagged,
            "{name}: {path}: the 431 carries CORS and the request id"
        );
    }
    // A 200 KB bearer token is refused the same way (its header block is too large).
    let huge = format!("Bearer {}", "z".repeat(200 * 1024));
    let r = api
        .call(
            "GET",
            "/api/v1/media",
            None,
            &[("authorization", huge.as_str())],
            None,
        )
        .await;
    assert_eq!(r.status, 431, "{name}: a 200 KB bearer token");
    // Just under the limit is served.
    let r = api
        .call(
            "GET",
            "/api/v1/media",
            Some(&token("u")),
            &[("x-pad", &pad[..12 * 1024])],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{name}: 12 KiB of headers");
    bodies(&api).await;
    // And the server keeps serving.
    assert_eq!(
        api.call("GET", "/healthz", None, &[], None).await.status,
        200,
        "{name}"
    );
    api.stop().await;
}

/// Request bodies per route: a JSON route takes a small document (16 KiB), any other route
/// none; over it, `413` before the body is parsed (a 20 KB title would otherwise be a `400`).
async fn bodies(api: &Api) {
    let name = api.name();
    let t = token("u");
    let upload = |title: usize| json!({"filename": "a.mp4", "title": "t".repeat(title)});
    let r = api
        .call("POST", "/api/v1/uploads", Some(&t), &[], Some(upload(100)))
        .await;
    assert_eq!(r.status, 201, "{name}: a small JSON body: {}", r.text());
    let r = api
        .call(
            "POST",
            "/api/v1/uploads",
            Some(&t),
            &[],
            Some(upload(20_000)),
        )
        .await;
    assert_eq!(r.status, 413, "{name}: a 20 KB JSON body: {}", r.text());
    assert_eq!(r.json()["error"]["code"], "payload_too_large", "{name}");
    let r = api
        .call("GET", "/api/v1/media", Some(&t), &[], Some(json!({"a": 1})))
        .await;
    if api.cdn().is_some() {
        // CloudFront itself refuses a GET with a body (`403`), and so does its stand-in.
        assert_eq!(r.status, 403, "{name}: a body on a GET: {}", r.text());
        return;
    }
    assert_eq!(r.status, 413, "{name}: a body on a GET: {}", r.text());
    assert_eq!(r.json()["error"]["code"], "payload_too_large", "{name}");
}

#[tokio::test]
async fn limits_embedded() {
    check(Api::embedded().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh)"]
async fn limits_cloud() {
    check(Api::cloud().await).await;
}

/// A server whose clients must send their headers within 1 s and pause at most 1 s in a body.
async fn impatient_server() -> TestServer {
    let options = streamd::Options {
        timeouts: streamd::conn::Timeouts {
            header: Duration::from_secs(1),
            body_idle: Duration::from_secs(1),
        },
        ..Default::default()
    };
    TestServer::start_with_options(&[], options).await
}

/// Reads what the server sends until it closes the connection (bounded, so a server that never
/// does fails the test instead of hanging it).
async fn read_until_closed(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&got).into_owned()
}

/// Slowloris: a client that never finishes its headers is cut off, while others are served.
#[tokio::test]
async fn a_slow_header_client_is_cut_off() {
    let server = impatient_server().await;
    let addr = server.origin.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: 1")
        .await
        .unwrap();
    // Served meanwhile.
    let r = stream_tests::http()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer = read_until_closed(&mut slow).await;
    assert!(
        !answer.contains("200 OK"),
        "an unfinished request is not served: {answer}"
    );
    // A connection that sends nothing at all is closed as well.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    read_until_closed(&mut idle).await;
    server.stop().await;
}

/// A client that stalls in a body: `408` with the JSON error, on the API and on the upload
/// route; the half-sent upload is dropped, the media still waits for its bytes, and a full
/// upload afterwards is ingested (nothing lost).
#[tokio::test]
async fn a_stalled_body_gets_408_and_loses_nothing() {
    let server = impatient_server().await;
    let addr = server.origin.trim_start_matches("http://").to_string();
    let t = token("slow-user");
    let stall = |head: String, part: &'static [u8]| {
        let addr = addr.clone();
        async move {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            c.write_all(head.as_bytes()).await.unwrap();
            c.write_all(part).await.unwrap();
            read_until_closed(&mut c).await
        }
    };
    let head = format!(
        "PUT /api/v1/progress/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: a\r\n\
         Authorization: Bearer {t}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\n"
    );
    let answer = stall(head, b"{\"position_").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // The upload route: half of the file, then silence.
    let file = media_dir().join("h264_aac.mp4");
    let r = stream_tests::http()
        .post(server.url("/api/v1/uploads"))
        .bearer_auth(&t)
        .json(&json!({"filename": "h264_aac.mp4"}))
        .send()
        .await
        .unwrap();
    let created: serde_json::Value = r.json().await.unwrap();
    let url = created["upload_url"].as_str().unwrap().to_string();
    let id = created["media_id"].as_str().unwrap().to_string();
    let path = url.trim_start_matches(&server.origin).to_string();
    let len = std::fs::metadata(&file).unwrap().len();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let answer = stall(head, &[0u8; 4096]).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let media = stream_tests::http()
        .get(server.url(&format!("/api/v1/media/{id}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let media: serde_json::Value = media.json().await.unwrap();
    assert_eq!(
        media["status"], "uploading",
        "the stalled upload left nothing"
    );
    stream_tests::put_file(&url, &file).await;
    let settled = stream_tests::wait_settled(&server.base, &t, &id).await;
    assert_eq!(settled["status"], "ready", "{settled}");
    assert_eq!(settled["size_bytes"], len);
    server.stop().await;
}
