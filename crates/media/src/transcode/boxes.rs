//! ISO BMFF (MP4) boxes: a zero-copy iterator over the top-level boxes of a buffer, the
//! split of ffmpeg's fragmented output into the init segment (`ftyp` + `moov`) and media
//! (`moof` + `mdat`, and `styp`/`sidx`/`prft`/`emsg`), and the few fields the encoder reads
//! back: the track timescale (`mdhd`), the fragment defaults (`trex`, `tfhd`), the decode time
//! of a fragment (`tfdt`) and its samples (`trun`).

use bytes::Bytes;

use super::EncodeError;

/// A box: its four-character type and its bytes (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Box<'a> {
    pub kind: [u8; 4],
    /// Size of the header (8, or 16 with a 64-bit `largesize`).
    pub header_len: usize,
    /// The whole box, header included.
    pub bytes: &'a [u8],
}

impl<'a> Mp4Box<'a> {
    /// The box's contents after its header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..]
    }

    pub fn is(&self, kind: &[u8; 4]) -> bool {
        &self.kind == kind
    }

    /// The type as text (for messages).
    pub fn kind_str(&self) -> String {
        self.kind
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect()
    }
}

/// The header of the box at the start of `data`: `Ok(None)` when fewer bytes than the header
/// (or than the size field says) are there yet, else `(type, header length, total size)`.
/// A size of 0 ("to the end of the file") takes the rest of `data` when `at_end`, and is
/// incomplete otherwise (more may come).
pub fn box_header(
    data: &[u8],
    at_end: bool,
) -> Result<Option<([u8; 4], usize, usize)>, EncodeError> {
    if data.len() < 8 {
        return Ok(None);
    }
    let size32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let kind = [data[4], data[5], data[6], data[7]];
    let (header_len, size) = match size32 {
        1 => {
            if data.len() < 16 {
                return Ok(None);
            }
            let large = u64::from_be_bytes([
                data[8], data[9], data[10], data[11], data[12], data[13], data[14], data[15],
            ]);
            let size = usize::try_from(large).map_err(|_| {
                EncodeError::Output(format!(
                    "box `{}` is too large ({large} bytes)",
                    kind_text(&kind)
                ))
            })?;
            (16, size)
        }
        0 => {
            if !at_end {
                return Ok(None);
            }
            (8, data.len())
        }
        n => (8, n as usize),
    };
    if size < header_len {
        return Err(EncodeError::Output(format!(
            "box `{}` has an invalid size {size}",
            kind_text(&kind)
        )));
    }
    Ok(Some((kind, header_len, size)))
}

fn kind_text(kind: &[u8; 4]) -> String {
    kind.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// Iterates the boxes of a complete buffer (top level, or the payload of a container box).
/// A box that runs past the end of the buffer is an error (`Output`), and ends the iteration.
#[derive(Debug, Clone)]
pub struct BoxIter<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The boxes of `data`, in order.
pub fn boxes(data: &[u8]) -> BoxIter<'_> {
    BoxIter {
        data,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for BoxIter<'a> {
    type Item = Result<Mp4Box<'a>, EncodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let header = match box_header(rest, true) {
            Ok(Some(h)) => h,
            Ok(None) => {
                self.failed = true;
                return Some(Err(EncodeError::Output(format!(
                    "truncated box header at offset {} ({} bytes left)",
                    self.pos,
                    rest.len()
                ))));
            }
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let (kind, header_len, size) = header;
        if size > rest.len() {
            self.failed = true;
            return Some(Err(EncodeError::Output(format!(
                "box `{}` at offset {} is truncated: {size} bytes declared, {} present",
                kind_text(&kind),
                self.pos,
                rest.len()
            ))));
        }
        self.pos += size;
        Some(Ok(Mp4Box {
            kind,
            header_len,
            bytes: &rest[..size],
        }))
    }
}

