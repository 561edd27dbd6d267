//! "8. Load": a minute of mixed traffic at saturation against one streamd (`e2e load`, issue
//! 14): requests/s, p50/p99 and the statuses of every request class, whether any `5xx` came
//! that the API does not promise, and whether streamd's memory and open descriptors stayed flat.
//!
//! "Flat" is a stated tolerance, not a test assertion (the numbers are reported either way): the
//! end of the window within [`RSS_TOLERANCE`] of its start for VmRSS (allocator arenas and caches
//! settle at a level; a leak keeps climbing), and for open files within one descriptor per
//! client (a request in flight may hold a file open: a segment being read, an upload's
//! temporary file), the clients' connections being open at both ends. A descriptor leak shows
//! after the clients have left, as a count above the one before they came. The
//! section also says how busy the machine was with other work during the window, from the CPU
//! the driver measured: on a shared machine the absolute rates are lower bounds.

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{mib, msf, num};
use super::{f, Doc, Run};

/// VmRSS at the end of the window may exceed its start by this fraction and still be flat.
pub(super) const RSS_TOLERANCE: f64 = 0.10;

/// The report's name of each request class of `e2e load`.
fn label(class: &str) -> &str {
    match class {
        "decision" => "decision: `GET /api/v1/stream/{id}` (JSON)",
        "master" => "master playlist",
        "variant" => "variant playlist",
        "segment" => "segment at the edge (`/renditions/…`, made)",
        "progress" => "`PUT /api/v1/progress/{id}`",
        "upload_create" => "upload: `POST /api/v1/uploads`",
        "upload_put" => "upload: `PUT` of the bytes",
        "upload_decision" => "decision on the fresh upload",
        other => other,
    }
}

