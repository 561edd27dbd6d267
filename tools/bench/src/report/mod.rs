//! `e2e report`: turns target/bench-results into BENCHMARKS.md. Every number in the file comes
//! from the results of the same `scripts/bench.sh` run; the prose around the numbers is written
//! here, conditioned on them (a met target reads as met, a missed one says by how much).
//!
//! One module per section of BENCHMARKS.md, in the order of the file: `summary` (the title and
//! the targets table at the top, filled last), `machine` (machine, load, how to run),
//! `micro` (1), `http` (2, with `perf`), `ttfs` (3), `switch` (3b), `ttff` (3c), `subs` (3d),
//! `ladder` (4, with the per-segment cost), `memory` (5), `cloud` (6), `edge` (7), `load` (8),
//! `analysis` (caveats, the misses and why); the number formatters are in `format`. A section
//! reads the results through `Run` and `Results` and writes to a `Doc`, adding its verdicts and
//! misses.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::Res;

mod analysis;
mod cloud;
mod edge;
mod format;
mod http;
mod ladder;
mod load;
mod machine;
mod memory;
mod micro;
mod perf;
mod subs;
mod summary;
mod switch;
mod ttff;
mod ttfs;

/// `e2e report --dir D --out F`: writes the report of the results in `dir` to `out_path`. The
/// current directory is the work tree the bench ran in (see [`render`]).
///
/// A run of standalone phases only (see [`STANDALONE`]) in a results directory that holds no
/// other phase's results (a fresh work tree: nothing kept from an earlier run) replaces only
/// their sections of the existing file: a whole new report would say "Not run." where the
/// file has the figures of its last full run.
pub fn run(dir: &Path, out_path: &Path) -> Res<()> {
    let root = std::env::current_dir()?.to_string_lossy().into_owned();
    let new = render(dir, &root);
    let only = kv(&dir.join("machine.txt")).get("only").cloned();
    let standalone_only = only.as_deref().is_some_and(|o| {
        let phases: Vec<&str> = o.split_whitespace().collect();
        !phases.is_empty()
            && phases
                .iter()
                .all(|p| STANDALONE.iter().any(|(s, _)| s == p))
    });
    let text = match std::fs::read_to_string(out_path) {
        Ok(old) if standalone_only && !has_other_results(dir) => {
            let phases: Vec<String> = only
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            STANDALONE
                .iter()
                .filter(|(p, _)| phases.iter().any(|x| x == p))
                .fold(old, |doc, (_, heading)| {
                    replace_section(&doc, &new, heading)
                })
        }
        _ => new,
    };
    std::fs::write(out_path, text)?;
    Ok(())
}

/// Phases whose section stands alone: it adds no row to the summary table and no miss to the
/// analysis, so it can replace its own section of an existing report. (phase, its heading.)
const STANDALONE: [(&str, &str); 1] = [("load", "## 8. Load")];

/// Whether `dir` holds results of any phase that is not standalone.
fn has_other_results(dir: &Path) -> bool {
    let files = [
        "micro",
        "wrk",
        "ttfs.json",
        "switch.json",
        "subs.json",
        "ttff.json",
        "throughput.json",
        "segcost.json",
        "memory-10s-1.json",
        "edge.json",
    ];
    files.iter().any(|f| {
        let p = dir.join(f);
        match std::fs::read_dir(&p) {
            Ok(mut entries) => entries.next().is_some(),
            Err(_) => p.is_file(),
        }
    })
}

/// `old` with its section under `heading` (a line starting with it, to the next `## `)
/// replaced by that section of `new`; inserted before "## Caveats" (else at the end) when `old`
/// has none. `old` unchanged when `new` has no such section.
fn replace_section(old: &str, new: &str, heading: &str) -> String {
    fn span(doc: &str, heading: &str) -> Option<(usize, usize)> {
        let start = if doc.starts_with(heading) {
            0
        } else {
            doc.find(&format!("\n{heading}"))? + 1
        };
        let end = doc[start + 1..]
            .find("\n## ")
            .map_or(doc.len(), |i| start + 1 + i + 1);
        Some((start, end))
    }
    let Some((ns, ne)) = span(new, heading) else {
        return old.to_string();
    };
    let section = &new[ns..ne];
    let (os, oe) = span(old, heading).unwrap_or_else(|| {
        let at = old.find("\n## Caveats").map_or(old.len(), |i| i + 1);
        (at, at)
    });
    format!("{}{section}{}", &old[..os], &old[oe..])
}

