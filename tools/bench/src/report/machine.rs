//! "Machine" (the machine, the load during the run, what else was running) and "How to run"
//! (the script, its settings and the exact command of every phase).

use std::fmt::Write as _;

use super::Run;

/// The machine table and the load during the run, phase by phase.
pub(super) fn machine(w: &mut String, run: &Run) {
    let (m, phases) = (&run.m, &run.phases);
    let _ = writeln!(w, "## Machine\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for (k, label) in [
        ("nproc", "cores (`nproc`)"),
        ("cpu", "CPU (`/proc/cpuinfo`)"),
        ("mem", "memory"),
        ("kernel", "kernel"),
        ("os", "OS"),
        ("ffmpeg", "ffmpeg"),
        ("wrk", "wrk"),
        ("nginx", "nginx"),
        ("rustc", "rustc"),
    ] {
        let _ = writeln!(w, "| {label} | {} |", m.get(k).map_or("?", String::as_str));
    }
    let _ = writeln!(
        w,
        "\n\
         **Load during the run.** 1/5/15-minute load averages: {} at the start, {} at the end (2 \
         cores: a load above 2 means other work was waiting for a core). Per phase (duration, load \
         at its end):\n",
        m.get("load_start").map_or("?", String::as_str),
        m.get("load_end").map_or("?", String::as_str)
    );
    let _ = writeln!(w, "| phase | duration | load at the end |\n|---|---|---|");
    let mut total = 0.0;
    for l in phases.lines() {
        let c: Vec<&str> = l.split('\t').collect();
        if c.len() == 3 {
            total += c[1].parse::<f64>().unwrap_or(0.0);
            let _ = writeln!(w, "| {} | {} s | {} |", c[0], c[1], c[2]);
        }
    }
    let _ = writeln!(w, "| **total** | {total:.0} s | |\n");
    shared(w, run);
}

/// Whether other work shared the machine: the busy processes at the phase starts (load.txt) that
/// are not the bench's own, and the load at the start.
fn shared(w: &mut String, run: &Run) {
    let (dir, m) = (run.dir, &run.m);
    let load = std::fs::read_to_string(dir.join("load.txt")).unwrap_or_default();
    let ours = [
        "streamd", "ffmpeg", "ffprobe", "wrk", "nginx", "e2e", "micro", "top", "cargo", "rustc",
        "bash", "time", "cc", "ld", "cc1", "as", "collect2", "sed", "awk",
    ];
    let mut foreign: Vec<String> = vec![];
    let mut build_like = false;
    for l in load.lines().filter(|l| !l.starts_with("##")) {
        if let Some((p, cmd)) = l.split_once("% ") {
            let p: f64 = p.parse().unwrap_or(0.0);
            if p >= 20.0 {
                let cmd = cmd.trim();
                if !ours.iter().any(|o| cmd.starts_with(o)) && !foreign.iter().any(|x| x == cmd) {
                    foreign.push(cmd.to_string());
                }
                if cmd.starts_with("rustc") || cmd.starts_with("cargo") {
                    build_like = true;
                }
            }
        }
    }
    let load_start: f64 = m
        .get("load_start")
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if !foreign.is_empty() || build_like || load_start > 1.0 {
        let _ =
            writeln!(
            w,
            "**The machine was shared during this run**: other work ran on the same 2 cores{}{}. \
             Absolute times are therefore pessimistic and noisier than on an idle machine; the \
             ratios compare measurements taken alternately in the same minutes and are the figures \
             to read. The busiest processes at the start of each phase are in \
             `target/bench-results/load.txt`.\n",
            if foreign.is_empty() {
                String::new()
            } else {
                format!(
                    " (busy processes seen at phase starts: {})",
                    foreign.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                )
            },
            if build_like {
                " and compilers (`rustc`/`cargo`: builds or test runs, possibly of other \
                 engineers, in the same work tree)"
            } else {
                ""
            }
        );
    } else {
        let _ = writeln!(
            w,
            "No other significant work was seen on the machine at the phase starts.\n"
        );
    }
}