/// The first child box of type `kind` inside `payload`.
pub fn find<'a>(payload: &'a [u8], kind: &[u8; 4]) -> Result<Option<Mp4Box<'a>>, EncodeError> {
    for b in boxes(payload) {
        let b = b?;
        if b.is(kind) {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// Follows a path of container boxes from `payload` (e.g. `trak`, `mdia`, `mdhd`).
pub fn find_path<'a>(
    payload: &'a [u8],
    path: &[&[u8; 4]],
) -> Result<Option<Mp4Box<'a>>, EncodeError> {
    let mut cur = payload;
    let mut found = None;
    for kind in path {
        match find(cur, kind)? {
            Some(b) => {
                cur = b.payload();
                found = Some(b);
            }
            None => return Ok(None),
        }
    }
    Ok(found)
}

/// The top-level boxes that belong to the init segment.
fn is_init_box(kind: &[u8; 4]) -> bool {
    matches!(kind, b"ftyp" | b"moov")
}

/// The top-level boxes that belong to a media segment.
fn is_media_box(kind: &[u8; 4]) -> bool {
    matches!(
        kind,
        b"styp" | b"sidx" | b"prft" | b"emsg" | b"moof" | b"mdat"
    )
}

/// Splits ffmpeg's fragmented MP4 into (init = `ftyp` + `moov`, media = `styp`/`sidx`/`prft`/
/// `emsg`/`moof`/`mdat` in order). `mfra`, `free`, `skip` and other top-level boxes are left
/// out. Either part may be empty (the caller decides whether that is an error); malformed or
/// truncated boxes are `Output` errors.
pub fn split_fmp4(bytes: &[u8]) -> Result<(Bytes, Bytes), EncodeError> {
    let mut init = Vec::with_capacity(2048);
    let mut media = Vec::with_capacity(bytes.len());
    for b in boxes(bytes) {
        let b = b?;
        if is_init_box(&b.kind) {
            init.extend_from_slice(b.bytes);
        } else if is_media_box(&b.kind) {
            media.extend_from_slice(b.bytes);
        }
    }
    Ok((Bytes::from(init), Bytes::from(media)))
}

/// A big-endian reader over a box payload that turns running out of bytes into an error.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EncodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| EncodeError::Output(format!("`{}` box is too short", self.what)))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, EncodeError> {
        Ok(self.take(1)?[0])
    }

    fn u24(&mut self) -> Result<u32, EncodeError> {
        let b = self.take(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    fn u32(&mut self) -> Result<u32, EncodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, EncodeError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }
}

/// What the init segment says about its (single) track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackInfo {
    /// `mdhd` timescale (ticks per second).
    pub timescale: u32,
    /// `trex` defaults for fragments.
    pub default_duration: u32,
    pub default_flags: u32,
}

/// Reads the first track's timescale and fragment defaults from an init segment (or any
/// buffer whose top level holds a `moov`).
pub fn track_info(init: &[u8]) -> Result<TrackInfo, EncodeError> {
    let moov = find(init, b"moov")?.ok_or_else(|| EncodeError::Output("no `moov` box".into()))?;
    let mdhd = find_path(moov.payload(), &[b"trak", b"mdia", b"mdhd"])?
        .ok_or_else(|| EncodeError::Output("no `mdhd` box".into()))?;
    let mut r = Reader::new(mdhd.payload(), "mdhd");
    let version = r.u8()?;
    r.u24()?;
    if version == 1 {
        r.u64()?;
        r.u64()?;
    } else {
        r.u32()?;
        r.u32()?;
    }
    let timescale = r.u32()?;
    if timescale == 0 {
        return Err(EncodeError::Output("`mdhd` timescale is 0".into()));
    }
    let (mut default_duration, mut default_flags) = (0, 0);
    if let Some(trex) = find_path(moov.payload(), &[b"mvex", b"trex"])? {
        let mut r = Reader::new(trex.payload(), "trex");
        r.u32()?; // version + flags
        r.u32()?; // track_ID
        r.u32()?; // default_sample_description_index
        default_duration = r.u32()?;
        r.u32()?; // default_sample_size
        default_flags = r.u32()?;
    }
    Ok(TrackInfo {
        timescale,
        default_duration,
        default_flags,
    })
}

