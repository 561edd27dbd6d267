//! RS256 / ES256 tokens verified with public keys from a JWKS, from a file and from a URL (as
//! with Cognito), with the algorithm allow-list and key-family checks of SPEC §2. The key pairs in
//! tests/fixtures/jwt are test-only.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use stream_tests::{http, repo_root, TestServer};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/jwt").join(name)).expect("fixture")
}

fn claims(sub: &str, exp_offset: i64) -> serde_json::Value {
    json!({"sub": sub, "exp": chrono::Utc::now().timestamp() + exp_offset, "iss": "https://issuer.test", "aud": "stream"})
}

fn sign(
    alg: Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
    claims: &serde_json::Value,
) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, key).expect("sign")
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa.pem")).unwrap()
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(&fixture("ec.pem")).unwrap()
}

/// Every case against one server; returns nothing, asserts statuses.
// Long because it checks every JWT rule (algorithms, keys, claims) against one verifier.
async fn check(server: &TestServer) {
    let url = server.url("/api/v1/media");
    let status = |t: String| {
        let url = url.clone();
        async move {
            http()
                .get(&url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            Some("rsa-1"),
            &rsa(),
            &claims("alice", 600)
        ))
        .await,
        200,
        "RS256 with a listed key"
    );
    assert_eq!(
        status(sign(
            Algorithm::ES256,
            Some("ec-1"),
            &ec(),
            &claims("bob", 600)
        ))
        .await,
        200,
        "ES256 with a listed key"
    );
    // Refusals.
    let unlisted = EncodingKey::from_rsa_pem(&fixture("rsa-unlisted.pem")).unwrap();
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            Some("rsa-1"),
            &unlisted,
            &claims("eve", 600)
        ))
        .await,
        401,
        "signed by a key not in the JWKS"
    );
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            Some("nope"),
            &rsa(),
            &claims("eve", 600)
        ))
        .await,
        401,
        "unknown kid"
    );
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            Some("rsa-1"),
            &rsa(),
            &claims("eve", -120)
        ))
        .await,
        401,
        "expired"
    );
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            Some("ec-1"),
            &rsa(),
            &claims("eve", 600)
        ))
        .await,
        401,
        "RS256 naming an EC key"
    );
    // HS/RS confusion: an HS256 token whose HMAC key is the RSA public key.
    let confused = EncodingKey::from_secret(&fixture("rsa-public.pem"));
    assert_eq!(
        status(sign(
            Algorithm::HS256,
            Some("rsa-1"),
            &confused,
            &claims("eve", 600)
        ))
        .await,
        401,
        "HS256 with the public key as secret"
    );
    // Issuer and audience are checked when configured.
    let mut wrong_iss = claims("eve", 600);
    wrong_iss["iss"] = json!("https://evil.test");
    assert_eq!(
        status(sign(Algorithm::RS256, Some("rsa-1"), &rsa(), &wrong_iss)).await,
        401,
        "wrong issuer"
    );
    let mut wrong_aud = claims("eve", 600);
    wrong_aud["aud"] = json!("other");
    assert_eq!(
        status(sign(Algorithm::ES256, Some("ec-1"), &ec(), &wrong_aud)).await,
        401,
        "wrong audience"
    );
    // Unsigned.
    let header = base64_url(&json!({"alg": "none", "typ": "JWT"}).to_string());
    let body = base64_url(&claims("eve", 600).to_string());
    assert_eq!(status(format!("{header}.{body}.")).await, 401, "alg none");
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn jwks_from_a_file() {
    let path = repo_root().join("tests/fixtures/jwt/jwks.json");
    let path = path.to_string_lossy().into_owned();
    let server = TestServer::start_with(&[
        ("STREAM_JWT_SECRET", ""),
        ("STREAM_JWT_JWKS_FILE", &path),
        ("STREAM_JWT_ISSUER", "https://issuer.test"),
        ("STREAM_JWT_AUDIENCE", "stream"),
    ])
    .await;
    check(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn jwks_from_a_url() {
    // A JWKS endpoint on loopback, as Cognito's `/.well-known/jwks.json`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = String::from_utf8(fixture("jwks.json")).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    let jwks_url = format!("http://{addr}/.well-known/jwks.json");
    let server = TestServer::start_with(&[
        ("STREAM_JWT_SECRET", ""),
        ("STREAM_JWT_JWKS_URL", &jwks_url),
        ("STREAM_JWT_ISSUER", "https://issuer.test"),
        ("STREAM_JWT_AUDIENCE", "stream"),
        (
            "STREAM_SESSION_SECRET",
            "session-secret-for-the-jwks-test-0123456789",
        ),
    ])
    .await;
    check(&server).await;
    server.stop().await;
}
