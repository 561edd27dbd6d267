//! The segment plan (SPEC §4): where every segment of a rendition starts and how long it is,
//! computed from the probe alone, so playlists are complete before a single segment exists.
//!
//! - Copied video ([`plan_copy`]) can only be cut at source keyframes: boundaries are the
//!   keyframes nearest the target after each start. With long or irregular GOPs a segment can
//!   exceed the target by more than Apple's 0.5 s; the playlist's `EXT-X-TARGETDURATION`
//!   ([`SegmentPlan::target_duration_tag`]) then covers the longest segment, which keeps the
//!   playlist valid per RFC 8216 (Apple's authoring rule cannot hold for such a source).
//! - Transcoded video ([`plan_transcode`]) has fixed boundaries where the encoder is told to
//!   force keyframes ([`SegmentPlan::keyframe_times`]), with short first segments for a fast
//!   start. The encoder places a forced keyframe on the first frame at or after each time, so
//!   a real segment can differ from its EXTINF by less than one frame; the sum stays exact.
//!
//! Both merge a tail shorter than [`MIN_TAIL`] into the segment before it. All segments of a
//! rendition set (video and the separate audio rendition) share one plan.

use serde::{Deserialize, Serialize};

/// A last segment shorter than this (seconds) is merged into the one before it.
pub const MIN_TAIL: f64 = 0.5;
/// Copied video: keyframes closer than this (seconds) to a segment's start are not used as
/// its end, so no segment is a sliver (a GOP of a few frames after a scene cut).
pub const MIN_SEGMENT: f64 = 0.5;
/// At most this many segments in a plan (a guard against absurd targets: 1 000 000 segments
/// of 1 s is more than eleven days).
pub const MAX_SEGMENTS: usize = 1_000_000;
/// The longest media a plan is made for (seconds; about 31 years). A container may claim any
/// duration, and the playlist prints durations as integer microseconds: past about 584 000
/// years they no longer fit, `EXTINF` saturated above `EXT-X-TARGETDURATION` (found by
/// `fuzz/fuzz_targets/playlists.rs`). No real file comes near this bound.
pub const MAX_DURATION: f64 = 1e9;
/// The shortest first-segment duration of a transcode plan (seconds): a microsecond, the
/// playlist's resolution. A shorter one could leave the boundary where it was (`t + f == t` in
/// floating point) and make a segment of no length (found by `fuzz/fuzz_targets/playlists.rs`).
pub const MIN_FIRST: f64 = 1e-6;
/// Default target of copied video (SPEC §4).
pub const COPY_TARGET: f64 = 6.0;
/// Default target of transcoded video (SPEC §4).
pub const TRANSCODE_TARGET: f64 = 4.0;
/// Default first segments of a transcode, for a fast start.
pub const TRANSCODE_FIRST: [f64; 3] = [1.0, 1.0, 2.0];

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub index: u32,
    /// Seconds from the start of the media.
    pub start: f64,
    pub duration: f64,
}

impl Segment {
    pub fn end(&self) -> f64 {
        self.start + self.duration
    }