/// The most samples a track fragment may declare (over all its `trun`s). A `trun` without
/// per-sample fields declares any count in 12 bytes, and every sample is visited one by one
/// (and stored, when snapping to the frame grid): 16 million of them took 11 s and 1 GB (found
/// by `fuzz/fuzz_targets/fmp4.rs`). ffmpeg's fragments hold one segment of one track: a few
/// hundred samples; this bound is over an hour of 240 fps video.
pub const MAX_FRAGMENT_SAMPLES: u32 = 1 << 20;

/// `sample_is_non_sync_sample` in ISO BMFF sample flags.
pub const SAMPLE_NON_SYNC: u32 = 0x0001_0000;

/// What a `moof` says about its (first) track fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// `tfdt` baseMediaDecodeTime, in the track timescale.
    pub base_decode_time: u64,
    /// The composition offset of the first sample (pts - dts).
    pub first_cts: i64,
    /// The sum of the sample durations.
    pub duration: u64,
    pub samples: u32,
    /// Whether the first sample is a sync sample (keyframe).
    pub first_is_sync: bool,
    /// The end of the last sample to be shown: max(decode time + composition offset +
    /// duration) over the samples.
    pub end_pts: i128,
}

impl FragmentInfo {
    /// The presentation time of the first sample, in the track timescale.
    pub fn first_pts(&self) -> i128 {
        i128::from(self.base_decode_time) + i128::from(self.first_cts)
    }

    /// The decode time after the last sample.
    pub fn end_decode_time(&self) -> u64 {
        self.base_decode_time.saturating_add(self.duration)
    }
}

/// Parses a `moof` box (whole box or payload-only is not accepted: pass the box).
// Long because it reads every optional field of `tfhd`/`tfdt`/`trun` in the order the
// ISO/IEC 14496-12 layout defines them, in one pass; each field is a few lines.
pub fn fragment_info(moof: &Mp4Box<'_>, track: &TrackInfo) -> Result<FragmentInfo, EncodeError> {
    if !moof.is(b"moof") {
        return Err(EncodeError::Output(format!(
            "expected `moof`, got `{}`",
            moof.kind_str()
        )));
    }
    let traf = find(moof.payload(), b"traf")?
        .ok_or_else(|| EncodeError::Output("`moof` without `traf`".into()))?;
    let mut default_duration = track.default_duration;
    let mut default_flags = track.default_flags;
    let mut base_decode_time = None;
    let mut info = FragmentInfo {
        base_decode_time: 0,
        first_cts: 0,
        duration: 0,
        samples: 0,
        first_is_sync: false,
        end_pts: 0,
    };
    // (decode time relative to the tfdt, composition offset, duration) of each sample, for
    // end_pts once the tfdt is known (it may come after the trun).
    let mut max_end_rel: i128 = 0;
    let mut first_flags = None;
    for b in boxes(traf.payload()) {
        let b = b?;
        match &b.kind {
            b"tfhd" => {
                let mut r = Reader::new(b.payload(), "tfhd");
                r.u8()?;
                let flags = r.u24()?;
                r.u32()?; // track_ID
                if flags & 0x1 != 0 {
                    r.u64()?;
                }
                if flags & 0x2 != 0 {
                    r.u32()?;
                }
                if flags & 0x8 != 0 {
                    default_duration = r.u32()?;
                }
                if flags & 0x10 != 0 {
                    r.u32()?;
                }
                if flags & 0x20 != 0 {
                    default_flags = r.u32()?;
                }
            }
            b"tfdt" => {
                let mut r = Reader::new(b.payload(), "tfdt");
                let version = r.u8()?;
                r.u24()?;
                base_decode_time = Some(if version == 1 {
                    r.u64()?
                } else {
                    u64::from(r.u32()?)
                });
            }
            b"trun" => {
                let mut r = Reader::new(b.payload(), "trun");
                let version = r.u8()?;
                let flags = r.u24()?;
                let count = r.u32()?;
                if count > MAX_FRAGMENT_SAMPLES - info.samples {
                    return Err(too_many_samples());
                }
                if flags & 0x1 != 0 {
                    r.u32()?; // data_offset
                }
                let first_sample_flags = if flags & 0x4 != 0 {
                    Some(r.u32()?)
                } else {
                    None
                };
                for i in 0..count {
                    let duration = if flags & 0x100 != 0 {
                        r.u32()?
                    } else {
                        default_duration
                    };
                    if flags & 0x200 != 0 {
                        r.u32()?;
                    }
                    let sample_flags = if flags & 0x400 != 0 {
                        r.u32()?
                    } else {
                        default_flags
                    };
                    let cts = if flags & 0x800 != 0 {
                        let raw = r.u32()?;
                        if version == 0 {
                            i64::from(raw)
                        } else {
                            i64::from(raw as i32)
                        }
                    } else {
                        0
                    };
                    if info.samples == 0 && i == 0 {
                        info.first_cts = cts;
                        first_flags = Some(first_sample_flags.unwrap_or(sample_flags));
                    }
                    max_end_rel = max_end_rel
                        .max(i128::from(info.duration) + i128::from(cts) + i128::from(duration));
                    info.duration = info.duration.saturating_add(u64::from(duration));
                }
                info.samples = info.samples.saturating_add(count);
            }
            _ => {}
        }
    }
    info.base_decode_time =
        base_decode_time.ok_or_else(|| EncodeError::Output("`traf` without `tfdt`".into()))?;
    info.end_pts = i128::from(info.base_decode_time) + max_end_rel;
    info.first_is_sync = first_flags.is_some_and(|f| f & SAMPLE_NON_SYNC == 0);
    Ok(info)
}

