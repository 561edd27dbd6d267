//! "3. Time to first segment": streamd against ffmpeg alone making the same segment, where
//! streamd's time goes, the ffmpeg commands, and the diagnostics of the transcode start.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::format::{med, mmm, msf, shell, tidy};
use super::summary::Verdict;
use super::{args_of, f, pluck, read_json, Doc, Run};

pub(super) fn section(doc: &mut Doc, run: &Run, ttfs: Option<&Value>) {
    let runs = run.runs;
    let _ = writeln!(doc.w, "## 3. Time to first segment\n");
    let Some(t) = ttfs else {
        let _ = writeln!(doc.w, "Not run.\n");
        return;
    };
    let w = &mut doc.w;
    let _ = writeln!(
        w,
        "From the stream request to the last byte of the first media segment, as a player starts: \
         `GET /api/v1/stream/{{id}}?<caps>` (JSON) → master playlist → the first listed variant's \
         playlist → `init.mp4` → the segment (each segment request redirected to `/objects/…`, \
         followed), with the audio rendition's playlist → init → segment in parallel. Every \
         streamd run uses a **fresh upload** (a new media id, so no content-keyed segment exists \
         yet) and starts with idle workers. The baseline is **ffmpeg alone making the same \
         segment** from the same file, with the workers' exact arguments \
         (`stream_media::transcode::args::video_args` for that segment of the same rung; the audio with \
         `audio_args` cut to that segment, run in parallel): one run that writes init + media. \
         \"video\" is the video segment alone; \"+ audio\" is when both are in hand (what playback \
         needs). Median of {runs} [min – max]:\n"
    );
    let _ = writeln!(
        w,
        "| method (source → rendition) | position | streamd video | ffmpeg video | ratio | streamd \
         video + audio | ffmpeg video + audio | ratio | target |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for c in t["cases"].as_array().cloned().unwrap_or_default() {
        let (method, position, sv, fv, rv) = case_row(&mut doc.w, &c);
        verdicts(doc, &method, &position, &sv, &fv, rv);
    }
    breakdown(&mut doc.w, t);
    commands(&mut doc.w, t, run.root);
    diagnostics_table(&mut doc.w, run);
}

/// One case's row of the table; returns (method, position, streamd's and ffmpeg's video times,
/// their ratio) for the verdicts.
fn case_row(w: &mut String, c: &Value) -> (String, String, Vec<f64>, Vec<f64>, f64) {
    let method = c["method"].as_str().unwrap_or("").to_string();
    let position = c["position"].as_str().unwrap_or("").to_string();
    let sv = pluck(&c["streamd"], &["video_ms"]);
    let sb = pluck(&c["streamd"], &["both_ms"]);
    let fv = pluck(&c["ffmpeg"], &["video_ms"]);
    let fb = pluck(&c["ffmpeg"], &["both_ms"]);
    let rv = med(&sv) / med(&fv);
    let rb = med(&sb) / med(&fb);
    let pos = if position == "middle" {
        format!(
            "middle (start={}, segment {} at {:.0} s, {:.0} s long)",
            f(&c["start_seconds"]),
            c["segment_index"],
            f(&c["segment_start"]),
            f(&c["segment_duration"])
        )
    } else {
        format!("start (segment 0, {:.0} s long)", f(&c["segment_duration"]))
    };
    let target = match method.as_str() {
        "transcode" => "≤ 1.25× (and ≤ 1.0 s absolute)".to_string(),
        "remux" => "≤ 0.5 s absolute".to_string(),
        _ => "≤ 1.25× (as transcode)".to_string(),
    };
    let _ =
        writeln!(
        w,
        "| {method} ({} → {} {}{}) | {pos} | {} | {} | **{:.2}×** | {} | {} | {:.2}× | {target} |",
        c["file"].as_str().unwrap_or(""),
        c["rendition"].as_str().unwrap_or(""),
        c["rendition_size"].as_str().unwrap_or(""),
        if c["video_copy"].as_bool() == Some(true) { ", copied" } else { "" },
        mmm(&sv, msf),
        mmm(&fv, msf),
        rv,
        mmm(&sb, msf),
        mmm(&fb, msf),
        rb
    );
    (method, position, sv, fv, rv)
}

