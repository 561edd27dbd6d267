//! The identity of a segment, in one place (SPEC §4 "Segment objects are keyed by what they
//! contain"). A piece of a rendition (its init, or media segment `i`) is named by the
//! rendition's content key (`hls::ladder`: a hash of everything that shapes its bytes) and its
//! file name. From that one value come:
//!
//! - the file name players ask for (`seg_00042.m4s`, `init.mp4`), and its strict parser: a
//!   request can only name what this module writes;
//! - the claim record's id (`<content key>/<file>`), shared by every session of the rendition;
//! - the object key its bytes are published under (`renditions/<content key>/<file>`), never a
//!   session's, so objects are shared and immutable. It is also the path every player asks the
//!   edge for (SPEC §3 "Edge delivery"): the CDN's bucket origin answers it as it stands, and a
//!   miss reaches the function with nothing but this path, which names a stored rendition record;
//! - the content type it is served with.
//!
//! How to make a rendition, found by its content key alone, is `hls::record::RenditionRecord`.

use crate::playback::decision::SegmentFormat;

/// The path prefix of rendition objects, in the bucket and at the edge.
pub const RENDITIONS_PREFIX: &str = "renditions/";

/// The name of the fMP4 initialization segment.
pub const INIT_NAME: &str = "init.mp4";
/// The name of an offline download's MP4 (under its own content key: see the `download` module).
/// Players never ask for it by name: [`parse_segment_name`] does not accept it.
pub const DOWNLOAD_NAME: &str = "download.mp4";
/// Digits of a segment index in its file name (more only past 99 999).
pub(crate) const INDEX_DIGITS: usize = 5;

/// The segment's file name: `seg_00042.m4s` (fMP4) or `seg_00042.ts`.
pub fn segment_file_name(index: u32, format: SegmentFormat) -> String {
    format!("seg_{index:0INDEX_DIGITS$}.{}", extension(format))
}

pub(crate) fn extension(format: SegmentFormat) -> &'static str {
    match format {
        SegmentFormat::Fmp4 => "m4s",
        SegmentFormat::Ts => "ts",
    }
}

/// A segment file name of a rendition, as requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentName {
    Init,
    Media { index: u32, format: SegmentFormat },
}

/// Parses a name [`segment_file_name`] (or `init.mp4`) writes, and nothing else: exactly the
/// canonical form (`seg_1.m4s`, `seg_000001.m4s`, `../x`, `seg_00001.m4s.exe`, an index past
/// u32 are all refused). Whether the index is in the plan is the caller's check.
pub fn parse_segment_name(name: &str) -> Option<SegmentName> {
    if name == INIT_NAME {
        return Some(SegmentName::Init);
    }
    let (stem, ext) = name.strip_prefix("seg_")?.split_once('.')?;
    let format = match ext {
        "m4s" => SegmentFormat::Fmp4,
        "ts" => SegmentFormat::Ts,
        _ => return None,
    };
    if stem.len() < INDEX_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: u32 = stem.parse().ok()?;
    // Canonical: no superfluous leading zero (a 6-digit name is only for indices >= 100 000).
    (segment_file_name(index, format) == name).then_some(SegmentName::Media { index, format })
}

/// The content type of a trick-play sheet (the `trickplay` module).
pub const SHEET_CONTENT_TYPE: &str = "image/jpeg";

/// The file name of sheet `s`: `sheet_00003.jpg`.
pub fn sheet_file_name(s: u32) -> String {
    format!("sheet_{s:0INDEX_DIGITS$}.jpg")
}

/// Parses exactly what [`sheet_file_name`] writes (no other spelling of the same index).
pub fn parse_sheet_name(name: &str) -> Option<u32> {
    let stem = name.strip_prefix("sheet_")?.strip_suffix(".jpg")?;
    if stem.len() < INDEX_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let s: u32 = stem.parse().ok()?;
    (sheet_file_name(s) == name).then_some(s)
}

/// The claim record id of the piece named `file` of the rendition with `content_key`.
pub fn record_id(content_key: &str, file: &str) -> String {
    format!("{content_key}/{file}")
}

/// Which piece of a rendition: its fMP4 initialization segment or media segment `i`; or a
/// whole offline download (a faststart MP4 assembled from a rung's pieces, keyed by
/// `download::download_key`), claimed and published like any piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Piece {
    Init,
    Media(u32),
    Download,
    /// Trick-play sheet `i` of a media (the `trickplay` module): a JPEG of thumbnails, claimed,
    /// published and served like any piece.
    Sheet(u32),
}

/// One piece of one rendition: everything that names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentId {
    pub media_id: String,
    /// The rendition's content key (`RenditionSet::content_key`).
    pub content_key: String,
    pub piece: Piece,
    pub format: SegmentFormat,
}

/// Cache-Control of segment objects: keyed by content, so immutable (SPEC §4).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl SegmentId {
    pub fn new(media_id: &str, content_key: &str, piece: Piece, format: SegmentFormat) -> Self {
        SegmentId {
            media_id: media_id.to_string(),
            content_key: content_key.to_string(),
            piece,
            format,
        }
    }

    /// The same rendition's other piece.
    pub fn with_piece(&self, piece: Piece) -> Self {
        SegmentId {
            piece,
            ..self.clone()
        }
    }

    /// `init.mp4` or `seg_00042.m4s` / `seg_00042.ts`.
    pub fn file_name(&self) -> String {
        match self.piece {
            Piece::Init => INIT_NAME.to_string(),
            Piece::Media(i) => segment_file_name(i, self.format),
            Piece::Download => DOWNLOAD_NAME.to_string(),
            Piece::Sheet(i) => sheet_file_name(i),
        }
    }

    /// `<content key>/<file name>`: the id of its claim record, shared by every session.
    pub fn record_id(&self) -> String {
        record_id(&self.content_key, &self.file_name())
    }

    /// Where its bytes live, by content alone (never by session), and the path the edge serves
    /// it at (with a leading `/`).
    pub fn object_key(&self) -> String {
        object_key(&self.content_key, &self.file_name())
    }

    pub fn content_type(&self) -> &'static str {
        content_type(self.format, self.piece)
    }
}