/// The error of a track fragment past [`MAX_FRAGMENT_SAMPLES`].
pub(crate) fn too_many_samples() -> EncodeError {
    EncodeError::Output(format!(
        "a `traf` declares more than {MAX_FRAGMENT_SAMPLES} samples"
    ))
}

/// One `moof` and the boxes after it up to the next `moof` (its `mdat`), as found in media
/// bytes; boxes before the first `moof` (`styp`, `sidx`, ...) go with it.
#[derive(Debug, Clone)]
pub struct Fragment<'a> {
    pub bytes: &'a [u8],
    pub info: FragmentInfo,
}

/// The fragments of media bytes (top-level `moof`/`mdat` pairs, with any `styp`/`sidx`/
/// `prft`/`emsg` before a `moof` kept with it).
pub fn fragments<'a>(media: &'a [u8], track: &TrackInfo) -> Result<Vec<Fragment<'a>>, EncodeError> {
    let mut out: Vec<Fragment<'a>> = vec![];
    // Start offset of the pending run of boxes and its parsed moof, if any.
    let mut start = 0usize;
    let mut pending: Option<FragmentInfo> = None;
    let mut pos = 0usize;
    for b in boxes(media) {
        let b = b?;
        let at = pos;
        pos += b.bytes.len();
        if b.is(b"moof") {
            if let Some(info) = pending.take() {
                out.push(Fragment {
                    bytes: &media[start..at],
                    info,
                });
                start = at;
            }
            pending = Some(fragment_info(&b, track)?);
        } else if pending.is_some() && !b.is(b"mdat") {
            // A box that opens the next fragment (styp, sidx, ...): close this one.
            if let Some(info) = pending.take() {
                out.push(Fragment {
                    bytes: &media[start..at],
                    info,
                });
                start = at;
            }
        }
    }
    if let Some(info) = pending {
        out.push(Fragment {
            bytes: &media[start..pos],
            info,
        });
    }
    Ok(out)
}
