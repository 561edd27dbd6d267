//! The end-to-end benchmark driver of `scripts/bench.sh` (not a test; see BENCHMARKS.md).
//!
//! A `harness = false` bench target of the `stream-bench` tool crate (tools/bench), so it is built
//! by `cargo bench -p stream-bench --no-run` with the release profile and can call the library
//! directly: the ffmpeg baselines come from the engine's own builders (`stream_media::transcode`:
//! `video_segment_command`, `audio_run_command` and `audio_run_range`, `args::video_ladder_args`),
//! the ones the workers run, never from copies of them, computed from the same probe, decision,
//! rendition set and segment plan as the server's. Where a baseline differs from what a worker
//! runs (one audio segment instead of the pass to the end, the whole ladder in one run), it says
//! why and changes only that.
//!
//! Subcommands (all write JSON; `report` turns the results directory into BENCHMARKS.md):
//!
//! - `token --secret S`: prints an HS256 bearer token (user `bench`) for wrk.
//! - `session --base URL --secret S --file F --query Q --save-variant P`: uploads F, waits for
//!   ingest, opens a session (JSON mode), saves the first variant playlist's bytes to P and
//!   prints `key=value` lines (stream_path, variant_path, ...).
//! - `ttfs --base URL --secret S --pid N --transcode F --transcode-audio F --remux F --runs N
//!   --out J`: time to first segment, streamd (fresh upload each run) against ffmpeg alone.
//! - `switch --base URL --secret S --pid N --file F --runs N --out J`: the segment a player
//!   waits for while read-ahead runs: after the top rung's segment 0, the lowest rung's init and
//!   segment 1 (an ABR switch) and the top rung's last segment (a seek), each against ffmpeg
//!   alone making that segment; and an init asked for after its segment (fresh upload each run).
//! - `ttfs-diag --base URL --base-ra0 URL2 --pid N --pid N2 --transcode F --runs N --out J`: the
//!   transcode start and seek taken apart (read-ahead on/off, init and segment asked for in a row
//!   or together), every configuration interleaved with ffmpeg alone in one loop.
//! - `throughput --base URL --secret S --pid N --file F --query Q --runs N --out J`: a whole file's
//!   ladder through the workers against one ffmpeg making the same ladder.
//! - `segcost --file F [--file F2] --samples N --out J`: encode seconds per 4 s segment per rung
//!   (one ffmpeg at a time: the cost model of a 2-vCPU transcode function).
//! - `memory --base URL --secret S --pid N --file F --query Q --ffmpeg-log L --out J`: drives a
//!   session over the start, middle and end of F and records streamd's VmHWM and the peak RSS of
//!   every ffmpeg/ffprobe it ran (logged by the wrapper of scripts/bench.sh).
//! - `load --base URL --secret S --pid N --remux F --transcode F --direct F --upload F
//!   [--seconds 60] --out J`: a minute of mixed traffic at saturation (decisions, playlists,
//!   edge segments, progress, a few uploads); statuses by class, latencies, streamd's RSS and
//!   open descriptors over time (`e2e/load.rs`).
//! - `subs --base URL --secret S --pid N --plain F --subs F --runs N --out J`: start-up of a
//!   session of F with ten subtitle tracks against the same file without (`e2e/subs.rs`).
//! - `report --dir D --out BENCHMARKS.md`: `stream_bench::report` (the library of this crate).
//!
//! The streamd pid is used to wait until its workers are idle (no child processes) between
//! measurements, so one measurement's read-ahead never runs into the next.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stream_bench::{stats, Res};
use stream_core::hls::ladder::{self, AudioRendition, LadderConfig, RenditionSet, VideoRendition};
use stream_core::hls::plan::SegmentPlan;
use stream_core::model::{Probe, RenditionLimits};
use stream_core::playback::decision::{decide, select_audio, Decision, Method, SegmentFormat};
use stream_core::playback::query::from_query;
use stream_media::probe::Prober;
use stream_media::transcode::args::{self, AudioRange, Features, LadderSpan};
use stream_media::transcode::{self, EncodeInput};
use stream_service::playback::limits_for;
use tokio::io::AsyncReadExt;

// In a subdirectory so that cargo does not take it for a bench target of its own.
#[path = "e2e/load.rs"]
mod load;
#[path = "e2e/subs.rs"]
mod subs;

/// The client of the `transcode` cases (SPEC §8: H.264 8-bit stereo AAC in MP4).
pub const TRANSCODE_QUERY: &str =
    "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";
/// The client of the `transcode_audio` and `remux` cases.
pub const CHROME_QUERY: &str = "profile=chrome";
/// The ffmpeg of every baseline (the one on PATH, as streamd's default).
const FFMPEG: &str = "ffmpeg";

// ---------------------------------------------------------------------------------------------
// Options, statistics

