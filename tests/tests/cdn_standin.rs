//! The CDN stand-in (tests/cdn.rs) checked on its own, against `infra/template.yaml`: small
//! local origins play the bucket, the hls function and the API and count what reaches them
//! (independently of the stand-in's own counters), and the signed URLs are made here with a
//! minimal signer of this file (RSA-SHA1 PKCS#1 v1.5 over the policy, CloudFront's base64) or
//! by AWS's own npm signer, never with the project's signing code, so the stand-in is not
//! checked against the code it is meant to check.
//!
//! Without the local AWS stack the bucket is a double that answers as S3 does behind origin
//! access control (a missing key is `403`); `s3_origin_through_origin_access_control` runs the
//! same paths against LocalStack (`scripts/test.sh` runs the ignored tests).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use stream_tests::cdn::{npm_signer, Cdn, Origin, Setup};
use stream_tests::repo_root;

const KEY_ID: &str = "KSTANDINTEST";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/cloudfront").join(name))
        .expect("tests/fixtures/cloudfront")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

// ------------------------------------------------------------------ a minimal signer

/// CloudFront's signed URLs, written from the developer guide alone: base64 with `+`→`-`,
/// `=`→`_`, `/`→`~`; RSA-SHA1 PKCS#1 v1.5 over the policy JSON.
struct TestSigner {
    id: String,
    key: rsa::PrivateKey,
}

impl TestSigner {
    fn new(id: &str, pem_file: &str) -> TestSigner {
        TestSigner {
            id: id.into(),
            key: rsa::PrivateKey::from_pkcs1_pem(&fixture(pem_file)).expect("PKCS#1 key"),
        }
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .replace('+', "-")
            .replace('=', "_")
            .replace('/', "~")
    }

    fn sign(&self, policy: &str) -> String {
        let sig = self
            .key
            .pkcs1v15_sign::<sha1::Sha1>(policy.as_bytes())
            .expect("sign");
        Self::b64(&sig)
    }

    fn sep(url: &str) -> char {
        if url.contains('?') {
            '&'
        } else {
            '?'
        }
    }

    fn canned(&self, url: &str, expires: i64) -> String {
        let policy = format!(
            r#"{{"Statement":[{{"Resource":"{url}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
        );
        format!(
            "{url}{}Expires={expires}&Key-Pair-Id={}&Signature={}",
            Self::sep(url),
            self.id,
            self.sign(&policy)
        )
    }

    fn custom(&self, url: &str, policy: &str) -> String {
        format!(
            "{url}{}Policy={}&Key-Pair-Id={}&Signature={}",
            Self::sep(url),
            Self::b64(policy.as_bytes()),
            self.id,
            self.sign(policy)
        )
    }
}

