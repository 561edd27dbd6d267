//! Copied video put back on its exact frame grid.
//!
//! Matroska stores timestamps in milliseconds, so the frames of a 24 fps source sit at
//! 21, 63, 104, 146 ms ...: within half a millisecond of the true grid, never on it. Copied
//! into fMP4 segments as they are, a client that re-times frames to 1/fps (ffmpeg's own null
//! or any encoder downstream does) rounds two neighbours to the same tick and reports
//! non-monotonic timestamps. So the decode and presentation time of every sample of copied
//! video from a constant-rate source is moved to the nearest point of
//! `origin + n × frame duration`, where `origin` is the source's first keyframe: the same
//! for every segment, so segments made independently, in any order, still line up. The move
//! is at most [`TOLERANCE_SECONDS`]; a fragment with a sample farther from the grid than that
//! (a variable-rate source) leaves the whole segment as it was.
//!
//! Only the `tfdt` and the per-sample durations and composition offsets of each `trun` are
//! rewritten, in place: no box changes size, so no offset does.

use super::boxes::{box_header, boxes, too_many_samples, TrackInfo, MAX_FRAGMENT_SAMPLES};
use super::EncodeError;

/// The largest move of a timestamp: a millisecond of rounding in the sample, one in the
/// origin (the probe's keyframe times are rounded too).
pub const TOLERANCE_SECONDS: f64 = 0.002;

/// The grid `origin + n × num / den` ticks (a frame lasts exactly `num / den` ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGrid {
    origin: i128,
    num: i128,
    den: i128,
    tolerance: i128,
}

/// `round(a / b)` for b > 0 (halves up), in integers.
fn div_round(a: i128, b: i128) -> i128 {
    (2 * a + b).div_euclid(2 * b)
}

impl FrameGrid {
    /// The grid of a track with `timescale` ticks per second whose first keyframe is at
    /// `origin_seconds` (on the track's timeline) and whose rate is `fps`. None for a rate that
    /// is not (near) an integer or NTSC rate, or one too fast for the tolerance (over 125 fps).
    pub fn new(timescale: u32, origin_seconds: f64, fps: f64) -> Option<Self> {
        let (frames, seconds) = stream_core::frame_rate::nominal(fps)?;
        if !origin_seconds.is_finite() || origin_seconds < 0.0 || timescale == 0 {
            return None;
        }
        let num = i128::from(timescale) * i128::from(seconds);
        let den = i128::from(frames);
        let tolerance = (TOLERANCE_SECONDS * f64::from(timescale)).round() as i128;
        // A sample must not be able to snap to a neighbour's point.
        if 4 * tolerance * den >= num {
            return None;
        }
        Some(FrameGrid {
            origin: (origin_seconds * f64::from(timescale)).round() as i128,
            num,
            den,
            tolerance,
        })
    }

    /// The grid point nearest to `t` (ticks), or None when it is farther than the tolerance.
    pub fn snap(&self, t: i128) -> Option<i128> {
        let n = div_round((t - self.origin) * self.den, self.num);
        let point = self.origin + div_round(n * self.num, self.den);
        ((point - t).abs() <= self.tolerance).then_some(point)
    }

    /// One frame, rounded to ticks.
    fn frame_ticks(&self) -> i128 {
        div_round(self.num, self.den)
    }
}

/// Puts every sample of fMP4 media (`moof` + `mdat` fragments of one track, as ffmpeg writes
/// them) on `grid`. `Ok(None)`: some sample is off the grid (or the boxes cannot carry the
/// new times); the media is to be used as it is.
pub fn snap_media(
    media: &[u8],
    track: &TrackInfo,
    grid: &FrameGrid,
) -> Result<Option<Vec<u8>>, EncodeError> {
    let mut out = media.to_vec();
    let mut pos = 0usize;
    for b in boxes(media) {
        let b = b?;
        let len = b.bytes.len();
        if b.is(b"moof") && !snap_moof(&mut out[pos..pos + len], b.header_len, track, grid)? {
            return Ok(None);
        }
        pos += len;
    }
    Ok(Some(out))
}

