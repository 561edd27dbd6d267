//! "6. Cloud model": the measured per-segment costs scaled to a 2-hour film's whole ladder on
//! Lambda (a model, not a measurement).

use std::fmt::Write as _;

use super::format::num;
use super::ladder::CostRow;
use super::Run;

/// A 2-hour film (s).
const FILM: f64 = 7200.0;
/// GB of a 3008 MB function (billed by GB-s).
const GB: f64 = 3008.0 / 1024.0;
/// $ per GB-s.
const PRICE: f64 = 0.0000133334;
/// $ per request.
const REQ_PRICE: f64 = 0.20 / 1e6;
/// s per job: invoke + claim/complete writes + S3 range reads and PUT.
const OVERHEAD: f64 = 0.25;
/// s per new execution environment (container image with ffmpeg).
const COLD: f64 = 2.0;

pub(super) fn section(w: &mut String, run: &Run, cost_rows: &[CostRow]) {
    let _ = writeln!(
        w,
        "## 6. Cloud model: a 2-hour film's whole ladder on Lambda\n"
    );
    if cost_rows.is_empty() {
        let _ = writeln!(w, "Needs the per-segment costs (the `ladder` phase).\n");
        return;
    }
    let segs = stream_core::hls::plan::plan_transcode(FILM, 4.0, &[1.0, 1.0, 2.0])
        .map(|p| p.len())
        .unwrap_or(1802) as f64;
    assumptions(w, run, segs);
    let _ = writeln!(
        w,
        "| source kind | workers | wall time | billed compute (GB-s) | jobs | cost | of which \
         requests |\n\
         |---|---|---|---|---|---|---|"
    );
    for (label, rungs, audio_speed) in cost_rows {
        source_rows(w, label, rungs, *audio_speed, segs);
    }
    let _ = writeln!(
        w,
        "\n\
         The cost hardly depends on the number of workers (the same compute is billed, plus one \
         cold start each); the wall time does, until the single audio pass bounds it. Per viewer, \
         a transcode session that watches the whole film in one rung costs the rows' compute \
         divided by about the number of rungs (a quarter), and nothing for the second viewer of \
         the same rendition (content-keyed segments).\n"
    );
}

/// What the model is made of: the prices, the speed, the overheads, the audio pass.
fn assumptions(w: &mut String, run: &Run, segs: f64) {
    let (m, overhead, cold) = (&run.m, OVERHEAD, COLD);
    let _ = writeln!(
        w,
        "A model, not a measurement: the measured per-segment costs above, scaled to a 2-hour film \
         (7,200 s: {segs:.0} segments per rendition in the default plan, 4 s each after 1 + 1 + 2 \
         s) and its ladder 1080p/720p/480p/360p + one AAC pass. Assumptions:\n\n\
         - **Prices** (given in the brief; they match AWS's public Lambda price list for arm64 in \
         us-east-1, not re-checked from this offline machine): $0.0000133334 per GB-s, $0.20 per \
         million requests. **3008 MB ≈ 2 vCPU**: Lambda gives CPU in proportion to memory (AWS's \
         documentation: 1,769 MB is one vCPU, so 3008 MB is about 1.7 vCPU; if the encode is \
         CPU-bound and scales linearly, durations and cost are up to ~18 % higher than below).\n\
         - A transcode function runs **one job at a time** with the speed measured here with one \
         ffmpeg on 2 cores (x86-64 {}; Graviton arm64 runs x264 with NEON and is assumed to be as \
         fast per vCPU: ±30 %).\n\
         - Per job {overhead} s on top of ffmpeg (invoke, DynamoDB claim and completion, S3 range \
         reads of the source, S3 PUT of the segment: not measured here), {cold} s cold start per \
         execution environment (container image with ffmpeg), both billed.\n\
         - Video jobs are independent and spread evenly over the workers; the audio is **one \
         continuous pass** (SPEC §4), so it cannot be split: with many workers it bounds the wall \
         time. A 2-hour audio pass must also stay within Lambda's 15-minute limit.\n\
         - Just in time, a film is only encoded as far as it is watched, in the rungs that are \
         watched: this is the upper bound (every rung, every segment).\n",
        m.get("cpu").map_or("?", String::as_str)
    );
}

/// One source kind's rows: 1, 10 and 100 workers, and the inputs.
fn source_rows(w: &mut String, label: &str, rungs: &[(String, f64)], audio_speed: f64, segs: f64) {
    let (film, gb, price, req_price, overhead, cold) = (FILM, GB, PRICE, REQ_PRICE, OVERHEAD, COLD);
    let video_work: f64 = rungs.iter().map(|(_, t)| t * film / 4.0).sum();
    // Segments and inits, the audio pass and the audio init.
    let jobs = rungs.len() as f64 * (segs + 1.0) + 2.0;
    let audio_pass = if audio_speed.is_finite() {
        film / audio_speed
    } else {
        0.0
    };
    for workers in [1.0f64, 10.0, 100.0] {
        let job_overhead = jobs * overhead;
        let billed = video_work + audio_pass + job_overhead + workers * cold;
        let wall = if workers <= 1.0 {
            cold + video_work + audio_pass + job_overhead
        } else {
            cold + ((video_work + job_overhead + audio_pass) / workers).max(audio_pass)
        };
        let gbs = billed * gb;
        let cost = gbs * price + jobs * req_price;
        let _ = writeln!(
            w,
            "| {label} | {workers:.0} | {} | {} | {} | ${cost:.2} | ${:.4} |",
            if wall >= 3600.0 {
                format!("{:.1} h", wall / 3600.0)
            } else {
                format!("{:.1} min", wall / 60.0)
            },
            num(gbs),
            num(jobs),
            jobs * req_price
        );
    }
    let per_rung: Vec<String> = rungs
        .iter()
        .map(|(id, t)| format!("{id} {t:.2} s"))
        .collect();
    let _ = writeln!(
        w,
        "| | *inputs* | per 4 s segment: {}; audio pass {:.0}× real time ({:.0} s for 2 h) | | | | \
         |",
        per_rung.join(", "),
        audio_speed,
        if audio_speed.is_finite() { film / audio_speed } else { f64::NAN }
    );
}
