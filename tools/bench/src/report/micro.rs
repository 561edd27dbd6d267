//! "1. Micro-benchmarks (criterion)": the decision, plans, playlists and token checks, each the
//! median of the runs' criterion medians, against the absolute 1 ms of SPEC §8.

use std::fmt::Write as _;

use super::format::{med, mmm, ns};
use super::summary::Verdict;
use super::{f, read_json, Doc, Run};

/// (benchmark id, what it measures, the criterion median of every run in ns).
pub(super) type Row = (String, String, Vec<f64>);

/// The benchmarks of `micro.rs`, in the order of the table.
const ROWS: &[(&str, &str)] = &[
    (
        "decision_decide",
        "`decide`: a typical probe (2 h 1080p HEVC Main 10, E-AC-3 5.1 + AAC, MKV) against the \
         `generic` profile → transcode",
    ),
    (
        "decision_with_caps_parsing",
        "the same with what the stream handler does around it: capabilities from the query \
         (`from_query`) + `select_audio` + `decide`",
    ),
    (
        "plan_copy_2h",
        "`plan_copy`: the segment plan of the 2 h film from its keyframe index (3,597 keyframes, \
         ~2 s apart, 6 s target)",
    ),
    (
        "plan_transcode_2h",
        "`plan_transcode`: the fixed plan of the same film (4 s, first segments 1+1+2 s: 1,802 \
         segments)",
    ),
    (
        "ladder_build",
        "`ladder::build`: the rendition set of the transcode (4 rungs + audio; done when a session \
         is opened, then cached per process for 5 s)",
    ),
    (
        "playlist_master",
        "`playlist::master`: the master playlist of that set, session token on every URI",
    ),
    (
        "playlist_variant_1800",
        "`playlist::variant`: a 1,800-segment variant playlist (2 h in 4 s segments, token on \
         every URI)",
    ),
    (
        "jwt_verify_hs256",
        "`TokenVerifier::verify`: a bearer JWT, HS256 (header, signature, exp/sub, roles)",
    ),
    (
        "session_token_verify",
        "`SessionTokens::verify`: the HMAC-SHA256 session token of every HLS request",
    ),
    ("session_token_mint", "`SessionTokens::mint`"),
];

/// micro/run<i>/<id>.json (criterion's estimates) of every run.
pub(super) fn load(run: &Run) -> Vec<Row> {
    let (dir, runs) = (run.dir, run.runs);
    let mut micro: Vec<Row> = vec![];
    for (id, what) in ROWS {
        let v: Vec<f64> = (1..=runs * 2)
            .filter_map(|i| read_json(&dir.join(format!("micro/run{i}/{id}.json"))))
            .map(|j| f(&j["median"]["point_estimate"]))
            .filter(|x| x.is_finite())
            .collect();
        micro.push((id.to_string(), what.to_string(), v));
    }
    micro
}

pub(super) fn section(doc: &mut Doc, run: &Run, micro: &[Row]) {
    verdict(doc, micro);
    let (w, runs) = (&mut doc.w, run.runs);
    let _ = writeln!(w, "## 1. Micro-benchmarks (criterion)\n");
    let _ = writeln!(
        w,
        "SPEC §8: \"decision and playlist handlers: microseconds, not milliseconds\". The baseline \
         is absolute: 1 ms. Time per call, the median of the {runs} criterion medians [min – max \
         of them]:\n"
    );
    let _ = writeln!(
        w,
        "| benchmark | what | time per call | ≪ 1 ms |\n|---|---|---|---|"
    );
    for (id, what, v) in micro {
        if v.is_empty() {
            continue;
        }
        let _ = writeln!(
            w,
            "| `{id}` | {what} | {} | {} |",
            mmm(v, ns),
            if med(v) < 1e6 { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(
        w,
        "\n\
         Source: `tools/bench/benches/micro.rs`. The JWT check is `async` (a JWKS key may need a \
         fetch) and is driven through a current-thread runtime's `block_on`, which adds well under \
         a microsecond.\n"
    );
}

/// The slowest benchmark against 1 ms.
fn verdict(doc: &mut Doc, micro: &[Row]) {
    let micro_max = micro
        .iter()
        .filter(|r| !r.2.is_empty())
        .map(|r| med(&r.2))
        .fold(f64::NAN, f64::max);
    if micro.iter().any(|r| !r.2.is_empty()) {
        let slowest = micro
            .iter()
            .filter(|r| !r.2.is_empty())
            .max_by(|a, b| med(&a.2).total_cmp(&med(&b.2)))
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let met = micro_max < 1e6;
        doc.summary.push(Verdict {
            what: "Decision, plans, playlists, tokens (micro)".into(),
            measured: format!("slowest: `{slowest}` {}", ns(micro_max)),
            baseline: "1 ms (absolute)".into(),
            ratio: format!("{:.3} ms", micro_max / 1e6),
            target: "microseconds, not milliseconds".into(),
            met: Some(met),
        });
        if !met {
            doc.misses.push(format!(
                "**Micro**: `{slowest}` takes {} (median), more than a millisecond.",
                ns(micro_max)
            ));
        }
    }
}
