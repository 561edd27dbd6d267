//! `load`: a minute of mixed traffic at saturation against one streamd (issue 14, item 4).
//!
//! What it answers: under a closed loop of many clients (every client sends its next request as
//! soon as its last answer has been read, so the server is always busy), does streamd keep
//! answering what it should, with no unexpected `5xx`, and do its memory (VmRSS) and open file
//! descriptors stay flat rather than grow with the number of requests served?
//!
//! The traffic is what players and apps send once media exist, in fixed proportions ([`MIX`]):
//! stream decisions (JSON mode), master and variant playlists of sessions opened before the
//! window, segment requests at the embedded edge (`/renditions/<content key>/<file>` with the
//! session's edge signature, read from the variant playlists, as `tests/tests/edge.rs` does) for
//! pieces made before the window, progress reports, and a handful of uploads (create + `PUT` of
//! a small file + the decision on it right away) spread over the window, not saturating.
//!
//! Every answer is classified: its status class, and for anything but the class's plain
//! success the status and the `error.code` of the body. The non-`2xx` answers the API promises
//! in normal operation are *expected* ([`expected`]): `202` for a media still being prepared,
//! `503 segment_pending` for a piece not made yet. Everything else that is not `2xx` is
//! *unexpected*, and an unexpected `5xx` is what the phase exists to find. A transport error
//! (refused, reset, timed out) is counted apart.
//!
//! streamd's VmRSS and number of open descriptors are sampled every second, from before the
//! clients start to a few seconds after they are gone; the report compares the end of the window
//! with its start (after the warm-up). The warm-up is 20 s: the first run, with 5 s, found the
//! whole growth of VmRSS in the first third of the window (+19 MiB, then +0.9 and -0.3 MiB: the
//! allocator reaching the working set of 64 clients' buffers), which a start taken that early
//! reports as growth; a leak keeps its slope whatever the warm-up. The CPU that streamd, this driver and the rest of the
//! machine used during the window is measured too (`/proc`), so the report can say whether the
//! server was saturated and how much other work shared the cores.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stream_bench::Res;

use super::{
    parse_master, parse_media_playlist, status_kb, write_json, Api, Opts, CHROME_QUERY,
    TRANSCODE_QUERY,
};

/// The request classes, in the report's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Decision,
    Master,
    Variant,
    Segment,
    Progress,
    UploadCreate,
    UploadPut,
    UploadDecision,
}

const CLASSES: [Class; 8] = [
    Class::Decision,
    Class::Master,
    Class::Variant,
    Class::Segment,
    Class::Progress,
    Class::UploadCreate,
    Class::UploadPut,
    Class::UploadDecision,
];