/// How to run the bench, and the exact command of every phase.
pub(super) fn commands(w: &mut String, run: &Run) {
    let (m, phases) = (&run.m, &run.phases);
    let _ = writeln!(w, "## How to run\n");
    let _ = writeln!(
        w,
        "```sh\n\
         scripts/bench.sh                                  # everything; rewrites BENCHMARKS.md\n\
         BENCH_ONLY=\"micro http\" scripts/bench.sh          # a subset (the report covers what \
         was run)\n\
         BENCH_RUNS=7 BENCH_WRK_DURATION=10s scripts/bench.sh\n\
         ```\n\n\
         It is not part of the test suite. From a clean clone it installs what is missing \
         (`apt-get install -y ffmpeg wrk nginx time`), builds `cargo build --release -p streamd` \
         and `cargo bench -p stream-bench --no-run`, and generates its sources with ffmpeg into \
         `target/bench-media` (`bench/gen-media.sh`, cached). Raw results (criterion JSON, wrk \
         output, the driver's JSON, streamd logs) stay in `target/bench-results`. Each phase \
         starts its own `streamd` (`target/release/streamd`, `STREAM_LISTEN=127.0.0.1:0`, a fresh \
         `STREAM_DATA_DIR`, `STREAM_JWT_SECRET` random per run, every other setting at its \
         default: {} in-process encode workers, read-ahead 3 segments, segment wait 8 s). The \
         end-to-end driver is `tools/bench/benches/e2e.rs` (a `harness = false` bench target, so \
         the ffmpeg baselines call the library's own argument builders: \
         `stream_media::transcode::args`).\n",
        m.get("nproc").map_or("2", String::as_str)
    );
    if let Some(t) = m.get("total_seconds").and_then(|t| t.parse::<f64>().ok()) {
        let _ = writeln!(
            w,
            "This run took **{:.1} minutes** in total (the build was {}).\n",
            t / 60.0,
            phases
                .lines()
                .find(|l| l.starts_with("build\t"))
                .and_then(|l| l.split('\t').nth(1))
                .map_or("not measured".to_string(), |s| format!(
                    "{s} s, incremental"
                ))
        );
    }
    phase_commands(w, run);
}

/// The table of the exact command of every phase.
fn phase_commands(w: &mut String, run: &Run) {
    let (m, runs) = (&run.m, run.runs);
    let _ = writeln!(w, "The exact commands of each phase:\n");
    let _ = writeln!(w, "| phase | command |\n|---|---|");
    let _ = writeln!(
        w,
        "| micro | `cargo bench -p stream-bench --bench micro` ({runs} times; warm-up 0.3 s, \
         measurement 1 s, 50 samples; `target/criterion/<id>/new/estimates.json` → median) |"
    );
    let _ = writeln!(
        w,
        "| http | `wrk -t2 -c32 -d{} --latency <url>` per target, {runs} rounds, alternating \
         streamd and nginx; the stream route with `-H 'Authorization: Bearer <JWT>' -H 'Accept: \
         application/json'`; nginx: `nginx -c target/bench-tmp/nginx/nginx.conf` (below) |",
        m.get("wrk_duration").map_or("5s", String::as_str)
    );
    let _ = writeln!(
        w,
        "| ttfs | `e2e ttfs --transcode … --transcode-audio … --remux … --runs {runs}`: a fresh \
         upload per streamd run, then `GET /stream` (JSON) → master → media playlist → `init.mp4` \
         → the segment (video and audio legs in parallel, redirects followed); ffmpeg: the \
         workers' exact arguments (below) |"
    );
    let _ = writeln!(
        w,
        "| ttfs (diagnostics) | `e2e ttfs-diag --runs {runs}` against two streamd at once \
         (defaults; `STREAM_READ_AHEAD=0`): the transcode start and seek with and without \
         read-ahead, init and segment asked for in a row or together, interleaved with ffmpeg \
         alone |"
    );
    let _ = writeln!(
        w,
        "| ladder | `e2e throughput --file h264_aac_720p_120s.mp4 --runs {runs}`: a fresh upload \
         per run, one client per rendition fetching every segment; ffmpeg: one process, `split` \
         filter, the workers' exact x264/AAC arguments (below) |"
    );
    let _ = writeln!(
        w,
        "| segcost | `e2e segcost --samples {runs}`: one ffmpeg at a time, the workers' exact \
         arguments, full 4 s segments; decoding alone (`-f null`) for the same segments |"
    );
    let _ = writeln!(
        w,
        "| memory | `e2e memory` with streamd's `STREAM_FFMPEG`/`STREAM_FFPROBE` pointing at a \
         wrapper that runs the tool under `/usr/bin/time -f %M` (peak RSS from `wait4`); streamd's \
         `VmHWM` from `/proc/<pid>/status`; a fresh streamd per run |"
    );
    let _ = writeln!(
        w,
        "| load | `e2e load --clients 64 --seconds $BENCH_LOAD_SECONDS` (default 60, after a 5 s \
         warm-up): closed-loop clients over reqwest, a fixed mix of decisions, playlists, edge \
         segments and progress, 6 uploads; streamd's `VmRSS` and `/proc/<pid>/fd` every second; \
         a fresh streamd |\n"
    );
}