struct Opts {
    map: HashMap<String, Vec<String>>,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix("--") {
                let v = it.next().cloned().unwrap_or_default();
                map.entry(k.to_string()).or_default().push(v);
            }
        }
        Opts { map }
    }
    fn opt(&self, k: &str) -> Option<&str> {
        self.map.get(k).and_then(|v| v.last()).map(String::as_str)
    }
    fn get(&self, k: &str) -> &str {
        self.opt(k).unwrap_or_else(|| {
            eprintln!("e2e: missing --{k}");
            std::process::exit(2)
        })
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.map.get(k).cloned().unwrap_or_default()
    }
    fn num(&self, k: &str, default: usize) -> usize {
        self.opt(k).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn write_json(path: &str, v: &Value) -> Res<()> {
    std::fs::write(path, serde_json::to_string_pretty(v)?)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// streamd over HTTP

#[derive(Clone)]
struct Api {
    base: String,
    jwt: String,
    http: reqwest::Client,
    pid: Option<u32>,
    /// Every streamd whose workers must be idle before a measurement (ttfs-diag runs two).
    pids: Vec<u32>,
}

/// A parsed media playlist: the init URI and (EXTINF, URI) of every segment.
struct MediaPlaylist {
    map: Option<String>,
    segments: Vec<(f64, String)>,
}

impl MediaPlaylist {
    /// The index of the segment holding `t` seconds (as a player seeking there picks it).
    fn index_at(&self, t: f64) -> usize {
        let mut start = 0.0;
        for (i, (d, _)) in self.segments.iter().enumerate() {
            if t < start + d - 1e-9 {
                return i;
            }
            start += d;
        }
        self.segments.len().saturating_sub(1)
    }
}

fn resolve(base: &str, uri: &str) -> Res<String> {
    Ok(url::Url::parse(base)?.join(uri)?.to_string())
}

fn parse_media_playlist(url: &str, text: &str) -> Res<MediaPlaylist> {
    let mut map = None;
    let mut segments = vec![];
    let mut dur = None;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("#EXT-X-MAP:URI=\"") {
            map = Some(resolve(url, rest.trim_end_matches('"'))?);
        } else if let Some(rest) = l.strip_prefix("#EXTINF:") {
            dur = rest
                .trim_end_matches(',')
                .split(',')
                .next()
                .and_then(|d| d.parse::<f64>().ok());
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            segments.push((dur.take().unwrap_or(0.0), resolve(url, l.trim())?));
        }
    }
    Ok(MediaPlaylist { map, segments })
}

/// (video variant URIs in order, audio rendition URI) of a master playlist, resolved.
fn parse_master(url: &str, text: &str) -> Res<(Vec<String>, Option<String>)> {
    let mut variants = vec![];
    let mut audio = None;
    for l in text.lines() {
        if l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO") {
            if let Some(u) = l.split("URI=\"").nth(1).and_then(|r| r.split('"').next()) {
                audio = Some(resolve(url, u)?);
            }
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            variants.push(resolve(url, l.trim())?);
        }
    }
    Ok((variants, audio))
}