impl Class {
    fn key(self) -> &'static str {
        match self {
            Class::Decision => "decision",
            Class::Master => "master",
            Class::Variant => "variant",
            Class::Segment => "segment",
            Class::Progress => "progress",
            Class::UploadCreate => "upload_create",
            Class::UploadPut => "upload_put",
            Class::UploadDecision => "upload_decision",
        }
    }
    fn index(self) -> usize {
        CLASSES.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// The closed-loop mix (weights out of 100). Segments dominate, as they do for a player (one
/// request every few seconds of playback per rendition); variant playlists next (hls.js reads
/// one per rung it tries); decisions and master playlists once per start; progress every few
/// seconds of playback. Uploads are not in the loop: one task sends a handful over the window.
const MIX: [(Class, u32); 5] = [
    (Class::Decision, 20),
    (Class::Master, 10),
    (Class::Variant, 25),
    (Class::Segment, 35),
    (Class::Progress, 10),
];

/// Whether a non-`2xx` answer (or `202`) is one the API promises in normal operation: a media
/// still being prepared (`202`, decision classes) or a piece not made yet (`503
/// segment_pending`, the edge). Anything else that is not `2xx` is unexpected.
fn expected(class: Class, status: u16, code: Option<&str>) -> bool {
    match (class, status) {
        (_, 200 | 201 | 204) => true,
        (Class::Decision | Class::UploadDecision, 202) => true,
        (Class::Segment, 503) => code == Some("segment_pending"),
        _ => false,
    }
}

/// What the requests go to: built once, before the window, shared by every client.
struct Targets {
    base: String,
    /// (bearer token, media id, query) of every decision.
    decisions: Vec<(String, String, String)>,
    /// (bearer token, media id, duration in seconds) of every progress report (a position past
    /// the end is refused, `400`).
    progress: Vec<(String, String, f64)>,
    masters: Vec<String>,
    variants: Vec<String>,
    /// Edge URLs (`/renditions/...` with a session's signature) of pieces made before the window.
    segments: Vec<String>,
}

/// One class's figures, from one client or merged.
#[derive(Default, Clone)]
struct Stats {
    /// Latency of every answer, microseconds (send to the last byte of the body).
    lat_us: Vec<u64>,
    /// Answers by status class: 1xx .. 5xx.
    by_class: [u64; 6],
    /// Every answer but a plain 200/201/204, by `"<status> <error code>"`.
    codes: BTreeMap<String, u64>,
    expected_other: u64,
    unexpected: u64,
    unexpected_5xx: u64,
    transport: u64,
    bytes: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.lat_us.extend(o.lat_us);
        for i in 0..6 {
            self.by_class[i] += o.by_class[i];
        }
        for (k, v) in o.codes {
            *self.codes.entry(k).or_default() += v;
        }
        self.expected_other += o.expected_other;
        self.unexpected += o.unexpected;
        self.unexpected_5xx += o.unexpected_5xx;
        self.transport += o.transport;
        self.bytes += o.bytes;
    }

    fn record(&mut self, class: Class, outcome: &Outcome, took: Duration) {
        self.lat_us.push(took.as_micros() as u64);
        let (status, code, bytes) = match outcome {
            Outcome::Answer {
                status,
                code,
                bytes,
            } => (*status, code.as_deref(), *bytes),
            Outcome::Transport(e) => {
                self.transport += 1;
                *self.codes.entry(format!("transport: {e}")).or_default() += 1;
                return;
            }
        };
        self.bytes += bytes;
        self.by_class[usize::from(status / 100).min(5)] += 1;
        if !matches!(status, 200 | 201 | 204) {
            let k = match code {
                Some(c) => format!("{status} {c}"),
                None => status.to_string(),
            };
            *self.codes.entry(k).or_default() += 1;
            if expected(class, status, code) {
                self.expected_other += 1;
            } else {
                self.unexpected += 1;
                if status >= 500 {
                    self.unexpected_5xx += 1;
                }
            }
        }
    }

    fn to_json(&self, key: &str, seconds: f64) -> Value {
        let mut l = self.lat_us.clone();
        l.sort_unstable();
        // Nearest-rank percentile, milliseconds.
        let pct = |p: f64| -> Value {
            if l.is_empty() {
                return Value::Null;
            }
            let rank = ((p / 100.0) * l.len() as f64).ceil().max(1.0) as usize;
            json!(l[rank.min(l.len()) - 1] as f64 / 1000.0)
        };
        let count = l.len() as u64;
        json!({
            "class": key,
            "count": count,
            "rps": count as f64 / seconds,
            "p50_ms": pct(50.0), "p99_ms": pct(99.0), "max_ms": pct(100.0),
            "status": {"1xx": self.by_class[1], "2xx": self.by_class[2], "3xx": self.by_class[3],
                       "4xx": self.by_class[4], "5xx": self.by_class[5]},
            "codes": self.codes,
            "expected_non_2xx": self.expected_other,
            "unexpected": self.unexpected,
            "unexpected_5xx": self.unexpected_5xx,
            "transport_errors": self.transport,
            "bytes": self.bytes,
        })
    }
}

