//! Shared harness of the integration tests: generated test media, an in-process `streamd` on a
//! free loopback port, the cloud stores against the local AWS stack, tokens and HTTP helpers.
//!
//! Tests that need LocalStack + DynamoDB Local are `#[ignore]`d so a bare `cargo test` runs
//! without them; `scripts/test.sh` starts the stack and runs them all (`--include-ignored`).

pub mod cdn;
pub mod hls_client;
pub mod tap;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use stream_service::config::Config;
use stream_service::state::AppState;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The generated test media (scripts/gen-media.sh), made once and shared by every test binary.
pub fn media_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var("STREAM_TEST_MEDIA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target/test-media"));
        std::fs::create_dir_all(&dir).expect("create media dir");
        // flock: several test binaries may ask at once.
        let status = std::process::Command::new("flock")
            .arg(dir.join(".lock"))
            .arg(repo_root().join("scripts/gen-media.sh"))
            .arg(&dir)
            .status()
            .expect("run scripts/gen-media.sh");
        assert!(status.success(), "scripts/gen-media.sh failed");
        dir
    })
    .clone()
}

/// A ~27 MB Matroska video of raw frames (10 s, 320×240, 24 fps: made at once, no encoder),
/// for multipart uploads in parts of 5 MiB (S3's smallest): 6 parts, the last one short. Made
/// once, beside the generated test media (multipart.rs, browser.rs).
pub fn multipart_video() -> PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = media_dir();
        let path = dir.join("multipart_raw.mkv");
        if !path.exists() {
            let tmp = dir.join(format!("multipart_raw.{}.mkv", std::process::id()));
            let status = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
                .arg("testsrc2=size=320x240:rate=24")
                .args(["-t", "10", "-c:v", "rawvideo", "-pix_fmt", "yuv420p"])
                .arg(&tmp)
                .status()
                .expect("run ffmpeg");
            assert!(status.success(), "ffmpeg made the multipart test video");
            std::fs::rename(&tmp, &path).expect("publish the multipart test video");
        }
        path
    })
    .clone()
}

/// The whole source object of a media, read from the state's store (a test compares bytes).
pub async fn stored_source(state: &AppState, media_id: &str) -> (String, Vec<u8>) {
    let media = state.meta.get_media(media_id).await.expect("get media");
    let key = media.expect("the media").source_key;
    let bytes = state
        .objects
        .read_range(&key, 0, 1 << 40)
        .await
        .expect("read");
    (key, bytes.map(|b| b.to_vec()).unwrap_or_default())
}

