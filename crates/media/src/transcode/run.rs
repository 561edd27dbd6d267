//! Running ffmpeg through `ffmpeg-sidecar` (synchronous, so every blocking call goes through
//! `spawn_blocking`): stdout read whole or as a stream of chunks, stderr collected for the error
//! message, a wall-clock limit, and a kill when the caller goes away.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use tokio::sync::mpsc;

use super::args::Features;
use super::EncodeError;

/// Keep at most this much of ffmpeg's stderr (the tail).
const STDERR_LIMIT: usize = 64 * 1024;
/// How long to wait for ffmpeg to exit after its stdout closed (or after a kill).
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// The size of the chunks stdout is read in.
const CHUNK: usize = 64 * 1024;

fn lock(child: &Mutex<FfmpegChild>) -> std::sync::MutexGuard<'_, FfmpegChild> {
    child.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running ffmpeg. Dropping it without [`Running::finish`] kills the process (and reaps it
/// on a background thread), so an abandoned encode never lingers.
pub struct Running {
    child: Arc<Mutex<FfmpegChild>>,
    stderr: Option<tokio::task::JoinHandle<String>>,
    finished: bool,
}

impl Running {
    /// Starts `ffmpeg args...` with the process (and every thread it starts) at `nice` (0: as
    /// this process; higher: yields the cores to work at a lower value when they are contended);
    /// returns the process and its stdout.
    pub fn spawn_niced(
        ffmpeg: &str,
        args: &[String],
        nice: i32,
    ) -> Result<(Running, std::process::ChildStdout), EncodeError> {
        let (running, _, stdout) = Self::start(ffmpeg, args, nice, false)?;
        Ok((running, stdout))
    }

    /// The one way ffmpeg is started: at `nice`, its stderr's tail collected in the background,
    /// its stdin closed unless `with_stdin` (then returned to the caller to write).
    fn start(
        ffmpeg: &str,
        args: &[String],
        nice: i32,
        with_stdin: bool,
    ) -> Result<
        (
            Running,
            Option<std::process::ChildStdin>,
            std::process::ChildStdout,
        ),
        EncodeError,
    > {
        let mut cmd = FfmpegCommand::new_with_path(ffmpeg);
        cmd.args(args);
        if nice > 0 {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only `nice(2)`, async-signal-safe, is called; its
            // failure is ignored (the run then goes at the normal priority).
            unsafe {
                cmd.as_inner_mut().pre_exec(move || {
                    let _ = libc::nice(nice);
                    Ok(())
                });
            }
        }
        tracing::debug!(target: "transcode", args = %redact_args(args), "ffmpeg");
        let mut child = cmd
            .spawn()
            .map_err(|e| EncodeError::Tool(format!("cannot run `{ffmpeg}`: {e}")))?;
        // Without input to send, stdin is closed at once.
        let stdin = child.take_stdin().filter(|_| with_stdin);
        if with_stdin && stdin.is_none() {
            return Err(EncodeError::Tool("ffmpeg has no stdin".into()));
        }
        let stdout = child
            .take_stdout()
            .ok_or_else(|| EncodeError::Tool("ffmpeg has no stdout".into()))?;
        let stderr = child
            .take_stderr()
            .ok_or_else(|| EncodeError::Tool("ffmpeg has no stderr".into()))?;
        let stderr = tokio::task::spawn_blocking(move || read_tail(stderr, STDERR_LIMIT));
        let running = Running {
            child: Arc::new(Mutex::new(child)),
            stderr: Some(stderr),
            finished: false,
        };
        Ok((running, stdin, stdout))
    }

    /// The process id (tests look at its threads).
    #[cfg(test)]
    pub fn pid(&self) -> u32 {
        lock(&self.child).as_inner().id()
    }

    /// Kills the process (idempotent).
    pub fn kill(&self) {
        let _ = lock(&self.child).kill();
    }

    /// Waits for the exit (killing it if it does not exit within a grace period) and returns
    /// the status and stderr.
    pub async fn finish(mut self) -> Result<(ExitStatus, String), EncodeError> {
        self.finished = true;
        let child = self.child.clone();
        let status = tokio::task::spawn_blocking(move || {
            wait_with_deadline(&child, Instant::now() + EXIT_GRACE)
        })
        .await
        .map_err(|e| EncodeError::Tool(format!("waiting for ffmpeg: {e}")))?
        .map_err(|e| EncodeError::Tool(format!("waiting for ffmpeg: {e}")))?;
        let stderr = match self.stderr.take() {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        Ok((status, stderr))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.kill();
            let child = self.child.clone();
            // Reap it so no zombie is left behind.
            std::thread::spawn(move || {
                let _ = wait_with_deadline(&child, Instant::now() + EXIT_GRACE);
            });
        }
    }
}

fn wait_with_deadline(
    child: &Mutex<FfmpegChild>,
    deadline: Instant,
) -> std::io::Result<ExitStatus> {
    let mut killed = false;
    loop {
        {
            let mut c = lock(child);
            if let Some(status) = c.as_inner_mut().try_wait()? {
                return Ok(status);
            }
            if !killed && Instant::now() >= deadline {
                let _ = c.kill();
                killed = true;
            }
        }
        std::thread::sleep(Duration::from_millis(if killed { 5 } else { 10 }));
    }
}

fn read_tail(mut r: impl Read, limit: usize) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * limit {
                    buf.drain(..buf.len() - limit);
                }
            }
        }
    }
    if buf.len() > limit {
        buf.drain(..buf.len() - limit);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs ffmpeg to the end at `nice` (0: the server's own), collecting all of stdout, killing it
/// after `timeout`. Returns stdout, the exit status and stderr; a timeout is a `Tool` error.
pub async fn run_to_end(
    ffmpeg: &str,
    args: &[String],
    nice: i32,
    timeout: Duration,
) -> Result<(Vec<u8>, ExitStatus, String), EncodeError> {
    let (running, _, stdout) = Running::start(ffmpeg, args, nice, false)?;
    collect(running, stdout, None, timeout).await
}

/// Runs ffmpeg with `input` written to its stdin, collecting all of stdout (see
/// [`run_to_end`]).
pub async fn run_with_stdin(
    ffmpeg: &str,
    args: &[String],
    input: Vec<u8>,
    timeout: Duration,
) -> Result<(Vec<u8>, ExitStatus, String), EncodeError> {
    let (running, stdin, stdout) = Running::start(ffmpeg, args, 0, true)?;
    // A broken pipe (ffmpeg stopped reading) shows in its exit status and stderr.
    let writer = stdin.map(|mut stdin| {
        tokio::task::spawn_blocking(move || {
            let _ = std::io::Write::write_all(&mut stdin, &input);
        })
    });
    collect(running, stdout, writer, timeout).await
}

/// Reads all of stdout (while `writer`, if any, feeds stdin), then waits for the exit; kills
/// ffmpeg when `timeout` passes first.
async fn collect(
    running: Running,
    mut stdout: std::process::ChildStdout,
    writer: Option<tokio::task::JoinHandle<()>>,
    timeout: Duration,
) -> Result<(Vec<u8>, ExitStatus, String), EncodeError> {
    let mut reader = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(1 << 20);
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let read = tokio::time::timeout(timeout, &mut reader).await;
    if read.is_err() {
        running.kill();
        let _ = reader.await;
    }
    if let Some(w) = writer {
        let _ = w.await;
    }
    let out = match read {
        Ok(joined) => joined
            .map_err(|e| EncodeError::Tool(format!("reading ffmpeg's output: {e}")))?
            .map_err(|e| EncodeError::Tool(format!("reading ffmpeg's output: {e}")))?,
        Err(_) => {
            let _ = running.finish().await;
            let secs = timeout.as_secs();
            let msg = format!("ffmpeg did not finish within {secs} s and was stopped");
            return Err(EncodeError::Tool(msg));
        }
    };
    let (status, stderr) = running.finish().await?;
    Ok((out, status, stderr))
}

/// A streaming run: chunks of stdout arrive on a channel (closed at EOF).
pub struct Streaming {
    pub running: Running,
    pub chunks: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Streaming {
    /// See [`Running::spawn_niced`] for `nice`.
    pub fn spawn(ffmpeg: &str, args: &[String], nice: i32) -> Result<Streaming, EncodeError> {
        let (running, mut stdout) = Running::spawn_niced(ffmpeg, args, nice)?;
        // A few chunks of slack: when the consumer is busy (uploading a segment), ffmpeg
        // blocks on a full pipe instead of buffering the whole output here.
        let (tx, rx) = mpsc::channel(8);
        let reader = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        Ok(Streaming {
            running,
            chunks: rx,
            reader,
        })
    }

    /// Stops reading (kills ffmpeg) and waits for the exit.
    pub async fn stop(self) -> Result<(ExitStatus, String), EncodeError> {
        self.running.kill();
        drop(self.chunks);
        let _ = self.reader.await;
        self.running.finish().await
    }

    /// Waits for the exit after EOF.
    pub async fn finish(self) -> Result<(ExitStatus, String), EncodeError> {
        let _ = self.reader.await;
        self.running.finish().await
    }
}

/// What this ffmpeg build offers, asked once per binary path (`ffmpeg -filters`).
pub async fn features(ffmpeg: &str) -> Features {
    static CACHE: OnceLock<Mutex<HashMap<String, Features>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(f) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(ffmpeg) {
        return *f;
    }
    let args: Vec<String> = ["-hide_banner", "-nostdin", "-filters"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let features = match run_to_end(ffmpeg, &args, 0, Duration::from_secs(30)).await {
        Ok((out, status, _)) if status.success() => {
            let text = String::from_utf8_lossy(&out);
            Features {
                zscale: text
                    .lines()
                    .any(|l| l.split_whitespace().nth(1) == Some("zscale")),
            }
        }
        // Not cached: the next call asks again.
        _ => return Features::default(),
    };
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(ffmpeg.to_string(), features);
    features
}

/// The argument list for logs, with URLs left out (they may be presigned).
fn redact_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.contains("://") {
                "<source>".to_string()
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// stderr messages that mean the source is damaged or truncated, even when ffmpeg exits 0.
const SOURCE_FATAL: &[&str] = &[
    "file ended prematurely",
    "partial file",
    "truncat",
    "exceeds containing master element",
    "invalid ebml",
    "ebml header parsing failed",
    "corrupt decoded frame",
    "corrupt input packet",
    "error while decoding",
    "invalid data found when processing input",
    "moov atom not found",
    "invalid nal unit size",
    "error splitting the input into nal units",
];

/// stderr messages that mean the tool or the network failed, not the source.
const TOOL_MARKERS: &[&str] = &[
    "unrecognized option",
    "option not found",
    "unknown encoder",
    "encoder not found",
    "no such filter",
    "error initializing filter",
    "server returned",
    "connection refused",
    "connection timed out",
    "connection reset",
    "network is unreachable",
    "failed to resolve hostname",
    "name or service not known",
    "cannot allocate memory",
];

/// A line of ffmpeg's stderr without the `[demuxer @ 0x...]` context and `[error]` level
/// prefixes.
fn clean_line(line: &str) -> &str {
    let mut l = line.trim();
    loop {
        if l.starts_with('[') {
            if let Some(end) = l.find("] ") {
                let inner = &l[1..end];
                if inner.contains(" @ 0x")
                    || matches!(inner, "error" | "fatal" | "warning" | "panic" | "info")
                {
                    l = l[end + 2..].trim_start();
                    continue;
                }
            }
        }
        return l;
    }
}

/// Removes the source location and anything URL-like from a message, and keeps it to one
/// short line.
pub fn sanitize(message: &str, source: &str) -> String {
    let mut m = message.replace(['\r', '\n'], " ");
    if !source.is_empty() {
        m = m.replace(source, "<source>");
    }
    let words: Vec<String> = m
        .split(' ')
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            if lower.contains("http://")
                || lower.contains("https://")
                || lower.contains("x-amz-")
                || lower.contains("file:")
            {
                "<source>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let mut m = words.join(" ");
    // "<source>: No such file or directory" -> "No such file or directory".
    if let Some(rest) = m.strip_prefix("<source>: ") {
        m = rest.to_string();
    }
    let m = m.trim().trim_end_matches('.').to_string();
    if m.chars().count() > 240 {
        let cut: String = m.chars().take(240).collect();
        format!("{cut}…")
    } else {
        m
    }
}

/// Turns a finished run into an error, if it failed: a non-zero exit, or a message on stderr
/// that says the source is damaged. `Source` for the input's fault, `Tool` for ffmpeg's or the
/// network's (worth a retry).
pub fn check(status: ExitStatus, stderr: &str, source: &str) -> Result<(), EncodeError> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(clean_line)
        .filter(|l| !l.is_empty() && !l.starts_with("Last message repeated"))
        .collect();
    let has = |l: &str, pats: &[&str]| {
        let lower = l.to_ascii_lowercase();
        pats.iter().any(|p| lower.contains(p))
    };
    let fatal = lines.iter().find(|l| has(l, SOURCE_FATAL));
    if status.success() && fatal.is_none() {
        return Ok(());
    }
    if let Some(tool) = lines.iter().find(|l| has(l, TOOL_MARKERS)) {
        return Err(EncodeError::Tool(sanitize(tool, source)));
    }
    if let Some(l) = fatal {
        return Err(EncodeError::Source(format!(
            "the source is damaged or truncated: {}",
            sanitize(l, source)
        )));
    }
    // The most telling line: the last one that is not ffmpeg's generic closing remark.
    let line = lines
        .iter()
        .rev()
        .find(|l| {
            !matches!(
                **l,
                "Conversion failed!" | "Exiting normally, received signal 2."
            )
        })
        .copied();
    let msg = match line {
        Some(l) => sanitize(l, source),
        None => match status.code() {
            Some(c) => format!("ffmpeg exited with status {c}"),
            None => "ffmpeg was killed".to_string(),
        },
    };
    Err(EncodeError::Source(format!(
        "ffmpeg failed on the source: {msg}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned_and_urls_removed() {
        assert_eq!(
            clean_line("[matroska,webm @ 0x55d] [error] File ended prematurely"),
            "File ended prematurely"
        );
        assert_eq!(clean_line("[error] x: y"), "x: y");
        let m = sanitize(
            "https://bucket.s3/x.mkv?X-Amz-Signature=abc: Server returned 403 Forbidden",
            "https://bucket.s3/x.mkv?X-Amz-Signature=abc",
        );
        assert_eq!(m, "Server returned 403 Forbidden");
        let m = sanitize("Error opening input https://h/x?sig=1 now", "other");
        assert!(!m.contains("http") && !m.contains("sig"), "{m}");
        assert_eq!(
            sanitize(
                "/data/in.mkv: Invalid data found when processing input",
                "/data/in.mkv"
            ),
            "Invalid data found when processing input"
        );
    }

    #[cfg(unix)]
    fn status(code: i32) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        ExitStatus::from_raw(code << 8)
    }

    #[cfg(unix)]
    #[test]
    fn failures_are_classified() {
        assert!(check(status(0), "", "s").is_ok());
        // Harmless error-level chatter with a clean exit is not a failure.
        assert!(check(status(0), "[h264 @ 0x1] co located POCs unavailable\n", "s").is_ok());
        match check(
            status(0),
            "[matroska,webm @ 0x5] File ended prematurely\n",
            "s",
        ) {
            Err(EncodeError::Source(m)) => assert!(m.contains("File ended prematurely"), "{m}"),
            other => panic!("{other:?}"),
        }
        match check(status(1), "[h264 @ 0x5] error while decoding MB 12 3\n/in.mkv: corrupt decoded frame in stream 0\nConversion failed!\n", "/in.mkv") {
            Err(EncodeError::Source(m)) => assert!(m.contains("error while decoding") && !m.contains("/in.mkv"), "{m}"),
            other => panic!("{other:?}"),
        }
        match check(status(1), "[https @ 0x1] HTTP error 403 Forbidden\nhttps://b/x?X-Amz-Signature=s: Server returned 403 Forbidden (access denied)\n", "https://b/x?X-Amz-Signature=s") {
            Err(EncodeError::Tool(m)) => assert!(m.contains("403") && !m.contains("Signature"), "{m}"),
            other => panic!("{other:?}"),
        }
        match check(status(1), "Something odd\nConversion failed!\n", "s") {
            Err(EncodeError::Source(m)) => assert!(m.ends_with("Something odd"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