/// The report (BENCHMARKS.md) of the results in `dir`. `root` is the work tree the bench ran in:
/// its absolute paths are shortened for display and the nginx baseline's configuration is read
/// from `root/target/bench-tmp/nginx/nginx.conf`.
pub fn render(dir: &Path, root: &str) -> String {
    let m = kv(&dir.join("machine.txt"));
    let runs: usize = m.get("runs").and_then(|r| r.parse().ok()).unwrap_or(5);
    let phases = std::fs::read_to_string(dir.join("phases.tsv")).unwrap_or_default();
    let run = Run {
        dir,
        root,
        m,
        runs,
        phases,
    };
    let res = Results::load(&run);
    let mut doc = Doc::default();
    summary::header(&mut doc.w, &run);
    // The summary table goes here; its verdicts are known once every section is written.
    let summary_at = doc.w.len();
    machine::machine(&mut doc.w, &run);
    machine::commands(&mut doc.w, &run);
    micro::section(&mut doc, &run, &res.micro);
    http::section(&mut doc, &run, &res.http);
    ttfs::section(&mut doc, &run, res.ttfs.as_ref());
    switch::section(&mut doc, &run, res.switch.as_ref());
    ttff::section(&mut doc, &run, res.ttff.as_ref());
    subs::section(&mut doc, res.subs.as_ref());
    let ladder = ladder::section(&mut doc, &run, &res);
    memory::section(&mut doc, &run, &res.mem);
    cloud::section(&mut doc.w, &run, &ladder.cost_rows);
    edge::section(&mut doc, res.edge.as_ref());
    load::section(&mut doc, &run, res.load.as_ref());
    analysis::section(&mut doc, &run, &res, &ladder);
    let table = summary::table(&doc.summary);
    doc.w.insert_str(summary_at, &table);
    doc.w
}

/// The run being reported: where its results are and what every section uses.
struct Run<'a> {
    dir: &'a Path,
    /// The work tree the bench ran in (see [`render`]).
    root: &'a str,
    /// machine.txt: the machine, the commit, the settings of the run, its duration and load.
    m: HashMap<String, String>,
    /// Runs per figure (`BENCH_RUNS`).
    runs: usize,
    /// phases.tsv: `phase\tseconds\tload at its end` per line.
    phases: String,
}

/// The results of the run, read once.
struct Results {
    micro: Vec<micro::Row>,
    http: http::Http,
    ttfs: Option<Value>,
    /// The switch, seek and init-after-segment scenarios (`switch` phase).
    switch: Option<Value>,
    /// Start-up with ten subtitle tracks and without (`subs` phase).
    subs: Option<Value>,
    /// Time to first frame in Chromium (`ttff` phase).
    ttff: Option<Value>,
    /// The ladder at the defaults.
    thr: Option<Value>,
    /// The same with STREAM_READ_AHEAD_ALL_RUNGS=1 (read-ahead makes every rung from one decode).
    thr_all: Option<Value>,
    segcost: Option<Value>,
    mem: Vec<memory::Source>,
    /// The edge figures of the cloud end-to-end test (`edge` phase).
    edge: Option<Value>,
    /// A minute of mixed traffic at saturation (`load` phase).
    load: Option<Value>,
}

impl Results {
    fn load(run: &Run) -> Results {
        Results {
            micro: micro::load(run),
            http: http::load(run),
            ttfs: read_json(&run.dir.join("ttfs.json")),
            switch: read_json(&run.dir.join("switch.json")),
            subs: read_json(&run.dir.join("subs.json")),
            ttff: read_json(&run.dir.join("ttff.json")),
            thr: read_json(&run.dir.join("throughput.json")),
            thr_all: read_json(&run.dir.join("throughput-all-rungs.json")),
            segcost: read_json(&run.dir.join("segcost.json")),
            mem: memory::load(run),
            edge: read_json(&run.dir.join("edge.json")),
            load: read_json(&run.dir.join("load.json")),
        }
    }
}

/// The report being written: the text, and what the sections found for the summary table at
/// the top and the list of misses at the end.
#[derive(Default)]
struct Doc {
    w: String,
    summary: Vec<summary::Verdict>,
    misses: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Reading the results

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// A `key=value` file (machine.txt, http.txt).
fn kv(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// A JSON number, NaN when absent.
fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The number at `path` in every run of a list of runs.
fn pluck(runs: &Value, path: &[&str]) -> Vec<f64> {
    runs.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let mut v = r;
                    for p in path {
                        v = v.get(p)?;
                    }
                    v.as_f64()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON list of strings (an argument list).
fn args_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::replace_section;

    const OLD: &str =
        "# T\n\n## 7. Edge\n\nold edge\n\n## 8. Load: x\n\nold load\n\n## Caveats\n\nc\n";

    /// A standalone phase's run replaces its section and leaves every other byte of the file.
    #[test]
    fn replaces_only_the_named_section() {
        let new =
            "# T2\n\n## 7. Edge\n\nNot run.\n\n## 8. Load: x\n\nnew load\n\n## Caveats\n\nc2\n";
        assert_eq!(
            replace_section(OLD, new, "## 8. Load"),
            "# T\n\n## 7. Edge\n\nold edge\n\n## 8. Load: x\n\nnew load\n\n## Caveats\n\nc\n"
        );
    }

    /// A report written before the section existed gets it before the caveats.
    #[test]
    fn inserts_a_missing_section_before_the_caveats() {
        let old = "# T\n\n## 7. Edge\n\nold edge\n\n## Caveats\n\nc\n";
        let new = "# T2\n\n## 8. Load: x\n\nnew load\n\n## Caveats\n\nc2\n";
        assert_eq!(
            replace_section(old, new, "## 8. Load"),
            "# T\n\n## 7. Edge\n\nold edge\n\n## 8. Load: x\n\nnew load\n\n## Caveats\n\nc\n"
        );
        assert_eq!(replace_section(old, "# T2\n", "## 8. Load"), old);
    }
}