fn policy(resource: &str, expires: i64) -> String {
    format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

// ------------------------------------------------------------------ the origins

/// What the function double does with a segment request.
#[derive(Clone, Copy, PartialEq)]
enum Function {
    /// Makes it: `200`, the bytes, `Cache-Control: public, max-age=31536000, immutable`, and
    /// publishes it to the bucket.
    Make,
    /// Not ready in time: `503`, `Retry-After`, `Cache-Control: no-store`.
    NotReady,
}

/// The three origins, and what reached them.
struct Origins {
    /// Bucket objects by path: (bytes, Cache-Control).
    objects: Mutex<HashMap<String, (Bytes, Option<&'static str>)>>,
    /// What the bucket answers for a missing key (403 without s3:ListBucket, 404 with it).
    missing: Mutex<StatusCode>,
    function: Mutex<Function>,
    function_delay: Mutex<Duration>,
    bucket_requests: AtomicU64,
    function_requests: AtomicU64,
    api_requests: AtomicU64,
    /// The raw query strings the function received.
    function_queries: Mutex<Vec<String>>,
    /// (method, path and query, Authorization?, Host, body) of the API's requests.
    api_seen: Mutex<Vec<(String, String, Option<String>, String, Bytes)>>,
}

struct Running {
    state: Arc<Origins>,
    bucket: String,
    function: String,
    api: String,
}

async fn serve(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an origin");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

async fn origins() -> Running {
    let state = Arc::new(Origins {
        objects: Mutex::default(),
        missing: Mutex::new(StatusCode::FORBIDDEN),
        function: Mutex::new(Function::Make),
        function_delay: Mutex::new(Duration::ZERO),
        bucket_requests: AtomicU64::new(0),
        function_requests: AtomicU64::new(0),
        api_requests: AtomicU64::new(0),
        function_queries: Mutex::default(),
        api_seen: Mutex::default(),
    });
    let bucket = serve(
        axum::Router::new()
            .fallback(bucket)
            .with_state(state.clone()),
    )
    .await;
    let function = serve(
        axum::Router::new()
            .fallback(function)
            .with_state(state.clone()),
    )
    .await;
    let api = serve(axum::Router::new().fallback(api).with_state(state.clone())).await;
    Running {
        state,
        bucket,
        function,
        api,
    }
}

/// S3 behind origin access control, as far as the stand-in relies on it: GET/HEAD of a key,
/// `Range`, a missing key `403`.
async fn bucket(State(o): State<Arc<Origins>>, req: Request) -> Response {
    o.bucket_requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_string();
    let found = o.objects.lock().expect("objects").get(&path).cloned();
    let Some((bytes, cache_control)) = found else {
        let status = *o.missing.lock().expect("missing");
        return (status, "<Error><Code>AccessDenied</Code></Error>").into_response();
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(cc) = cache_control {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    let total = bytes.len();
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .map(|(a, b)| (a.parse::<usize>().ok(), b.parse::<usize>().ok()));
    match range {
        Some((Some(a), b)) if a < total => {
            let b = b.unwrap_or(total - 1).min(total - 1);
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{total}")).expect("header"),
            );
            (StatusCode::PARTIAL_CONTENT, headers, bytes.slice(a..=b)).into_response()
        }
        Some((None, Some(n))) if n > 0 => {
            let a = total.saturating_sub(n);
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{}/{total}", total - 1)).expect("header"),
            );
            (StatusCode::PARTIAL_CONTENT, headers, bytes.slice(a..)).into_response()
        }
        Some(_) => (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response(),
        None => (StatusCode::OK, headers, bytes).into_response(),
    }
}

/// The hls function's `/renditions/{content_key}/{file}`: makes the segment or says it is not
/// ready.
async fn function(State(o): State<Arc<Origins>>, req: Request) -> Response {
    o.function_requests.fetch_add(1, Ordering::SeqCst);
    o.function_queries
        .lock()
        .expect("queries")
        .push(req.uri().query().unwrap_or("").to_string());
    let delay = *o.function_delay.lock().expect("delay");
    tokio::time::sleep(delay).await;
    let path = req.uri().path().to_string();
    let mode = *o.function.lock().expect("mode");
    match mode {
        Function::Make => {
            let bytes = Bytes::from(format!("made {path}"));
            o.objects.lock().expect("objects").insert(
                path,
                (bytes.clone(), Some("public, max-age=31536000, immutable")),
            );
            (
                [(header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
                bytes,
            )
                .into_response()
        }
        Function::NotReady => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, "2"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            "not made yet",
        )
            .into_response(),
    }
}

/// The API: echoes what it got.
async fn api(State(o): State<Arc<Origins>>, req: Request) -> Response {
    o.api_requests.fetch_add(1, Ordering::SeqCst);
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    o.api_seen
        .lock()
        .expect("api")
        .push((method.clone(), uri.clone(), auth, host, body.clone()));
    (StatusCode::OK, format!("{method} {uri} {}", body.len())).into_response()
}

impl Running {
    fn put(&self, path: &str, bytes: &[u8], cache_control: Option<&'static str>) {
        self.state
            .objects
            .lock()
            .expect("objects")
            .insert(path.into(), (Bytes::copy_from_slice(bytes), cache_control));
    }
    fn set_function(&self, mode: Function) {
        *self.state.function.lock().expect("mode") = mode;
    }
    fn bucket_requests(&self) -> u64 {
        self.state.bucket_requests.load(Ordering::SeqCst)
    }
    fn function_requests(&self) -> u64 {
        self.state.function_requests.load(Ordering::SeqCst)
    }

    /// The stand-in on the repository's template, in front of these origins.
    async fn cdn(&self) -> Cdn {
        Cdn::start(self.setup())
            .await
            .expect("the CDN stand-in starts")
    }

    fn setup(&self) -> Setup {
        Setup::new()
            .origin("http-api", Origin::http(&self.api))
            .origin("hls-function", Origin::http(&self.function))
            .origin("media-bucket", Origin::http(&self.bucket))
            .key(KEY_ID, &fixture("public.pem"))
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn get(url: &str) -> (u16, HeaderMap, Bytes) {
    get_with(url, &[]).await
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Bytes) {
    let mut rb = client().get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.expect("GET through the stand-in");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.expect("body"))
}

fn x_cache(h: &HeaderMap) -> &str {
    h.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("")
}

// ------------------------------------------------------------------ the tests

#[tokio::test]
async fn the_distribution_is_read_from_the_template() {
    let o = origins().await;
    let cdn = o.cdn().await;
    let d = cdn.distribution();
    let renditions = d.behavior_for("/renditions/abc/seg_00001.m4s");
    assert_eq!(renditions.path_pattern, "/renditions/*");
    let group = &d.origin_groups[&renditions.target];
    assert_eq!(
        (group.primary.as_str(), group.secondary.as_str()),
        ("media-bucket", "hls-function")
    );
    assert!(group.failover_statuses.contains(&403));
    assert!(renditions.signed(), "segments need a signed URL");
    let key = &renditions.cache_policy;
    assert!(
        !key.query_strings.selects("session", false)
            && !key.query_strings.selects("Signature", false)
            && !key.headers.selects("origin", true),
        "the /renditions/* cache key is the path alone: {key:?}"
    );
    assert_eq!(d.error_caching_min_ttl.get(&503), Some(&0));
    // First match in order, case-sensitive, else the default behaviour.
    assert_eq!(
        d.behavior_for("/api/v1/hls/s/master.m3u8").path_pattern,
        "/api/v1/hls/*"
    );
    assert_eq!(
        d.behavior_for("/uploads/m/source.mkv").target,
        "media-bucket"
    );
    assert_eq!(d.behavior_for("/Renditions/abc/x").path_pattern, "*");
    assert_eq!(d.behavior_for("/api/v1/media").target, "http-api");
    cdn.stop().await;
}

#[tokio::test]
async fn canned_and_custom_signatures_are_accepted() {
    let o = origins().await;
    o.put(
        "/renditions/K1/seg_00001.m4s",
        b"segment one",
        Some("public, max-age=31536000, immutable"),
    );
    o.put(
        "/renditions/K1/init.mp4",
        b"init",
        Some("public, max-age=31536000, immutable"),
    );
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let exp = now() + 3600;

    let canned = s.canned(
        &format!("{}/renditions/K1/seg_00001.m4s?session=abc", cdn.url),
        exp,
    );
    let (status, h, body) = get_with(&canned, &[("origin", "https://player.example")]).await;
    assert_eq!(
        (status, &body[..]),
        (200, &b"segment one"[..]),
        "canned policy"
    );
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*"),
        "the response headers policy's CORS"
    );

    // One custom policy with a wildcard resource grants every file of the rendition.
    let p = policy(&format!("{}/renditions/K1/*", cdn.url), exp);
    for file in ["init.mp4", "seg_00001.m4s"] {
        let url = s.custom(&format!("{}/renditions/K1/{file}?session=abc", cdn.url), &p);
        let (status, _, _) = get(&url).await;
        assert_eq!(status, 200, "custom policy, {file}");
    }
    // DateGreaterThan in the past, the viewer's address in IpAddress.
    let p = format!(
        r#"{{"Statement":[{{"Resource":"{}/renditions/K1/*","Condition":{{"DateLessThan":{{"AWS:EpochTime":{exp}}},"DateGreaterThan":{{"AWS:EpochTime":{}}},"IpAddress":{{"AWS:SourceIp":"127.0.0.0/8"}}}}}}]}}"#,
        cdn.url,
        now() - 60
    );
    let (status, _, _) = get(&s.custom(&format!("{}/renditions/K1/init.mp4", cdn.url), &p)).await;
    assert_eq!(
        status, 200,
        "custom policy with DateGreaterThan and IpAddress"
    );
    cdn.stop().await;
}

// One scenario per refusal, sharing the set-up; each must cost the origins nothing.
#[tokio::test]
async fn refused_signatures_get_403_no_bytes_and_no_origin_request() {
    let o = origins().await;
    let secret = b"SECRET SEGMENT BYTES";
    o.put("/renditions/KEY/seg_00001.m4s", secret, None);
    o.put("/renditions/OTHERKEY/seg_00001.m4s", secret, None);
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let forger = TestSigner::new(KEY_ID, "other-private.pem");
    let unknown = TestSigner::new("KNOTINTHEGROUP", "private.pem");
    let (exp, past) = (now() + 3600, now() - 10);
    let seg = format!("{}/renditions/KEY/seg_00001.m4s?session=abc", cdn.url);
    let other = format!("{}/renditions/OTHERKEY/seg_00001.m4s?session=abc", cdn.url);
    let key_policy = policy(&format!("{}/renditions/KEY/*", cdn.url), exp);
    let tampered = {
        let good = s.custom(&seg, &key_policy);
        let forged_policy = policy(&format!("{}/renditions/OTHERKEY/*", cdn.url), exp);
        let encoded = TestSigner::b64(forged_policy.as_bytes());
        let start = good.find("Policy=").expect("Policy") + "Policy=".len();
        let end = start + good[start..].find('&').expect("&");
        format!(
            "{}/renditions/OTHERKEY/seg_00001.m4s?session=abc&Policy={encoded}{}",
            cdn.url,
            &good[end..]
        )
    };
    let not_yet = format!(
        r#"{{"Statement":[{{"Resource":"{}/renditions/KEY/*","Condition":{{"DateLessThan":{{"AWS:EpochTime":{exp}}},"DateGreaterThan":{{"AWS:EpochTime":{exp}}}}}}}]}}"#,
        cdn.url
    );
    let elsewhere = format!(
        r#"{{"Statement":[{{"Resource":"{}/renditions/KEY/*","Condition":{{"DateLessThan":{{"AWS:EpochTime":{exp}}},"IpAddress":{{"AWS:SourceIp":"192.0.2.0/24"}}}}}}]}}"#,
        cdn.url
    );
    let cases = [
        ("no signature", seg.clone()),
        (
            "forged (another key, the trusted id)",
            forger.canned(&seg, exp),
        ),
        ("forged custom", forger.custom(&seg, &key_policy)),
        ("expired canned", s.canned(&seg, past)),
        (
            "expired custom",
            s.custom(
                &seg,
                &policy(&format!("{}/renditions/KEY/*", cdn.url), past),
            ),
        ),
        ("unknown key pair id", unknown.canned(&seg, exp)),
        ("other prefix", s.custom(&other, &key_policy)),
        (
            "canned for another URL",
            s.canned(&seg, exp).replace("/KEY/", "/OTHERKEY/"),
        ),
        ("tampered policy", tampered),
        ("not valid yet", s.custom(&seg, &not_yet)),
        ("other address", s.custom(&seg, &elsewhere)),
        (
            "malformed signature",
            s.canned(&seg, exp).replace("Signature=", "Signature=%%%"),
        ),
        (
            "signature without key id",
            s.canned(&seg, exp).replace("Key-Pair-Id", "Key-Pair"),
        ),
    ];
    for (what, url) in &cases {
        let (status, _, body) = get(url).await;
        assert_eq!(status, 403, "{what}: {url}");
        assert!(
            !body.windows(secret.len()).any(|w| w == secret),
            "{what}: no object bytes in a refusal"
        );
    }
    // A method the behaviour does not allow.
    let r = client()
        .post(s.canned(&seg, exp))
        .body("x")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 403, "POST on /renditions/*");
    let stats = cdn.stats();
    assert_eq!(stats.total_fetches(), 0, "{stats:?}");
    assert_eq!(stats.refused, cases.len() as u64 + 1);
    assert_eq!((o.bucket_requests(), o.function_requests()), (0, 0));
    // And the good URL still works.
    assert_eq!(get(&s.canned(&seg, exp)).await.0, 200);
    cdn.stop().await;
}

#[tokio::test]
async fn the_cache_key_of_a_segment_is_its_path_alone() {
    let o = origins().await;
    o.put(
        "/renditions/K/seg_00003.m4s",
        b"three",
        Some("public, max-age=31536000, immutable"),
    );
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let exp = now() + 3600;
    let path = format!("{}/renditions/K/seg_00003.m4s", cdn.url);
    // Two viewers: other sessions, other signatures (one canned, one custom), same path.
    let first = s.canned(&format!("{path}?session=viewer-one"), exp);
    let second = s.custom(
        &format!("{path}?session=viewer-two"),
        &policy(&format!("{}/renditions/K/*", cdn.url), exp + 1),
    );
    let (st, h1, b1) = get(&first).await;
    let (st2, h2, b2) = get(&second).await;
    assert_eq!((st, st2), (200, 200));
    assert_eq!(
        (b1, x_cache(&h1)),
        (Bytes::from("three"), "Miss from cloudfront")
    );
    assert_eq!(
        (b2, x_cache(&h2)),
        (Bytes::from("three"), "Hit from cloudfront")
    );
    let stats = cdn.stats();
    assert_eq!(stats.fetches_to("media-bucket"), 1, "{stats:?}");
    assert_eq!(o.bucket_requests(), 1);
    // The bucket got the path with the one whitelisted query string, never the signature.
    assert_eq!(
        stats.fetched[0].path,
        "/renditions/K/seg_00003.m4s?session=viewer-one"
    );
    // A HEAD is answered from the cached GET.
    let r = client().head(&second).send().await.expect("HEAD");
    assert_eq!(r.status(), 200);
    assert_eq!(x_cache(r.headers()), "Hit from cloudfront");
    assert_eq!(
        r.headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert_eq!(o.bucket_requests(), 1);
    cdn.stop().await;
}

#[tokio::test]
async fn an_unmade_segment_fails_over_to_the_function_and_is_then_cached() {
    for missing in [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND] {
        let o = origins().await;
        *o.state.missing.lock().expect("missing") = missing;
        let cdn = o.cdn().await;
        let s = TestSigner::new(KEY_ID, "private.pem");
        let p = policy(&format!("{}/renditions/NEW/*", cdn.url), now() + 3600);
        let url = |session: &str| {
            s.custom(
                &format!("{}/renditions/NEW/seg_00007.m4s?session={session}", cdn.url),
                &p,
            )
        };
        let (status, _, body) = get(&url("first")).await;
        assert_eq!(status, 200, "bucket {missing}: made through the failover");
        assert_eq!(body, "made /renditions/NEW/seg_00007.m4s");
        let stats = cdn.stats();
        assert_eq!(
            (
                stats.fetches_to("media-bucket"),
                stats.fetches_to("hls-function")
            ),
            (1, 1),
            "{stats:?}"
        );
        assert_eq!(
            o.state.function_queries.lock().expect("q").as_slice(),
            ["session=first"],
            "the function gets the session and nothing of the signature"
        );
        cdn.reset_stats();
        for viewer in ["second", "tenth"] {
            let (status, h, _) = get(&url(viewer)).await;
            assert_eq!((status, x_cache(&h)), (200, "Hit from cloudfront"));
        }
        assert_eq!(
            cdn.stats().total_fetches(),
            0,
            "later viewers cost the origins nothing"
        );
        assert_eq!((o.bucket_requests(), o.function_requests()), (1, 1));
        cdn.stop().await;
    }
}

#[tokio::test]
async fn a_503_from_the_function_is_not_cached() {
    let o = origins().await;
    o.set_function(Function::NotReady);
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let url = s.canned(
        &format!("{}/renditions/SLOW/seg_00001.m4s?session=abc", cdn.url),
        now() + 3600,
    );
    let (status, h, _) = get(&url).await;
    assert_eq!(status, 503);
    assert!(h.contains_key(header::RETRY_AFTER));
    // The retry reaches the function again (the template's ErrorCachingMinTTL 0 for 503).
    assert_eq!(get(&url).await.0, 503);
    assert_eq!(o.function_requests(), 2);
    o.set_function(Function::Make);
    assert_eq!(get(&url).await.0, 200);
    let (status, h, _) = get(&url).await;
    assert_eq!((status, x_cache(&h)), (200, "Hit from cloudfront"));
    assert_eq!(o.function_requests(), 3);
    cdn.stop().await;
}

/// The same 503 (with `no-store`) is cached for CloudFront's default 10 s when the
/// distribution has no `ErrorCachingMinTTL` for it: CloudFront ignores `no-store` on a 5xx.
/// What keeps the retry off the stale error is the template's `CustomErrorResponses`.
#[tokio::test]
async fn without_the_templates_error_caching_a_503_would_be_cached() {
    let text = std::fs::read_to_string(repo_root().join("infra/template.yaml")).expect("template");
    let start = text
        .find("        CustomErrorResponses:")
        .expect("the template has CustomErrorResponses");
    let end = start + text[start..].find("\nOutputs:").expect("Outputs after it");
    let dir = tempfile::tempdir().expect("tempdir");
    let stripped = dir.path().join("template.yaml");
    std::fs::write(&stripped, format!("{}{}", &text[..start], &text[end..])).expect("write");
    let o = origins().await;
    o.set_function(Function::NotReady);
    let cdn = Cdn::start(o.setup().template(&stripped))
        .await
        .expect("stand-in");
    let s = TestSigner::new(KEY_ID, "private.pem");
    let url = s.canned(
        &format!("{}/renditions/SLOW/seg_00001.m4s", cdn.url),
        now() + 3600,
    );
    assert_eq!(get(&url).await.0, 503);
    let (status, h, _) = get(&url).await;
    assert_eq!((status, x_cache(&h)), (503, "Hit from cloudfront"));
    assert_eq!(o.function_requests(), 1);
    cdn.stop().await;
}

#[tokio::test]
async fn no_store_is_not_cached() {
    let o = origins().await;
    o.put(
        "/renditions/K/seg_00001.m4s",
        b"fresh each time",
        Some("no-store"),
    );
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let url = s.canned(
        &format!("{}/renditions/K/seg_00001.m4s", cdn.url),
        now() + 3600,
    );
    for _ in 0..2 {
        assert_eq!(get(&url).await.0, 200);
    }
    assert_eq!(
        o.bucket_requests(),
        2,
        "no-store with MinTTL 0: never cached"
    );
    assert_eq!(cdn.stats().hits, 0);
    cdn.stop().await;
}

#[tokio::test]
async fn simultaneous_viewers_of_an_unmade_segment_cause_one_make() {
    let o = origins().await;
    *o.state.function_delay.lock().expect("delay") = Duration::from_millis(300);
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let p = policy(&format!("{}/renditions/HOT/*", cdn.url), now() + 3600);
    let urls: Vec<String> = (0..5)
        .map(|i| {
            s.custom(
                &format!("{}/renditions/HOT/seg_00001.m4s?session=v{i}", cdn.url),
                &p,
            )
        })
        .collect();
    let answers = futures::future::join_all(urls.iter().map(|u| get(u))).await;
    assert!(answers.iter().all(|(status, _, _)| *status == 200));
    assert_eq!(
        o.function_requests(),
        1,
        "one make for five simultaneous viewers"
    );
    assert_eq!(cdn.stats().hits, 4);
    cdn.stop().await;
}

#[tokio::test]
async fn ranges_of_an_original_are_answered_from_the_cache() {
    let o = origins().await;
    let original: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    o.put("/uploads/M1/source.mp4", &original, None);
    let cdn = o.cdn().await;
    let s = TestSigner::new(KEY_ID, "private.pem");
    let url = s.canned(&format!("{}/uploads/M1/source.mp4", cdn.url), now() + 3600);

    let (status, h, body) = get_with(&url, &[("range", "bytes=0-99")]).await;
    assert_eq!(status, 206);
    assert_eq!(&body[..], &original[0..100]);
    assert_eq!(
        h.get(header::CONTENT_RANGE).expect("Content-Range"),
        "bytes 0-99/1000"
    );
    // The same range again: from the cache.
    let (status, h, body) = get_with(&url, &[("range", "bytes=0-99")]).await;
    assert_eq!(
        (status, x_cache(&h), &body[..]),
        (206, "Hit from cloudfront", &original[0..100])
    );
    assert_eq!(o.bucket_requests(), 1);
    // A range not cached yet goes to the origin; after the whole object, every range is a hit.
    assert_eq!(get_with(&url, &[("range", "bytes=500-599")]).await.0, 206);
    assert_eq!(get(&url).await.2.len(), 1000);
    assert_eq!(o.bucket_requests(), 3);
    for (range, first, last) in [
        ("bytes=900-", 900, 999),
        ("bytes=-10", 990, 999),
        ("bytes=250-260", 250, 260),
    ] {
        let (status, h, body) = get_with(&url, &[("range", range)]).await;
        assert_eq!(
            (status, x_cache(&h)),
            (206, "Hit from cloudfront"),
            "{range}"
        );
        assert_eq!(&body[..], &original[first..=last], "{range}");
        assert_eq!(
            h.get(header::ACCEPT_RANGES).and_then(|v| v.to_str().ok()),
            Some("bytes")
        );
    }
    assert_eq!(get_with(&url, &[("range", "bytes=5000-")]).await.0, 416);
    assert_eq!(o.bucket_requests(), 3);
    cdn.stop().await;
}

#[tokio::test]
async fn the_api_behaviour_forwards_every_method_and_caches_nothing() {
    let o = origins().await;
    let cdn = o.cdn().await;
    for method in ["GET", "GET", "POST", "PUT", "PATCH", "DELETE"] {
        let r = client()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}/api/v1/media/abc?x=1", cdn.url),
            )
            .bearer_auth("token-123")
            .body(if method == "GET" { "" } else { "{\"a\":1}" })
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{method}");
    }
    assert_eq!(
        o.state.api_requests.load(Ordering::SeqCst),
        6,
        "CachingDisabled"
    );
    let seen = o.state.api_seen.lock().expect("api").clone();
    for (method, uri, auth, host, body) in &seen {
        assert_eq!(uri, "/api/v1/media/abc?x=1");
        assert_eq!(
            auth.as_deref(),
            Some("Bearer token-123"),
            "{method}: Authorization forwarded"
        );
        assert!(
            !cdn.url.ends_with(host.as_str()),
            "{method}: the viewer's Host is not forwarded"
        );
        assert_eq!(body.len(), if method == "GET" { 0 } else { 7 }, "{method}");
    }
    cdn.stop().await;
}

/// URLs signed by AWS's own signer (`@aws-sdk/cloudfront-signer`, pinned in tests/edge-signer)
/// are accepted, and the same URL with one byte changed is not.
#[tokio::test]
#[ignore = "needs node and the npm signer (scripts/player-assets.sh --test; scripts/test.sh runs it)"]
async fn urls_signed_by_aws_npm_signer_are_accepted() {
    let o = origins().await;
    o.put("/renditions/NPM/seg_00001.m4s", b"npm", None);
    o.put("/uploads/M/source.mkv", b"original", None);
    let cdn = o.cdn().await;
    let exp = now() + 3600;
    let original = format!("{}/uploads/M/source.mkv", cdn.url);
    let segment = format!("{}/renditions/NPM/seg_00001.m4s?session=abc", cdn.url);
    let wildcard = policy(&format!("{}/renditions/NPM/*", cdn.url), exp);
    let urls = npm_signer::sign(
        KEY_ID,
        &repo_root().join("tests/fixtures/cloudfront/private.pem"),
        &[
            npm_signer::Request::Canned {
                url: &original,
                expires: exp,
            },
            npm_signer::Request::Custom {
                url: &segment,
                policy: &wildcard,
            },
            npm_signer::Request::CannedSha256 {
                url: &segment,
                expires: exp,
            },
        ],
    )
    .expect("the npm signer");
    for url in &urls {
        assert_eq!(get(url).await.0, 200, "{url}");
        let flipped = url.replacen("Signature=", "Signature=A", 1);
        assert_eq!(get(&flipped).await.0, 403, "{flipped}");
    }
    cdn.stop().await;
}

/// The bucket as LocalStack's S3, read with the SDK as origin access control reads it: a made
/// segment and an original with ranges from S3, a missing key 403 and so the failover.
#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn s3_origin_through_origin_access_control() {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_S3").expect("AWS_ENDPOINT_URL_S3 (scripts/stack.sh)");
    let bucket = std::env::var("STREAM_BUCKET").unwrap_or_else(|_| "stream-media".into());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .build(),
    );
    let tag = format!("cdn-standin-{}", now());
    let original: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    for (key, bytes) in [
        (
            format!("renditions/{tag}/seg_00001.m4s"),
            b"from s3".to_vec(),
        ),
        (format!("uploads/{tag}/source.mp4"), original.clone()),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .expect("put_object");
    }
    let o = origins().await;
    let cdn = Cdn::start(
        Setup::new()
            .origin("http-api", Origin::http(&o.api))
            .origin("hls-function", Origin::http(&o.function))
            .origin("media-bucket", Origin::s3(&endpoint, &bucket))
            .key(KEY_ID, &fixture("public.pem")),
    )
    .await
    .expect("stand-in");
    let s = TestSigner::new(KEY_ID, "private.pem");
    let exp = now() + 3600;
    let p = policy(&format!("{}/renditions/{tag}/*", cdn.url), exp);
    let seg = s.custom(
        &format!("{}/renditions/{tag}/seg_00001.m4s?session=a", cdn.url),
        &p,
    );
    let (status, _, body) = get(&seg).await;
    assert_eq!((status, &body[..]), (200, &b"from s3"[..]));
    // A key S3 does not have: 403 from S3 (no ListBucket), then the function.
    let unmade = s.custom(
        &format!("{}/renditions/{tag}/seg_00002.m4s?session=a", cdn.url),
        &p,
    );
    assert_eq!(get(&unmade).await.0, 200);
    let stats = cdn.stats();
    assert_eq!(stats.fetched[1].status, 403, "{stats:?}");
    assert_eq!(stats.fetched[2].origin, "hls-function");
    // Ranges of an original, passed through to S3 on a miss.
    let url = s.canned(&format!("{}/uploads/{tag}/source.mp4", cdn.url), exp);
    let (status, h, body) = get_with(&url, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(status, 206);
    assert_eq!(&body[..], &original[1000..2000]);
    assert_eq!(
        h.get(header::CONTENT_RANGE).expect("Content-Range"),
        "bytes 1000-1999/4096"
    );
    let (status, h, _) = get_with(&url, &[("range", "bytes=1000-1999")]).await;
    assert_eq!((status, x_cache(&h)), (206, "Hit from cloudfront"));
    assert_eq!(cdn.stats().fetches_to("media-bucket"), 3);
    cdn.stop().await;
}