/// The verdicts of one case: the ratio to ffmpeg alone (transcodes), the absolute bound (the
/// transcode start, remux).
fn verdicts(doc: &mut Doc, method: &str, position: &str, sv: &[f64], fv: &[f64], rv: f64) {
    match method {
        "transcode" | "transcode_audio" => {
            let met = rv <= 1.25;
            doc.summary.push(Verdict {
                what: format!("TTFS {method}, {position}: streamd vs ffmpeg alone"),
                measured: msf(med(sv)),
                baseline: format!("ffmpeg {}", msf(med(fv))),
                ratio: format!("{rv:.2}×"),
                target: "≤ 1.25×".into(),
                met: Some(met),
            });
            if !met {
                doc.misses.push(format!(
                    "**TTFS {method} ({position})**: {rv:.2}× ffmpeg alone ({} vs {}), {:.0} % \
                     over the 1.25× bound.",
                    msf(med(sv)),
                    msf(med(fv)),
                    (rv / 1.25 - 1.0) * 100.0
                ));
            }
            if method == "transcode" && position == "start" {
                let met = med(sv) <= 1000.0;
                doc.summary.push(Verdict {
                    what: "TTFS transcode 1080p HEVC 10-bit, start (absolute)".into(),
                    measured: msf(med(sv)),
                    baseline: "1.0 s (absolute)".into(),
                    ratio: format!("{:.2}×", med(sv) / 1000.0),
                    target: "≤ 1.0 s".into(),
                    met: Some(met),
                });
                if !met {
                    doc.misses.push(format!(
                        "**TTFS transcode, absolute**: {} from the stream request to the first \
                         segment, {} over the 1.0 s bound.",
                        msf(med(sv)),
                        msf(med(sv) - 1000.0)
                    ));
                }
            }
        }
        "remux" => {
            let met = med(sv) <= 500.0;
            doc.summary.push(Verdict {
                what: format!("TTFS remux, {position} (absolute)"),
                measured: msf(med(sv)),
                baseline: format!("0.5 s; ffmpeg alone {}", msf(med(fv))),
                ratio: format!("{rv:.2}× ffmpeg"),
                target: "≤ 0.5 s".into(),
                met: Some(met),
            });
            if !met {
                doc.misses.push(format!(
                    "**TTFS remux ({position})**: {} to the first segment, {} over 0.5 s.",
                    msf(med(sv)),
                    msf(med(sv) - 500.0)
                ));
            }
        }
        _ => {}
    }
}

/// Where streamd's time goes: the medians of every step, cumulative.
fn breakdown(w: &mut String, t: &Value) {
    let _ = writeln!(
        w,
        "\n\
         Where streamd's time goes (medians, cumulative from the stream request; the video leg):\n"
    );
    let _ = writeln!(
        w,
        "| method | position | stream request | master | media playlist | `init.mp4` in hand | \
         segment in hand | audio segment in hand | 503s |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for c in t["cases"].as_array().cloned().unwrap_or_default() {
        let s = &c["streamd"];
        let retries: f64 = pluck(s, &["video", "retries_503"]).iter().sum::<f64>()
            + pluck(s, &["audio", "retries_503"]).iter().sum::<f64>();
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c["method"].as_str().unwrap_or(""),
            c["position"].as_str().unwrap_or(""),
            msf(med(&pluck(s, &["stream_ms"]))),
            msf(med(&pluck(s, &["master_ms"]))),
            msf(med(&pluck(s, &["video", "playlist_ms"]))),
            msf(med(&pluck(s, &["video", "init_ms"]))),
            msf(med(&pluck(s, &["video", "segment_ms"]))),
            msf(med(&pluck(s, &["audio", "segment_ms"]))),
            retries
        );
    }
}

