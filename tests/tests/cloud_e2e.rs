//! The cloud shape end to end under `cargo lambda watch` (the Lambda runtime emulator) against
//! LocalStack + DynamoDB Local, behind the CDN stand-in configured by `infra/template.yaml`
//! (tests/cdn.rs): upload with the presigned PUT to LocalStack → `ingest` invoked with the S3
//! event → stream decision (`stream` function) → HLS playlists (`hls`) → every segment asked
//! at its content path on the CDN: the bucket does not have it, the origin group falls over to
//! the `hls` function, which has the `transcode` function make it (emulated Invoke API) and
//! answers its bytes, which the CDN caches. Played whole by ffmpeg, then by hls.js in Chromium
//! and by eight more viewers, all of whose segments come from the CDN's cache: counted, the
//! second and every later viewer cost the functions and the bucket nothing per segment.
//!
//! The functions reach S3, DynamoDB and the Invoke API through counting taps (tests/tap.rs), so
//! the reads each viewer causes are counted too. With `STREAM_EDGE_FIGURES=<file>` the counts
//! per viewer and the time to first byte of a made segment through the edge against the old
//! redirect path are written there (`scripts/bench.sh` puts them in BENCHMARKS.md); the test
//! asserts only counts, never times.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stream_tests::cdn::Cdn;
use stream_tests::tap::{Tap, DYNAMODB_READS};
use stream_tests::{
    assert_offline_mp4, cdn_setup, edge_key_secret, http, media_dir, put_file, repo_root,
    save_attachment, token, EDGE_KEY_PAIR_ID, SECRET,
};

/// `cargo lambda watch` (the Lambda APIs and Function URLs) plus one process per function, each
/// in its own process group, all killed on drop.
struct Watch {
    children: Vec<Child>,
    base: String,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        for c in &self.children {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", c.id())])
                .status();
        }
        std::thread::sleep(Duration::from_millis(300));
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.wait();
        }
    }
}

/// The functions, as the Lambda binaries the workspace build made (target/debug/<name>).
const FUNCTIONS: [&str; 5] = ["api", "stream", "hls", "ingest", "transcode"];

/// The functions are the binaries of the last workspace build (see [`start_watch`]), which
/// `cargo test --test cloud_e2e` alone does not rebuild: a binary older than the newest source it
/// is built from would test yesterday's code. Refused, with the command that rebuilds them.
fn assert_fresh(bin: &std::path::Path) {
    fn newest(path: &std::path::Path) -> std::time::SystemTime {
        let Ok(meta) = std::fs::metadata(path) else {
            return std::time::SystemTime::UNIX_EPOCH;
        };
        if !meta.is_dir() {
            return meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        }
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| newest(&e.path()))
            .max()
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
    }
    let root = repo_root();
    let sources = ["crates", "functions", "Cargo.toml", "Cargo.lock"]
        .iter()
        .map(|p| newest(&root.join(p)))
        .max()
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    assert!(
        built >= sources,
        "{} is older than the sources: run `cargo build --workspace --lib --bins --tests --locked` \
         (as scripts/test.sh does) before this test",
        bin.display()
    );
}

fn cargo_lambda() -> PathBuf {
    let venv = repo_root().join(".cache/cargo-lambda-venv/bin");
    assert!(venv.join("cargo-lambda").exists(), "cargo-lambda is not installed: scripts/setup.sh --test installs it into .cache/cargo-lambda-venv");
    venv
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The AWS endpoints the functions use (the counting taps) and the edge they sign for.
struct FunctionEnv<'a> {
    s3: &'a str,
    dynamodb: &'a str,
    lambda: &'a str,
    edge_url: &'a str,
    edge_secret: &'a str,
}

