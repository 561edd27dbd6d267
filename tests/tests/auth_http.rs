//! SPEC §2 at the HTTP level, on the embedded server: every authenticated route refuses missing,
//! malformed, `alg: none`, wrongly signed and expired tokens with 401 + WWW-Authenticate, and
//! media visibility follows owner / admin / shared, with 404 for what the caller may not see.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use stream_tests::{admin_token, http, token, TestServer, SECRET};

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn bad_tokens() -> Vec<(&'static str, Option<String>)> {
    let future = chrono::Utc::now().timestamp() + 3600;
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg":"none","typ":"JWT"})),
        b64(&json!({"sub":"mallory","exp":future,"roles":["admin"]}))
    );
    let wrong_sig = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub":"mallory","exp":future}),
        &EncodingKey::from_secret(b"not-the-secret-of-the-server-000"),
    )
    .unwrap();
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub":"alice","exp":1_600_000_000}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let no_exp = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub":"alice"}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    vec![
        ("no token", None),
        ("malformed", Some("not-a-jwt".into())),
        ("alg none", Some(alg_none)),
        ("wrong signature", Some(wrong_sig)),
        ("expired", Some(expired)),
        ("no exp", Some(no_exp)),
    ]
}

#[tokio::test]
async fn every_authenticated_route_refuses_bad_tokens() {
    let s = TestServer::start().await;
    let id = "0123456789abcdef0123456789abcdef";
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/api/v1/uploads".into(),
            Some(json!({"filename":"a.mp4"})),
        ),
        ("GET", "/api/v1/media".into(), None),
        ("GET", format!("/api/v1/media/{id}"), None),
        (
            "PATCH",
            format!("/api/v1/media/{id}"),
            Some(json!({"title":"x"})),
        ),
        (
            "PUT",
            format!("/api/v1/progress/{id}"),
            Some(json!({"position_seconds":1})),
        ),
        ("GET", format!("/api/v1/progress/{id}"), None),
        ("GET", format!("/api/v1/stream/{id}"), None),
        ("GET", format!("/api/v1/stream/{id}?profile=chrome"), None),
    ];
    for (method, path, body) in &routes {
        for (what, tok) in bad_tokens() {
            let mut req = http().request(method.parse().unwrap(), s.url(path));
            if let Some(t) = &tok {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {path} with {what}");
            assert_eq!(
                r.headers()["www-authenticate"],
                "Bearer error=\"invalid_token\"",
                "{method} {path} with {what}"
            );
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "invalid_token");
            assert!(v["error"]["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty()));
        }
    }
    s.stop().await;
}

async fn create(s: &TestServer, tok: &str, body: Value) -> String {
    let r = http()
        .post(s.url("/api/v1/uploads"))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["upload_method"], "PUT");
    assert!(v["expires_at"].as_str().is_some());
    v["media_id"].as_str().unwrap().to_string()
}