/// (type, start, header length, size) of the boxes in `buf[start..end]`.
fn children(
    buf: &[u8],
    mut start: usize,
    end: usize,
) -> Result<Vec<([u8; 4], usize, usize, usize)>, EncodeError> {
    let mut out = vec![];
    while start < end {
        let (kind, header_len, size) = box_header(&buf[start..end], true)?
            .ok_or_else(|| EncodeError::Output("truncated box in `moof`".into()))?;
        // Checked: a 64-bit `largesize` near u64::MAX overflowed `start + size` (and, without
        // overflow checks, wrapped to a box that ends before it starts).
        let next = start
            .checked_add(size)
            .filter(|next| *next <= end)
            .ok_or_else(|| EncodeError::Output("a box runs past the end of its `moof`".into()))?;
        out.push((kind, start, header_len, size));
        start = next;
    }
    Ok(out)
}

fn read_u32(buf: &[u8], at: usize) -> Result<u32, EncodeError> {
    buf.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| EncodeError::Output("a `traf` box is too short".into()))
}

fn read_u64(buf: &[u8], at: usize) -> Result<u64, EncodeError> {
    Ok(u64::from(read_u32(buf, at)?) << 32 | u64::from(read_u32(buf, at + 4)?))
}

/// A `trun` as found: where its sample table is and what each entry holds.
struct Trun {
    /// Offset of the version byte.
    at: usize,
    version: u8,
    flags: u32,
    count: usize,
    /// Offset of the first sample entry.
    entries: usize,
}

impl Trun {
    const DURATION: u32 = 0x100;
    const SIZE: u32 = 0x200;
    const FLAGS: u32 = 0x400;
    const CTS: u32 = 0x800;

    fn entry_len(&self) -> usize {
        4 * (self.flags & 0xF00).count_ones() as usize
    }

    /// Offset of sample `i`'s duration (when present).
    fn duration_at(&self, i: usize) -> usize {
        self.entries + i * self.entry_len()
    }

    /// Offset of sample `i`'s composition offset (when present).
    fn cts_at(&self, i: usize) -> usize {
        let before = [Self::DURATION, Self::SIZE, Self::FLAGS]
            .iter()
            .filter(|f| self.flags & **f != 0)
            .count();
        self.entries + i * self.entry_len() + 4 * before
    }
}

/// Snaps the track fragments of one `moof` (`buf` is the whole box). False: off the grid,
/// nothing written.
fn snap_moof(
    buf: &mut [u8],
    header_len: usize,
    track: &TrackInfo,
    grid: &FrameGrid,
) -> Result<bool, EncodeError> {
    for (kind, start, hl, size) in children(buf, header_len, buf.len())? {
        if &kind == b"traf" && !snap_traf(buf, start + hl, start + size, track, grid)? {
            return Ok(false);
        }
    }
    Ok(true)
}