// Long because it sets up `cargo lambda watch` with every variable the functions need and
// waits for it, reporting its log when it does not come up.
fn start_watch(port: u16, fenv: &FunctionEnv<'_>) -> Watch {
    // Before anything is started (a panic below would leave the emulator running).
    for f in FUNCTIONS {
        let bin = repo_root().join("target/debug").join(f);
        assert!(
            bin.exists(),
            "{} is missing: build the workspace first",
            bin.display()
        );
        assert_fresh(&bin);
    }
    let mut env: Vec<(String, String)> = vec![];
    for v in [
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "STREAM_BUCKET",
        "STREAM_TABLE_PREFIX",
        "STREAM_S3_FORCE_PATH_STYLE",
    ] {
        env.push((
            v.into(),
            std::env::var(v).unwrap_or_else(|_| panic!("{v} (run under scripts/stack.sh)")),
        ));
    }
    for (k, v) in [
        ("STREAM_STORAGE", "aws"),
        ("STREAM_JWT_SECRET", SECRET),
        ("STREAM_TRANSCODE_FUNCTION", "transcode"),
        // No read-ahead: the figures of this test (invocations and bucket reads per viewer) are
        // of what the viewers asked for, not of background work racing the counters.
        ("STREAM_READ_AHEAD", "0"),
        ("STREAM_LOG_FORMAT", "pretty"),
        ("RUST_LOG", "info"),
        ("AWS_ENDPOINT_URL_S3", fenv.s3),
        ("AWS_ENDPOINT_URL_DYNAMODB", fenv.dynamodb),
        ("AWS_ENDPOINT_URL_LAMBDA", fenv.lambda),
        // The edge: CloudFront signatures with the test key group's key, read from the
        // secret store at each function's start.
        ("STREAM_EDGE_KEY_PAIR_ID", EDGE_KEY_PAIR_ID),
        ("STREAM_EDGE_KEY_SECRET", fenv.edge_secret),
        ("STREAM_EDGE_URL", fenv.edge_url),
    ] {
        env.push((k.into(), v.into()));
    }
    let path = format!(
        "{}:{}",
        cargo_lambda().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let logs = repo_root().join("target/cargo-lambda-watch");
    std::fs::create_dir_all(&logs).unwrap();
    // Appended to: a function's instances share its log.
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let log = |name: &str| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("{name}.log")))
            .unwrap();
        (Stdio::from(f.try_clone().unwrap()), Stdio::from(f))
    };
    let mut children = vec![];
    // The emulator without building anything: the functions are the binaries the test build made
    // (cargo lambda would rebuild them with another feature set, minutes on 2 cores).
    let (out, err) = log("watch");
    children.push(
        Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                // As many requests in flight per function as it has instances (below).
                "--concurrency",
                "3",
            ])
            .current_dir(repo_root())
            .env("PATH", &path)
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch starts"),
    );
    // The functions connect to the runtime API at start: wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not start; see target/cargo-lambda-watch/watch.log"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Lambda runs one request per instance and scales out; the emulator queues the requests of
    // one function for its instances. A player asks for several renditions at once and every
    // segment request waits for its `transcode` invocation, so the two functions on the segment
    // path get a few instances each, as AWS would give them.
    let instances = |f: &str| {
        if matches!(f, "hls" | "transcode") {
            3
        } else {
            1
        }
    };
    for f in FUNCTIONS
        .iter()
        .flat_map(|f| std::iter::repeat_n(*f, instances(f)))
    {
        let bin = repo_root().join("target/debug").join(f);
        let (out, err) = log(f);
        children.push(
            Command::new(&bin)
                .envs(env.iter().cloned())
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt/{f}"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", f)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .spawn()
                .expect("function starts"),
        );
    }
    Watch {
        children,
        base: format!("http://127.0.0.1:{port}"),
        port,
    }
}

