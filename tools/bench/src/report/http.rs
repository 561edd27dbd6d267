//! "2. HTTP on loopback (wrk)": streamd's playlist route against nginx serving the same bytes,
//! and the stream route (JSON mode).

use std::fmt::Write as _;
use std::path::Path;

use super::format::{med, mmm, msf, num, pct, tidy};
use super::summary::Verdict;
use super::{kv, perf, Doc, Run};
use crate::stats;

// ---------------------------------------------------------------------------------------------
// wrk

/// One wrk run.
pub(super) struct Wrk {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

fn latency_ms(s: &str) -> f64 {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn parse_wrk(text: &str) -> Option<Wrk> {
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let pctl = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .map(latency_ms)
            .unwrap_or(f64::NAN)
    };
    let non2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let socket = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|v| {
            v.split(',')
                .filter_map(|p| {
                    p.split_whitespace()
                        .last()
                        .and_then(|n| n.parse::<u64>().ok())
                })
                .sum::<u64>()
        })
        .unwrap_or(0);
    Some(Wrk {
        rps,
        p50_ms: pctl("50%"),
        p99_ms: pctl("99%"),
        errors: non2xx + socket,
    })
}

fn wrk_runs(dir: &Path, name: &str, runs: usize) -> Vec<Wrk> {
    (1..=runs.max(1) * 2)
        .filter_map(|i| {
            std::fs::read_to_string(dir.join(format!("wrk/{name}-{i}.txt")))
                .ok()
                .and_then(|t| parse_wrk(&t))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The section

/// (the playlist's label, streamd's runs, nginx's runs).
pub(super) type Row = (String, Vec<Wrk>, Vec<Wrk>);

/// The wrk runs of the playlist route (short and long playlist) and of the stream route.
pub(super) struct Http {
    pub rows: Vec<Row>,
    pub stream_json: Vec<Wrk>,
}

pub(super) fn load(run: &Run) -> Http {
    let (dir, runs) = (run.dir, run.runs);
    let http = kv(&dir.join("http.txt"));
    let mut http_rows: Vec<Row> = vec![];
    for (size, label) in [
        ("short", "variant playlist, 30 s transcode (v1080)"),
        ("long", "variant playlist, 2 h film (1,802 segments)"),
    ] {
        let s = wrk_runs(dir, &format!("playlist-{size}-streamd"), runs);
        let n = wrk_runs(dir, &format!("playlist-{size}-nginx"), runs);
        if s.is_empty() || n.is_empty() {
            continue;
        }
        let bytes = http
            .get(&format!("{size}_variant_bytes"))
            .cloned()
            .unwrap_or_default();
        let segs = http
            .get(&format!("{size}_variant_segments"))
            .cloned()
            .unwrap_or_default();
        http_rows.push((format!("{label}: {segs} segments, {bytes} bytes"), s, n));
    }
    let stream_json = wrk_runs(dir, "stream-json-streamd", runs);
    Http {
        rows: http_rows,
        stream_json,
    }
}

pub(super) fn section(doc: &mut Doc, run: &Run, http: &Http) {
    let (dir, m, runs) = (run.dir, &run.m, run.runs);
    let root = run.root.to_string();
    let (http_rows, stream_json) = (&http.rows, &http.stream_json);
    let _ = writeln!(doc.w, "## 2. HTTP on loopback (wrk)\n");
    if http_rows.is_empty() && stream_json.is_empty() {
        let _ = writeln!(doc.w, "Not run.\n");
        return;
    }
    let w = &mut doc.w;
    let _ = writeln!(
        w,
        "`wrk -t2 -c32 -d{} --latency`, wrk, the server and (for streamd) SQLite all on the same 2 \
         cores. nginx serves the *same bytes* at the *same path* (checked with `cmp` before the \
         runs) as a static file. Requests/s and p99 latency, median of {runs} runs [min – max]:\n",
        m.get("wrk_duration").map_or("5s", String::as_str)
    );
    let _ = writeln!(
        w,
        "| route | server | requests/s | p50 | p99 | errors | streamd / nginx (req/s) |\n\
         |---|---|---|---|---|---|---|"
    );
    for (label, s, n) in http_rows {
        playlist_rows(doc, label, s, n);
    }
    let w = &mut doc.w;
    if !stream_json.is_empty() {
        stream_row(w, http);
    }
    let _ = writeln!(
        w,
        "\n\
         The stream route runs for one user and one media, so after the first request every \
         request takes the *reuse* path (the session exists: a SQLite read of the reuse key, a \
         touch, a fresh session token), as a player re-requesting would; session creation is \
         measured once per TTFS run instead (the `stream` column below). Each playlist request \
         verifies the session token; the session, its rendition set, plan and rendered playlist \
         come from the per-process open-session cache (`stream_service::open_sessions`: read from \
         SQLite and built at most every 5 s per session), and the session's expiry is written at \
         most once a minute.\n"
    );
    if let Some(p) = perf::summary(dir) {
        let _ = writeln!(w, "{}", p.text);
    }
    let _ = writeln!(
        w,
        "<details><summary>nginx.conf of the baseline</summary>\n\n```nginx\n{}```\n</details>\n",
        tidy(
            &std::fs::read_to_string(root.clone() + "/target/bench-tmp/nginx/nginx.conf")
                .unwrap_or_default(),
            &root
        )
    );
}

/// streamd's and nginx's rows of one playlist, and its verdict.
fn playlist_rows(doc: &mut Doc, label: &str, s: &[Wrk], n: &[Wrk]) {
    let w = &mut doc.w;
    let srps: Vec<f64> = s.iter().map(|x| x.rps).collect();
    let nrps: Vec<f64> = n.iter().map(|x| x.rps).collect();
    let ratio = med(&srps) / med(&nrps);
    let pairs: Vec<f64> = srps.iter().zip(&nrps).map(|(a, b)| a / b).collect();
    let (_, plo, phi) = stats(&pairs);
    let _ = writeln!(
        w,
        "| {label} | streamd | {} | {} | {} | {} | **{}** (pairs {}–{}) |",
        mmm(&srps, num),
        mmm(&s.iter().map(|x| x.p50_ms).collect::<Vec<_>>(), msf),
        mmm(&s.iter().map(|x| x.p99_ms).collect::<Vec<_>>(), msf),
        s.iter().map(|x| x.errors).sum::<u64>(),
        pct(ratio),
        pct(plo),
        pct(phi)
    );
    let _ = writeln!(
        w,
        "| | nginx | {} | {} | {} | {} | |",
        mmm(&nrps, num),
        mmm(&n.iter().map(|x| x.p50_ms).collect::<Vec<_>>(), msf),
        mmm(&n.iter().map(|x| x.p99_ms).collect::<Vec<_>>(), msf),
        n.iter().map(|x| x.errors).sum::<u64>()
    );
    let met = ratio >= 0.5;
    doc.summary.push(Verdict {
        what: format!(
            "Playlist route vs nginx: {}",
            label.split(':').next().unwrap_or(label)
        ),
        measured: format!("{} req/s", num(med(&srps))),
        baseline: format!("nginx {} req/s", num(med(&nrps))),
        ratio: pct(ratio),
        target: "≥ 50 %".into(),
        met: Some(met),
    });
    if !met {
        doc.misses.push(format!(
            "**Playlist route ({})**: {} of nginx's requests/s, {:.0} points short of 50 %.",
            label.split(':').next().unwrap_or(label),
            pct(ratio),
            (0.5 - ratio) * 100.0
        ));
    }
}

/// The stream route's row (no baseline of its own: nginx's short playlist, informative).
fn stream_row(w: &mut String, http: &Http) {
    let (http_rows, stream_json) = (&http.rows, &http.stream_json);
    let rps: Vec<f64> = stream_json.iter().map(|x| x.rps).collect();
    let short_nginx = http_rows
        .first()
        .map(|r| med(&r.2.iter().map(|x| x.rps).collect::<Vec<_>>()))
        .unwrap_or(f64::NAN);
    let _ = writeln!(
        w,
        "| stream decision, `GET /api/v1/stream/{{id}}` JSON mode (JWT + media + decision + \
         session reuse + token) | streamd | {} | {} | {} | {} | {} of nginx's static short \
         playlist (informative) |",
        mmm(&rps, num),
        mmm(
            &stream_json.iter().map(|x| x.p50_ms).collect::<Vec<_>>(),
            msf
        ),
        mmm(
            &stream_json.iter().map(|x| x.p99_ms).collect::<Vec<_>>(),
            msf
        ),
        stream_json.iter().map(|x| x.errors).sum::<u64>(),
        pct(med(&rps) / short_nginx)
    );
}
