//! "7. Edge delivery": what one viewer, two and ten viewers of one transcode session cost the
//! origins in the cloud shape (`cargo lambda watch`, LocalStack, DynamoDB Local, behind the CDN
//! stand-in configured by the template), counted by the end-to-end test
//! (`tests/tests/cloud_e2e.rs`, run by the bench with `STREAM_EDGE_FIGURES`): requests at the
//! CDN's origins, and the S3, DynamoDB and Lambda calls at counting taps in front of the
//! emulators. And a made segment's time to first byte through the edge against the session
//! route's redirect to a presigned URL (the path before edge delivery), same run.

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{med, mmm, msf};
use super::summary::Verdict;
use super::Doc;

fn n(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

/// (function invocations, bucket and S3 reads, DynamoDB reads, DynamoDB writes) of a viewer.
fn costs(v: &Value) -> [f64; 4] {
    [
        n(v, "function_segment_requests") + n(v, "transcode_invocations"),
        n(v, "bucket_reads_by_cdn") + n(v, "s3_gets_by_functions"),
        n(v, "dynamodb_reads"),
        n(v, "dynamodb_writes"),
    ]
}

fn per(x: f64, pieces: f64) -> String {
    if pieces > 0.0 {
        format!("{x:.0} ({:.2})", x / pieces)
    } else {
        format!("{x:.0}")
    }
}

// Long because it is one table per question (the counts, the times), written row by row.
pub(super) fn section(doc: &mut Doc, edge: Option<&Value>) {
    let w = &mut doc.w;
    let _ = writeln!(
        w,
        "## 7. Edge delivery: what each viewer costs the origins\n"
    );
    let Some(e) = edge else {
        let _ = writeln!(
            w,
            "Needs the `edge` phase (the cloud stack and cargo-lambda).\n"
        );
        return;
    };
    let pieces = n(e, "pieces");
    let _ = writeln!(
        w,
        "Source: {}; {} pieces (init and media segments of every rendition). Viewer 1 and viewers \
         3-10 play every rendition with ffmpeg (`-map 0`), viewer 2 plays one rung with hls.js \
         in Chromium ({} fragments). Each viewer is another user with its own session, so each \
         also opens a session and reads its playlists (the API requests). Counted at the CDN \
         stand-in's origins and at taps in front of S3, DynamoDB and the Invoke API; in \
         parentheses, per piece.\n",
        e["source"].as_str().unwrap_or("?"),
        pieces,
        n(e, "hls_js_fragments"),
    );
    let _ = writeln!(
        w,
        "| viewers | function invocations for segments (hls + transcode) | API requests \
         (stream, playlists) | bucket reads + S3 GETs | DynamoDB reads | DynamoDB writes | \
         CDN cache hits |\n|---|---|---|---|---|---|---|"
    );
    let rows = [
        ("viewer 1 (nothing made yet)", &e["viewer_1"], 1.0),
        ("viewer 2 (hls.js)", &e["viewer_2_hls_js"], 1.0),
        ("viewers 3 to 10, together", &e["viewers_3_to_10"], 8.0),
    ];
    for (label, v, viewers) in rows {
        let c = costs(v);
        let p = pieces * viewers;
        let _ = writeln!(
            w,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            per(c[0], p),
            n(v, "function_api_requests"),
            per(c[1], p),
            per(c[2], p),
            per(c[3], p),
            n(v, "cache_hits"),
        );
    }
    let later: Vec<[f64; 4]> = [&e["viewer_2_hls_js"], &e["viewers_3_to_10"]]
        .into_iter()
        .map(costs)
        .collect();
    let zero = later.iter().all(|c| c[0] == 0.0 && c[1] == 0.0);
    let _ = writeln!(
        w,
        "\nFor 1, 2 and 10 viewers the segment work is the first viewer's: {} function \
         invocations and {} bucket/S3 reads in all, whatever the number of viewers; the later \
         viewers' DynamoDB reads are their own sessions' (the stream request and the playlists), \
         none per segment.\n",
        costs(&e["viewer_1"])[0],
        costs(&e["viewer_1"])[1],
    );
    doc.summary.push(Verdict {
        what: "Edge: per made segment, 2nd to 10th viewer".into(),
        measured: format!(
            "{} function invocations, {} bucket reads",
            later.iter().map(|c| c[0]).sum::<f64>(),
            later.iter().map(|c| c[1]).sum::<f64>()
        ),
        baseline: format!("viewer 1: {}", costs(&e["viewer_1"])[0]),
        ratio: "–".into(),
        target: "0 and 0".into(),
        met: Some(zero),
    });
    if !zero {
        doc.misses
            .push("Edge: a later viewer's segments reached a function or the bucket".to_string());
    }
    let t = &e["ttfb"];
    let list = |k: &str| -> Vec<f64> {
        t[k].as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let (edge, redirect) = (list("edge_ms"), list("redirect_ms"));
    if !edge.is_empty() && !redirect.is_empty() {
        let _ = writeln!(
            w,
            "**Time to first byte of a made segment** ({} runs each, alternated, on loopback): \
             through the edge (a cache hit) {}; the session route's `302` to a presigned URL, \
             followed (the path before edge delivery: a function invocation, a DynamoDB read, a \
             presign, then S3) {}: the edge answers in {:.2}× the time, and the redirect's cost \
             would grow with every network round trip a real client adds.\n",
            edge.len(),
            mmm(&edge, msf),
            mmm(&redirect, msf),
            med(&edge) / med(&redirect).max(f64::MIN_POSITIVE),
        );
    }
}