/// The content type a piece is served with.
pub fn content_type(format: SegmentFormat, piece: Piece) -> &'static str {
    match (format, piece) {
        (_, Piece::Download) => "video/mp4",
        (_, Piece::Sheet(_)) => SHEET_CONTENT_TYPE,
        (SegmentFormat::Ts, _) => "video/mp2t",
        (SegmentFormat::Fmp4, Piece::Init) => "video/mp4",
        (SegmentFormat::Fmp4, Piece::Media(_)) => "video/iso.segment",
    }
}

/// The content type of a file name [`parse_segment_name`] (or a sheet's name) accepts (`None`
/// otherwise).
pub fn content_type_of(file: &str) -> Option<&'static str> {
    if parse_sheet_name(file).is_some() {
        return Some(SHEET_CONTENT_TYPE);
    }
    Some(match parse_segment_name(file)? {
        SegmentName::Init => content_type(SegmentFormat::Fmp4, Piece::Init),
        SegmentName::Media { index, format } => content_type(format, Piece::Media(index)),
    })
}

/// The object key (and edge path, after a `/`) of `file` of the rendition with `content_key`.
pub fn object_key(content_key: &str, file: &str) -> String {
    format!("{RENDITIONS_PREFIX}{content_key}/{file}")
}

/// A content key as [`RenditionSet::content_key`] writes it: 64 lowercase hex digits. Anything
/// else arriving in a path is refused before it names a record or an object.
pub fn is_content_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        use SegmentFormat::*;
        assert_eq!(segment_file_name(42, Fmp4), "seg_00042.m4s");
        assert_eq!(segment_file_name(42, Ts), "seg_00042.ts");
        assert_eq!(segment_file_name(123_456, Fmp4), "seg_123456.m4s");
        assert_eq!(parse_segment_name("init.mp4"), Some(SegmentName::Init));
        assert_eq!(
            parse_segment_name("seg_00042.m4s"),
            Some(SegmentName::Media {
                index: 42,
                format: Fmp4
            })
        );
        assert_eq!(
            parse_segment_name("seg_00000.ts"),
            Some(SegmentName::Media {
                index: 0,
                format: Ts
            })
        );
        assert_eq!(
            parse_segment_name("seg_123456.m4s"),
            Some(SegmentName::Media {
                index: 123_456,
                format: Fmp4
            })
        );
        assert_eq!(
            parse_segment_name("seg_4294967295.ts"),
            Some(SegmentName::Media {
                index: u32::MAX,
                format: Ts
            })
        );
        for bad in [
            "seg_1.m4s",
            "seg_000001.m4s",
            "seg_00001.m4s.exe",
            "seg_00001.mp4",
            "seg_-0001.m4s",
            "seg_+0001.m4s",
            "seg_ 0001.m4s",
            "seg_4294967296.m4s",
            "seg_99999999999999999999.m4s",
            "../x",
            "../seg_00001.m4s",
            "seg_00001.M4S",
            "SEG_00001.m4s",
            "init.mp4.exe",
            "Init.mp4",
            "seg_.m4s",
            "seg_٠٠٠٠١.m4s",
            "",
            "playlist.m3u8",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
        for i in [0, 1, 99_999, 100_000, u32::MAX] {
            for f in [Fmp4, Ts] {
                assert_eq!(
                    parse_segment_name(&segment_file_name(i, f)),
                    Some(SegmentName::Media {
                        index: i,
                        format: f
                    })
                );
            }
        }
    }
    #[test]
    fn one_identity_names_record_object_and_type() {
        let id = SegmentId::new("m1", "abc", Piece::Media(3), SegmentFormat::Fmp4);
        assert_eq!(id.file_name(), "seg_00003.m4s");
        assert_eq!(id.record_id(), "abc/seg_00003.m4s");
        assert_eq!(id.object_key(), "renditions/abc/seg_00003.m4s");
        assert_eq!(id.content_type(), "video/iso.segment");
        let init = id.with_piece(Piece::Init);
        assert_eq!(init.record_id(), "abc/init.mp4");
        assert_eq!(init.content_type(), "video/mp4");
        assert_eq!(init.object_key(), object_key("abc", "init.mp4"));
        let ts = SegmentId::new("m1", "abc", Piece::Media(0), SegmentFormat::Ts);
        assert_eq!(
            (ts.file_name().as_str(), ts.content_type()),
            ("seg_00000.ts", "video/mp2t")
        );
    }

    #[test]
    fn content_keys_are_64_lowercase_hex() {
        assert!(is_content_key(&"a1".repeat(32)));
        for bad in [
            String::new(),
            "A1".repeat(32),
            "a1".repeat(31),
            "a1".repeat(33),
            format!("{}/", "a".repeat(63)),
            format!("..{}", "a".repeat(62)),
        ] {
            assert!(!is_content_key(&bad), "{bad}");
        }
    }
}