impl Api {
    fn new(o: &Opts) -> Api {
        let secret = o.get("secret");
        let jwt = stream_service::auth::mint_hs256(
            secret,
            o.opt("user").unwrap_or("bench"),
            &[],
            Duration::from_secs(24 * 3600),
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()
            .expect("HTTP client");
        let pids: Vec<u32> = o.all("pid").iter().filter_map(|p| p.parse().ok()).collect();
        Api {
            base: o.get("base").trim_end_matches('/').to_string(),
            jwt,
            http,
            pid: pids.first().copied(),
            pids,
        }
    }

    /// Uploads `file` and waits until ingest has made it `ready`; returns the media id.
    async fn upload(&self, file: &Path) -> Res<String> {
        let name = file
            .file_name()
            .ok_or("file name")?
            .to_string_lossy()
            .into_owned();
        let r = self
            .http
            .post(format!("{}/api/v1/uploads", self.base))
            .bearer_auth(&self.jwt)
            .json(&json!({"filename": name, "title": "bench"}))
            .send()
            .await?;
        if r.status() != 201 {
            return Err(format!(
                "POST /uploads: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )
            .into());
        }
        let v: Value = r.json().await?;
        let id = v["media_id"].as_str().ok_or("media_id")?.to_string();
        let url = v["upload_url"].as_str().ok_or("upload_url")?.to_string();
        let bytes = tokio::fs::read(file).await?;
        let r = self
            .http
            .put(self.absolute(&url))
            .body(bytes)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(format!("PUT upload: {}", r.status()).into());
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v: Value = self
                .http
                .get(format!("{}/api/v1/media/{id}", self.base))
                .bearer_auth(&self.jwt)
                .send()
                .await?
                .json()
                .await?;
            match v["status"].as_str() {
                Some("ready") => return Ok(id),
                Some("failed") => {
                    return Err(
                        format!("ingest of {} failed: {}", file.display(), v["error"]).into(),
                    )
                }
                _ if Instant::now() > deadline => {
                    return Err("ingest did not finish in 600 s".into())
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        }
    }

    /// `GET /api/v1/stream/{id}?query` in JSON mode.
    async fn stream(&self, id: &str, query: &str) -> Res<Value> {
        let r = self
            .http
            .get(format!("{}/api/v1/stream/{id}?{query}", self.base))
            .bearer_auth(&self.jwt)
            .header("accept", "application/json")
            .send()
            .await?;
        if r.status() != 200 {
            return Err(format!(
                "GET /stream: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )
            .into());
        }
        Ok(r.json().await?)
    }

    async fn text(&self, url: &str) -> Res<String> {
        let r = self.http.get(url).send().await?;
        if r.status() != 200 {
            return Err(format!("GET {url}: {}", r.status()).into());
        }
        Ok(r.text().await?)
    }

    /// Fetches a segment like a player: follows the redirect to the object; a 503 (not made
    /// within the server's wait) is retried after 100 ms. Returns (bytes, 503s seen).
    async fn fetch(&self, url: &str) -> Res<(usize, u32)> {
        let mut retries = 0;
        loop {
            let r = self.http.get(url).send().await?;
            match r.status().as_u16() {
                200 => return Ok((r.bytes().await?.len(), retries)),
                503 if retries < 600 => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                s => {
                    return Err(
                        format!("GET segment: {s} {}", r.text().await.unwrap_or_default()).into(),
                    )
                }
            }
        }
    }

    /// Waits until streamd has no child process (ffmpeg / ffprobe) for 300 ms.
    async fn wait_idle(&self) {
        if self.pids.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(900);
        let mut quiet = 0;
        while quiet < 3 && Instant::now() < deadline {
            if self.pids.iter().all(|p| children_of(*p).is_empty()) {
                quiet += 1;
            } else {
                quiet = 0;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// (pid, command name) of the processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = vec![];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push((child, comm));
        }
    }
    out
}

/// A `kB` field of /proc/<pid>/status.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// What the server computes, computed here from the same code

struct Prepared {
    probe: Probe,
    decision: Decision,
    set: RenditionSet,
    plan: SegmentPlan,
    features: Features,
}

impl Prepared {
    /// The engine's input for rendition `id` of this file, read from `source`.
    fn input<'a>(&'a self, source: &'a str, id: &'a str) -> EncodeInput<'a> {
        EncodeInput {
            ffmpeg: FFMPEG,
            source,
            probe: &self.probe,
            set: &self.set,
            rendition_id: id,
            plan: &self.plan,
            nice: 0,
        }
    }
}

/// Probe (the ingest's prober), decision for `query`, rendition set and plan, as streamd would
/// compute them for this file: `stream_service::playback::play` (`select_audio`, `decide`,
/// `limits_for`), then the session's `ladder::build` and plan. Without a User-Agent, as the
/// requests of this driver (reqwest sends none), so the query alone picks the client.
async fn prepare(file: &Path, query: &str) -> Res<Prepared> {
    let name = file
        .file_name()
        .ok_or("file name")?
        .to_string_lossy()
        .into_owned();
    let probe = Prober::new("ffprobe")
        .probe(&file.to_string_lossy(), &name)
        .await
        .map_err(|e| format!("probe {}: {e}", file.display()))?;
    let q: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (caps, opts) = from_query(&q, None).map_err(|e| format!("{e:?}"))?;
    let audio = select_audio(&probe, opts.audio_track)?;
    let decision = decide(&probe, &caps, audio, opts.prefer_ts);
    // A file this client plays directly has no renditions; its set is then the transcode's
    // (segcost measures every file as a transcode; the other commands check the decision).
    let for_set = if decision.method == Method::DirectPlay {
        transcode_decision(&decision)
    } else {
        decision.clone()
    };
    let (set, plan) = rendition_set(&probe, &for_set, &limits_for(&for_set, &caps))?;
    Ok(Prepared {
        probe,
        decision,
        set,
        plan,
        features: transcode::features(FFMPEG).await,
    })
}

/// A transcode to fMP4 of the audio track `decision` chose.
fn transcode_decision(decision: &Decision) -> Decision {
    Decision {
        method: Method::Transcode,
        reasons: vec![],
        audio_track: decision.audio_track,
        segment_format: Some(SegmentFormat::Fmp4),
        subtitle_burn: None,
    }
}

/// The rendition set of `decision` and its plan, as a session builds them.
fn rendition_set(
    probe: &Probe,
    decision: &Decision,
    limits: &RenditionLimits,
) -> Res<(RenditionSet, SegmentPlan)> {
    let set = ladder::build("bench", probe, decision, limits, &LadderConfig::default())
        .map_err(|e| e.to_string())?;
    let plan = set.plan.plan(probe).map_err(|e| e.to_string())?;
    Ok((set, plan))
}

/// The exact arguments a worker runs for video segment `index` of `v`.
async fn video_segment_args(
    p: &Prepared,
    source: &str,
    v: &VideoRendition,
    index: usize,
) -> Res<Vec<String>> {
    Ok(transcode::video_segment_command(&p.input(source, &v.id), index as u32).await?)
}

/// The audio a player needs for segment `index`, made by ffmpeg alone: the workers' continuous
/// pass from that segment's start (`audio_run_range`), ended with the segment. The workers go on
/// to the end because one run feeds every later segment too (without an AAC priming click at
/// each boundary); ffmpeg alone asked for this one segment would make just that.
fn audio_segment_args(p: &Prepared, source: &str, a: &AudioRendition, index: usize) -> Vec<String> {
    let seg = p.plan.segments[index];
    let run = transcode::audio_run_range(a, &p.plan, seg.start);
    let range = AudioRange {
        duration: Some(seg.duration),
        pad_to: run.pad_to.map(|_| seg.duration),
        ..run
    };
    args::audio_args(source, a, range)
}

/// Runs `ffmpeg args` reading stdout to the end; returns (bytes of output, wall time).
async fn run_ffmpeg(args: &[String]) -> Res<(usize, Duration)> {
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = child.stdout.take().ok_or("stdout")?;
    let mut stderr = child.stderr.take().ok_or("stderr")?;
    let read_out = async {
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0usize;
        loop {
            let k = stdout.read(&mut buf).await?;
            if k == 0 {
                break;
            }
            n += k;
        }
        Ok::<usize, std::io::Error>(n)
    };
    let read_err = async {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    };
    let (n, err) = tokio::join!(read_out, read_err);
    let status = child.wait().await?;
    let took = t0.elapsed();
    if !status.success() {
        return Err(format!(
            "ffmpeg failed ({status}): {}",
            err.lines().last().unwrap_or("")
        )
        .into());
    }
    Ok((n?, took))
}

// ---------------------------------------------------------------------------------------------
// session (for wrk)

async fn cmd_session(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let file = PathBuf::from(o.get("file"));
    let query = o.get("query");
    let id = api.upload(&file).await?;
    let v = api.stream(&id, query).await?;
    let master_url = api.absolute(v["url"].as_str().ok_or("url")?);
    let master = api.text(&master_url).await?;
    let (variants, _) = parse_master(&master_url, &master)?;
    let variant_url = variants.first().ok_or("no variant")?.clone();
    let playlist = api.text(&variant_url).await?;
    if let Some(p) = o.opt("save-variant") {
        std::fs::write(p, &playlist)?;
    }
    let segments = playlist
        .lines()
        .filter(|l| l.starts_with("#EXTINF"))
        .count();
    let path_of = |u: &str| -> Res<String> {
        let u = url::Url::parse(u)?;
        Ok(format!("{}?{}", u.path(), u.query().unwrap_or("")))
    };
    println!("media_id={id}");
    println!("method={}", v["method"].as_str().unwrap_or(""));
    println!("stream_path=/api/v1/stream/{id}?{query}");
    println!("master_path={}", path_of(&master_url)?);
    println!("variant_path={}", path_of(&variant_url)?);
    println!("variant_bytes={}", playlist.len());
    println!("variant_segments={segments}");
    println!("jwt={}", api.jwt);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ttfs

/// One player start through streamd: stream request → master → (video and audio in parallel:
/// media playlist → init → the segment at `start`). Times are from the stream request.
async fn ttfs_streamd(
    api: &Api,
    file: &Path,
    query: &str,
    start: Option<f64>,
    expect: &str,
    parallel_init: bool,
) -> Res<Value> {
    let id = api.upload(file).await?;
    api.wait_idle().await;
    let q = match start {
        Some(s) => format!("{query}&start={s:.3}"),
        None => query.to_string(),
    };
    let t0 = Instant::now();
    let v = api.stream(&id, &q).await?;
    let t_stream = t0.elapsed();
    if v["method"].as_str() != Some(expect) {
        return Err(format!("{}: expected {expect}, got {}", file.display(), v["method"]).into());
    }
    let master_url = api.absolute(v["url"].as_str().ok_or("url")?);
    let master = api.text(&master_url).await?;
    let t_master = t0.elapsed();
    let (variants, audio) = parse_master(&master_url, &master)?;
    let video_url = variants.first().ok_or("no variant")?.clone();
    let rendition = video_url.split('/').rev().nth(1).unwrap_or("").to_string();
    let leg = |url: String| async move {
        let text = api.text(&url).await?;
        let t_playlist = t0.elapsed();
        let pl = parse_media_playlist(&url, &text)?;
        let index = pl.index_at(start.unwrap_or(0.0));
        let seg_url = &pl.segments[index].1;
        let init = async {
            match &pl.map {
                Some(m) => api.fetch(m).await.map(|(_, r)| (r, t0.elapsed())),
                None => Ok((0, t0.elapsed())),
            }
        };
        // A player asks for the init segment first, then the media segment (hls.js, AVPlayer);
        // the diagnostic `--parallel-init` asks for both at once.
        let (init_retries, t_init, bytes, seg_retries, t_seg) = if parallel_init {
            let (i, s) = tokio::join!(init, async {
                api.fetch(seg_url).await.map(|(b, r)| (b, r, t0.elapsed()))
            });
            let ((ir, ti), (b, sr, ts)) = (i?, s?);
            (ir, ti, b, sr, ts.max(ti))
        } else {
            let (ir, ti) = init.await?;
            let (b, sr) = api.fetch(seg_url).await?;
            (ir, ti, b, sr, t0.elapsed())
        };
        let retries = init_retries + seg_retries;
        Ok::<Value, Box<dyn std::error::Error + Send + Sync>>(json!({
            "index": index, "segment_duration": pl.segments[index].0, "bytes": bytes,
            "retries_503": retries,
            "playlist_ms": ms(t_playlist), "init_ms": ms(t_init), "segment_ms": ms(t_seg),
        }))
    };
    let audio_leg = async {
        match audio.clone() {
            Some(u) => leg(u).await.map(Some),
            None => Ok(None),
        }
    };
    let (video, audio) = tokio::join!(leg(video_url), audio_leg);
    let (video, audio) = (video?, audio?);
    let both = video["segment_ms"].as_f64().unwrap_or(0.0).max(
        audio
            .as_ref()
            .and_then(|a| a["segment_ms"].as_f64())
            .unwrap_or(0.0),
    );
    Ok(json!({
        "media_id": id, "rendition": rendition, "stream_ms": ms(t_stream),
        "master_ms": ms(t_master),
        "video": video, "audio": audio, "video_ms": video["segment_ms"], "both_ms": both,
    }))
}

/// ffmpeg alone making the same first segment(s): the worker's exact video arguments for that
/// segment of the first listed rung, and the audio arguments cut to that segment, in parallel
/// (a player needs both). One run writes init + media (`moov` and the fragment).
async fn ttfs_ffmpeg(video_args: &[String], audio_args: Option<&[String]>) -> Res<Value> {
    let t0 = Instant::now();
    let video = async { run_ffmpeg(video_args).await.map(|(n, _)| (n, t0.elapsed())) };
    let audio = async {
        match audio_args {
            Some(a) => run_ffmpeg(a).await.map(|(n, _)| Some((n, t0.elapsed()))),
            None => Ok(None),
        }
    };
    let (v, a) = tokio::join!(video, audio);
    let (v, a) = (v?, a?);
    let both = ms(v.1).max(a.map_or(0.0, |a| ms(a.1)));
    Ok(json!({
        "video_ms": ms(v.1), "video_bytes": v.0, "audio_ms": a.map(|a| ms(a.1)), "both_ms": both,
    }))
}

// Long: cases × positions × interleaved runs in one loop, each case's JSON next to its values.
async fn cmd_ttfs(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let runs = o.num("runs", 5);
    let parallel_init = o.opt("parallel-init") == Some("1");
    let positions: Vec<String> = o
        .opt("positions")
        .unwrap_or("start,middle")
        .split(',')
        .map(String::from)
        .collect();
    let mut cases = vec![];
    for (method, key, query) in [
        ("transcode", "transcode", TRANSCODE_QUERY),
        ("transcode_audio", "transcode-audio", CHROME_QUERY),
        ("remux", "remux", CHROME_QUERY),
    ] {
        let Some(f) = o.opt(key) else { continue };
        let file = PathBuf::from(f);
        let source = std::path::absolute(&file)?.to_string_lossy().into_owned();
        let p = prepare(&file, query).await?;
        if p.decision.method.as_str() != method {
            return Err(
                format!("{f}: the decision is {:?}, not {method}", p.decision.method).into(),
            );
        }
        for position in positions.iter().map(String::as_str) {
            let start = (position == "middle")
                .then(|| (p.probe.duration_seconds / 2.0 * 1000.0).round() / 1000.0);
            let index = p.plan.segment_at(start.unwrap_or(0.0)).unwrap_or(0) as usize;
            let v = &p.set.video[0];
            let vargs = video_segment_args(&p, &source, v, index).await?;
            let aargs = p
                .set
                .audio
                .as_ref()
                .map(|a| audio_segment_args(&p, &source, a, index));
            let mut s_runs = vec![];
            let mut f_runs = vec![];
            for run in 0..runs {
                // Alternate which goes first, so a drift in the machine's load hits both.
                for first in [run % 2 == 0, run % 2 != 0] {
                    if first {
                        let r =
                            ttfs_streamd(&api, &file, query, start, method, parallel_init).await?;
                        eprintln!(
                            "  ttfs {method} {position} run {run}: streamd video {:.0} ms, both \
                             {:.0} ms",
                            r["video_ms"].as_f64().unwrap_or(0.0),
                            r["both_ms"].as_f64().unwrap_or(0.0)
                        );
                        s_runs.push(r);
                    } else {
                        api.wait_idle().await;
                        let r = ttfs_ffmpeg(&vargs, aargs.as_deref()).await?;
                        eprintln!(
                            "  ttfs {method} {position} run {run}: ffmpeg  video {:.0} ms, both \
                             {:.0} ms",
                            r["video_ms"].as_f64().unwrap_or(0.0),
                            r["both_ms"].as_f64().unwrap_or(0.0)
                        );
                        f_runs.push(r);
                    }
                }
            }
            api.wait_idle().await;
            let seg = p.plan.segments[index];
            cases.push(json!({
                "method": method,
                "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
                "query": query, "position": position,
                "start_seconds": start, "segment_index": index, "segment_start": seg.start,
                "segment_duration": seg.duration,
                "rendition": v.id, "rendition_size": format!("{}x{}", v.width, v.height),
                "video_copy": v.copy,
                "audio_copy": p.set.audio.as_ref().map(|a| a.copy),
                "streamd": s_runs, "ffmpeg": f_runs,
                "ffmpeg_video_args": vargs, "ffmpeg_audio_args": aargs,
            }));
        }
    }
    write_json(
        o.get("out"),
        &json!({
            "runs": runs, "parallel_init": parallel_init, "label": o.opt("label"), "cases": cases,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// switch: the segment a player waits for while read-ahead runs (SPEC §4 "Scheduling")

/// The URLs of a transcode session: (top variant, lowest variant), each parsed.
async fn ladder_playlists(api: &Api, id: &str, query: &str) -> Res<(MediaPlaylist, MediaPlaylist)> {
    let v = api.stream(id, query).await?;
    let master_url = api.absolute(v["url"].as_str().ok_or("url")?);
    let master = api.text(&master_url).await?;
    let (variants, _) = parse_master(&master_url, &master)?;
    let (top, low) = (
        variants.first().ok_or("no variant")?,
        variants.last().ok_or("no variant")?,
    );
    if top == low {
        return Err("a ladder of one rung: no switch to measure".into());
    }
    let top = parse_media_playlist(top, &api.text(top).await?)?;
    let low = parse_media_playlist(low, &api.text(low).await?)?;
    Ok((top, low))
}

/// One scenario through streamd on a fresh upload of `file` (nothing made yet), as a player:
/// the top rung's init and segment 0 (its read-ahead then queued and running), then what is
/// measured from that moment: `switch`: the lowest rung's init and segment 1; `seek`: the top
/// rung's last segment; `init_after`: (another fresh session) segment 2 of the top rung first,
/// then its init, the init timed.
async fn switch_streamd(api: &Api, file: &Path, query: &str, what: &str) -> Res<Value> {
    let id = api.upload(file).await?;
    api.wait_idle().await;
    let (top, low) = ladder_playlists(api, &id, query).await?;
    let top_init = top.map.as_deref().ok_or("no init")?;
    if what == "init_after" {
        api.fetch(&top.segments[2].1).await?;
        let t0 = Instant::now();
        let (bytes, retries) = api.fetch(top_init).await?;
        return Ok(json!({"ms": ms(t0.elapsed()), "bytes": bytes, "retries_503": retries}));
    }
    api.fetch(top_init).await?;
    api.fetch(&top.segments[0].1).await?;
    let t0 = Instant::now();
    let (bytes, retries) = match what {
        "switch" => {
            let (_, r1) = api.fetch(low.map.as_deref().ok_or("no init")?).await?;
            let (b, r2) = api.fetch(&low.segments[1].1).await?;
            (b, r1 + r2)
        }
        _ => api.fetch(&top.segments[top.segments.len() - 1].1).await?,
    };
    Ok(json!({"ms": ms(t0.elapsed()), "bytes": bytes, "retries_503": retries}))
}

// Long: the three scenarios × interleaved runs in one loop, each with its same-run baseline.
async fn cmd_switch(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let runs = o.num("runs", 5);
    let file = PathBuf::from(o.get("file"));
    let source = std::path::absolute(&file)?.to_string_lossy().into_owned();
    let p = prepare(&file, TRANSCODE_QUERY).await?;
    let (top, low) = (&p.set.video[0], &p.set.video[p.set.video.len() - 1]);
    let last = p.plan.segments.len() - 1;
    let baselines = [
        ("switch", video_segment_args(&p, &source, low, 1).await?),
        ("seek", video_segment_args(&p, &source, top, last).await?),
    ];
    let mut cases = vec![];
    for what in ["switch", "seek", "init_after"] {
        let base = baselines.iter().find(|(w, _)| *w == what).map(|(_, a)| a);
        let (mut s_runs, mut f_runs) = (vec![], vec![]);
        for run in 0..runs {
            for first in [run % 2 == 0, run % 2 != 0] {
                if first {
                    let r = switch_streamd(&api, &file, TRANSCODE_QUERY, what).await?;
                    eprintln!(
                        "  {what} run {run}: streamd {:.0} ms",
                        r["ms"].as_f64().unwrap_or(0.0)
                    );
                    s_runs.push(r);
                    // The read-ahead it left behind ends before the baseline runs.
                    api.wait_idle().await;
                } else if let Some(args) = base {
                    let (bytes, took) = run_ffmpeg(args).await?;
                    eprintln!("  {what} run {run}: ffmpeg  {:.0} ms", ms(took));
                    f_runs.push(json!({"ms": ms(took), "bytes": bytes}));
                }
            }
        }
        cases.push(json!({
            "what": what, "streamd": s_runs, "ffmpeg": f_runs,
            "ffmpeg_args": base,
        }));
    }
    write_json(
        o.get("out"),
        &json!({
            "runs": runs,
            "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "top": format!("{} {}x{}", top.id, top.width, top.height),
            "low": format!("{} {}x{}", low.id, low.width, low.height),
            "segments": p.plan.segments.len(),
            "cases": cases,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// ttfs-diag: what the transcode start is made of, every configuration interleaved in one loop

/// `ttfs-diag --base A --base-ra0 B --pid PA --pid PB --transcode F --runs N --out J`: two
/// streamd (A at its defaults, B with `STREAM_READ_AHEAD=0`); per run and position, in a rotating
/// order: A as a player asks (init, then segment), A with init and segment asked together, the
/// same two on B, and ffmpeg alone. The middle position runs the two sequential ones only.
async fn cmd_ttfs_diag(o: &Opts) -> Res<()> {
    let a = Api::new(o);
    let mut b = a.clone();
    b.base = o.get("base-ra0").trim_end_matches('/').to_string();
    let runs = o.num("runs", 5);
    let file = PathBuf::from(o.get("transcode"));
    let source = std::path::absolute(&file)?.to_string_lossy().into_owned();
    let p = prepare(&file, TRANSCODE_QUERY).await?;
    let mut cases = vec![];
    for position in ["start", "middle"] {
        let start = (position == "middle")
            .then(|| (p.probe.duration_seconds / 2.0 * 1000.0).round() / 1000.0);
        let index = p.plan.segment_at(start.unwrap_or(0.0)).unwrap_or(0) as usize;
        let vargs = video_segment_args(&p, &source, &p.set.video[0], index).await?;
        let configs: Vec<(&str, &Api, bool)> = if position == "start" {
            vec![
                ("default", &a, false),
                ("par", &a, true),
                ("ra0", &b, false),
                ("ra0par", &b, true),
            ]
        } else {
            vec![("default", &a, false), ("ra0", &b, false)]
        };
        let mut results: HashMap<String, Vec<Value>> = HashMap::new();
        for run in 0..runs {
            let n = configs.len() + 1;
            for k in 0..n {
                let slot = (k + run) % n;
                a.wait_idle().await;
                if slot == configs.len() {
                    let r = ttfs_ffmpeg(&vargs, None).await?;
                    eprintln!(
                        "  ttfs-diag {position} run {run}: ffmpeg   {:.0} ms",
                        r["video_ms"].as_f64().unwrap_or(0.0)
                    );
                    results.entry("ffmpeg".into()).or_default().push(r);
                } else {
                    let (name, api, par) = configs[slot];
                    let r =
                        ttfs_streamd(api, &file, TRANSCODE_QUERY, start, "transcode", par).await?;
                    eprintln!(
                        "  ttfs-diag {position} run {run}: {name:<8} {:.0} ms",
                        r["video_ms"].as_f64().unwrap_or(0.0)
                    );
                    results.entry(name.into()).or_default().push(r);
                }
            }
        }
        a.wait_idle().await;
        cases.push(json!({"position": position, "segment_index": index, "configs": results}));
    }
    write_json(o.get("out"), &json!({"runs": runs, "cases": cases}))
}

// ---------------------------------------------------------------------------------------------
// throughput

/// The whole ladder through streamd: one "player" per rendition (video rungs and audio), each
/// fetching its init and every segment in order, all at once. From the stream request to the
/// last byte.
async fn throughput_streamd(api: &Api, file: &Path, query: &str) -> Res<Value> {
    let id = api.upload(file).await?;
    api.wait_idle().await;
    let t0 = Instant::now();
    let v = api.stream(&id, query).await?;
    let master_url = api.absolute(v["url"].as_str().ok_or("url")?);
    let master = api.text(&master_url).await?;
    let (mut lists, audio) = parse_master(&master_url, &master)?;
    lists.extend(audio);
    let players = lists.into_iter().map(|url| {
        let api = api.clone();
        async move {
            let pl = parse_media_playlist(&url, &api.text(&url).await?)?;
            let (mut bytes, mut retries, mut n) = (0usize, 0u32, 0usize);
            if let Some(m) = &pl.map {
                let (b, r) = api.fetch(m).await?;
                bytes += b;
                retries += r;
            }
            for (_, s) in &pl.segments {
                let (b, r) = api.fetch(s).await?;
                bytes += b;
                retries += r;
                n += 1;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((bytes, retries, n))
        }
    });
    let results = futures_join_all(players).await;
    let wall = t0.elapsed();
    let (mut bytes, mut retries, mut segments) = (0, 0, 0);
    for r in results {
        let (b, r, n) = r?;
        bytes += b;
        retries += r;
        segments += n;
    }
    api.wait_idle().await;
    Ok(json!({
        "wall_s": wall.as_secs_f64(), "bytes": bytes, "retries_503": retries, "segments": segments,
    }))
}

/// Runs futures concurrently (no `futures` crate among the bench's dependencies).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    fs: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// One ffmpeg making the same ladder: the source decoded once, `split` into every rung with the
/// workers' exact filter, encoder and muxer arguments (`args::video_ladder_args`, as the workers'
/// ladder runs), but over the whole file with keyframes forced at the plan's segment starts
/// (the workers make one GOP per segment), and the audio with the workers' exact pass from the
/// start (`audio_run_range`) in the same run; fragmented MP4 files, as the workers write. A set
/// with copied video has no ladder to make (nothing to `split` and encode): an error.
fn ladder_ffmpeg_args(p: &Prepared, source: &str, out_dir: &Path) -> Res<Vec<String>> {
    if let Some(v) = p.set.video.iter().find(|v| v.copy) {
        let method = p.decision.method;
        return Err(format!(
            "no ladder to compare: {method:?} copies the video ({})",
            v.id
        )
        .into());
    }
    let out = |name: &str| out_dir.join(name).to_string_lossy().into_owned();
    let rungs: Vec<&VideoRendition> = p.set.video.iter().collect();
    let outputs: Vec<String> = rungs
        .iter()
        .map(|v| out(&format!("{}.mp4", v.id)))
        .collect();
    let keyframes = p.plan.keyframe_times();
    let mut a = args::video_ladder_args(
        source,
        p.probe.video.as_ref(),
        &rungs,
        LadderSpan::WholeFile {
            keyframes: &keyframes,
        },
        p.features,
        &outputs,
    );
    if let Some(au) = &p.set.audio {
        let range = transcode::audio_run_range(au, &p.plan, 0.0);
        a.extend(args::audio_output_args(au, range, &out("a.mp4")));
    }
    Ok(a)
}

async fn cmd_throughput(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let runs = o.num("runs", 5);
    let file = PathBuf::from(o.get("file"));
    let query = o.get("query");
    let source = std::path::absolute(&file)?.to_string_lossy().into_owned();
    let p = prepare(&file, query).await?;
    let out_dir = PathBuf::from(o.opt("tmp").unwrap_or("target/bench-tmp/ladder"));
    std::fs::create_dir_all(&out_dir)?;
    let fargs = ladder_ffmpeg_args(&p, &source, &out_dir)?;
    let (mut s_runs, mut f_runs) = (vec![], vec![]);
    for run in 0..runs {
        for first in [run % 2 == 0, run % 2 != 0] {
            if first {
                let r = throughput_streamd(&api, &file, query).await?;
                eprintln!(
                    "  throughput run {run}: streamd {:.1} s ({} segments, {} x 503)",
                    r["wall_s"].as_f64().unwrap_or(0.0),
                    r["segments"],
                    r["retries_503"]
                );
                s_runs.push(r);
            } else {
                api.wait_idle().await;
                let (_, took) = run_ffmpeg(&fargs).await?;
                let bytes: u64 = std::fs::read_dir(&out_dir)?
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum();
                eprintln!(
                    "  throughput run {run}: ffmpeg  {:.1} s",
                    took.as_secs_f64()
                );
                f_runs.push(json!({"wall_s": took.as_secs_f64(), "bytes": bytes}));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    let rungs: Vec<Value> = p
        .set
        .video
        .iter()
        .map(|v| {
            json!({"id": v.id, "size": format!("{}x{}", v.width, v.height), "bitrate": v.bitrate})
        })
        .collect();
    write_json(
        o.get("out"),
        &json!({
            "file": file.file_name().map(|n| n.to_string_lossy().into_owned()), "query": query,
            "duration": p.probe.duration_seconds,
            "source": format!(
                "{}x{} {}",
                p.probe.video.as_ref().map_or(0, |v| v.width),
                p.probe.video.as_ref().map_or(0, |v| v.height),
                p.probe.video.as_ref().map_or("", |v| v.codec.as_str())
            ),
            "rungs": rungs, "plan_segments": p.plan.len(), "streamd": s_runs, "ffmpeg": f_runs,
            "ffmpeg_args": fargs,
            "workers": o.opt("workers"),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// segcost

async fn cmd_segcost(o: &Opts) -> Res<()> {
    let samples = o.num("samples", 5);
    let mut sources = vec![];
    for f in o.all("file") {
        let file = PathBuf::from(&f);
        let source = std::path::absolute(&file)?.to_string_lossy().into_owned();
        // A transcode of whatever the file is: the full ladder below its size (no client limits:
        // the server would not transcode this file for this client, so no session sets them).
        let mut p = prepare(&file, TRANSCODE_QUERY).await?;
        if p.decision.method != Method::Transcode {
            p.decision = transcode_decision(&p.decision);
            (p.set, p.plan) = rendition_set(&p.probe, &p.decision, &RenditionLimits::default())?;
        }
        // Full-length (target duration) segments, not the short first ones nor the tail.
        let full: Vec<usize> = p
            .plan
            .segments
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                (s.duration - p.plan.target_duration).abs() < 1e-6 && i + 1 < p.plan.len()
            })
            .map(|(i, _)| i)
            .take(samples)
            .collect();
        let mut rungs = vec![];
        for v in &p.set.video {
            let mut runs = vec![];
            for &i in &full {
                let vargs = video_segment_args(&p, &source, v, i).await?;
                let (_, took) = run_ffmpeg(&vargs).await?;
                runs.push(took.as_secs_f64());
            }
            let (m, _, _) = stats(&runs);
            eprintln!(
                "  segcost {f} {}: {m:.3} s per {} s segment",
                v.id, p.plan.target_duration
            );
            rungs.push(json!({
                "id": v.id, "size": format!("{}x{}", v.width, v.height), "bitrate": v.bitrate,
                "segment_seconds": p.plan.target_duration, "segments": full, "runs": runs,
            }));
        }
        let decode = decode_only(&p, &source, &full).await?;
        let audio = audio_pass_runs(&p, &source, samples).await?;
        let vs = p.probe.video.as_ref();
        sources.push(json!({
            "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "source": format!(
                "{}x{} {} {}-bit",
                vs.map_or(0, |v| v.width),
                vs.map_or(0, |v| v.height),
                vs.map_or("", |v| v.codec.as_str()),
                vs.map_or(0, |v| v.bit_depth)
            ),
            "rungs": rungs, "audio": audio, "decode_only": decode,
            "duration": p.probe.duration_seconds,
        }));
    }
    write_json(o.get("out"), &json!({"sources": sources}))
}

/// Decoding alone (the same seek and duration, no filter, no encoder) of the segments `full`:
/// what every run pays before it encodes anything, once per rung. The source is read as the
/// workers read it (`args::global_args`, `args::input_args`).
async fn decode_only(p: &Prepared, source: &str, full: &[usize]) -> Res<Vec<f64>> {
    let mut decode = vec![];
    for &i in full {
        let seg = p.plan.segments[i];
        let mut a = args::global_args();
        a.extend(args::input_args(source, Some(seg.start)));
        let t = args::secs(seg.duration);
        a.extend(["-map", "0:v:0", "-t", &t, "-f", "null", "-"].map(String::from));
        let (_, took) = run_ffmpeg(&a).await?;
        decode.push(took.as_secs_f64());
    }
    Ok(decode)
}

/// The audio pass over the whole file (one continuous run, as the workers do), up to 3 times.
async fn audio_pass_runs(p: &Prepared, source: &str, samples: usize) -> Res<Value> {
    let mut audio = Value::Null;
    if let Some(a) = &p.set.audio {
        let rest = p.plan.total;
        let aargs = transcode::audio_run_command(&p.input(source, &a.id), 0)?;
        let mut runs = vec![];
        for _ in 0..samples.min(3).max(1) {
            let (_, took) = run_ffmpeg(&aargs).await?;
            runs.push(took.as_secs_f64());
        }
        audio = json!({"media_seconds": rest, "runs": runs});
    }
    Ok(audio)
}

// ---------------------------------------------------------------------------------------------
// memory

async fn cmd_memory(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let pid = api.pid.ok_or("--pid")?;
    let file = PathBuf::from(o.get("file"));
    let query = o.get("query");
    let idle_hwm = status_kb(pid, "VmHWM");
    let t0 = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = rss_sampler(pid, t0, stop.clone());
    let id = api.upload(&file).await?;
    api.wait_idle().await;
    let v = api.stream(&id, query).await?;
    let master_url = api.absolute(v["url"].as_str().ok_or("url")?);
    let master = api.text(&master_url).await?;
    let (mut lists, audio) = parse_master(&master_url, &master)?;
    let audio_url = audio.clone();
    lists.extend(audio);
    let mut fetched = 0;
    let mut bytes = 0;
    let mut plan_len = 0;
    let mut audio_pass = (f64::NAN, f64::NAN);
    for url in lists {
        let is_audio = Some(&url) == audio_url.as_ref();
        let pl = parse_media_playlist(&url, &api.text(&url).await?)?;
        plan_len = pl.segments.len();
        if let Some(m) = &pl.map {
            bytes += api.fetch(m).await?.0;
        }
        let n = pl.segments.len();
        let mut picks = vec![0, n / 2, n - 1];
        picks.dedup();
        for (k, i) in picks.into_iter().enumerate() {
            if is_audio && k == 0 {
                audio_pass.0 = t0.elapsed().as_secs_f64();
            }
            bytes += api.fetch(&pl.segments[i].1).await?.0;
            fetched += 1;
            // After the first audio segment this waits for the whole continuous audio pass.
            api.wait_idle().await;
            if is_audio && k == 0 {
                audio_pass.1 = t0.elapsed().as_secs_f64();
            }
        }
    }
    api.wait_idle().await;
    let hwm = status_kb(pid, "VmHWM");
    let rss = status_kb(pid, "VmRSS");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let series = sampler.await.unwrap_or_default();
    // The highest RSS before the audio pass and up to each quarter of it.
    let max_until = |t: f64| {
        series
            .iter()
            .filter(|(x, _)| *x <= t)
            .map(|(_, kb)| *kb)
            .max()
    };
    let (a0, a1) = audio_pass;
    let quarters: Vec<Option<u64>> = [0.0, 0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|q| max_until(a0 + q * (a1 - a0)))
        .collect();
    let tools = tools_max_rss(o.get("ffmpeg-log"));
    let p = Prober::new("ffprobe")
        .probe(&file.to_string_lossy(), "x")
        .await
        .map_err(|e| e.to_string())?;
    write_json(
        o.get("out"),
        &json!({
            "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "duration": p.duration_seconds,
            "size_bytes": std::fs::metadata(&file)?.len(), "plan_segments": plan_len,
            "segments_fetched": fetched, "bytes_fetched": bytes,
            "streamd_idle_hwm_kb": idle_hwm, "streamd_hwm_kb": hwm, "streamd_rss_kb": rss,
            "tools_max_rss_kb": tools,
            "audio_pass_seconds": [a0, a1], "streamd_rss_peak_by_audio_pass_quarter_kb": quarters,
        }),
    )
}

/// VmRSS of `pid` every 100 ms (seconds since `t0`, kB) until `stop`, to see whether a peak is
/// reached early and stays (bounded) or keeps rising while the long audio pass runs (growing
/// with the file).
fn rss_sampler(
    pid: u32,
    t0: Instant,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(f64, u64)>> {
    tokio::spawn(async move {
        let mut series = vec![];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(kb) = status_kb(pid, "VmRSS") {
                series.push((t0.elapsed().as_secs_f64(), kb));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        series
    })
}

/// The wrapper's log: `<kind>\t<max RSS kB>\t<elapsed s>` per ffmpeg/ffprobe run; the max RSS
/// of every run, by kind.
fn tools_max_rss(log_path: &str) -> HashMap<String, Vec<f64>> {
    let mut tools: HashMap<String, Vec<f64>> = HashMap::new();
    if let Ok(log) = std::fs::read_to_string(log_path) {
        for l in log.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() >= 2 {
                if let Ok(kb) = f[1].trim().parse::<f64>() {
                    tools.entry(f[0].to_string()).or_default().push(kb);
                }
            }
        }
    }
    tools
}

fn main() {
    // cargo passes `--bench` to harness-less bench targets.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!(
            "e2e: the end-to-end driver of scripts/bench.sh (subcommands: token, session, ttfs, switch, \
             throughput, segcost, memory, load, subs, report); see the doc comment of \
             tools/bench/benches/e2e.rs"
        );
        return;
    };
    let o = Opts::parse(&args[1..]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let result: Res<()> = rt.block_on(async {
        match cmd.as_str() {
            "token" => {
                println!(
                    "{}",
                    stream_service::auth::mint_hs256(
                        o.get("secret"),
                        o.opt("user").unwrap_or("bench"),
                        &[],
                        Duration::from_secs(24 * 3600)
                    )
                );
                Ok(())
            }
            "session" => cmd_session(&o).await,
            "ttfs" => cmd_ttfs(&o).await,
            "ttfs-diag" => cmd_ttfs_diag(&o).await,
            "switch" => cmd_switch(&o).await,
            "throughput" => cmd_throughput(&o).await,
            "segcost" => cmd_segcost(&o).await,
            "memory" => cmd_memory(&o).await,
            "load" => load::cmd_load(&o).await,
            "subs" => subs::cmd_subs(&o).await,
            "report" => stream_bench::report::run(Path::new(o.get("dir")), Path::new(o.get("out"))),
            other => Err(format!("unknown subcommand `{other}`").into()),
        }
    });
    if let Err(e) = result {
        eprintln!("e2e {cmd}: {e}");
        std::process::exit(1);
    }
}
