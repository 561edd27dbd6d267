//! The request limits of SPEC §2, on both shapes: a bearer token not yet valid (`nbf`) or
//! longer than 8 KiB is refused with `401`; a header block over 16 KiB with `431`, before any
//! work; the server keeps serving. (That an upload URL writes once is `ingest.rs`'s
//! `a_second_put_after_ingest_is_refused_and_loses_nothing`.)

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use stream_tests::{token, Api, SECRET};

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
    // And the server keeps serving.
    assert_eq!(
        api.call("GET", "/healthz", None, &[], None).await.status,
        200,
        "{name}"
    );
    api.stop().await;
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