async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
// Long because it walks one media through every visibility rule of SPEC §2 for each kind of
// caller (owner, other user, admin, anonymous), checking each answer in turn.
async fn visibility_owner_admin_shared_and_no_existence_leak() {
    let s = TestServer::start().await;
    let (alice, bob, root) = (token("alice"), token("bob"), admin_token("root"));
    let private = create(
        &s,
        &alice,
        json!({"filename":"private.mp4","title":"Private"}),
    )
    .await;
    let shared = create(
        &s,
        &alice,
        json!({"filename":"shared.mp4","visibility":"shared"}),
    )
    .await;
    let c = http();

    // Owner and admin see the private file; bob gets 404, exactly like a missing id.
    assert_eq!(
        status_of(
            c.get(s.url(&format!("/api/v1/media/{private}")))
                .bearer_auth(&alice)
        )
        .await,
        200
    );
    assert_eq!(
        status_of(
            c.get(s.url(&format!("/api/v1/media/{private}")))
                .bearer_auth(&root)
        )
        .await,
        200
    );
    let hidden = c
        .get(s.url(&format!("/api/v1/media/{private}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
    let hidden_body: Value = hidden.json().await.unwrap();
    let missing: Value = c
        .get(s.url("/api/v1/media/ffffffffffffffffffffffffffffffff"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hidden_body["error"]["code"], missing["error"]["code"]);
    assert_eq!(hidden_body["error"]["message"], missing["error"]["message"]);
    assert_eq!(
        status_of(
            c.patch(s.url(&format!("/api/v1/media/{private}")))
                .bearer_auth(&bob)
                .json(&json!({"title":"pwned"}))
        )
        .await,
        404
    );
    assert_eq!(
        status_of(
            c.put(s.url(&format!("/api/v1/progress/{private}")))
                .bearer_auth(&bob)
                .json(&json!({"position_seconds":1}))
        )
        .await,
        404
    );
    assert_eq!(
        status_of(
            c.get(s.url("/api/v1/media/../../etc/passwd"))
                .bearer_auth(&bob)
        )
        .await,
        404
    );

    // Shared: visible to bob, but only the owner or an admin may change it.
    assert_eq!(
        status_of(
            c.get(s.url(&format!("/api/v1/media/{shared}")))
                .bearer_auth(&bob)
        )
        .await,
        200
    );
    assert_eq!(
        status_of(
            c.patch(s.url(&format!("/api/v1/media/{shared}")))
                .bearer_auth(&bob)
                .json(&json!({"title":"x"}))
        )
        .await,
        403
    );

    // Lists follow the same rules.
    let ids = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let bob_list = ids(c
        .get(s.url("/api/v1/media"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap());
    assert_eq!(bob_list, vec![shared.clone()]);
    let alice_list = ids(c
        .get(s.url("/api/v1/media"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap());
    assert_eq!(alice_list.len(), 2);
    let root_list = ids(c
        .get(s.url("/api/v1/media"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap());
    assert!(root_list.contains(&private) && root_list.contains(&shared));

    // PATCH by the owner: title and visibility; then bob sees it.
    let r = c
        .patch(s.url(&format!("/api/v1/media/{private}")))
        .bearer_auth(&alice)
        .json(&json!({"title":"Renamed","visibility":"shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["title"].as_str(), v["visibility"].as_str()),
        (Some("Renamed"), Some("shared"))
    );
    assert_eq!(
        status_of(
            c.get(s.url(&format!("/api/v1/media/{private}")))
                .bearer_auth(&bob)
        )
        .await,
        200
    );
    // Admin may change anyone's.
    assert_eq!(
        status_of(
            c.patch(s.url(&format!("/api/v1/media/{private}")))
                .bearer_auth(&root)
                .json(&json!({"visibility":"private"}))
        )
        .await,
        200
    );
    s.stop().await;
}

#[tokio::test]
// Long because it is a table of malformed requests, each with the 400 it must get.
async fn malformed_requests_get_clear_400s() {
    let s = TestServer::start().await;
    let alice = token("alice");
    let c = http();
    for (body, what) in [
        ("", "empty body"),
        ("{", "broken JSON"),
        (r#"{"title":"x"}"#, "missing filename"),
        (r#"{"filename":""}"#, "empty filename"),
        (
            r#"{"filename":"a.mp4","content_type":"text/html"}"#,
            "bad content type",
        ),
        (
            r#"{"filename":"a.mp4","visibility":"public"}"#,
            "bad visibility",
        ),
        (r#"{"filename":"a.mp4","surprise":1}"#, "unknown field"),
        (r#"{"filename":"a\u0000.mp4"}"#, "control character"),
    ] {
        let r = c
            .post(s.url("/api/v1/uploads"))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let id = create(&s, &alice, json!({"filename":"a.mp4"})).await;
    for body in [
        json!({}),
        json!({"title":""}),
        json!({"visibility":"everyone"}),
    ] {
        assert_eq!(
            status_of(
                c.patch(s.url(&format!("/api/v1/media/{id}")))
                    .bearer_auth(&alice)
                    .json(&body)
            )
            .await,
            400,
            "{body}"
        );
    }
    for body in [
        json!({"position_seconds": -1}),
        json!({"position_seconds": "x"}),
        json!({}),
    ] {
        assert_eq!(
            status_of(
                c.put(s.url(&format!("/api/v1/progress/{id}")))
                    .bearer_auth(&alice)
                    .json(&body)
            )
            .await,
            400,
            "{body}"
        );
    }
    assert_eq!(
        status_of(c.delete(s.url("/api/v1/media")).bearer_auth(&alice)).await,
        405
    );
    assert_eq!(
        status_of(c.get(s.url("/api/v1/nothing")).bearer_auth(&alice)).await,
        404
    );
    // An upload URL cannot be reused once the bytes arrived, nor forged for another key.
    s.stop().await;
}

#[tokio::test]
async fn progress_round_trip_per_user() {
    let s = TestServer::start().await;
    let (alice, root) = (token("alice"), admin_token("root"));
    let id = create(&s, &alice, json!({"filename":"a.mp4"})).await;
    let c = http();
    assert_eq!(
        status_of(
            c.get(s.url(&format!("/api/v1/progress/{id}")))
                .bearer_auth(&alice)
        )
        .await,
        404
    );
    assert_eq!(
        status_of(
            c.put(s.url(&format!("/api/v1/progress/{id}")))
                .bearer_auth(&alice)
                .json(&json!({"position_seconds": 42.5}))
        )
        .await,
        204
    );
    let v: Value = c
        .get(s.url(&format!("/api/v1/progress/{id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["position_seconds"], 42.5);
    assert_eq!(v["completed"], false);
    // Per user: the admin sees the media but has no progress of their own.
    assert_eq!(
        status_of(
            c.get(s.url(&format!("/api/v1/progress/{id}")))
                .bearer_auth(&root)
        )
        .await,
        404
    );
    s.stop().await;
}

#[tokio::test]
async fn healthz_and_cors_preflight() {
    let s = TestServer::start().await;
    let r = http().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .request(reqwest::Method::OPTIONS, s.url("/api/v1/media"))
        .header("origin", "http://player.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    s.stop().await;
}
