//! "3d. Start-up with ten subtitle tracks" (issue 12): a session's start-up for the same source
//! with ten SubRip tracks and with none, alternated run by run (`e2e subs`).

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{med, mmm, msf};
use super::summary::Verdict;
use super::{pluck, Doc};

/// "Not slower": the median start-up with ten tracks within this factor of the one without
/// (start-up of one file moves by more than this between runs; see the min – max).
const BOUND: f64 = 1.10;

pub(super) fn section(doc: &mut Doc, subs: Option<&Value>) {
    let _ = writeln!(doc.w, "## 3d. Start-up with ten subtitle tracks\n");
    let Some(s) = subs else {
        let _ = writeln!(doc.w, "Not run.\n");
        return;
    };
    let _ = writeln!(
        doc.w,
        "`{}` against `{}`: the same H.264/AAC 1080p source, the second with ten SubRip tracks \
         (ten languages, a cue every 2 s). Subtitles are converted to WebVTT at ingest, so a \
         session's start pays only for a larger media record and a master ten lines longer. Each \
         run uploads the file afresh and plays it as section 3 does (`{}`, `{}`: stream request → \
         master → video and audio legs to their first segment in hand), the two files alternated \
         run by run. The last column is what a player with a subtitle track on asks for besides \
         (that track's playlist and its WebVTT, once the master is in hand). Median of {} [min – \
         max]:\n",
        s["plain"].as_str().unwrap_or("?"),
        s["subs"].as_str().unwrap_or("?"),
        s["method"].as_str().unwrap_or("?"),
        s["query"].as_str().unwrap_or("?"),
        s["runs"]
    );
    let _ = writeln!(
        doc.w,
        "| subtitle tracks | master in hand | first segments in hand | a track's playlist + WebVTT |\n\
         |---|---|---|---|"
    );
    for (key, label) in [("none", "none"), ("ten", "ten")] {
        let sub = pluck(&s[key], &["subtitle_ms"]);
        let _ = writeln!(
            doc.w,
            "| {label} | {} | {} | {} |",
            mmm(&pluck(&s[key], &["master_ms"]), msf),
            mmm(&pluck(&s[key], &["both_ms"]), msf),
            if sub.is_empty() {
                "–".to_string()
            } else {
                mmm(&sub, msf)
            }
        );
    }
    let (ten, none) = (
        pluck(&s["ten"], &["both_ms"]),
        pluck(&s["none"], &["both_ms"]),
    );
    let ratio = med(&ten) / med(&none);
    let met = ratio <= BOUND;
    let _ = writeln!(
        doc.w,
        "\nWith ten tracks against none: **{ratio:.2}×** (target: not slower, ≤ {BOUND:.2}× as \
         start-up varies by more than that between runs of one file).\n"
    );
    doc.summary.push(Verdict {
        what: "start-up with ten subtitle tracks".into(),
        measured: msf(med(&ten)),
        baseline: format!("no subtitles {}", msf(med(&none))),
        ratio: format!("{ratio:.2}×"),
        target: format!("≤ {BOUND:.2}×"),
        met: Some(met),
    });
    if !met {
        doc.misses.push(format!(
            "start-up with ten subtitle tracks: {ratio:.2}× the same file without (target ≤ \
             {BOUND:.2}×)"
        ));
    }
}