/// An answer read to its end, or a transport error.
enum Outcome {
    Answer {
        status: u16,
        code: Option<String>,
        bytes: u64,
    },
    Transport(String),
}

/// Sends `req`, reads the whole body, and returns what the classification needs.
async fn send(req: reqwest::RequestBuilder) -> Outcome {
    let r = match req.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Transport(transport_kind(&e)),
    };
    let status = r.status().as_u16();
    match r.bytes().await {
        Ok(body) => {
            let code = (!(200..300).contains(&status))
                .then(|| serde_json::from_slice::<Value>(&body).ok())
                .flatten()
                .and_then(|v| v["error"]["code"].as_str().map(String::from));
            Outcome::Answer {
                status,
                code,
                bytes: body.len() as u64,
            }
        }
        Err(e) => Outcome::Transport(transport_kind(&e)),
    }
}

/// A short name of a transport error (its kind, never the URL: an edge URL carries a signature).
fn transport_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else {
        "request".into()
    }
}

fn pick<'a, T>(rng: &mut fastrand::Rng, v: &'a [T]) -> &'a T {
    &v[rng.usize(..v.len())]
}

/// The next request of the closed loop: a class by [`MIX`], a target at random.
fn next_request(
    t: &Targets,
    http: &reqwest::Client,
    rng: &mut fastrand::Rng,
) -> (Class, reqwest::RequestBuilder) {
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    let mut roll = rng.u32(..total);
    let mut class = Class::Segment;
    for (c, w) in MIX {
        if roll < w {
            class = c;
            break;
        }
        roll -= w;
    }
    let req = match class {
        Class::Decision => {
            let (jwt, id, query) = pick(rng, &t.decisions);
            http.get(format!("{}/api/v1/stream/{id}?{query}", t.base))
                .bearer_auth(jwt)
                .header("accept", "application/json")
        }
        Class::Master => http.get(pick(rng, &t.masters)),
        Class::Variant => http.get(pick(rng, &t.variants)),
        Class::Progress => {
            let (jwt, id, duration) = pick(rng, &t.progress);
            let position = rng.f64() * duration;
            http.put(format!("{}/api/v1/progress/{id}", t.base))
                .bearer_auth(jwt)
                .json(&json!({ "position_seconds": position }))
        }
        _ => http.get(pick(rng, &t.segments)),
    };
    (class, req)
}

/// One closed-loop client until `end`; answers to requests sent from `start` on are recorded.
async fn client(
    n: u64,
    t: Arc<Targets>,
    http: reqwest::Client,
    start: Instant,
    end: Instant,
) -> Vec<Stats> {
    let mut rng = fastrand::Rng::with_seed(0x5eed + n);
    let mut stats = vec![Stats::default(); CLASSES.len()];
    while Instant::now() < end {
        let (class, req) = next_request(&t, &http, &mut rng);
        let t0 = Instant::now();
        let outcome = send(req).await;
        if t0 >= start {
            stats[class.index()].record(class, &outcome, t0.elapsed());
        }
    }
    stats
}

