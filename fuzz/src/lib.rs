//! What more than one fuzz target checks: the invariants of the playlists `stream_core::hls`
//! writes (RFC 8216 and SPEC §3/§4), read back from the text a player would get, so a target
//! that reaches a playlist by any road (an arbitrary plan, or a probe of arbitrary ffprobe
//! JSON through the decision and the ladder) holds it to the same rules.

use stream_core::hls::ladder::RenditionSet;
use stream_core::hls::plan::SegmentPlan;
use stream_core::hls::playlist::{self, SegmentUris};
use stream_core::playback::decision::SegmentFormat;
use stream_core::segment::{parse_segment_name, SegmentName};

/// `#EXTINF:<secs>.<micros>,` as microseconds (u128: a saturated u64 of micros must not wrap
/// when rounded).
fn extinf_micros(line: &str) -> u128 {
    let v = line
        .strip_prefix("#EXTINF:")
        .and_then(|v| v.strip_suffix(','))
        .unwrap_or_else(|| panic!("malformed EXTINF line {line:?}"));
    let (secs, frac) = v.split_once('.').expect("EXTINF has a fraction");
    assert_eq!(frac.len(), 6, "EXTINF prints microseconds: {line:?}");
    secs.parse::<u128>().expect("EXTINF seconds") * 1_000_000
        + frac.parse::<u128>().expect("EXTINF micros")
}

/// Checks the plan itself: indices in order, contiguous, every segment of positive length,
/// starting at 0 and ending at the media's end.
pub fn check_plan(plan: &SegmentPlan) {
    assert!(!plan.is_empty(), "a plan has at least one segment");
    let mut prev_end = 0.0;
    for (i, s) in plan.segments.iter().enumerate() {
        assert_eq!(s.index as usize, i, "segments are indexed in order");
        assert!(s.duration > 0.0, "segment {i} has no length: {s:?}");
        let gap = (s.start - prev_end).abs();
        assert!(
            gap <= 1e-9 * prev_end.abs().max(1.0),
            "segment {i} does not start where the previous one ends: {prev_end} vs {s:?}"
        );
        prev_end = s.end();
    }
    let gap = (prev_end - plan.total).abs();
    assert!(
        gap <= 1e-9 * plan.total.abs().max(1.0),
        "the last segment ends at {prev_end}, the media at {}",
        plan.total
    );
}

/// Renders the variant playlist of `plan` twice (bare names, and with `uris`) and checks:
/// `EXT-X-TARGETDURATION` >= every EXTINF rounded to the nearest integer (RFC 8216 4.3.3.1);
/// one EXTINF and one URI per planned segment, in order, whose file name parses back with
/// `parse_segment_name` as that segment; no URI that breaks its line (the text with `uris`
/// has exactly the lines of the bare one) or carries a control character, space or `"`.
pub fn check_variant(plan: &SegmentPlan, format: SegmentFormat, uris: SegmentUris<'_>) {
    let bare = playlist::variant(plan, format, SegmentUris::relative(""));
    let text = playlist::variant(plan, format, uris);
    let bare_lines: Vec<&str> = bare.split('\n').collect();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(
        lines.len(),
        bare_lines.len(),
        "the prefix or query added or removed a line"
    );
    assert_eq!(lines.last(), Some(&""), "the text ends with a newline");
    assert_eq!(lines[0], "#EXTM3U");
    let target: u128 = lines
        .iter()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .expect("a target duration")
        .parse()
        .expect("an integer target duration");
    let mut index = 0u32;
    let mut sum: u128 = 0;
    for (n, line) in bare_lines.iter().enumerate() {
        let with_uris = lines[n];
        if line.starts_with("#EXTINF:") {
            assert_eq!(*line, with_uris, "EXTINF does not depend on the URIs");
            let us = extinf_micros(line);
            assert!(
                (us + 500_000) / 1_000_000 <= target,
                "EXTINF {line} rounds above EXT-X-TARGETDURATION:{target}"
            );
            sum += us;
            let name = bare_lines[n + 1];
            let expected = SegmentName::Media { index, format };
            assert_eq!(parse_segment_name(name), Some(expected), "URI {name:?}");
            let uri = lines[n + 1];
            assert!(uri.contains(name), "{uri:?} names {name:?}");
            assert!(
                !uri.bytes()
                    .any(|b| b.is_ascii_control() || b == b' ' || b == b'"'),
                "URI {uri:?} carries a character that can break the playlist"
            );
            index += 1;
        }
        if let Some(map) = line.strip_prefix("#EXT-X-MAP:URI=") {
            assert_eq!(map, "\"init.mp4\"");
            let map = with_uris
                .strip_prefix("#EXT-X-MAP:URI=\"")
                .and_then(|m| m.strip_suffix('"'))
                .expect("a quoted EXT-X-MAP URI");
            assert!(
                !map.contains('"'),
                "EXT-X-MAP URI {map:?} ends its quotes early"
            );
        }
    }
    assert_eq!(index as usize, plan.len(), "one EXTINF per segment");
    // The printed durations add up to the printed (rounded) total: they are differences of
    // rounded boundaries (`Segment::extinf_micros`).
    let last = plan.segments.last().expect("a plan has a segment");
    let total = (last.end() * 1e6).round().max(0.0) as u64;
    assert_eq!(
        sum,
        u128::from(total),
        "EXTINF sum vs the end of the last segment"
    );
}

/// Renders the master playlist of `set` with and without `token_query` and checks: the query
/// adds no line, every URI line is a rendition playlist (`<id>/playlist.m3u8`) without a
/// character that can break the playlist, one per video rendition (or the audio one alone),
/// and every quoted attribute value closes on its own line.
pub fn check_master(set: &RenditionSet, start: Option<f64>, token_query: &str) {
    let bare = playlist::master(set, start, "");
    let text = playlist::master(set, start, token_query);
    let bare_lines: Vec<&str> = bare.split('\n').collect();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), bare_lines.len(), "the query added a line");
    assert_eq!(lines[0], "#EXTM3U");
    let mut uris = 0;
    for (line, bare_line) in lines.iter().zip(&bare_lines) {
        assert_eq!(
            line.matches('"').count() % 2,
            0,
            "an unclosed quoted attribute: {line:?}"
        );
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        uris += 1;
        assert!(
            bare_line.ends_with(&format!("/{}", playlist::PLAYLIST_NAME)),
            "{bare_line:?} is a rendition playlist"
        );
        assert!(
            !line
                .bytes()
                .any(|b| b.is_ascii_control() || b == b' ' || b == b'"'),
            "URI {line:?} carries a character that can break the playlist"
        );
    }
    let expected = if set.video.is_empty() {
        usize::from(set.audio.is_some())
    } else {
        set.video.len()
    };
    assert_eq!(uris, expected, "one variant URI per video rendition");
}