/// The ffmpeg baseline commands, with the bench's paths shortened.
fn commands(w: &mut String, t: &Value, root: &str) {
    let _ = writeln!(
        w,
        "\n\
         <details><summary>The ffmpeg baseline commands (exactly the workers' arguments; output \
         read from the pipe and discarded)</summary>\n"
    );
    for c in t["cases"].as_array().cloned().unwrap_or_default() {
        let _ = writeln!(
            w,
            "{} / {}:\n\n```sh\nffmpeg {}\n",
            c["method"].as_str().unwrap_or(""),
            c["position"].as_str().unwrap_or(""),
            tidy(&shell(&args_of(&c["ffmpeg_video_args"])), root)
        );
        if c["ffmpeg_audio_args"].is_array() {
            let _ = writeln!(
                w,
                "ffmpeg {}",
                tidy(&shell(&args_of(&c["ffmpeg_audio_args"])), root)
            );
        }
        let _ = writeln!(w, "```\n");
    }
    let _ = writeln!(w, "</details>\n");
}

/// The diagnostics' table (ttfs-diag.json), when they ran.
fn diagnostics_table(w: &mut String, run: &Run) {
    let (dir, runs) = (run.dir, run.runs);
    let diags = diagnostics(dir);
    if !diags.is_empty() {
        let _ = writeln!(
            w,
            "**Diagnostics of the transcode case** (same source and client, a fresh upload per \
             run; two streamd side by side, one at its defaults and one with \
             `STREAM_READ_AHEAD=0`; all configurations and ffmpeg alone interleaved in one loop, \
             in a rotating order, {runs} runs each): what the time is made of. *Read-ahead 0*: \
             nothing else encodes while the requested segment does. *Init and segment together*: \
             the client asks for `init.mp4` and the segment at once instead of one after the other \
             (a partial stand-in for a server that makes both in one run: here two ffmpeg runs \
             still start and share the cores).\n"
        );
        let _ = writeln!(
            w,
            "| position | configuration | `init.mp4` in hand | segment in hand (streamd) | ffmpeg \
             alone | ratio |\n\
             |---|---|---|---|---|---|"
        );
        for d in &diags {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {} | {:.2}× |",
                d.position,
                d.label,
                msf(d.init_ms),
                mmm(&d.streamd, msf),
                mmm(&d.ffmpeg, msf),
                d.ratio()
            );
        }
        let _ = writeln!(w);
    }
}

// ---------------------------------------------------------------------------------------------
// TTFS diagnostics

/// One configuration of ttfs-diag.json at one position.
pub(super) struct Diag {
    pub label: String,
    pub position: String,
    pub init_ms: f64,
    pub streamd: Vec<f64>,
    pub ffmpeg: Vec<f64>,
}

impl Diag {
    pub fn ratio(&self) -> f64 {
        med(&self.streamd) / med(&self.ffmpeg)
    }
}

/// ttfs-diag.json: the transcode start and seek with and without read-ahead, init and segment
/// asked for in a row or together.
pub(super) fn diagnostics(dir: &Path) -> Vec<Diag> {
    let mut out = vec![];
    let Some(j) = read_json(&dir.join("ttfs-diag.json")) else {
        return out;
    };
    for c in j["cases"].as_array().cloned().unwrap_or_default() {
        let ffmpeg = pluck(&c["configs"]["ffmpeg"], &["video_ms"]);
        for (name, label) in [
            ("default", "read-ahead 3 (default), init then segment"),
            ("ra0", "read-ahead 0, init then segment"),
            ("par", "read-ahead 3, init and segment together"),
            ("ra0par", "read-ahead 0, init and segment together"),
        ] {
            let runs = &c["configs"][name];
            if !runs.is_array() {
                continue;
            }
            out.push(Diag {
                label: label.into(),
                position: c["position"].as_str().unwrap_or("start").to_string(),
                init_ms: med(&pluck(runs, &["video", "init_ms"])),
                streamd: pluck(runs, &["video_ms"]),
                ffmpeg: ffmpeg.clone(),
            });
        }
    }
    out
}