    /// The segment's EXTINF in microseconds, as the playlist prints it: the difference of the
    /// rounded end and start, so the printed durations add up to the rounded total exactly
    /// (rounding each duration alone could drift by 0.5 us per segment).
    pub fn extinf_micros(&self) -> u64 {
        let micros = |t: f64| (t * 1e6).round().max(0.0) as u64;
        micros(self.end()).saturating_sub(micros(self.start))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentPlan {
    /// The configured target duration (seconds), not the playlist tag.
    pub target_duration: f64,
    pub segments: Vec<Segment>,
    /// The media duration; the sum of the segment durations.
    pub total: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("the media duration {0} is not a positive number of seconds up to {MAX_DURATION}")]
    Duration(f64),
    #[error("the target segment duration {0} is not a positive number of seconds")]
    Target(f64),
    #[error("a first-segment duration {0} is not a number of seconds of at least {MIN_FIRST}")]
    First(f64),
    #[error("the plan would have more than {MAX_SEGMENTS} segments")]
    TooManySegments,
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

impl SegmentPlan {
    /// A plan from ascending boundaries strictly inside `(0, total)`.
    fn from_boundaries(target: f64, total: f64, cuts: &[f64]) -> Result<SegmentPlan, PlanError> {
        if cuts.len() >= MAX_SEGMENTS {
            return Err(PlanError::TooManySegments);
        }
        let mut segments = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0.0;
        for (index, &end) in (0u32..).zip(cuts.iter().chain(std::iter::once(&total))) {
            segments.push(Segment {
                index,
                start,
                duration: end - start,
            });
            start = end;
        }
        Ok(SegmentPlan {
            target_duration: target,
            segments,
            total,
        })
    }

    /// `EXT-X-TARGETDURATION`: the largest EXTINF rounded to the nearest integer (RFC 8216
    /// 4.3.3.1), at least 1. Rounded from the value the playlist prints
    /// ([`Segment::extinf_micros`]), so a duration of 6.4999996 printed as `6.500000` counts as 7.
    pub fn target_duration_tag(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.extinf_micros().saturating_add(500_000) / 1_000_000)
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// The index of the segment holding `time` (seconds). Times before the start give the
    /// first segment, times at or past the end the last; None only for an empty plan.
    pub fn segment_at(&self, time: f64) -> Option<u32> {
        let last = self.segments.last()?;
        if time.is_nan() || time <= 0.0 {
            return Some(0);
        }
        // The first segment whose start is after `time`, minus one.
        let after = self.segments.partition_point(|s| s.start <= time);
        Some(after.checked_sub(1).map_or(0, |i| i as u32).min(last.index))
    }

    pub fn get(&self, index: u32) -> Option<&Segment> {
        self.segments.get(index as usize)
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The times (seconds) at which the encoder must force a keyframe for a transcode: the
    /// start of every segment but the first (the first frame is always one), for ffmpeg's
    /// `-force_key_frames`.
    pub fn keyframe_times(&self) -> Vec<f64> {
        self.segments.iter().skip(1).map(|s| s.start).collect()
    }
}

/// The plan of copied video: boundaries only at source keyframes, greedily the keyframe
/// nearest `start + target` after each start (the end of the media counts as a candidate too),
/// ignoring keyframes within [`MIN_SEGMENT`] of the start. Keyframes may be unsorted, repeated,
/// negative or past the end; the first segment starts at 0 even when the first keyframe does
/// not. Without usable keyframes the whole media is one segment.
pub fn plan_copy(keyframes: &[f64], duration: f64, target: f64) -> Result<SegmentPlan, PlanError> {
    if !positive(duration) || duration > MAX_DURATION {
        return Err(PlanError::Duration(duration));
    }
    if !positive(target) {
        return Err(PlanError::Target(target));
    }
    // Usable cut points: inside (0, duration - MIN_TAIL], sorted, unique.
    let mut kf: Vec<f64> = keyframes
        .iter()
        .copied()
        .filter(|&t| t.is_finite() && t > 1e-9 && t <= duration - MIN_TAIL + 1e-9)
        .collect();
    kf.sort_by(f64::total_cmp);
    kf.dedup_by(|a, b| (*a - *b).abs() < 1e-6);

    // Every cut is a distinct keyframe: sized by those, never by `duration / target` alone (a
    // container may claim any duration: 1e13 s of 6 s segments was a 13 TB allocation, and a
    // ratio past u64 overflowed; found by `fuzz/fuzz_targets/playlists.rs`).
    let mut cuts = Vec::with_capacity(kf.len().min((duration / target) as usize) + 1);
    let mut start = 0.0;
    let mut i = 0; // kf[..i] are at or before `start` + MIN_SEGMENT
    loop {
        while i < kf.len() && kf[i] < start + MIN_SEGMENT {
            i += 1;
        }
        if i == kf.len() {
            break;
        }
        let ideal = start + target;
        // The first candidate at or after the ideal, and the one before it (if usable).
        let j = i + kf[i..].partition_point(|&t| t < ideal);
        let before = (j > i).then(|| kf[j - 1]);
        let after = kf.get(j).copied();
        let best = match (before, after) {
            (Some(b), Some(a)) => {
                if ideal - b <= a - ideal {
                    b
                } else {
                    a
                }
            }
            (Some(b), None) => b,
            (None, Some(a)) => a,
            (None, None) => break,
        };
        // Ending at the media's end is a candidate as well.
        if (duration - ideal).abs() < (best - ideal).abs() {
            break;
        }
        cuts.push(best);
        start = best;
        i = j;
    }
    SegmentPlan::from_boundaries(target, duration, &cuts)
}

/// The plan of transcoded video (and of audio-only media): fixed boundaries, first the
/// `first` durations (for a fast start, e.g. [`TRANSCODE_FIRST`]), then `target` each; the
/// last segment is what remains, a remainder under [`MIN_TAIL`] merged into the one before.
pub fn plan_transcode(duration: f64, target: f64, first: &[f64]) -> Result<SegmentPlan, PlanError> {
    if !positive(duration) || duration > MAX_DURATION {
        return Err(PlanError::Duration(duration));
    }
    if !positive(target) {
        return Err(PlanError::Target(target));
    }
    if let Some(&bad) = first.iter().find(|&&f| !(positive(f) && f >= MIN_FIRST)) {
        return Err(PlanError::First(bad));
    }
    if duration / target + first.len() as f64 > MAX_SEGMENTS as f64 {
        return Err(PlanError::TooManySegments);
    }
    let mut cuts = Vec::with_capacity((duration / target) as usize + first.len() + 1);
    let mut t = 0.0;
    let mut steps = first.iter().copied();
    let mut k: u64 = 0; // target steps taken after `first`, for a boundary free of summed error
    let mut first_end = 0.0;
    loop {
        let next = match steps.next() {
            Some(f) => {
                first_end = t + f;
                first_end
            }
            None => {
                k += 1;
                first_end + k as f64 * target
            }
        };
        if next > duration - MIN_TAIL + 1e-9 {
            break;
        }
        if cuts.len() >= MAX_SEGMENTS {
            return Err(PlanError::TooManySegments);
        }
        cuts.push(next);
        t = next;
    }
    SegmentPlan::from_boundaries(target, duration, &cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(p: &SegmentPlan) -> f64 {
        p.segments.iter().map(|s| s.duration).sum()
    }

    fn starts(p: &SegmentPlan) -> Vec<f64> {
        p.segments.iter().map(|s| s.start).collect()
    }

    fn check_invariants(p: &SegmentPlan, duration: f64) {
        assert!(
            (sum(p) - duration).abs() < 1e-6,
            "sum {} != {duration}",
            sum(p)
        );
        assert_eq!(p.total, duration);
        assert!(
            p.segments.iter().all(|s| s.duration > 0.0),
            "no empty segment: {p:?}"
        );
        for (i, s) in p.segments.iter().enumerate() {
            assert_eq!(s.index as usize, i);
        }
        for w in p.segments.windows(2) {
            assert!((w[0].end() - w[1].start).abs() < 1e-9, "contiguous");
        }
        let tag = p.target_duration_tag();
        assert!(p
            .segments
            .iter()
            .all(|s| (s.duration.round() as u64) <= tag));
        let printed: u64 = p.segments.iter().map(Segment::extinf_micros).sum();
        assert!(
            (printed as f64 / 1e6 - duration).abs() <= 1e-6,
            "printed sum {printed} us"
        );
    }

    #[test]
    fn copy_regular_gop() {
        // A keyframe every 2.002 s (NTSC, GOP of 48 at 23.976): 6.006 s segments.
        let kf: Vec<f64> = (0..30).map(|i| i as f64 * 2.002).collect();
        let p = plan_copy(&kf, 60.0, 6.0).unwrap();
        check_invariants(&p, 60.0);
        assert!((p.segments[0].duration - 6.006).abs() < 1e-9);
        assert!(
            p.segments
                .iter()
                .all(|s| kf.iter().any(|k| (k - s.start).abs() < 1e-9)),
            "every start is a keyframe"
        );
        assert_eq!(p.target_duration_tag(), 6);
        assert_eq!(p.len(), 10);
        // The last is what remains: 60 - 9 * 6.006.
        assert!((p.segments[9].duration - (60.0 - 54.054)).abs() < 1e-9);
    }

    #[test]
    fn copy_irregular_gop() {
        let kf = [0.0, 0.5, 7.3, 8.0, 15.1, 16.0, 21.0];
        let p = plan_copy(&kf, 25.0, 6.0).unwrap();
        check_invariants(&p, 25.0);
        // From 0 the nearest to 6 is 7.3; from 7.3 (ideal 13.3) 15.1; from 15.1 (21.1) 21.0.
        assert_eq!(starts(&p), vec![0.0, 7.3, 15.1, 21.0]);
        assert_eq!(
            p.target_duration_tag(),
            8,
            "7.8 s rounds to 8: the tag covers the longest segment"
        );
    }

    #[test]
    fn copy_first_keyframe_late_unsorted_duplicates() {
        let kf = [12.0, 6.0, 1.2, 6.0, 12.0, -0.04, f64::NAN, 18.0, 99.0];
        let p = plan_copy(&kf, 20.0, 6.0).unwrap();
        check_invariants(&p, 20.0);
        assert_eq!(starts(&p), vec![0.0, 6.0, 12.0, 18.0]);
    }

    #[test]
    fn copy_without_keyframes_is_one_segment() {
        let p = plan_copy(&[], 42.5, 6.0).unwrap();
        check_invariants(&p, 42.5);
        assert_eq!(p.len(), 1);
        assert_eq!(p.target_duration_tag(), 43);
        let p = plan_copy(&[0.0], 3.0, 6.0).unwrap();
        assert_eq!((p.len(), p.segments[0].duration), (1, 3.0));
    }

    #[test]
    fn copy_short_tail_is_merged() {
        // A keyframe 0.3 s before the end would leave a 0.3 s tail: not used.
        let kf = [0.0, 6.0, 12.0];
        let p = plan_copy(&kf, 12.3, 6.0).unwrap();
        check_invariants(&p, 12.3);
        assert_eq!(starts(&p), vec![0.0, 6.0]);
        assert!((p.segments[1].duration - 6.3).abs() < 1e-9);
    }

    #[test]
    fn copy_prefers_the_end_when_it_is_nearer() {
        // From 0, ideal 6: keyframe 3 is 3 s off, the end (7) 1 s off: one segment.
        let p = plan_copy(&[0.0, 3.0], 7.0, 6.0).unwrap();
        assert_eq!(p.len(), 1);
        check_invariants(&p, 7.0);
    }

    #[test]
    fn copy_skips_slivers() {
        // A keyframe 0.1 s after a boundary (scene cut) never ends a segment.
        let kf = [0.0, 0.1, 6.0, 6.1, 12.0];
        let p = plan_copy(&kf, 18.0, 6.0).unwrap();
        check_invariants(&p, 18.0);
        assert_eq!(starts(&p), vec![0.0, 6.0, 12.0]);
        // A long GOP: one 10 s segment, then the rest.
        let p = plan_copy(&[0.0, 10.0, 20.0], 30.0, 6.0).unwrap();
        // From 0 ideal 6: 10 is 4 off (no earlier candidate).
        assert_eq!(starts(&p), vec![0.0, 10.0, 20.0]);
        assert_eq!(p.target_duration_tag(), 10);
    }

    #[test]
    fn copy_rejects_bad_input() {
        assert_eq!(plan_copy(&[0.0], 0.0, 6.0), Err(PlanError::Duration(0.0)));
        assert!(plan_copy(&[0.0], f64::NAN, 6.0).is_err());
        assert!(plan_copy(&[0.0], f64::INFINITY, 6.0).is_err());
        assert_eq!(plan_copy(&[0.0], 10.0, 0.0), Err(PlanError::Target(0.0)));
    }

    #[test]
    fn copy_two_hour_film() {
        let duration = 7200.0;
        let kf: Vec<f64> = (0..)
            .map(|i| i as f64 * 2.002)
            .take_while(|&t| t < duration)
            .collect();
        let p = plan_copy(&kf, duration, 6.0).unwrap();
        check_invariants(&p, duration);
        assert_eq!(p.target_duration_tag(), 6);
        assert!(p.len() > 1190 && p.len() < 1202, "{}", p.len());
        // Every boundary is a keyframe.
        for s in &p.segments {
            let i = (s.start / 2.002).round();
            assert!((i * 2.002 - s.start).abs() < 1e-6);
        }
    }

    #[test]
    fn transcode_fixed_boundaries() {
        let p = plan_transcode(20.0, 4.0, &TRANSCODE_FIRST).unwrap();
        check_invariants(&p, 20.0);
        assert_eq!(starts(&p), vec![0.0, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0]);
        assert_eq!(p.keyframe_times(), vec![1.0, 2.0, 4.0, 8.0, 12.0, 16.0]);
        assert_eq!(p.target_duration_tag(), 4);
        // A 0.3 s remainder goes into the last segment; 0.5 stays its own.
        let p = plan_transcode(20.3, 4.0, &TRANSCODE_FIRST).unwrap();
        check_invariants(&p, 20.3);
        assert_eq!(p.len(), 7);
        assert!((p.segments[6].duration - 4.3).abs() < 1e-9);
        let p = plan_transcode(20.5, 4.0, &TRANSCODE_FIRST).unwrap();
        check_invariants(&p, 20.5);
        assert_eq!(p.len(), 8);
        // Shorter than the first segments.
        let p = plan_transcode(1.2, 4.0, &TRANSCODE_FIRST).unwrap();
        check_invariants(&p, 1.2);
        assert_eq!(p.len(), 1);
        let p = plan_transcode(2.7, 4.0, &TRANSCODE_FIRST).unwrap();
        assert_eq!(starts(&p), vec![0.0, 1.0, 2.0]);
        // No fast start.
        let p = plan_transcode(10.0, 4.0, &[]).unwrap();
        assert_eq!(starts(&p), vec![0.0, 4.0, 8.0]);
        assert!(plan_transcode(10.0, 4.0, &[1.0, 0.0]).is_err());
        assert!(plan_transcode(10.0, -4.0, &[]).is_err());
        assert_eq!(
            plan_transcode(7200.0, 1e-6, &[]),
            Err(PlanError::TooManySegments)
        );
    }

    /// Found by the `playlists` fuzz target: the capacity of the cuts came from `duration /
    /// target` alone, so a huge duration (a container may claim one) asked for terabytes (the
    /// process aborts) or overflowed. The fuzzer's input, then a duration a file can claim.
    #[test]
    fn copy_plan_of_an_absurd_duration_allocates_by_keyframes() {
        let p = plan_copy(&[], 1.3844344462250351e-101, 8.2566665e-317).unwrap();
        check_invariants(&p, 1.3844344462250351e-101);
        // 1e15 segments' worth of capacity for what is one segment.
        let p = plan_copy(&[], MAX_DURATION, 1e-6).unwrap();
        assert_eq!(p.len(), 1, "no keyframe, one segment");
    }

    /// Found by the `playlists` fuzz target: a duration of 3.6e88 s made one segment whose
    /// EXTINF (saturated microseconds) rounded above the saturated EXT-X-TARGETDURATION.
    /// Durations past [`MAX_DURATION`] are refused; up to it the tag covers every segment.
    #[test]
    fn durations_a_playlist_cannot_print_are_refused() {
        let d = 3.644696722363116e88;
        assert_eq!(
            plan_transcode(d, 4.39564889086656e279, &[]),
            Err(PlanError::Duration(d))
        );
        assert_eq!(plan_copy(&[0.0], 1e13, 6.0), Err(PlanError::Duration(1e13)));
        for p in [
            plan_copy(&[], MAX_DURATION, COPY_TARGET).unwrap(),
            plan_transcode(MAX_DURATION, MAX_DURATION, &[]).unwrap(),
        ] {
            let tag = p.target_duration_tag();
            let longest = p.segments.iter().map(Segment::extinf_micros).max().unwrap();
            assert!(
                (longest + 500_000) / 1_000_000 <= tag,
                "{longest} us vs {tag}"
            );
        }
    }

    /// Found by the `playlists` fuzz target: a first duration of 5e-323 s after 28 966.912 s
    /// left the boundary where it was, a segment of no length.
    #[test]
    fn first_durations_under_a_microsecond_are_refused() {
        assert_eq!(
            plan_transcode(4_278_202.928, 590_358.309, &[28_966.912, 5e-323]),
            Err(PlanError::First(5e-323))
        );
        let p = plan_transcode(10.0, 4.0, &[MIN_FIRST, 1.0]).unwrap();
        check_invariants(&p, 10.0);
    }

    #[test]
    fn transcode_boundaries_do_not_drift() {
        let p = plan_transcode(7200.0, 4.0, &TRANSCODE_FIRST).unwrap();
        check_invariants(&p, 7200.0);
        let last = p.segments.last().unwrap();
        assert_eq!(last.start, 7196.0);
        let p = plan_transcode(3600.0, 0.1, &[]).unwrap();
        assert_eq!(p.segments[35_000].start, 35_000.0 * 0.1, "no summed error");
        check_invariants(&p, 3600.0);
    }

    #[test]
    fn segment_at_positions() {
        let p = plan_transcode(20.0, 4.0, &TRANSCODE_FIRST).unwrap();
        assert_eq!(p.segment_at(0.0), Some(0));
        assert_eq!(p.segment_at(-3.0), Some(0));
        assert_eq!(p.segment_at(f64::NAN), Some(0));
        assert_eq!(p.segment_at(0.999), Some(0));
        assert_eq!(p.segment_at(1.0), Some(1));
        assert_eq!(p.segment_at(3.5), Some(2));
        assert_eq!(p.segment_at(4.0), Some(3));
        assert_eq!(p.segment_at(19.99), Some(6));
        assert_eq!(p.segment_at(20.0), Some(6));
        assert_eq!(p.segment_at(1e9), Some(6));
        assert_eq!(p.segment_at(f64::INFINITY), Some(6));
        let empty = SegmentPlan {
            target_duration: 4.0,
            segments: vec![],
            total: 0.0,
        };
        assert_eq!(empty.segment_at(1.0), None);
        assert_eq!(empty.target_duration_tag(), 1);
    }

    #[test]
    fn tag_rounds_what_is_printed() {
        let p = SegmentPlan {
            target_duration: 6.0,
            segments: vec![Segment {
                index: 0,
                start: 0.0,
                duration: 6.4999996,
            }],
            total: 6.4999996,
        };
        assert_eq!(p.target_duration_tag(), 7);
        let p = SegmentPlan {
            target_duration: 6.0,
            segments: vec![Segment {
                index: 0,
                start: 0.0,
                duration: 6.49,
            }],
            total: 6.49,
        };
        assert_eq!(p.target_duration_tag(), 6);
    }

    #[test]
    fn serde_round_trip() {
        let p = plan_transcode(9.0, 4.0, &TRANSCODE_FIRST).unwrap();
        let back: SegmentPlan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