/// The handful of uploads: at even intervals over the window, `POST /uploads`, the `PUT` of the
/// bytes, and the decision on the new media right away (`202` while it is being probed).
/// Returns the figures and the new media ids.
async fn uploader(
    api: Api,
    http: reqwest::Client,
    file: PathBuf,
    count: usize,
    start: Instant,
    seconds: f64,
) -> (Vec<Stats>, Vec<String>) {
    let mut stats = vec![Stats::default(); CLASSES.len()];
    let mut ids = vec![];
    let bytes = match tokio::fs::read(&file).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("e2e load: cannot read {}: {e}", file.display());
            return (stats, ids);
        }
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload.mp4".into());
    for k in 0..count {
        let at = start + Duration::from_secs_f64((k as f64 + 0.5) * seconds / count as f64);
        tokio::time::sleep_until(at.into()).await;
        let t0 = Instant::now();
        let r = http
            .post(format!("{}/api/v1/uploads", api.base))
            .bearer_auth(&api.jwt)
            .json(&json!({"filename": name, "title": "load"}))
            .send()
            .await;
        let created = match r {
            Ok(r) => {
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                let code = v["error"]["code"].as_str().map(String::from);
                let outcome = Outcome::Answer {
                    status,
                    code,
                    bytes: 0,
                };
                stats[Class::UploadCreate.index()].record(
                    Class::UploadCreate,
                    &outcome,
                    t0.elapsed(),
                );
                match (v["media_id"].as_str(), v["upload_url"].as_str()) {
                    (Some(id), Some(url)) => Some((id.to_string(), api.absolute(url))),
                    _ => None,
                }
            }
            Err(e) => {
                let o = Outcome::Transport(transport_kind(&e));
                stats[Class::UploadCreate.index()].record(Class::UploadCreate, &o, t0.elapsed());
                None
            }
        };
        let Some((id, url)) = created else { continue };
        let t0 = Instant::now();
        let o = send(http.put(url).body(bytes.clone())).await;
        stats[Class::UploadPut.index()].record(Class::UploadPut, &o, t0.elapsed());
        let t0 = Instant::now();
        let o = send(
            http.get(format!("{}/api/v1/stream/{id}?{CHROME_QUERY}", api.base))
                .bearer_auth(&api.jwt)
                .header("accept", "application/json"),
        )
        .await;
        stats[Class::UploadDecision.index()].record(Class::UploadDecision, &o, t0.elapsed());
        ids.push(id);
    }
    (stats, ids)
}

// ---------------------------------------------------------------------------------------------
// streamd and the machine, from /proc

/// Open file descriptors of `pid`.
fn fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// (utime + stime, cutime + cstime) of `pid` in clock ticks (`/proc/<pid>/stat`, fields 14-17).
fn cpu_ticks(pid: &str) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    (f.len() == 4).then(|| (f[0] + f[1], f[2] + f[3]))
}

/// (busy, total) clock ticks of all cores (`/proc/stat`, first line; idle and iowait are idle).
fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// A CPU snapshot: streamd (self, reaped children), this driver, the machine.
#[derive(Clone, Copy)]
struct Cpu {
    streamd: (u64, u64),
    driver: (u64, u64),
    machine: (u64, u64),
}

fn cpu_now(pid: u32) -> Cpu {
    Cpu {
        streamd: cpu_ticks(&pid.to_string()).unwrap_or_default(),
        driver: cpu_ticks("self").unwrap_or_default(),
        machine: machine_ticks().unwrap_or_default(),
    }
}

/// Percentages of one core (100 % = one core busy) over the window, from two snapshots. Clock
/// ticks are Linux's USER_HZ, 100 per second on every mainstream kernel configuration.
fn cpu_json(a: Cpu, b: Cpu, seconds: f64) -> Value {
    let pct = |ticks: u64| ticks as f64 / seconds; // ticks/s at 100 Hz = % of a core
    let machine_total = b.machine.1.saturating_sub(a.machine.1).max(1) as f64;
    let machine_busy = b.machine.0.saturating_sub(a.machine.0) as f64;
    let cores = machine_total / (100.0 * seconds);
    json!({
        "streamd_percent": pct(b.streamd.0.saturating_sub(a.streamd.0)),
        "streamd_children_percent": pct(b.streamd.1.saturating_sub(a.streamd.1)),
        "driver_percent": pct(b.driver.0.saturating_sub(a.driver.0)),
        "machine_busy_percent": 100.0 * cores * machine_busy / machine_total,
        "cores": cores.round(),
    })
}