/// `503 storage_unavailable × 12, 202 × 6` (every answer but a plain 200/201/204).
fn codes(v: &Value) -> String {
    let Some(m) = v.as_object().filter(|m| !m.is_empty()) else {
        return "–".into();
    };
    m.iter()
        .map(|(k, n)| format!("`{k}` × {}", num(f(n))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn class_row(w: &mut String, c: &Value, bold: bool) {
    let s = &c["status"];
    let name = label(c["class"].as_str().unwrap_or("?"));
    let name = if bold {
        format!("**{name}**")
    } else {
        name.to_string()
    };
    let unexpected = f(&c["unexpected"]) + f(&c["transport_errors"]);
    let _ = writeln!(
        w,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        num(f(&c["count"])),
        num(f(&c["rps"])),
        msf(f(&c["p50_ms"])),
        msf(f(&c["p99_ms"])),
        num(f(&s["2xx"])),
        num(f(&s["3xx"])),
        num(f(&s["4xx"])),
        num(f(&s["5xx"])),
        codes(&c["codes"]),
        if unexpected > 0.0 {
            format!("**{}**", num(unexpected))
        } else {
            "0".into()
        },
    );
}

/// The load average at the start of the `load` phase (load.txt) and at its end (phases.tsv).
fn phase_load(run: &Run) -> (String, String) {
    let txt = std::fs::read_to_string(run.dir.join("load.txt")).unwrap_or_default();
    let start = txt
        .lines()
        .filter(|l| l.starts_with("## load at "))
        .last()
        .and_then(|l| l.split(", load ").nth(1))
        .unwrap_or("?")
        .to_string();
    let end = run
        .phases
        .lines()
        .filter(|l| l.starts_with("load\t"))
        .last()
        .and_then(|l| l.split('\t').nth(2))
        .unwrap_or("?")
        .to_string();
    (start, end)
}

// Long because it is the section's one text: the set-up, the machine, the two tables and their
// verdicts, in order.
pub(super) fn section(doc: &mut Doc, run: &Run, load: Option<&Value>) {
    let w = &mut doc.w;
    let _ = writeln!(w, "## 8. Load: a minute of mixed traffic at saturation\n");
    let Some(l) = load else {
        let _ = writeln!(w, "Not run.\n");
        return;
    };
    let setup = &l["setup"];
    let mix = l["mix"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {}", num(f(v))))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "Measured {} from commit `{}`. `e2e load` against one streamd on loopback: **{} \
         closed-loop clients** (each sends its \
         next request as soon as it has read the last answer) for **{} s** after a {} s warm-up, \
         the driver on the same cores. Mix (weights out of 100): {mix}; and {} uploads spread \
         over the window (create, `PUT` of a 10 s file, the decision on it at once). Before the \
         window: three media (remux, transcode and direct play for Chrome), shared; {} users \
         with a remux and a transcode session each ({} sessions, {} playlists); {} pieces made \
         (every piece of the remux, the init and first 3 segments of the transcode's lowest rung \
         and of its audio), asked for at the edge through every session's signature ({} URLs). \
         Statuses the API promises in normal operation (`202` while a media is prepared, `503 \
         segment_pending`) are expected; any other non-2xx, and any transport error, is \
         counted unexpected.\n",
        run.m.get("date").map_or("?", String::as_str),
        run.m.get("commit").map_or("?", String::as_str),
        num(f(&l["clients"])),
        num(f(&l["seconds"])),
        num(f(&l["warmup_seconds"])),
        num(f(&l["uploads"]["sent"])),
        num(f(&setup["users"])),
        num(f(&setup["sessions"])),
        num(f(&setup["playlists"])),
        num(f(&setup["made_pieces"])),
        num(f(&setup["segment_urls"])),
    );
    machine(w, run, &l["cpu"]);
    let _ = writeln!(
        w,
        "| requests | count | req/s | p50 | p99 | 2xx | 3xx | 4xx | 5xx | answers other than \
         200/201/204 | unexpected |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for c in l["classes"].as_array().cloned().unwrap_or_default() {
        if f(&c["count"]) > 0.0 {
            class_row(w, &c, false);
        }
    }
    class_row(w, &l["total"], true);
    let t = &l["total"];
    let u5 = f(&t["unexpected_5xx"]);
    let others = f(&t["unexpected"]) - u5 + f(&t["transport_errors"]);
    let _ = writeln!(
        w,
        "\n**Unexpected 5xx: {}.** Other unexpected answers (4xx, transport errors): {}.{}\n",
        if u5 > 0.0 { num(u5) } else { "none".into() },
        if others > 0.0 {
            num(others)
        } else {
            "none".into()
        },
        ingest(&l["uploads"]["ingest"]),
    );
    resources(w, l);
}

/// The uploads' ingest outcomes after the window.
fn ingest(v: &Value) -> String {
    match v.as_object().filter(|m| !m.is_empty()) {
        Some(m) => format!(
            " The uploads' ingests, after the window: {}.",
            m.iter()
                .map(|(k, n)| format!("{} {k}", num(f(n))))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => String::new(),
    }
}

/// The CPU of the window (100 % = one core) and whether other work shared the machine.
fn machine(w: &mut String, run: &Run, cpu: &Value) {
    let cores = f(&cpu["cores"]);
    let busy = f(&cpu["machine_busy_percent"]);
    let streamd = f(&cpu["streamd_percent"]) + f(&cpu["streamd_children_percent"]);
    let driver = f(&cpu["driver_percent"]);
    let other = (busy - streamd - driver).max(0.0);
    let (load_start, load_end) = phase_load(run);
    let idle = other < 10.0;
    let _ = writeln!(
        w,
        "**CPU during the window** (100 % = one core, {} cores): the machine {busy:.0} % busy; \
         streamd {streamd:.0} % (its ffprobe children included), the driver {driver:.0} %, \
         **other work {other:.0} %**. {} Load averages {load_start} at the start of the phase, \
         {load_end} at its end.\n",
        num(cores),
        if idle {
            "The machine was otherwise idle.".to_string()
        } else {
            format!(
                "**The machine was not idle**: other processes took {other:.0} % of a core from \
                 streamd and the driver, so the rates below are lower bounds of what 2 idle cores \
                 serve."
            )
        },
    );
}

/// Whether `end` is within the tolerance of `start`.
pub(super) fn flat(start: f64, end: f64, rel: f64, abs: f64) -> bool {
    end - start <= (start * rel).max(abs)
}

/// streamd's VmRSS and open descriptors over the run.
fn resources(w: &mut String, l: &Value) {
    let _ = writeln!(
        w,
        "streamd's VmRSS and open file descriptors (`/proc/<pid>/status`, `/proc/<pid>/fd`), \
         sampled every second (the series is in `target/bench-results/load.json`). Flat: the end \
         of the window at most {:.0} % above its start for VmRSS; for descriptors, at most one \
         per client above it ({}: each request in flight may hold a file open, and the clients' \
         connections are open at both ends). A descriptor leak would also show 3 s after the \
         clients left, as more descriptors than before they came.\n",
        RSS_TOLERANCE * 100.0,
        num(f(&l["clients"])),
    );
    let _ = writeln!(
        w,
        "| streamd | before the clients | start of the window | end | max in the window | 3 s \
         after the clients left | end − start | flat |\n|---|---|---|---|---|---|---|---|"
    );
    let r = &l["rss_kb"];
    let (s, e) = (f(&r["start"]), f(&r["end"]));
    let _ = writeln!(
        w,
        "| VmRSS | {} | {} | {} | {} | {} | {:+.1} MiB ({:+.1} %) | {} |",
        mib(f(&r["before"])),
        mib(s),
        mib(e),
        mib(f(&r["max"])),
        mib(f(&r["after"])),
        (e - s) / 1024.0,
        100.0 * (e - s) / s,
        verdict(flat(s, e, RSS_TOLERANCE, 0.0)),
    );
    let thirds = rss_by_third(l);
    let d = &l["fds"];
    let (s, e) = (f(&d["start"]), f(&d["end"]));
    let _ = writeln!(
        w,
        "| open descriptors | {} | {} | {} | {} | {} | {:+} | {} |\n",
        num(f(&d["before"])),
        num(s),
        num(e),
        num(f(&d["max"])),
        num(f(&d["after"])),
        e - s,
        verdict(flat(s, e, 0.0, f(&l["clients"]))),
    );
    if let Some([a, b, c]) = thirds {
        let _ = writeln!(
            w,
            "VmRSS change in the first, middle and last third of the window: {:+.1} MiB, {:+.1} \
             MiB, {:+.1} MiB (a leak keeps the same slope; memory the allocator keeps for reuse \
             levels off).\n",
            a / 1024.0,
            b / 1024.0,
            c / 1024.0
        );
    }
}

/// The change of VmRSS (kB) over each third of the window, from the samples `[t, rss, fds]`
/// (t in seconds from the window's start): the last sample at or before each boundary.
fn rss_by_third(l: &Value) -> Option<[f64; 3]> {
    let secs = f(&l["seconds"]);
    let samples: Vec<(f64, f64)> = l["samples"]
        .as_array()?
        .iter()
        .filter_map(|s| Some((s.get(0)?.as_f64()?, s.get(1)?.as_f64()?)))
        .collect();
    let at = |t: f64| {
        samples
            .iter()
            .filter(|(x, _)| *x >= 0.0 && *x <= t + 0.5)
            .last()
            .map(|(_, r)| *r)
    };
    let b: Vec<f64> = [0.0, secs / 3.0, 2.0 * secs / 3.0, secs]
        .iter()
        .map(|t| at(*t))
        .collect::<Option<_>>()?;
    Some([b[1] - b[0], b[2] - b[1], b[3] - b[2]])
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

#[cfg(test)]
mod tests {
    use super::flat;

    /// The tolerance of "flat": relative for memory, per client for descriptors.
    #[test]
    fn flat_is_end_within_the_tolerance_of_start() {
        assert!(flat(100_000.0, 109_000.0, 0.10, 0.0));
        assert!(!flat(100_000.0, 111_000.0, 0.10, 0.0));
        assert!(flat(100_000.0, 90_000.0, 0.10, 0.0), "shrinking is flat");
        assert!(flat(84.0, 117.0, 0.0, 64.0), "one descriptor per client");
        assert!(!flat(84.0, 149.0, 0.0, 64.0));
        assert!(
            flat(300.0, 328.0, 0.10, 20.0),
            "the larger tolerance: 10 % of 300"
        );
        assert!(flat(100.0, 118.0, 0.10, 20.0), "the larger tolerance: 20");
        assert!(!flat(100.0, 121.0, 0.10, 20.0));
    }
}