pub fn manifest() -> Value {
    let text = std::fs::read_to_string(media_dir().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

pub fn config_with(pairs: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // A pair given here wins over the environment; an empty value means "unset".
    Config::from_lookup(|k| match map.get(k) {
        Some(v) => Some(v.clone()).filter(|v| !v.is_empty()),
        None => std::env::var(k).ok().filter(|v| !v.is_empty()),
    })
    .expect("test configuration")
}

/// A running in-process `streamd` on 127.0.0.1:<free port> with its own data dir.
pub struct TestServer {
    pub base: String,
    /// The server itself (`base` is the CDN stand-in's URL in the cloud shape).
    pub origin: String,
    pub state: AppState,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    /// The cloud shape's CDN stand-in (then `base` is its URL).
    cdn: Option<cdn::Cdn>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> TestServer {
        Self::launch(extra, None).await
    }

    /// With streamd's own options (player dir, test throttle) given instead of read from the
    /// environment.
    pub async fn start_with_options(
        extra: &[(&str, &str)],
        options: streamd::Options,
    ) -> TestServer {
        Self::launch(extra, Some(options)).await
    }

    async fn launch(extra: &[(&str, &str)], options: Option<streamd::Options>) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().to_string_lossy().into_owned();
        let mut pairs = vec![
            ("STREAM_STORAGE", "embedded"),
            ("STREAM_LISTEN", "127.0.0.1:0"),
            ("STREAM_DATA_DIR", data.as_str()),
            ("STREAM_JWT_SECRET", SECRET),
        ];
        pairs.extend_from_slice(extra);
        let config = config_with(&pairs);
        let prepared = match options {
            Some(o) => streamd::prepare_with(config, false, o).await,
            None => streamd::prepare(config, false).await,
        }
        .expect("streamd starts");
        let base = format!("http://{}", prepared.addr);
        let state = prepared.server.state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            streamd::serve(prepared, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestServer {
            origin: base.clone(),
            base,
            state,
            _dir: dir,
            shutdown: Some(tx),
            handle: Some(handle),
            cdn: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        if let Some(cdn) = self.cdn.take() {
            cdn.stop().await;
        }
    }
}

/// The cloud shape's state, against the local AWS stack started by scripts/test.sh.
pub async fn aws_state() -> AppState {
    aws_state_with(&[]).await
}

/// The cloud shape's state with extra settings.
pub async fn aws_state_with(extra: &[(&str, &str)]) -> AppState {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_S3").is_ok() && std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "this test needs the local AWS stack: run it through scripts/test.sh (or `scripts/stack.sh run -- cargo test -- --include-ignored`)"
    );
    let mut pairs = vec![("STREAM_STORAGE", "aws"), ("STREAM_JWT_SECRET", SECRET)];
    pairs.extend_from_slice(extra);
    AppState::from_config(config_with(&pairs))
        .await
        .expect("cloud state")
}

/// The test key group's public key id (tests/fixtures/cloudfront: test-only keys).
pub const EDGE_KEY_PAIR_ID: &str = "K2STREAMTESTKEY1";

/// The test key group's private key in the local secret store (LocalStack Secrets Manager), as
/// a deployment keeps it; its name, for `STREAM_EDGE_KEY_SECRET`. Created once per process.
pub async fn edge_key_secret() -> String {
    static NAME: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    NAME.get_or_init(|| async {
        let pem =
            std::fs::read_to_string(repo_root().join("tests/fixtures/cloudfront/private.pem"))
                .expect("the test edge key");
        let sdk = stream_storage::aws::sdk_config().await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let name = "stream-test-edge-key".to_string();
        let created = client
            .create_secret()
            .name(&name)
            .secret_string(&pem)
            .send()
            .await;
        if let Err(e) = created {
            // Another test binary made it first: the same key, so keep it.
            let exists = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception());
            assert!(
                exists,
                "creating the edge key secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            );
        }
        name
    })
    .await
    .clone()
}

/// The CDN stand-in set up as the template's distribution: `api` as the HTTP API origin,
/// `function` as the `hls` function's URL, LocalStack's bucket, the test key group.
pub fn cdn_setup(api: &str, function: &str) -> cdn::Setup {
    let s3 = std::env::var("AWS_ENDPOINT_URL_S3").expect("AWS_ENDPOINT_URL_S3");
    let bucket = std::env::var("STREAM_BUCKET").unwrap_or_else(|_| "stream-media".into());
    let public = std::fs::read_to_string(repo_root().join("tests/fixtures/cloudfront/public.pem"))
        .expect("the test edge public key");
    cdn::Setup::new()
        .origin("http-api", cdn::Origin::http(api))
        .origin("hls-function", cdn::Origin::http(function))
        .origin("media-bucket", cdn::Origin::s3(&s3, &bucket))
        .key(EDGE_KEY_PAIR_ID, &public)
}

/// One request; redirects are not followed.
async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = http().request(m, url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

pub fn token(sub: &str) -> String {
    stream_service::auth::mint_hs256(SECRET, sub, &[], Duration::from_secs(3600))
}

pub fn admin_token(sub: &str) -> String {
    stream_service::auth::mint_hs256(SECRET, sub, &["admin"], Duration::from_secs(3600))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Creates an upload as `token`'s user and PUTs `file` to the returned URL; returns the media id.
pub async fn upload(base: &str, token: &str, file: &Path) -> String {
    let name = file
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let r = http()
        .post(format!("{base}/api/v1/uploads"))
        .bearer_auth(token)
        .json(&serde_json::json!({"filename": name, "content_type": "application/octet-stream"}))
        .send()
        .await
        .expect("POST /uploads");
    assert_eq!(r.status(), 201, "POST /uploads");
    let body: Value = r.json().await.expect("json");
    let url = body["upload_url"].as_str().expect("upload_url").to_string();
    put_file(&url, file).await;
    body["media_id"].as_str().expect("media_id").to_string()
}

/// PUTs `file` to an upload URL with the header every upload URL asks for (`If-None-Match: *`:
/// it writes once; signed into the URL in the cloud).
pub async fn put_file(url: &str, file: &Path) {
    let bytes = tokio::fs::read(file).await.expect("read media");
    let (name, value) = stream_storage::WRITE_ONCE;
    let r = http()
        .put(url)
        .header(name, value)
        .body(bytes)
        .send()
        .await
        .expect("PUT upload");
    assert!(
        r.status().is_success(),
        "PUT to upload URL: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
}

/// Polls `GET /media/{id}` until its status is `ready` or `failed`.
pub async fn wait_settled(base: &str, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        let r = http()
            .get(format!("{base}/api/v1/media/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET media");
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.expect("json");
        if v["status"] == "ready" || v["status"] == "failed" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("media {id} did not settle within 60 s");
}

/// One API surface, two shapes, both over real HTTP: the embedded server (disk + SQLite), and the
/// same handlers on the cloud stores (LocalStack S3 + DynamoDB Local; uploads go to S3 presigned
/// URLs and ingest runs from the S3 event, as the `ingest` function gets it). Tests written
/// against `Api` run unchanged on both.
pub enum Api {
    Embedded(TestServer),
    Cloud(TestServer),
}

/// A response of either shape.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    pub async fn embedded() -> Api {
        Api::Embedded(TestServer::start().await)
    }

    pub async fn embedded_with(extra: &[(&str, &str)]) -> Api {
        Api::Embedded(TestServer::start_with(extra).await)
    }

    pub async fn cloud() -> Api {
        Self::cloud_with(&[]).await
    }

    /// The cloud shape as deployed: the handlers on LocalStack + DynamoDB Local behind the CDN
    /// stand-in configured by `infra/template.yaml` (`cdn`), signing edge URLs with the test key
    /// group's key, read from the local secret store. The handlers are both the API origin and
    /// the `hls` function origin of the template.
    pub async fn cloud_with(extra: &[(&str, &str)]) -> Api {
        assert!(
            std::env::var("AWS_ENDPOINT_URL_S3").is_ok()
                && std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
            "this test needs the local AWS stack: run it through scripts/test.sh"
        );
        let listener = cdn::Cdn::bind().await.expect("CDN stand-in port");
        let secret = edge_key_secret().await;
        let mut pairs = vec![
            ("STREAM_STORAGE", "aws"),
            ("STREAM_EDGE_KEY_PAIR_ID", EDGE_KEY_PAIR_ID),
            ("STREAM_EDGE_KEY_SECRET", secret.as_str()),
            ("STREAM_EDGE_URL", listener.url.as_str()),
        ];
        pairs.extend_from_slice(extra);
        // The server stands in for the `hls` function, reached by the CDN only.
        let options = streamd::Options {
            cdn_origin: true,
            ..Default::default()
        };
        let mut server = TestServer::start_with_options(&pairs, options).await;
        let cdn = listener
            .start(cdn_setup(&server.base, &server.base))
            .await
            .expect("CDN stand-in");
        server.base = cdn.url.clone();
        server.cdn = Some(cdn);
        Api::Cloud(server)
    }

    /// The CDN stand-in of a cloud server (`None` embedded).
    pub fn cdn(&self) -> Option<&cdn::Cdn> {
        match self {
            Api::Cloud(s) => s.cdn.as_ref(),
            Api::Embedded(_) => None,
        }
    }

    pub fn server(&self) -> &TestServer {
        match self {
            Api::Embedded(s) | Api::Cloud(s) => s,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.server().state
    }

    pub fn name(&self) -> &'static str {
        match self {
            Api::Embedded(_) => "embedded",
            Api::Cloud(_) => "cloud",
        }
    }

    /// An absolute URL for a URL the API handed out (the cloud shape may hand out path-absolute ones).
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            self.server().url(url)
        } else {
            url.to_string()
        }
    }

    /// Makes a request; `path` includes the query. Redirects are not followed.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        request(method, &self.absolute(path), token, headers, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), &[], None).await
    }

    /// The same request as [`Api::call`], made to the server itself rather than through the
    /// cloud shape's CDN stand-in (which, like CloudFront, forwards only the headers its
    /// policies name).
    pub async fn call_origin(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{path}", self.server().origin);
        request(method, &url, token, headers, None).await
    }

    pub async fn get_json(&self, path: &str, token: &str) -> Reply {
        self.call(
            "GET",
            path,
            Some(token),
            &[("accept", "application/json")],
            None,
        )
        .await
    }

    /// Creates an upload (optionally PUTs `file`) and returns (media id, upload URL).
    pub async fn create_upload(&self, token: &str, filename: &str) -> (String, String) {
        let r = self
            .call(
                "POST",
                "/api/v1/uploads",
                Some(token),
                &[],
                Some(serde_json::json!({"filename": filename})),
            )
            .await;
        assert_eq!(
            r.status,
            201,
            "{}: POST /uploads: {:?}",
            self.name(),
            r.body
        );
        let v = r.json();
        (
            v["media_id"].as_str().expect("media_id").to_string(),
            v["upload_url"].as_str().expect("upload_url").to_string(),
        )
    }

    /// Uploads `file` as `token`'s user and waits until ingest settles (cloud: by delivering the
    /// S3 event to the ingest logic, as the `ingest` function would get it). Returns the media id.
    pub async fn upload_settled(&self, token: &str, file: &Path) -> String {
        let name = file
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let (id, url) = self.create_upload(token, &name).await;
        put_file(&url, file).await;
        match self {
            Api::Embedded(s) => {
                wait_settled(&s.base, token, &id).await;
            }
            Api::Cloud(s) => {
                let media = s
                    .state
                    .meta
                    .get_media(&id)
                    .await
                    .expect("get media")
                    .expect("media");
                stream_service::ingest::ingest_object_keys(&s.state, [media.source_key.as_str()])
                    .await
                    .expect("ingest");
            }
        }
        id
    }

    pub async fn stop(self) {
        match self {
            Api::Embedded(s) | Api::Cloud(s) => s.stop().await,
        }
    }
}

fn ffprobe(args: &[&str], file: &Path) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn duration(file: &Path) -> f64 {
    ffprobe(
        &["-show_entries", "format=duration", "-of", "csv=p=0"],
        file,
    )
    .parse()
    .expect("a duration")
}

/// The types of a file's top-level boxes, in order.
pub fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut out = vec![];
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        let size = match size32 {
            1 => u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()),
            0 => (bytes.len() - at) as u64,
            s => s,
        };
        assert!(size >= 8, "a box of {size} bytes at {at}");
        out.push(kind);
        at += size as usize;
    }
    out
}

