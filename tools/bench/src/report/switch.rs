//! "3b. The segment a player waits for while read-ahead runs" (SPEC §4 "Scheduling", §8): an
//! ABR switch and a seek while the read-ahead of the rung being played runs, each against
//! ffmpeg alone making that segment in the same run, and an init asked for after its segment.

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{med, mmm, msf};
use super::summary::Verdict;
use super::{pluck, Doc, Run};

pub(super) fn section(doc: &mut Doc, run: &Run, switch: Option<&Value>) {
    let _ = writeln!(
        doc.w,
        "## 3b. The segment a player waits for while read-ahead runs\n"
    );
    let Some(s) = switch else {
        let _ = writeln!(doc.w, "Not run.\n");
        return;
    };
    let _ = writeln!(
        doc.w,
        "Source {} ({} segments), an H.264/AAC client (`transcode`): top rung {}, lowest {}. Each \
         streamd run uploads the file afresh (nothing made yet), plays the top rung's init and \
         segment 0 (its read-ahead then queued and running on the cores), and times from that \
         moment: **ABR switch**: the lowest rung's init and segment 1, as hls.js asks after \
         switching down; **seek**: the top rung's last segment; **init after segment** (another \
         fresh session): the top rung's init asked for after its segment 2. The baseline is \
         ffmpeg alone making that segment with the workers' exact arguments, alternated with \
         streamd run by run. Median of {} [min – max]:\n",
        s["file"].as_str().unwrap_or("?"),
        s["segments"],
        s["top"].as_str().unwrap_or("?"),
        s["low"].as_str().unwrap_or("?"),
        run.runs
    );
    let _ = writeln!(
        doc.w,
        "| what | streamd | ffmpeg alone, same segment | ratio | target |\n|---|---|---|---|---|"
    );
    for c in s["cases"].as_array().cloned().unwrap_or_default() {
        row(doc, &c);
    }
    let _ = writeln!(doc.w);
}

fn row(doc: &mut Doc, c: &Value) {
    let what = c["what"].as_str().unwrap_or("");
    let sv = pluck(&c["streamd"], &["ms"]);
    let fv = pluck(&c["ffmpeg"], &["ms"]);
    let label = match what {
        "switch" => "ABR switch (lowest rung: init + segment 1)",
        "seek" => "seek while read-ahead runs (top rung: last segment)",
        _ => "init after its segment",
    };
    if fv.is_empty() {
        let _ = writeln!(
            doc.w,
            "| {label} | {} | – | – | made at once |",
            mmm(&sv, msf)
        );
        return;
    }
    let ratio = med(&sv) / med(&fv);
    let met = ratio <= 1.25;
    let _ = writeln!(
        doc.w,
        "| {label} | {} | {} | **{ratio:.2}×** | ≤ 1.25× |",
        mmm(&sv, msf),
        mmm(&fv, msf)
    );
    doc.summary.push(Verdict {
        what: format!("{label}, read-ahead running"),
        measured: msf(med(&sv)),
        baseline: format!("ffmpeg alone {}", msf(med(&fv))),
        ratio: format!("{ratio:.2}×"),
        target: "≤ 1.25×".into(),
        met: Some(met),
    });
    if !met {
        doc.misses.push(format!(
            "{label}: {ratio:.2}× ffmpeg alone (target ≤ 1.25×)"
        ));
    }
}
