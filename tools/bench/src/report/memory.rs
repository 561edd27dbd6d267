//! "5. Memory": peak resident memory of streamd and of every ffmpeg/ffprobe run it starts, for a
//! 10 s and a 10 min source of the same kind.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::format::{med, mib, mmm, secs};
use super::summary::Verdict;
use super::{f, pluck, read_json, Doc, Run};

/// ("10s" or "600s", the memory-<name>-<i>.json of every run).
pub(super) type Source = (String, Vec<Value>);

pub(super) fn load(run: &Run) -> Vec<Source> {
    let (dir, runs) = (run.dir, run.runs);
    ["10s", "600s"]
        .iter()
        .map(|k| {
            (
                k.to_string(),
                (1..=runs * 2)
                    .filter_map(|i| read_json(&dir.join(format!("memory-{k}-{i}.json"))))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

pub(super) fn section(doc: &mut Doc, run: &Run, mem: &[Source]) {
    let runs = run.runs;
    let _ = writeln!(doc.w, "## 5. Memory\n");
    if mem.is_empty() {
        let _ = writeln!(doc.w, "Not run.\n");
        return;
    }
    let w = &mut doc.w;
    let _ = writeln!(
        w,
        "Peak resident memory for a 10 s and a 10 min source of the same kind (640x360 H.264 High \
         10 + AAC stereo, transcoded to the 360p rung + AAC): a fresh streamd per run uploads the \
         file (ingest: ffprobe), opens a transcode session and fetches the init and the first, \
         middle and last segments of every rendition (the audio rendition as one continuous pass), \
         then waits for the workers to finish. streamd: `VmHWM` of the process (the embedded \
         shape: server + in-process workers). Workers: the peak RSS of every ffmpeg/ffprobe run, \
         by kind (the largest run of each kind in a streamd run). Median of {runs} [min – max]:\n"
    );
    let kinds = tool_kinds(mem);
    let (peaks, tool_peaks) = table(w, mem, &kinds);
    if let (Some(a), Some(b)) = (peaks.get("10s"), peaks.get("600s")) {
        let g = growth(mem, &kinds, &tool_peaks, a, b);
        growth_text(&mut doc.w, &g);
        verdicts(doc, &g);
    }
}

/// The kinds of worker runs seen (ffmpeg_video_transcode, ffprobe_probe, ...), sorted.
fn tool_kinds(mem: &[Source]) -> Vec<String> {
    let mut kinds: Vec<String> = vec![];
    for (_, runs_v) in mem {
        for r in runs_v {
            if let Some(o) = r["tools_max_rss_kb"].as_object() {
                for k in o.keys() {
                    if !kinds.contains(k) {
                        kinds.push(k.clone());
                    }
                }
            }
        }
    }
    kinds.sort();
    kinds
}

/// The table; returns streamd's median peak per source and the median peak of every worker kind
/// per source.
#[allow(clippy::type_complexity)]
fn table(
    w: &mut String,
    mem: &[Source],
    kinds: &[String],
) -> (HashMap<String, f64>, HashMap<(String, String), f64>) {
    let _ = write!(
        w,
        "| source | file size | streamd idle | streamd peak (`VmHWM`) |"
    );
    for k in kinds {
        let _ = write!(w, " {} |", k.replace('_', " "));
    }
    let _ = writeln!(w);
    let _ = write!(w, "|---|---|---|---|");
    for _ in kinds {
        let _ = write!(w, "---|");
    }
    let _ = writeln!(w);
    let mut peaks: HashMap<String, f64> = HashMap::new();
    let mut tool_peaks: HashMap<(String, String), f64> = HashMap::new();
    for (name, runs_v) in mem {
        let arr = Value::Array(runs_v.clone());
        let hwm = pluck(&arr, &["streamd_hwm_kb"]);
        peaks.insert(name.clone(), med(&hwm));
        let size = runs_v
            .first()
            .map(|r| f(&r["size_bytes"]) / 1048576.0)
            .unwrap_or(f64::NAN);
        let dur = runs_v
            .first()
            .map(|r| f(&r["duration"]))
            .unwrap_or(f64::NAN);
        let _ = write!(
            w,
            "| {} ({:.0} s) | {:.1} MiB | {} | {} |",
            runs_v
                .first()
                .and_then(|r| r["file"].as_str())
                .unwrap_or(name),
            dur,
            size,
            mmm(&pluck(&arr, &["streamd_idle_hwm_kb"]), mib),
            mmm(&hwm, mib)
        );
        for k in kinds {
            let v: Vec<f64> = runs_v
                .iter()
                .filter_map(|r| {
                    r["tools_max_rss_kb"][k]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_f64).fold(f64::NAN, f64::max))
                })
                .filter(|x| x.is_finite())
                .collect();
            tool_peaks.insert((name.clone(), k.clone()), med(&v));
            let _ = write!(w, " {} |", mmm(&v, mib));
        }
        let _ = writeln!(w);
    }
    (peaks, tool_peaks)
}

/// The long source against the short one.
struct Growth {
    /// streamd's median peak (kB), 10 s and 10 min source, and their ratio.
    a: f64,
    b: f64,
    ratio: f64,
    /// The worker kind whose peak grew the most, and by how much.
    worst_tool: (String, f64),
    /// The 10 min source's runs.
    long: Vec<Value>,
    /// streamd's highest RSS before the long audio pass and at each quarter of it (medians).
    quarters: Vec<f64>,
    /// The long audio pass's duration (s).
    pass: f64,
    /// The end of the pass against its first quarter.
    plateau: f64,
}

fn growth(
    mem: &[Source],
    kinds: &[String],
    tool_peaks: &HashMap<(String, String), f64>,
    a: &f64,
    b: &f64,
) -> Growth {
    let ratio = b / a;
    let mut worst_tool = (String::new(), 1.0f64);
    for k in kinds {
        if let (Some(x), Some(y)) = (
            tool_peaks.get(&("10s".to_string(), k.clone())),
            tool_peaks.get(&("600s".to_string(), k.clone())),
        ) {
            if x.is_finite() && y.is_finite() && y / x > worst_tool.1 {
                worst_tool = (k.clone(), y / x);
            }
        }
    }
    // streamd's RSS along the long file's audio pass: does the peak keep rising with the
    // length of the pass (it grows with the file) or level off (bounded)?
    let long = &mem
        .iter()
        .find(|m| m.0 == "600s")
        .map(|m| m.1.clone())
        .unwrap_or_default();
    let q_of = |k: usize| -> Vec<f64> {
        long.iter()
            .filter_map(|r| r["streamd_rss_peak_by_audio_pass_quarter_kb"][k].as_f64())
            .collect()
    };
    let quarters: Vec<f64> = (0..5).map(|k| med(&q_of(k))).collect();
    let pass = med(&long
        .iter()
        .filter_map(|r| {
            Some(r["audio_pass_seconds"][1].as_f64()? - r["audio_pass_seconds"][0].as_f64()?)
        })
        .collect::<Vec<_>>());
    let plateau = quarters[4] / quarters[1];
    Growth {
        a: *a,
        b: *b,
        ratio,
        worst_tool,
        long: long.clone(),
        quarters,
        pass,
        plateau,
    }
}

/// streamd's growth, the long audio pass, and whether the difference is bounded.
fn growth_text(w: &mut String, g: &Growth) {
    let (a, b, ratio, worst_tool, long, quarters, pass, plateau) = (
        &g.a,
        &g.b,
        g.ratio,
        &g.worst_tool,
        &g.long,
        &g.quarters,
        g.pass,
        g.plateau,
    );
    let _ = writeln!(
        w,
        "\n\
         60× the duration: streamd's peak is {:.2}× ({} → {}, {:+.1} MiB); the largest ratio of a \
         worker kind is {}.\n",
        ratio,
        mib(*a),
        mib(*b),
        (b - a) / 1024.0,
        if worst_tool.0.is_empty() {
            "1.00×".to_string()
        } else {
            format!("{:.2}× (`{}`)", worst_tool.1, worst_tool.0)
        }
    );
    if quarters.iter().all(|q| q.is_finite()) {
        let _ = writeln!(
            w,
            "streamd's resident memory (`VmRSS`, sampled every 100 ms) during the 10 min source's \
             continuous audio pass ({} of encoding, the longest thing the server does per file), \
             highest value so far, medians over the runs:\n\n\
             | before the pass | 25 % of it | 50 % | 75 % | end |\n\
             |---|---|---|---|---|\n\
             | {} | {} | {} | {} | {} |\n",
            secs(pass),
            mib(quarters[0]),
            mib(quarters[1]),
            mib(quarters[2]),
            mib(quarters[3]),
            mib(quarters[4])
        );
    }
    if ratio > 1.10 && plateau.is_finite() && plateau <= 1.03 {
        let before = (quarters[0] - a) / (b - a);
        let _ = writeln!(
            w,
            "The difference does not grow along the long pass ({:.2}× from 25 % of it to the \
             end){}: a bounded amount, not memory that grows with the file (candidates: buffers of \
             the upload, which streams the {:.0} MiB file to disk, SQLite's page cache, 2 MiB by \
             default, filling with the longer file's records, and the allocator's per-thread \
             arenas of the blocking threads).\n",
            plateau,
            if before > 0.5 {
                format!(
                    ", and {:.0} % of it is there before the pass starts (after the upload, the \
                     ingest and the video segments)",
                    before * 100.0
                )
            } else {
                String::new()
            },
            long.first()
                .map_or(0.0, |r| f(&r["size_bytes"]) / 1048576.0)
        );
    }
}

/// The workers' verdict and streamd's.
fn verdicts(doc: &mut Doc, g: &Growth) {
    let (a, b, ratio, worst_tool, plateau) = (&g.a, &g.b, g.ratio, &g.worst_tool, g.plateau);
    let met_tools = worst_tool.1 <= 1.10;
    doc.summary.push(Verdict {
        what: "Worker peak RSS (each ffmpeg/ffprobe run), 10 min vs 10 s source".into(),
        measured: format!(
            "largest ratio `{}`",
            if worst_tool.0.is_empty() {
                "–"
            } else {
                &worst_tool.0
            }
        ),
        baseline: "the same kind of run, 10 s source".into(),
        ratio: format!("{:.2}×", worst_tool.1),
        target: "the same within noise (≤ 1.10×)".into(),
        met: Some(met_tools),
    });
    if !met_tools {
        doc.misses.push(format!(
            "**Memory (workers)**: 60× the file length gives {:.2}× the peak RSS of `{}`.",
            worst_tool.1, worst_tool.0
        ));
    }
    // streamd: met when it is within 10 %, or when its growth has stopped by a quarter of
    // the long pass (bounded: a cache filling up, not a buffer growing with the file).
    let bounded = plateau.is_finite() && plateau <= 1.03;
    let met = ratio <= 1.10 || bounded;
    doc.summary.push(Verdict {
        what: "streamd peak RSS (server + in-process workers), 10 min vs 10 s".into(),
        measured: format!("{} vs {}", mib(*b), mib(*a)),
        baseline: "the 10 s source".into(),
        ratio: format!("{ratio:.2}× ({:+.1} MiB)", (b - a) / 1024.0),
        target: "the same within noise (≤ 1.10×, or level after a quarter of the long pass)".into(),
        met: Some(met),
    });
    if !met {
        doc.misses.push(format!(
            "**Memory (streamd)**: 60× the file length gives {ratio:.2}× streamd's peak ({:+.1} \
             MiB), still rising during the long audio pass ({:.2}× from a quarter of it to its \
             end).",
            (b - a) / 1024.0,
            plateau
        ));
    }
}
