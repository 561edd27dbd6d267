//! "3c. Time to first frame in a real browser" (SPEC §8): the player page in Chromium with
//! hls.js (playwright-core), the same generated sources per method, a fresh upload per run.

use std::fmt::Write as _;

use serde_json::Value;

use super::format::{mmm, msf};
use super::{pluck, Doc, Run};

pub(super) fn section(doc: &mut Doc, run: &Run, ttff: Option<&Value>) {
    let _ = writeln!(doc.w, "## 3c. Time to first frame in a real browser\n");
    let Some(t) = ttff else {
        let _ = writeln!(
            doc.w,
            "Not run (the `ttff` phase needs Chromium and node).\n"
        );
        return;
    };
    let _ = writeln!(
        doc.w,
        "Debian's Chromium driven by playwright-core opens the player page (a fresh profile per \
         run) and plays a media uploaded afresh for that run (nothing made yet): from the click \
         on play (the stream request goes out at once) to the first `playing` event, and to \
         `currentTime` ≥ 1 s; then a seek to the middle (to playing past middle + 0.5 s); for an \
         HLS ladder, a switch to its lowest rung with hls.js's `currentLevel` (which drops the \
         buffer ahead), to that rung's first fragment loaded and the video playing on. Sources: \
         the 30 s 1080p files of section 3 (an MP4 copy of the H.264/AAC file for `direct_play`, \
         a QuickTime copy of it for `remux`). Median of {} [min – max]:\n",
        run.runs
    );
    let _ = writeln!(
        doc.w,
        "| method | delivery | first frame | 1 s played | seek to the middle | ABR switch down |\n\
         |---|---|---|---|---|---|"
    );
    for c in t["cases"].as_array().cloned().unwrap_or_default() {
        let runs = &c["runs"];
        let col = |k: &str| {
            let v = pluck(runs, &[k]);
            if v.is_empty() {
                "–".to_string()
            } else {
                mmm(&v, msf)
            }
        };
        let delivery = runs
            .as_array()
            .and_then(|r| r.first())
            .and_then(|r| r["delivery"].as_str())
            .unwrap_or("?")
            .to_string();
        let _ = writeln!(
            doc.w,
            "| {} | {delivery} | {} | {} | {} | {} |",
            c["name"].as_str().unwrap_or("?"),
            col("firstFrameMs"),
            col("oneSecondMs"),
            col("seekMs"),
            col("switchMs"),
        );
    }
    let _ = writeln!(doc.w);
}