/// An offline download (SPEC §3) as a phone needs it, checked with independent tools: ffprobe
/// says MP4 with H.264 `height` lines tall and AAC; its `moov` is before its `mdat` (faststart,
/// read from the file's own boxes) and it is not fragmented; its duration is within 0.1 s of
/// `source`'s; `ffmpeg -v error -i file -f null -` decodes it whole and prints nothing.
pub fn assert_offline_mp4(file: &Path, source: &Path, height: u32) {
    let format = ffprobe(
        &["-show_entries", "format=format_name", "-of", "csv=p=0"],
        file,
    );
    assert!(format.contains("mp4"), "{format}");
    let streams = ffprobe(
        &[
            "-show_entries",
            "stream=codec_name,height",
            "-of",
            "csv=p=0",
        ],
        file,
    );
    assert!(streams.contains(&format!("h264,{height}")), "{streams}");
    assert!(streams.contains("aac"), "{streams}");
    let boxes = top_level_boxes(&std::fs::read(file).expect("the download"));
    let at = |k: &str| boxes.iter().position(|b| b == k);
    let (moov, mdat) = (at("moov").expect("moov"), at("mdat").expect("mdat"));
    assert!(moov < mdat, "moov before mdat: {boxes:?}");
    assert!(
        !boxes.iter().any(|b| b == "moof"),
        "not fragmented: {boxes:?}"
    );
    let (got, want) = (duration(file), duration(source));
    assert!((got - want).abs() <= 0.1, "duration {got} vs source {want}");
    let decode = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && errors.trim().is_empty(),
        "ffmpeg says: {errors}"
    );
}

/// GETs a download's file (`url`, the target of its `302`) into `dest`; checks that it is
/// answered as an attachment (saved, not played) and returns that `Content-Disposition`.
pub async fn save_attachment(url: &str, dest: &Path) -> String {
    let r = reqwest::get(url).await.expect("GET the download");
    assert_eq!(r.status(), 200, "GET {url}");
    let disposition = r
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "the file's answer says {disposition:?}"
    );
    std::fs::write(dest, r.bytes().await.expect("body")).expect("write the download");
    disposition
}