/// Waits until `url` answers with `want` (the first request compiles/starts the function).
async fn wait_for(url: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(r) = http().get(url).send().await {
            if r.status().as_u16() == want {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered {want}; see target/cargo-lambda-watch/*.log"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Everything the scenario runs on.
struct Stack {
    watch: Watch,
    cdn: Cdn,
    s3: Tap,
    dynamodb: Tap,
    lambda: Tap,
}

async fn start_stack() -> Stack {
    let port = free_port();
    let env =
        |v: &str| std::env::var(v).unwrap_or_else(|_| panic!("{v} (run under scripts/stack.sh)"));
    let s3 = Tap::start(&env("AWS_ENDPOINT_URL_S3")).await.unwrap();
    let dynamodb = Tap::start(&env("AWS_ENDPOINT_URL_DYNAMODB")).await.unwrap();
    let lambda = Tap::start(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let listener = Cdn::bind().await.unwrap();
    let secret = edge_key_secret().await;
    let fenv = FunctionEnv {
        s3: &s3.url,
        dynamodb: &dynamodb.url,
        lambda: &lambda.url,
        edge_url: &listener.url,
        edge_secret: &secret,
    };
    let watch = start_watch(port, &fenv);
    // The `hls` function is both the API's and the CDN's failover origin (its function URL in
    // AWS; the emulator serves the same paths).
    let cdn = listener
        .start(cdn_setup(&watch.base, &watch.base))
        .await
        .unwrap();
    wait_for(&format!("{}/healthz", watch.base), 200).await;
    Stack {
        watch,
        cdn,
        s3,
        dynamodb,
        lambda,
    }
}

/// Uploads and ingests the test film through the functions; returns the media id.
// Long because it is the upload and the S3 event, as a client and S3 meet the functions.
async fn upload_and_ingest(stack: &Stack, t: &str) -> String {
    let file = media_dir().join("hevc10_ac3_51.mkv");

    // Upload: the api function presigns a PUT to LocalStack.
    let r = http()
        .post(format!("{}/api/v1/uploads", stack.watch.base))
        .bearer_auth(&t)
        .json(&serde_json::json!({"filename": "film.mkv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let v: Value = r.json().await.unwrap();
    let (id, url) = (
        v["media_id"].as_str().unwrap().to_string(),
        v["upload_url"].as_str().unwrap().to_string(),
    );
    assert!(url.contains("X-Amz-Signature"), "an S3 presigned PUT");
    put_file(&url, &file).await;

    // Ingest: the S3 ObjectCreated event (events/s3-object-created.json with this key) invoked on
    // the ingest function through the emulator.
    let key = format!("uploads/{id}/source.mkv");
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/s3-object-created.json")).unwrap(),
    )
    .unwrap();
    event["Records"][0]["s3"]["object"]["key"] = Value::String(key);
    let event_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(event_file.path(), event.to_string()).unwrap();
    let out = Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            "ingest",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &stack.watch.port.to_string(),
            "--data-file",
        ])
        .arg(event_file.path())
        .current_dir(repo_root())
        .env(
            "PATH",
            format!(
                "{}:{}",
                cargo_lambda().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo lambda invoke ingest: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let media: Value = http()
        .get(format!("{}/api/v1/media/{id}", stack.watch.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(media["video"]["codec"], "hevc");
    // Shared: the other viewers are other users.
    let r = http()
        .patch(format!("{}/api/v1/media/{id}", stack.watch.base))
        .bearer_auth(t)
        .json(&serde_json::json!({"visibility": "shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    id
}

/// A new session of `id` for `t`'s user (H.264/AAC client: `transcode`): (master URL, id).
async fn decide(stack: &Stack, t: &str, id: &str) -> (String, String) {
    let q = "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";
    let r = http()
        .get(format!("{}/api/v1/stream/{id}?{q}", stack.cdn.url))
        .bearer_auth(t)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["method"], "transcode", "{d}");
    let master = d["url"].as_str().unwrap();
    let master = match master.starts_with('/') {
        true => format!("{}{master}", stack.cdn.url),
        false => master.to_string(),
    };
    (master, d["session_id"].as_str().unwrap().to_string())
}

/// ffmpeg, exactly the client, plays every rendition whole without a word on stderr.
async fn ffmpeg_plays(master: &str) {
    let master = master.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ffmpeg")
            .args([
                "-v", "error", "-nostdin", "-i", &master, "-map", "0", "-f", "null", "-",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg played with errors:\n{stderr}\n(see target/cargo-lambda-watch/*.log)"
    );
}

/// Every piece (init and media segment) of every rendition of a master, as signed URLs.
async fn pieces(master: &str) -> Vec<String> {
    let get =
        |u: url::Url| async move { http().get(u).send().await.unwrap().text().await.unwrap() };
    let base = url::Url::parse(master).unwrap();
    let text = get(base.clone()).await;
    let mut variants: Vec<url::Url> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| base.join(l).unwrap())
        .collect();
    for l in text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO"))
    {
        let uri = l.split("URI=\"").nth(1).unwrap().split('"').next().unwrap();
        variants.push(base.join(uri).unwrap());
    }
    let mut out = vec![];
    for v in variants {
        let text = get(v.clone()).await;
        for l in text.lines() {
            let uri = match l.strip_prefix("#EXT-X-MAP:URI=\"") {
                Some(rest) => rest.trim_end_matches('"'),
                None if !l.starts_with('#') && !l.is_empty() => l,
                None => continue,
            };
            out.push(v.join(uri).unwrap().to_string());
        }
    }
    out
}

fn path_of(u: &str) -> String {
    url::Url::parse(u).unwrap().path().to_string()
}

/// What a viewer cost, counted at the CDN's origins and at the AWS endpoints.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
struct Usage {
    /// Segment requests the CDN sent to the `hls` function (function invocations).
    function_segment_requests: u64,
    /// Requests the CDN sent to the API (stream decisions, playlists; function invocations).
    function_api_requests: u64,
    /// `transcode` invocations.
    transcode_invocations: u64,
    /// Bucket reads by the CDN (its primary origin).
    bucket_reads_by_cdn: u64,
    /// S3 GETs by the functions (reading segments back, sources by range).
    s3_gets_by_functions: u64,
    dynamodb_reads: u64,
    dynamodb_writes: u64,
    cache_hits: u64,
}

fn usage(stack: &Stack) -> Usage {
    let stats = stack.cdn.stats();
    let counts = stack.dynamodb.counts();
    let reads: u64 = DYNAMODB_READS
        .iter()
        .map(|k| counts.get(*k).copied().unwrap_or(0))
        .sum();
    Usage {
        function_segment_requests: stats.fetches_to("hls-function"),
        function_api_requests: stats.fetches_to("http-api"),
        transcode_invocations: stack.lambda.count("lambda:Invoke"),
        bucket_reads_by_cdn: stats.fetches_to("media-bucket"),
        s3_gets_by_functions: stack.s3.count("s3:GET"),
        dynamodb_reads: reads,
        dynamodb_writes: stack.dynamodb.sum("dynamodb:") - reads,
        cache_hits: stats.hits,
    }
}

fn reset(stack: &Stack) {
    stack.cdn.reset_stats();
    stack.s3.reset();
    stack.dynamodb.reset();
    stack.lambda.reset();
}

/// The first viewer's segments: each piece was read from the bucket if a job had already made
/// it (an init's run also makes the segment the stream starts at), else the bucket said no
/// (403: it is private and has no such key) and the origin group fell over to the function,
/// which made and answered it. Asked again, a piece is a cache hit with no fetch.
async fn check_failover(stack: &Stack, all: &[String]) {
    let stats = stack.cdn.stats();
    let mut failed_over = vec![];
    for piece in all {
        let path = path_of(piece);
        let fetched: Vec<(&str, u16)> = stats
            .fetched
            .iter()
            .filter(|f| f.path.split('?').next() == Some(path.as_str()))
            .map(|f| (f.origin.as_str(), f.status))
            .collect();
        match fetched.first() {
            Some(("media-bucket", 200 | 206)) => {}
            Some(("media-bucket", 403)) => {
                // The function answers the bytes, or `503` (never cached) when its job did not
                // end within the wait (SPEC §3: a busy machine, three `transcode` instances);
                // the player's retry then finds the piece that failover's claim made.
                let answered = fetched.contains(&("hls-function", 200));
                let made_later = fetched.contains(&("hls-function", 503))
                    && fetched.iter().any(|(_, status)| *status == 200);
                assert!(
                    answered || made_later,
                    "{path}: made by the function through the failover: {fetched:?}"
                );
                failed_over.push(piece);
            }
            _ => panic!("{path}: the bucket is asked first: {fetched:?}"),
        }
    }
    assert!(
        !failed_over.is_empty(),
        "pieces made just in time through the failover"
    );
    let before = stack.cdn.stats().total_fetches();
    let r = http().get(failed_over[0]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "Hit from cloudfront");
    assert_eq!(
        stack.cdn.stats().total_fetches(),
        before,
        "a hit fetches nothing"
    );
}

/// Forged, expired, other-prefix and missing signatures: 403 at the edge, no origin fetch.
async fn check_refusals(stack: &Stack, piece: &str) {
    let before = stack.cdn.stats().total_fetches();
    let u = url::Url::parse(piece).unwrap();
    let query = u.query().unwrap();
    let key = path_of(piece).split('/').nth(2).unwrap().to_string();
    let flip = |q: &str| {
        let i = q.find("Signature=").unwrap() + "Signature=".len();
        let c = if &q[i..i + 1] == "A" { "B" } else { "A" };
        format!("{}{c}{}", &q[..i], &q[i + 1..])
    };
    let signer = stream_service::edge::cloudfront::CloudFrontSigner::from_pem(
        EDGE_KEY_PAIR_ID,
        &std::fs::read_to_string(repo_root().join("tests/fixtures/cloudfront/private.pem"))
            .unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let expired_policy = stream_service::edge::policy::custom(
        &format!("{}/renditions/{key}/*", stack.cdn.url),
        now - 1,
    );
    let with = |q: &str| {
        let mut v = u.clone();
        v.set_query(Some(q));
        v.to_string()
    };
    let cases = [
        ("missing", with("session=x")),
        ("forged", with(&flip(query))),
        (
            "expired",
            with(&signer.custom_url("", &expired_policy)[1..]),
        ),
        ("other prefix", piece.replace(&key, &"0".repeat(64))),
    ];
    for (what, url) in cases {
        let r = http().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 403, "{what}: {url}");
        assert!(r.bytes().await.unwrap().len() < 1000, "{what}: no bytes");
    }
    assert_eq!(
        stack.cdn.stats().total_fetches(),
        before,
        "refused before any origin"
    );
}

/// hls.js in Chromium plays the session whole, on a page of the CDN's host.
async fn hls_js_plays(stack: &Stack, master: &str) -> Value {
    let root = repo_root();
    let status = Command::new("flock")
        .arg(root.join("target/.player-assets.lock"))
        .arg(root.join("scripts/player-assets.sh"))
        .arg("--test")
        .current_dir(&root)
        .status()
        .expect("scripts/player-assets.sh");
    assert!(
        status.success(),
        "scripts/player-assets.sh --test (hls.js, playwright-core)"
    );
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/edge.mjs"))
        .arg(format!("{}/healthz", stack.cdn.url))
        .arg(master)
        .arg(root.join("player/vendor/hls.min.js"))
        .current_dir(&root)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("hls.js finished within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    assert!(
        out.status.success() && report["ok"] == true,
        "hls.js through the edge: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// Milliseconds to the first body byte of `url`, following redirects by hand.
async fn ttfb_ms(url: &str) -> f64 {
    let started = Instant::now();
    let mut url = url.to_string();
    for _ in 0..3 {
        let mut r = http().get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            url = r.headers()["location"].to_str().unwrap().to_string();
            continue;
        }
        assert_eq!(r.status(), 200, "{url}");
        let _ = r.chunk().await.unwrap();
        return started.elapsed().as_secs_f64() * 1000.0;
    }
    panic!("too many redirects from {url}");
}

/// A made segment's time to first byte through the edge (a cache hit) against the session
/// route's redirect to a presigned URL (the path before edge delivery), alternated, 10 each.
async fn ttfb_figures(edge_url: &str, redirect_url: &str) -> Value {
    let (mut edge, mut redirect) = (vec![], vec![]);
    for _ in 0..10 {
        edge.push(ttfb_ms(edge_url).await);
        redirect.push(ttfb_ms(redirect_url).await);
    }
    json!({"edge_ms": edge, "redirect_ms": redirect})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack and cargo-lambda (scripts/test.sh runs it)"]
// Long because it is one end-to-end scenario through every function of the cloud shape and
// ten viewers, in the order a client meets them, with the counts of each viewer.
async fn upload_ingest_decide_and_play_under_cargo_lambda_watch() {
    let stack = start_stack().await;
    // The `api` function serves the OpenAPI document (validated in tests/tests/openapi.rs).
    let doc: Value = http()
        .get(format!("{}/api/v1/openapi.json", stack.watch.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["openapi"], "3.1.0",
        "the api function serves the OpenAPI document"
    );
    let id = upload_and_ingest(&stack, &token("e2e-user")).await;

    // Viewer 1: every piece made just in time through the failover, then cached.
    let t1 = token("e2e-user");
    let (master, sid) = decide(&stack, &t1, &id).await;
    reset(&stack);
    ffmpeg_plays(&master).await;
    let all = pieces(&master).await;
    let first = usage(&stack);
    let distinct: BTreeSet<String> = all.iter().map(|u| path_of(u)).collect();
    assert!(
        all.iter().all(|u| path_of(u).starts_with("/renditions/")),
        "{all:?}"
    );
    check_failover(&stack, &all).await;
    check_refusals(&stack, &all[1]).await;

    // Viewer 2: hls.js in Chromium, another user and session; the same content paths.
    let (master2, _) = decide(&stack, &token("e2e-viewer-2"), &id).await;
    let paths2: BTreeSet<String> = pieces(&master2).await.iter().map(|u| path_of(u)).collect();
    assert_eq!(paths2, distinct, "two sessions list the same content paths");
    reset(&stack);
    let report = hls_js_plays(&stack, &master2).await;
    let second = usage(&stack);
    let fragments = report["fragments"].as_array().map_or(0, Vec::len);
    // Viewers 3 to 10: ffmpeg, every rendition.
    reset(&stack);
    for n in 3..=10 {
        let (m, _) = decide(&stack, &token(&format!("e2e-viewer-{n}")), &id).await;
        ffmpeg_plays(&m).await;
    }
    let later = usage(&stack);
    for (who, u) in [("viewer 2 (hls.js)", second), ("viewers 3-10", later)] {
        assert_eq!(
            u.function_segment_requests, 0,
            "{who}: no segment reached a function: {u:?}"
        );
        assert_eq!(
            u.bucket_reads_by_cdn, 0,
            "{who}: no segment read from the bucket: {u:?}"
        );
        assert_eq!(
            u.transcode_invocations, 0,
            "{who}: nothing made again: {u:?}"
        );
        assert!(u.cache_hits > 0, "{who}: served from the cache: {u:?}");
    }

    check_download(&stack, &id).await;
    check_sheet(&stack, &id).await;

    if let Ok(file) = std::env::var("STREAM_EDGE_FIGURES") {
        // The session route of a made segment, as players used before edge delivery.
        let (piece, token_q) = (&all[all.len() / 2], master.split("token=").nth(1).unwrap());
        let file_name = path_of(piece).rsplit('/').next().unwrap().to_string();
        let rendition = master_rendition_of(&master, piece).await;
        let redirect = format!(
            "{}/api/v1/hls/{sid}/{rendition}/{file_name}?token={token_q}",
            stack.cdn.url
        );
        let figures = json!({
            "source": "hevc10_ac3_51.mkv (4 s, 1280x720 HEVC 10-bit, AC-3 5.1) as transcode",
            "pieces": distinct.len(),
            "hls_js_fragments": fragments,
            "viewer_1": first,
            "viewer_2_hls_js": second,
            "viewers_3_to_10": later,
            "ttfb": ttfb_figures(piece, &redirect).await,
        });
        std::fs::write(&file, serde_json::to_string_pretty(&figures).unwrap()).unwrap();
    }
    assert_eq!(
        stack.lambda.async_failures(),
        0,
        "asynchronous invocations failed (see the tap's lines above and target/cargo-lambda-watch/*.log)"
    );
    drop(stack.watch);
    stack.cdn.stop().await;
}

/// An offline download of the rung the viewers played (SPEC §3 "Downloads"), through the CDN
/// and the `api` function: its pieces are the viewers' (made already), so the one `transcode`
/// invocation is the assembly; a second download (another user) invokes nothing.
async fn check_download(stack: &Stack, id: &str) {
    let q = "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8&quality=360";
    let url = format!("{}/api/v1/download/{id}?{q}", stack.cdn.url);
    let ask = |who: &str| http().get(&url).bearer_auth(token(who)).send();
    reset(stack);
    let deadline = Instant::now() + Duration::from_secs(120);
    let ready = loop {
        let r = ask("e2e-user").await.unwrap();
        match r.status().as_u16() {
            302 => break r,
            202 => assert!(
                Instant::now() < deadline,
                "the download was not ready in 120 s"
            ),
            s => panic!(
                "download answered {s}: {}",
                r.text().await.unwrap_or_default()
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let made = usage(stack);
    assert_eq!(
        made.transcode_invocations, 1,
        "the pieces were the viewers'; one invocation assembled: {made:?}"
    );
    let location = ready.headers()["location"].to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("download.mp4");
    save_attachment(&location, &file).await;
    let source = media_dir().join("hevc10_ac3_51.mkv");
    assert_offline_mp4(&file, &source, 360);
    // Another user: the same object, nothing invoked.
    reset(stack);
    let r = ask("e2e-viewer-2").await.unwrap();
    assert_eq!(r.status(), 302);
    let again = r.headers()["location"].to_str().unwrap();
    assert_eq!(path_of(again), path_of(&location));
    assert_eq!(
        usage(stack).transcode_invocations,
        0,
        "a second download made nothing"
    );
}

/// A trick-play sheet (SPEC §3 "Trick-play") through the CDN: the storyboard (the `hls`
/// function behind the HTTP API) names it at its content path; the first request falls over to
/// the `hls` function, which has it made by one `transcode` invocation (a `SheetJob` event) and
/// answers a JPEG; the next request is a cache hit that invokes nothing.
async fn check_sheet(stack: &Stack, id: &str) {
    let q = "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";
    let r = http()
        .get(format!("{}/api/v1/stream/{id}?{q}", stack.cdn.url))
        .bearer_auth(token("e2e-user"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let d: Value = r.json().await.unwrap();
    let url = d["storyboard_url"].as_str().expect("storyboard_url");
    let url = match url.starts_with('/') {
        true => format!("{}{url}", stack.cdn.url),
        false => url.to_string(),
    };
    let vtt = http().get(&url).send().await.unwrap();
    assert_eq!(vtt.status(), 200);
    let vtt = vtt.text().await.unwrap();
    let sheet = vtt
        .lines()
        .find(|l| l.contains("#xywh="))
        .and_then(|l| l.split('#').next())
        .unwrap_or_else(|| panic!("no cue: {vtt}"))
        .to_string();
    assert!(path_of(&sheet).starts_with("/renditions/"), "{sheet}");
    reset(stack);
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let r = http().get(&sheet).send().await.unwrap();
        match r.status().as_u16() {
            200 => {
                assert_eq!(r.headers()["content-type"], "image/jpeg");
                break r.bytes().await.unwrap();
            }
            503 => assert!(Instant::now() < deadline, "the sheet was not made in 60 s"),
            s => panic!("sheet answered {s}: {}", r.text().await.unwrap_or_default()),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(&body[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(
        usage(stack).transcode_invocations,
        1,
        "one transcode invocation made the sheet"
    );
    reset(stack);
    let again = http().get(&sheet).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let u = usage(stack);
    assert_eq!(
        (u.transcode_invocations, u.function_segment_requests),
        (0, 0),
        "{u:?}"
    );
    assert!(u.cache_hits > 0, "the sheet is a cache hit: {u:?}");
}

/// The rendition id (path component of the session route) whose variant playlist lists `piece`.
async fn master_rendition_of(master: &str, piece: &str) -> String {
    let base = url::Url::parse(master).unwrap();
    let text = http()
        .get(base.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = path_of(piece);
    for l in text.lines() {
        let uri = match l.split("URI=\"").nth(1) {
            Some(rest) => rest.split('"').next().unwrap(),
            None if !l.starts_with('#') && !l.is_empty() => l,
            None => continue,
        };
        let v = base.join(uri).unwrap();
        let listed = http()
            .get(v.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if listed.lines().any(|x| x.contains(&path)) {
            return v.path().rsplit('/').nth(1).unwrap().to_string();
        }
    }
    panic!("{path} is in no variant of {master}");
}