/// Every second until `stop`: (seconds since `origin`, VmRSS kB, open fds) of `pid`.
fn sampler(
    pid: u32,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(f64, u64, u64)>> {
    tokio::spawn(async move {
        let mut out = vec![];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            let now = Instant::now();
            let t = if now >= origin {
                (now - origin).as_secs_f64()
            } else {
                -(origin - now).as_secs_f64()
            };
            if let (Some(rss), Some(n)) = (status_kb(pid, "VmRSS"), fds(pid)) {
                out.push((t, rss, n));
            }
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Set-up: media, sessions, made pieces

/// The video variants of a master playlist with their `BANDWIDTH`, resolved.
fn variants_by_bandwidth(master_url: &str, text: &str) -> Res<Vec<(u64, String)>> {
    let mut out = vec![];
    let mut bw = None;
    for l in text.lines() {
        if let Some(attrs) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            bw = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("BANDWIDTH="))
                .and_then(|v| v.parse().ok());
        } else if !l.starts_with('#') && !l.trim().is_empty() {
            out.push((
                bw.take().unwrap_or(0),
                super::resolve(master_url, l.trim())?,
            ));
        }
    }
    Ok(out)
}

/// One opened session: its master URL and its renditions' playlists (video rungs in the
/// master's order, then the audio rendition), each as (playlist URL, init URL, segment URLs).
struct Session {
    master: String,
    lowest_video: usize,
    renditions: Vec<(String, Option<String>, Vec<String>)>,
}

async fn open_session(api: &Api, jwt: &str, id: &str, query: &str) -> Res<Session> {
    let r = api
        .http
        .get(format!("{}/api/v1/stream/{id}?{query}", api.base))
        .bearer_auth(jwt)
        .header("accept", "application/json")
        .send()
        .await?;
    if r.status() != 200 {
        return Err(format!("GET /stream (set-up): {}", r.status()).into());
    }
    let v: Value = r.json().await?;
    let master = api.absolute(v["url"].as_str().ok_or("url")?);
    let text = api.text(&master).await?;
    let videos = variants_by_bandwidth(&master, &text)?;
    let (_, audio) = parse_master(&master, &text)?;
    let lowest_video = videos
        .iter()
        .enumerate()
        .min_by_key(|(_, (bw, _))| *bw)
        .map_or(0, |(i, _)| i);
    let mut renditions = vec![];
    for url in videos.into_iter().map(|(_, u)| u).chain(audio) {
        let pl = parse_media_playlist(&url, &api.text(&url).await?)?;
        let segs = pl.segments.into_iter().map(|(_, u)| u).collect();
        renditions.push((url, pl.map, segs));
    }
    Ok(Session {
        master,
        lowest_video,
        renditions,
    })
}

fn path_of(u: &str) -> String {
    url::Url::parse(u)
        .map(|u| u.path().to_string())
        .unwrap_or_default()
}

/// Makes pieces through `s` before the window (fetching them like a player, 503s retried), and
/// returns their content paths: `all` of every rendition, else the init and first `first`
/// segments of the lowest video rung and of the audio.
async fn make_pieces(api: &Api, s: &Session, all: bool, first: usize) -> Res<HashSet<String>> {
    let mut made = HashSet::new();
    let audio = s.renditions.len().saturating_sub(1);
    for (i, (_, init, segs)) in s.renditions.iter().enumerate() {
        if !all && i != s.lowest_video && i != audio {
            continue;
        }
        let n = if all {
            segs.len()
        } else {
            first.min(segs.len())
        };
        for u in init.iter().chain(segs.iter().take(n)) {
            api.fetch(u).await?;
            made.insert(path_of(u));
        }
    }
    Ok(made)
}

/// `PATCH /media/{id}` to `shared`, so that every load user may open sessions of it.
async fn share(api: &Api, id: &str) -> Res<()> {
    let r = api
        .http
        .patch(format!("{}/api/v1/media/{id}", api.base))
        .bearer_auth(&api.jwt)
        .json(&json!({"visibility": "shared"}))
        .send()
        .await?;
    if r.status() != 200 {
        return Err(format!("PATCH /media (share): {}", r.status()).into());
    }
    Ok(())
}

/// What the set-up made: the targets and a description for the results.
// Long because it is the set-up's one sequence: media, users and their sessions, the pieces made
// through the first session, then every session's URLs of them.
async fn set_up(api: &Api, o: &Opts) -> Res<(Targets, Value)> {
    let remux = api.upload(Path::new(o.get("remux"))).await?;
    let transcode = api.upload(Path::new(o.get("transcode"))).await?;
    let direct = api.upload(Path::new(o.get("direct"))).await?;
    let mut durations = vec![];
    for id in [&remux, &transcode, &direct] {
        share(api, id).await?;
        let v: Value = api
            .http
            .get(format!("{}/api/v1/media/{id}", api.base))
            .bearer_auth(&api.jwt)
            .send()
            .await?
            .json()
            .await?;
        durations.push(v["duration_seconds"].as_f64().ok_or("duration_seconds")?);
    }
    let users = o.num("users", 8);
    let secret = o.get("secret");
    let mut t = Targets {
        base: api.base.clone(),
        decisions: vec![],
        progress: vec![],
        masters: vec![],
        variants: vec![],
        segments: vec![],
    };
    let mut sessions = vec![];
    for u in 0..users {
        let jwt = stream_service::auth::mint_hs256(
            secret,
            &format!("load-{u}"),
            &[],
            Duration::from_secs(24 * 3600),
        );
        for ((id, query), duration) in [
            (&remux, CHROME_QUERY),
            (&transcode, TRANSCODE_QUERY),
            (&direct, CHROME_QUERY),
        ]
        .into_iter()
        .zip(&durations)
        {
            t.decisions
                .push((jwt.clone(), id.clone(), query.to_string()));
            t.progress.push((jwt.clone(), id.clone(), *duration));
        }
        let r = open_session(api, &jwt, &remux, CHROME_QUERY).await?;
        let x = open_session(api, &jwt, &transcode, TRANSCODE_QUERY).await?;
        sessions.push((r, x));
    }
    let first = sessions.first().ok_or("--users must be at least 1")?;
    let mut made = make_pieces(api, &first.0, true, 0).await?;
    made.extend(make_pieces(api, &first.1, false, 3).await?);
    // Read-ahead started by those requests finishes before the window.
    api.wait_idle().await;
    for s in sessions.iter().flat_map(|(r, x)| [r, x]) {
        t.masters.push(s.master.clone());
        for (pl, init, segs) in &s.renditions {
            t.variants.push(pl.clone());
            t.segments.extend(
                init.iter()
                    .chain(segs)
                    .filter(|u| made.contains(&path_of(u)))
                    .cloned(),
            );
        }
    }
    if t.segments.is_empty() {
        return Err("no made piece is listed by the sessions' playlists".into());
    }
    let describe = json!({
        "media": {"remux": remux, "transcode": transcode, "direct_play": direct},
        "users": users,
        "sessions": sessions.len() * 2,
        "playlists": t.variants.len(),
        "made_pieces": made.len(),
        "segment_urls": t.segments.len(),
        "decision_targets": t.decisions.len(),
    });
    Ok((t, describe))
}

/// After the window: how the uploads' ingests ended (waits up to 60 s for each), read as their
/// uploader (`api`'s user).
async fn upload_outcomes(api: &Api, ids: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for id in ids {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            let v: Value = match api
                .http
                .get(format!("{}/api/v1/media/{id}", api.base))
                .bearer_auth(&api.jwt)
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let s = v["status"].as_str().unwrap_or("?").to_string();
            if s == "ready" || s == "failed" || Instant::now() > deadline {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        *out.entry(status).or_default() += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The run

/// `e2e load --base URL --secret S --pid N --remux F --transcode F --direct F --upload F
/// [--seconds 60] [--warmup 20] [--clients 64] [--users 8] [--uploads 6] --out J`.
// Long because it is the run's one timeline: set-up, clients and sampler started, the CPU
// snapshots at the window's edges, the drain, the samples after, the results written.
pub(super) async fn cmd_load(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let pid = api.pid.ok_or("--pid")?;
    let seconds = o.num("seconds", 60).max(1) as f64;
    let warmup = o.num("warmup", 20) as f64;
    let clients = o.num("clients", 64).max(1);
    let uploads = o.num("uploads", 6);
    let (targets, setup) = set_up(&api, o).await?;
    let targets = Arc::new(targets);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(clients * 2)
        .build()?;

    let go = Instant::now() + Duration::from_millis(1500);
    let start = go + Duration::from_secs_f64(warmup);
    let end = start + Duration::from_secs_f64(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = sampler(pid, start, stop.clone());
    tokio::time::sleep_until(go.into()).await;
    let tasks: Vec<_> = (0..clients as u64)
        .map(|n| tokio::spawn(client(n, targets.clone(), http.clone(), start, end)))
        .collect();
    let mut uploader_api = api.clone();
    uploader_api.jwt = stream_service::auth::mint_hs256(
        o.get("secret"),
        "load-uploader",
        &[],
        Duration::from_secs(24 * 3600),
    );
    let up = tokio::spawn(uploader(
        uploader_api.clone(),
        http.clone(),
        PathBuf::from(o.get("upload")),
        uploads,
        start,
        seconds,
    ));
    tokio::time::sleep_until(start.into()).await;
    let cpu_start = cpu_now(pid);
    tokio::time::sleep_until(end.into()).await;
    let cpu_end = cpu_now(pid);

    let mut merged = vec![Stats::default(); CLASSES.len()];
    for t in tasks {
        for (m, s) in merged.iter_mut().zip(t.await?) {
            m.merge(s);
        }
    }
    let (up_stats, up_ids) = up.await?;
    for (m, s) in merged.iter_mut().zip(up_stats) {
        m.merge(s);
    }
    // The clients' connections close with their pool; the samples go on for a few seconds.
    drop(http);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let series = samples.await?;
    let ingested = upload_outcomes(&uploader_api, &up_ids).await;

    let mut total = Stats::default();
    let mut classes = vec![];
    for (c, s) in CLASSES.iter().zip(merged) {
        classes.push(s.to_json(c.key(), seconds));
        total.merge(s);
    }
    let in_window: Vec<&(f64, u64, u64)> = series
        .iter()
        .filter(|(t, _, _)| *t >= 0.0 && *t <= seconds + 0.5)
        .collect();
    let before = series.iter().rfind(|(t, _, _)| *t < -warmup);
    let after = series.last();
    let pick = |f: fn(&(f64, u64, u64)) -> u64| {
        json!({
            "before": before.map(f),
            "start": in_window.first().map(|s| f(s)),
            "end": in_window.last().map(|s| f(s)),
            "max": in_window.iter().map(|s| f(s)).max(),
            "after": after.map(f),
        })
    };
    write_json(
        o.get("out"),
        &json!({
            "seconds": seconds,
            "warmup_seconds": warmup,
            "clients": clients,
            "mix": MIX.iter().map(|(c, w)| (c.key().to_string(), json!(w))).collect::<serde_json::Map<_, _>>(),
            "uploads": {"sent": up_ids.len(), "ingest": ingested},
            "setup": setup,
            "classes": classes,
            "total": total.to_json("total", seconds),
            "cpu": cpu_json(cpu_start, cpu_end, seconds),
            "rss_kb": pick(|s| s.1),
            "fds": pick(|s| s.2),
            "samples": series.iter().map(|(t, r, f)| json!([(t * 10.0).round() / 10.0, r, f])).collect::<Vec<_>>(),
        }),
    )?;
    eprintln!(
        "  load: {} requests in {seconds} s ({:.0}/s), {} unexpected ({} 5xx), {} transport errors",
        total.lat_us.len(),
        total.lat_us.len() as f64 / seconds,
        total.unexpected,
        total.unexpected_5xx,
        total.transport
    );
    Ok(())
}
