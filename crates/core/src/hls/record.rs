//! A rendition's stored recipe (SPEC §3 "Edge delivery"): the edge's origin receives nothing but
//! a content path, `/renditions/<content key>/<file>`, and must be able to make that piece
//! without a session. So when a session first lists a rendition, its [`RenditionRecord`] is
//! stored under the content key: the rendition set it belongs to (what the workers need to make
//! any piece of it), which rendition of the set it is, and how many segments its plan has.

use serde::{Deserialize, Serialize};

use super::ladder::RenditionSet;
use crate::playback::decision::SegmentFormat;
use crate::segment::{parse_segment_name, Piece, SegmentName};

/// How to make any piece of one rendition, stored under its content key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionRecord {
    /// The set the rendition belongs to (the workers' input).
    pub set: RenditionSet,
    /// The rendition's id in the set (`v720`, `a`, `copy`).
    pub rendition: String,
    /// Media segments in its plan.
    pub segments: u32,
}

impl RenditionRecord {
    /// The record of `rendition` of `set`, if the set has it.
    pub fn new(set: &RenditionSet, rendition: &str, segments: u32) -> Option<Self> {
        set.rendition(rendition)?;
        Some(RenditionRecord {
            set: set.clone(),
            rendition: rendition.to_string(),
            segments,
        })
    }

    pub fn content_key(&self) -> Option<String> {
        self.set.content_key(&self.rendition)
    }

    /// The piece a requested file name names, if the rendition has it: only names this module
    /// writes, an index within the plan, an init only for fMP4.
    pub fn piece(&self, file: &str) -> Option<Piece> {
        match parse_segment_name(file)? {
            SegmentName::Init if self.set.format == SegmentFormat::Fmp4 => Some(Piece::Init),
            SegmentName::Media { index, format }
                if format == self.set.format && index < self.segments =>
            {
                Some(Piece::Media(index))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{segment_file_name, INIT_NAME};

    #[test]
    fn a_record_names_only_pieces_of_its_plan() {
        let (_, _, set) = crate::fixtures::remux_fixture();
        let rendition = set.video[0].id.clone();
        assert!(RenditionRecord::new(&set, "nope", 3).is_none());
        let rec = RenditionRecord::new(&set, &rendition, 3).unwrap();
        assert_eq!(rec.content_key(), set.content_key(&rendition));
        let name = |i| segment_file_name(i, set.format);
        assert_eq!(rec.piece(&name(2)), Some(Piece::Media(2)));
        assert_eq!(rec.piece(&name(3)), None);
        assert_eq!(rec.piece("seg_2.m4s"), None);
        assert_eq!(rec.piece("../init.mp4"), None);
        let init = (set.format == SegmentFormat::Fmp4).then_some(Piece::Init);
        assert_eq!(rec.piece(INIT_NAME), init);
    }
}
