//! The cloud shape end to end under `cargo lambda watch` (the Lambda runtime emulator) against
//! LocalStack + DynamoDB Local: upload with the presigned PUT to LocalStack → `ingest` invoked
//! with the S3 event → stream decision (`stream` function) → HLS playlists (`hls`) → segments made
//! by the `transcode` function through the emulated Invoke API → the whole stream played by
//! ffmpeg as a client. Every function runs as its own Lambda binary, as in AWS.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stream_tests::cdn::Cdn;
use stream_tests::{http, media_dir, put_file, repo_root, token, SECRET};

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

/// `segment_url_base`: the CDN stand-in the functions put on segment redirects.
// Long because it sets up `cargo lambda watch` with every variable the functions need and
// waits for it, reporting its log when it does not come up.
fn start_watch(segment_url_base: &str) -> Watch {
    let port = free_port();
    let mut env: Vec<(String, String)> = vec![];
    for v in [
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_DYNAMODB",
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
        // The emulator's Invoke API stands in for AWS Lambda's. It runs an invocation to the end
        // before answering (AWS answers 202 at once), so read-ahead would serialise here.
        ("STREAM_READ_AHEAD", "0"),
        ("STREAM_LOG_FORMAT", "pretty"),
        ("RUST_LOG", "info"),
        ("STREAM_SEGMENT_URL_BASE", segment_url_base),
    ] {
        env.push((k.into(), v.into()));
    }
    env.push((
        "AWS_ENDPOINT_URL_LAMBDA".into(),
        format!("http://127.0.0.1:{port}"),
    ));
    let path = format!(
        "{}:{}",
        cargo_lambda().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let logs = repo_root().join("target/cargo-lambda-watch");
    std::fs::create_dir_all(&logs).unwrap();
    let log = |name: &str| {
        let f = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
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
    for f in FUNCTIONS {
        let bin = repo_root().join("target/debug").join(f);
        assert!(
            bin.exists(),
            "{} is missing: build the workspace first",
            bin.display()
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the local AWS stack and cargo-lambda (scripts/test.sh runs it)"]
// Long because it is one end-to-end scenario through every function of the cloud shape, in
// the order a client meets them.
async fn upload_ingest_decide_and_play_under_cargo_lambda_watch() {
    // The functions behind a front on one host (tests/cdn.rs, `pass_through`): the player gets
    // playlists and segments from one host.
    let listener = Cdn::bind().await.unwrap();
    let watch = start_watch(&listener.url);
    let cdn = listener
        .pass_through(
            &watch.base,
            &std::env::var("AWS_ENDPOINT_URL_S3").unwrap(),
            &std::env::var("STREAM_BUCKET").unwrap(),
        )
        .await
        .unwrap();
    wait_for(&format!("{}/healthz", watch.base), 200).await;
    // The `api` function serves the OpenAPI document (validated in tests/tests/openapi.rs).
    let doc: Value = http()
        .get(format!("{}/api/v1/openapi.json", watch.base))
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
    let t = token("e2e-user");
    let file = media_dir().join("hevc10_ac3_51.mkv");

    // Upload: the api function presigns a PUT to LocalStack.
    let r = http()
        .post(format!("{}/api/v1/uploads", watch.base))
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
            &watch.port.to_string(),
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
        .get(format!("{}/api/v1/media/{id}", watch.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(media["video"]["codec"], "hevc");

    // The decision (stream function): a 10-bit HEVC file for an H.264/AAC client → transcode.
    let q = "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";
    let r = http()
        .get(format!("{}/api/v1/stream/{id}?{q}", cdn.url))
        .bearer_auth(&t)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["method"], "transcode", "{d}");
    let master = d["url"].as_str().unwrap();
    let master = if master.starts_with('/') {
        format!("{}{master}", cdn.url)
    } else {
        master.to_string()
    };

    // Play everything with ffmpeg, exactly the client: playlists from the hls function,
    // segments made by the transcode function via the emulated Invoke API, bytes from
    // LocalStack, all through the CDN stand-in.
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
    drop(watch);
    cdn.stop().await;
}