// Long because it reads `tfhd`, `tfdt` and every `trun` of one `traf` in a single pass over
// the buffer, with the ISO/IEC 14496-12 optional fields spelled out where they are read, and
// rewrites them in place; split, each part would re-walk the same boxes.
fn snap_traf(
    buf: &mut [u8],
    start: usize,
    end: usize,
    track: &TrackInfo,
    grid: &FrameGrid,
) -> Result<bool, EncodeError> {
    let mut default_duration = track.default_duration;
    let mut tfdt: Option<(usize, u8, u64)> = None;
    let mut truns = vec![];
    let mut declared = 0usize;
    for (kind, at, hl, size) in children(buf, start, end)? {
        let p = at + hl;
        let version = *buf
            .get(p)
            .ok_or_else(|| EncodeError::Output("empty box in `traf`".into()))?;
        let flags = read_u32(buf, p)? & 0x00FF_FFFF;
        match &kind {
            b"tfhd" => {
                // track_ID, then the optional fields in order.
                let mut q = p + 8;
                if flags & 0x1 != 0 {
                    q += 8;
                }
                if flags & 0x2 != 0 {
                    q += 4;
                }
                if flags & 0x8 != 0 {
                    default_duration = read_u32(buf, q)?;
                }
            }
            b"tfdt" => {
                let value = if version == 1 {
                    read_u64(buf, p + 4)?
                } else {
                    u64::from(read_u32(buf, p + 4)?)
                };
                tfdt = Some((p, version, value));
            }
            b"trun" => {
                let count = read_u32(buf, p + 4)? as usize;
                declared += count;
                if declared > MAX_FRAGMENT_SAMPLES as usize {
                    return Err(too_many_samples());
                }
                let mut entries = p + 8;
                if flags & 0x1 != 0 {
                    entries += 4;
                }
                if flags & 0x4 != 0 {
                    entries += 4;
                }
                let trun = Trun {
                    at: p,
                    version,
                    flags,
                    count,
                    entries,
                };
                if trun.entries + trun.count * trun.entry_len() > at + size {
                    return Err(EncodeError::Output(
                        "a `trun` box is too short for its samples".into(),
                    ));
                }
                truns.push(trun);
            }
            _ => {}
        }
    }
    let Some((tfdt_at, tfdt_version, base)) = tfdt else {
        return Err(EncodeError::Output("`traf` without `tfdt`".into()));
    };

    // Read: the decode and presentation time of every sample, then their places on the grid.
    struct Sample {
        dts: i128,
        pts: i128,
    }
    let mut samples: Vec<Sample> = vec![];
    let mut dts = i128::from(base);
    let mut end = dts;
    for t in &truns {
        for i in 0..t.count {
            let duration = if t.flags & Trun::DURATION != 0 {
                read_u32(buf, t.duration_at(i))?
            } else {
                default_duration
            };
            let cts = if t.flags & Trun::CTS != 0 {
                let raw = read_u32(buf, t.cts_at(i))?;
                if t.version == 0 {
                    i128::from(raw)
                } else {
                    i128::from(raw as i32)
                }
            } else {
                0
            };
            samples.push(Sample {
                dts,
                pts: dts + cts,
            });
            dts += i128::from(duration);
            end = dts;
        }
    }
    if samples.is_empty() {
        return Ok(true);
    }
    let mut snapped = Vec::with_capacity(samples.len());
    for s in &samples {
        match (grid.snap(s.dts), grid.snap(s.pts)) {
            (Some(d), Some(p)) => snapped.push((d, p)),
            _ => return Ok(false),
        }
    }
    let last_dts = snapped[snapped.len() - 1].0;
    let snapped_end = grid
        .snap(end)
        .filter(|e| *e > last_dts)
        .unwrap_or(last_dts + grid.frame_ticks());

    // Check that the boxes can carry the new times, then write them.
    let new_base = snapped[0].0;
    if new_base < 0 || (tfdt_version == 0 && new_base > i128::from(u32::MAX)) {
        return Ok(false);
    }
    let mut writes: Vec<(usize, u32)> = vec![];
    let mut k = 0usize;
    let mut version_bumps = vec![];
    for t in &truns {
        let mut needs_signed = false;
        for i in 0..t.count {
            let (d, p) = snapped[k];
            let next = snapped.get(k + 1).map_or(snapped_end, |n| n.0);
            let duration = next - d;
            let cts = p - d;
            if duration <= 0 || duration > i128::from(u32::MAX) || cts.abs() > i128::from(i32::MAX)
            {
                return Ok(false);
            }
            if t.flags & Trun::DURATION != 0 {
                writes.push((t.duration_at(i), duration as u32));
            } else if duration != i128::from(default_duration) {
                return Ok(false);
            }
            if t.flags & Trun::CTS != 0 {
                needs_signed |= cts < 0;
                writes.push((t.cts_at(i), cts as i32 as u32));
            } else if cts != 0 {
                return Ok(false);
            }
            k += 1;
        }
        if needs_signed && t.version == 0 {
            version_bumps.push(t.at);
        }
    }
    if tfdt_version == 1 {
        buf[tfdt_at + 4..tfdt_at + 12].copy_from_slice(&(new_base as u64).to_be_bytes());
    } else {
        buf[tfdt_at + 4..tfdt_at + 8].copy_from_slice(&(new_base as u32).to_be_bytes());
    }
    for (at, v) in writes {
        buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    // Version 1: signed composition offsets (a frame shown before its decode-order
    // predecessor's grid point can only happen after snapping a negative offset).
    for at in version_bumps {
        buf[at] = 1;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_points_of_integer_and_ntsc_rates() {
        let g = FrameGrid::new(90_000, 10.021, 24.0).unwrap();
        // 10.021 s = 901890 ticks; a frame is 3750 ticks.
        assert_eq!(g.snap(901_890 + 3690), Some(901_890 + 3750));
        assert_eq!(g.snap(901_890 + 2 * 3750 - 90), Some(901_890 + 7500));
        assert_eq!(g.snap(901_890 - 3750 + 45), Some(901_890 - 3750));
        // 3 ms off: not on the grid.
        assert_eq!(g.snap(901_890 + 3750 + 270), None);
        let ntsc = FrameGrid::new(90_000, 0.0, 24000.0 / 1001.0).unwrap();
        // 3753.75 ticks a frame: the 4th point is exact, the others the nearest tick.
        assert_eq!(ntsc.snap(15_000), Some(15_015));
        assert_eq!(ntsc.snap(3_700), Some(3_754));
        assert_eq!(FrameGrid::new(90_000, 0.0, 12.345), None);
        assert_eq!(FrameGrid::new(90_000, f64::NAN, 24.0), None);
        // 240 fps: a frame is too short for a 2 ms tolerance.
        assert_eq!(FrameGrid::new(90_000, 0.0, 240.0), None);
    }

    /// A moof with one traf: tfhd (no defaults), tfdt v1, trun with durations and signed-less
    /// (v0) composition offsets.
    fn moof(base: u64, samples: &[(u32, u32)]) -> Vec<u8> {
        fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
            let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(body);
            v
        }
        let tfhd = boxed(b"tfhd", &[0, 0x02, 0, 0, 0, 0, 0, 1]);
        let mut tfdt_body = vec![1, 0, 0, 0];
        tfdt_body.extend_from_slice(&base.to_be_bytes());
        let tfdt = boxed(b"tfdt", &tfdt_body);
        let mut trun_body = vec![0, 0x00, 0x09, 0x01];
        trun_body.extend_from_slice(&(samples.len() as u32).to_be_bytes());
        trun_body.extend_from_slice(&0u32.to_be_bytes());
        for (d, c) in samples {
            trun_body.extend_from_slice(&d.to_be_bytes());
            trun_body.extend_from_slice(&c.to_be_bytes());
        }
        let trun = boxed(b"trun", &trun_body);
        let traf = boxed(b"traf", &[tfhd, tfdt, trun].concat());
        let mut m = boxed(
            b"moof",
            &[boxed(b"mfhd", &[0, 0, 0, 0, 0, 0, 0, 1]), traf].concat(),
        );
        m.extend(boxed(b"mdat", &[0u8; 16]));
        m
    }

    fn times(media: &[u8]) -> (u64, Vec<(u32, u32)>) {
        let track = TrackInfo {
            timescale: 90_000,
            default_duration: 0,
            default_flags: 0,
        };
        let frag = &crate::transcode::boxes::fragments(media, &track).unwrap()[0];
        let traf = crate::transcode::boxes::find_path(frag.bytes, &[b"moof", b"traf"])
            .unwrap()
            .unwrap();
        let trun = crate::transcode::boxes::find(traf.payload(), b"trun")
            .unwrap()
            .unwrap();
        let p = trun.payload();
        let n = read_u32(p, 4).unwrap() as usize;
        let samples = (0..n)
            .map(|i| {
                (
                    read_u32(p, 12 + 8 * i).unwrap(),
                    read_u32(p, 16 + 8 * i).unwrap(),
                )
            })
            .collect();
        (frag.info.base_decode_time, samples)
    }

    #[test]
    fn millisecond_timestamps_move_onto_the_grid() {
        // 24 fps with B-frames as Matroska rounds it: decode times 21, 63, 104, 146 ms,
        // presentation times 104, 188, 146, 229 ms (the grid: 20.8, 62.5, 104.2, ... ms).
        let ms = |t: u32| t * 90;
        let track = TrackInfo {
            timescale: 90_000,
            default_duration: 0,
            default_flags: 0,
        };
        let grid = FrameGrid::new(90_000, 0.021, 24.0).unwrap();
        let media = moof(
            u64::from(ms(21)),
            &[
                (ms(42), ms(83)),
                (ms(41), ms(125)),
                (ms(42), ms(42)),
                (ms(42), ms(83)),
            ],
        );
        let out = snap_media(&media, &track, &grid).unwrap().unwrap();
        let (base, samples) = times(&out);
        assert_eq!(base, 1890);
        assert_eq!(
            samples,
            vec![(3750, 7500), (3750, 11250), (3750, 3750), (3750, 7500)]
        );
        assert_eq!(out.len(), media.len());
    }

    #[test]
    fn variable_rate_media_is_left_alone() {
        let track = TrackInfo {
            timescale: 90_000,
            default_duration: 0,
            default_flags: 0,
        };
        let grid = FrameGrid::new(90_000, 0.0, 24.0).unwrap();
        // The second frame 10 ms late.
        let media = moof(0, &[(3750 + 900, 0), (3750, 0)]);
        assert_eq!(snap_media(&media, &track, &grid).unwrap(), None);
        // Already on the grid: unchanged bytes.
        let exact = moof(0, &[(3750, 0), (3750, 0)]);
        assert_eq!(snap_media(&exact, &track, &grid).unwrap().unwrap(), exact);
    }

    /// Found by the `fmp4` fuzz target (a timeout, 1 GB resident): a `trun` without
    /// per-sample fields declared 16 056 309 samples (`00f4fff5`), each read and stored one by
    /// one. The `moof` of the fuzzer's input, with the fuzz target's 90 kHz track.
    #[test]
    fn a_trun_declaring_millions_of_samples_is_refused() {
        let moof: &[u8] = b"\x00\x00\x00\xc8\x6d\x6f\x6f\x66\x00\x00\x00\x10\x6d\x66\x68\x64\x00\x00\x00\x00\x00\x00\x00\x02\
          \x00\x00\x00\xb0\x74\x72\x61\x66\x00\x00\x00\x1c\x74\x66\x68\x64\x00\x02\x00\x34\x00\x00\x00\x01\
          \x00\x00\x02\x00\x00\x00\x01\xcf\x01\x01\x00\x00\x00\x00\x00\x14\x74\x66\x64\x74\x01\x00\x00\x00\
          \x00\x00\x00\x00\x00\x00\x18\x00\x00\x00\x00\x78\x74\x72\x75\x6e\x00\x00\x00\x05\x00\xf4\xff\xf5\
          \xfa\x00\x00\xd0\x02\x00\x00\x00\x00\x00\x01\xcf\x00\x00\x04\x00\x00\x00\x00\x3c\x00\x00\x0a\x00\
          \x00\x00\x00\x0d\x00\x00\x04\x00\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x0d\x00\x00\x02\x00\
          \x00\x00\x00\x1d\x00\x00\x0a\x00\x00\x00\x00\x0e\x00\x00\x04\x00\x00\x00\x00\x0c\x00\x00\x00\x00\
          \x00\x00\x00\x0c\x00\x00\x02\x00\x00\x00\x00\x12\x00\x00\x08\x00\x00\x00\x00\x0e\x00\x00\x02\x00\
          \x00\x00\x00\x0c\x00\x00\x02\x00";
        let track = TrackInfo {
            timescale: 90_000,
            default_duration: 3_750,
            default_flags: 0,
        };
        let grid = FrameGrid::new(90_000, 0.0, 24.0).unwrap();
        assert!(snap_media(moof, &track, &grid).is_err());
        let b = boxes(moof).next().unwrap().unwrap();
        assert!(crate::transcode::boxes::fragment_info(&b, &track).is_err());
    }

    /// Found reading the code while writing the `fmp4` fuzz target (its binary panicked on this
    /// hand-made input; the fuzzer had not reached it in its runs): a box after the `traf` of a
    /// `moof` with a 64-bit size of u64::MAX. `fragments` reads only the `traf`, so it passes;
    /// the rewrite walks every child of the `moof`.
    #[test]
    fn a_moof_child_of_largesize_u64_max_is_an_error() {
        let media: &[u8] = b"\x00\x00\x00\x68\x6d\x6f\x6f\x66\x00\x00\x00\x10\x6d\x66\x68\x64\x00\x00\x00\x00\x00\x00\x00\x00\
            \x00\x00\x00\x40\x74\x72\x61\x66\x00\x00\x00\x10\x74\x66\x68\x64\x00\x00\x00\x00\x00\x00\x00\x01\
            \x00\x00\x00\x14\x74\x66\x64\x74\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x14\
            \x74\x72\x75\x6e\x00\x00\x01\x00\x00\x00\x00\x01\x00\x00\x0e\xa6\x00\x00\x00\x01\x66\x72\x65\x65\
            \xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x10\x6d\x64\x61\x74\x00\x00\x00\x00\x00\x00\x00\x00";
        let track = TrackInfo {
            timescale: 90_000,
            default_duration: 3_750,
            default_flags: 0,
        };
        assert!(crate::transcode::boxes::fragments(media, &track).is_ok());
        let grid = FrameGrid::new(90_000, 0.0, 24.0).unwrap();
        assert!(snap_media(media, &track, &grid).is_err());
    }

    #[test]
    fn truncated_boxes_are_errors_not_panics() {
        let track = TrackInfo {
            timescale: 90_000,
            default_duration: 0,
            default_flags: 0,
        };
        let grid = FrameGrid::new(90_000, 0.0, 24.0).unwrap();
        let mut media = moof(0, &[(3750, 0), (3750, 0)]);
        // Claim one more sample than the trun holds.
        let at = media.windows(4).position(|w| w == b"trun").unwrap() + 8;
        media[at + 3] = 9;
        assert!(snap_media(&media, &track, &grid).is_err());
    }
}
