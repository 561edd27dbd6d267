//! Trick-play images (SPEC §3 "Tracks", "Trick-play"), the pure part: which thumbnails a media
//! has, how they are tiled into JPEG sheets, what each sheet is called and where it is stored,
//! and the two texts players read them from: an HLS image playlist (Apple's "HLS Image
//! Playlists": `EXT-X-IMAGES-ONLY`, `EXT-X-TILES`, as Roku and Apple TV use it, announced in the
//! master by `EXT-X-IMAGE-STREAM-INF`) and a WebVTT storyboard (one cue per thumbnail, its text
//! the sheet's URL with a `#xywh=x,y,w,h` fragment: what web players such as the player page
//! read).
//!
//! **The plan.** A thumbnail every `interval` seconds (10 by default), `width` pixels wide (320),
//! its height from the displayed aspect (rotation and sample aspect applied, rounded to an even
//! number), tiled `columns` × `rows` (10 × 10) per sheet. A media shorter than one full sheet
//! gets a smaller grid (never more columns than thumbnails, never more rows than needed), so a
//! 45 s clip is one 5×1 sheet, not a 3200×1800 image of black. Every sheet of a media has the
//! same grid (the playlist's `LAYOUT` and the storyboard's offsets are one rule); the last one
//! may hold fewer tiles (the rest is black) and lasts only what its tiles cover.
//!
//! **Which frame a tile shows** (the rule the tests check): thumbnail `i` stands for the times
//! `[i·interval, min((i+1)·interval, duration))` and shows the **last decoded frame at or before
//! `i·interval`** (source time, relative to the container's start like every time here). When
//! every thumbnail time of a sheet has a source keyframe at most one interval before it, only
//! keyframes are decoded (`-skip_frame nokey`: the cost of a sheet is a hundred keyframe decodes,
//! not a thousand seconds of video), so the tile shows that keyframe; otherwise (a source whose
//! keyframes are further apart than the interval) the sheet decodes every frame and the tile is
//! the exact frame at that time. See [`keyframes_suffice`]. One ffmpeg run per sheet reads the
//! sheet's span once, from the keyframe before its first thumbnail (`stream_media::trickplay`).
//!
//! **Shared by content.** A sheet is a piece like a segment (`segment::Piece::Sheet`): its claim
//! record and object are `renditions/<trick-play key>/sheet_00003.jpg`, the key a hash of the
//! media id and every parameter that shapes the pixels, never of a session or a user. So every
//! viewer shares a sheet, the edge caches it like a segment (the same `/renditions/*` path and
//! edge signature), and a sheet is made just in time, once, when first asked for.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Probe;
use crate::playback::decision::SegmentFormat;
pub use crate::segment::{parse_sheet_name, sheet_file_name, SHEET_CONTENT_TYPE};
use crate::segment::{Piece, SegmentId};

/// The rendition id the image playlist is listed under in a session's paths
/// (`/hls/{sid}/images/playlist.m3u8`); no rendition of a set is called so.
pub const IMAGES_RENDITION: &str = "images";

/// What shapes every sheet of a media (the service's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrickplayParams {
    /// Seconds between thumbnails.
    pub interval: u32,
    /// Tile width in pixels (the height follows the displayed aspect).
    pub width: u32,
    /// Most tiles per sheet row.
    pub columns: u32,
    /// Most tile rows per sheet.
    pub rows: u32,
}

impl Default for TrickplayParams {
    fn default() -> Self {
        TrickplayParams {
            interval: 10,
            width: 320,
            columns: 10,
            rows: 10,
        }
    }
}

impl TrickplayParams {
    /// Checks the values (the configuration's parse): each within a sensible bound.
    pub fn validate(&self) -> Result<(), String> {
        let check = |name: &str, v: u32, lo: u32, hi: u32| {
            (lo..=hi)
                .contains(&v)
                .then_some(())
                .ok_or_else(|| format!("trick-play {name} must be {lo} to {hi}, got {v}"))
        };
        check("interval", self.interval, 1, 600)?;
        check("width", self.width, 16, 1280)?;
        check("columns", self.columns, 1, 32)?;
        check("rows", self.rows, 1, 32)
    }

    /// Parses a grid `CxR` (`10x10`).
    pub fn parse_grid(raw: &str) -> Option<(u32, u32)> {
        let (c, r) = raw.trim().split_once(['x', 'X'])?;
        Some((c.trim().parse().ok()?, r.trim().parse().ok()?))
    }
}

/// The trick-play images of one media: everything a worker needs to make any sheet and a player
/// needs to find any tile. Stored under its content key (`MetaStore::put_trickplay`), so the
/// edge's origin can make a sheet from its path alone, as for a rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrickplayPlan {
    pub media_id: String,
    pub params: TrickplayParams,
    /// One tile's size (even numbers).
    pub tile_width: u32,
    pub tile_height: u32,
    /// The grid every sheet of this media has (at most the params' grid).
    pub columns: u32,
    pub rows: u32,
    /// The media's duration (seconds).
    pub duration: f64,
    /// Thumbnails in all.
    pub thumbnails: u32,
}

/// An even number of pixels, at least 2.
fn even(v: f64) -> u32 {
    let v = (v / 2.0).round() * 2.0;
    v.clamp(2.0, 16_384.0) as u32
}

impl TrickplayPlan {
    /// The plan of a media with this probe; `None` without video or without a duration.
    pub fn new(media_id: &str, probe: &Probe, params: TrickplayParams) -> Option<TrickplayPlan> {
        let video = probe.video.as_ref()?;
        let duration = probe.duration_seconds;
        if !(duration.is_finite() && duration > 0.0) || params.validate().is_err() {
            return None;
        }
        let (dw, dh) = video.displayed_size();
        if dw == 0 || dh == 0 {
            return None;
        }
        let tile_width = even(params.width as f64);
        let tile_height = even(tile_width as f64 * dh as f64 / dw as f64);
        let interval = params.interval as f64;
        // A thumbnail for every started interval (a 45 s media at 10 s: 0, 10, 20, 30, 40).
        let thumbnails = ((duration / interval).ceil() as u32).max(1);
        let columns = params.columns.min(thumbnails);
        let rows = params.rows.min(thumbnails.div_ceil(columns));
        Some(TrickplayPlan {
            media_id: media_id.to_string(),
            params,
            tile_width,
            tile_height,
            columns,
            rows,
            duration,
            thumbnails,
        })
    }

    /// Tiles per sheet.
    pub fn per_sheet(&self) -> u32 {
        self.columns * self.rows
    }

    /// Sheets in all.
    pub fn sheets(&self) -> u32 {
        self.thumbnails.div_ceil(self.per_sheet())
    }

    /// The size of a sheet image (every sheet: the grid of tiles).
    pub fn sheet_size(&self) -> (u32, u32) {
        (self.tile_width * self.columns, self.tile_height * self.rows)
    }

    /// The time thumbnail `i` shows (see the module doc for which frame that is).
    pub fn time_of(&self, i: u32) -> f64 {
        f64::from(i) * f64::from(self.params.interval)
    }

    /// The times thumbnail `i` stands for: `[start, end)`, the last one ending with the media.
    pub fn span_of(&self, i: u32) -> (f64, f64) {
        let start = self.time_of(i);
        let end = (start + f64::from(self.params.interval)).min(self.duration);
        (start, end.max(start))
    }

    /// The thumbnails on sheet `s`, in tile order (row by row).
    pub fn thumbnails_of(&self, s: u32) -> Range<u32> {
        let first = s.saturating_mul(self.per_sheet()).min(self.thumbnails);
        first..(first.saturating_add(self.per_sheet())).min(self.thumbnails)
    }

    /// The times sheet `s` covers: `[start, end)`.
    pub fn sheet_span(&self, s: u32) -> (f64, f64) {
        let r = self.thumbnails_of(s);
        if r.is_empty() {
            return (self.duration, self.duration);
        }
        (self.span_of(r.start).0, self.span_of(r.end - 1).1)
    }

    /// The sheet, and the tile's `(x, y, w, h)` on it, of thumbnail `i`.
    pub fn tile(&self, i: u32) -> (u32, (u32, u32, u32, u32)) {
        let (sheet, at) = (i / self.per_sheet(), i % self.per_sheet());
        let (x, y) = (at % self.columns, at / self.columns);
        (
            sheet,
            (
                x * self.tile_width,
                y * self.tile_height,
                self.tile_width,
                self.tile_height,
            ),
        )
    }

    /// The thumbnail that stands for time `t` (clamped to the media).
    pub fn thumbnail_at(&self, t: f64) -> u32 {
        let t = if t.is_finite() { t.max(0.0) } else { 0.0 };
        ((t / f64::from(self.params.interval)).floor() as u32).min(self.thumbnails - 1)
    }

    /// Hex SHA-256 of the media id and every parameter that shapes the sheets' pixels: the
    /// sheets' claim records and objects live under it, shared by every viewer.
    pub fn content_key(&self) -> String {
        let mut h = Sha256::new();
        let p = &self.params;
        let fields = format!(
            "trickplay v1\0{}\0{}\0{}\0{}\0{}\0{}x{}\0{}x{}\0{}",
            self.media_id,
            p.interval,
            p.width,
            p.columns,
            p.rows,
            self.tile_width,
            self.tile_height,
            self.columns,
            self.rows,
            self.thumbnails
        );
        h.update(fields.as_bytes());
        hex::encode(h.finalize())
    }

    /// The identity of sheet `s` (claim record, object key, content type), like any piece.
    pub fn sheet_id(&self, s: u32) -> SegmentId {
        // The format is a segment's, meaningless for an image: the piece decides the name
        // and the type.
        SegmentId::new(
            &self.media_id,
            &self.content_key(),
            Piece::Sheet(s),
            SegmentFormat::Fmp4,
        )
    }

    /// The sheet a requested file name names, if this plan has it (only names
    /// [`sheet_file_name`] writes, an index below [`Self::sheets`]).
    pub fn sheet_of(&self, file: &str) -> Option<u32> {
        parse_sheet_name(file).filter(|s| *s < self.sheets())
    }

    /// The WebVTT storyboard: one cue per thumbnail, covering the media without a gap, each
    /// naming its sheet (`sheet_url(s)`) with the tile's `#xywh=x,y,w,h`.
    pub fn storyboard_vtt(&self, sheet_url: impl Fn(u32) -> String) -> String {
        let mut out = String::from("WEBVTT\n");
        for i in 0..self.thumbnails {
            let (start, end) = self.span_of(i);
            let (sheet, (x, y, w, h)) = self.tile(i);
            out.push_str(&format!(
                "\n{} --> {}\n{}#xywh={x},{y},{w},{h}\n",
                vtt_time(start),
                vtt_time(end),
                sheet_url(sheet)
            ));
        }
        out
    }

    /// The HLS image playlist (Apple's image playlists): one `EXTINF` per sheet, its duration
    /// what its tiles cover, with `EXT-X-TILES` (tile size, grid, seconds per tile).
    pub fn image_playlist(&self, sheet_uri: impl Fn(u32) -> String) -> String {
        let target = self.params.interval.saturating_mul(self.per_sheet()).max(1);
        let mut out = format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-IMAGES-ONLY\n"
        );
        for s in 0..self.sheets() {
            let (start, end) = self.sheet_span(s);
            out.push_str(&format!(
                "#EXTINF:{:.3},\n#EXT-X-TILES:RESOLUTION={}x{},LAYOUT={}x{},DURATION={}\n{}\n",
                end - start,
                self.tile_width,
                self.tile_height,
                self.columns,
                self.rows,
                self.params.interval,
                sheet_uri(s)
            ));
        }
        out.push_str("#EXT-X-ENDLIST\n");
        out
    }

    /// The master playlist's line announcing the image playlist at `uri`. `BANDWIDTH` is an
    /// estimate (a sheet's tiles at about one byte per eight pixels over the seconds they
    /// cover): the images are fetched on demand, never as part of playback's bandwidth.
    pub fn image_stream_inf(&self, uri: &str) -> String {
        let tile_bytes = u64::from(self.tile_width) * u64::from(self.tile_height) / 8;
        let bandwidth = (tile_bytes * 8 / u64::from(self.params.interval)).max(1);
        format!(
            "#EXT-X-IMAGE-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={}x{},CODECS=\"jpeg\",URI=\"{uri}\"",
            self.tile_width, self.tile_height
        )
    }
}

/// Whether sheet `s` of `plan` may be made from keyframes alone: every thumbnail time of the
/// sheet has a keyframe at most one interval before it (`keyframes`: the probe's, ascending,
/// relative to the start). Otherwise the sheet decodes every frame, and each tile is the exact
/// frame at its time. A probe that recorded no keyframes decodes every frame.
pub fn keyframes_suffice(plan: &TrickplayPlan, keyframes: &[f64], s: u32) -> bool {
    let interval = f64::from(plan.params.interval);
    !keyframes.is_empty()
        && plan.thumbnails_of(s).all(|i| {
            let t = plan.time_of(i);
            // The last keyframe at or before t (a hair of tolerance for rounded timestamps).
            let at = keyframes.partition_point(|k| *k <= t + 1e-6);
            at > 0 && t - keyframes[at - 1] <= interval
        })
}

/// `hh:mm:ss.mmm`.
fn vtt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(duration: f64, w: u32, h: u32, rotation: u16) -> Probe {
        let (mut p, _, _) = crate::fixtures::remux_fixture();
        p.duration_seconds = duration;
        let v = p.video.as_mut().unwrap();
        (v.width, v.height, v.rotation) = (w, h, rotation);
        (v.display_width, v.display_height) = (0, 0);
        p
    }

    fn plan(duration: f64) -> TrickplayPlan {
        TrickplayPlan::new("m1", &probe(duration, 1920, 1080, 0), Default::default()).unwrap()
    }

    #[test]
    fn tiles_follow_the_displayed_aspect_in_even_pixels() {
        let p = plan(3600.0);
        assert_eq!((p.tile_width, p.tile_height), (320, 180));
        // Portrait (a phone turned a quarter): 320 wide, 568.9 -> 568 high.
        let turned = probe(60.0, 1920, 1080, 90);
        let p = TrickplayPlan::new("m", &turned, Default::default()).unwrap();
        assert_eq!((p.tile_width, p.tile_height), (320, 568));
        // An odd result rounds to even: 320 * 3 / 4 = 240; 320 * 9 / 21 = 137.1 -> 138.
        let wide = TrickplayPlan::new("m", &probe(60.0, 2100, 900, 0), Default::default());
        assert_eq!(wide.unwrap().tile_height, 138);
        // No video, no duration: no plan.
        let mut audio = probe(60.0, 1, 1, 0);
        audio.video = None;
        assert!(TrickplayPlan::new("m", &audio, Default::default()).is_none());
        assert!(TrickplayPlan::new("m", &probe(0.0, 640, 360, 0), Default::default()).is_none());
    }

    #[test]
    fn sheets_cover_the_media_and_a_short_media_gets_a_small_grid() {
        // One hour at 10 s: 360 thumbnails, 10x10 sheets: 4 sheets, the last with 60 tiles.
        let p = plan(3600.0);
        assert_eq!(
            (p.thumbnails, p.columns, p.rows, p.sheets()),
            (360, 10, 10, 4)
        );
        assert_eq!(p.thumbnails_of(3), 300..360);
        assert_eq!(p.sheet_span(0), (0.0, 1000.0));
        assert_eq!(p.sheet_span(3), (3000.0, 3600.0));
        assert_eq!(p.sheet_size(), (3200, 1800));
        // 45 s: 5 thumbnails (0, 10, 20, 30, 40), one 5x1 sheet; the last tile covers 40-45.
        let p = plan(45.0);
        assert_eq!((p.thumbnails, p.columns, p.rows, p.sheets()), (5, 5, 1, 1));
        assert_eq!(p.span_of(4), (40.0, 45.0));
        assert_eq!(p.sheet_size(), (1600, 180));
        // 250 s: 25 thumbnails: a 10x3 grid (not 10x10).
        let p = plan(250.0);
        assert_eq!((p.columns, p.rows, p.sheets()), (10, 3, 1));
        // Exactly 20 s: 2 thumbnails, not 3.
        assert_eq!(plan(20.0).thumbnails, 2);
    }

    #[test]
    fn a_time_maps_to_its_tile() {
        let p = plan(3600.0);
        assert_eq!(p.thumbnail_at(0.0), 0);
        assert_eq!(p.thumbnail_at(9.99), 0);
        assert_eq!(p.thumbnail_at(10.0), 1);
        assert_eq!(p.thumbnail_at(1234.5), 123);
        assert_eq!(p.thumbnail_at(1e9), 359);
        assert_eq!(p.thumbnail_at(f64::NAN), 0);
        // Thumbnail 123: sheet 1, tile 23: column 3, row 2.
        assert_eq!(p.tile(123), (1, (960, 360, 320, 180)));
        assert_eq!(p.tile(0), (0, (0, 0, 320, 180)));
        assert_eq!(p.tile(99), (0, (2880, 1620, 320, 180)));
    }

    #[test]
    fn keyframes_alone_only_when_each_time_has_one_within_the_interval() {
        let p = plan(45.0); // times 0, 10, 20, 30, 40
        let every_2s: Vec<f64> = (0..23).map(|i| f64::from(i) * 2.0).collect();
        assert!(keyframes_suffice(&p, &every_2s, 0));
        // A keyframe at 0 and 25: time 20 is 20 s after its keyframe: every frame is decoded.
        assert!(!keyframes_suffice(&p, &[0.0, 25.0], 0));
        // Keyframes 9.5 s before each time are close enough.
        let late: Vec<f64> = [0.0, 0.5, 10.5, 20.5, 30.5].to_vec();
        assert!(keyframes_suffice(&p, &late, 0));
        // The first frame a hair after 0 still counts as at 0.
        assert!(!keyframes_suffice(&p, &[], 0));
        assert!(!keyframes_suffice(&p, &[0.1, 10.0, 20.0, 30.0, 40.0], 0));
    }

    #[test]
    fn sheet_names_are_strict_and_content_addressed() {
        assert_eq!(sheet_file_name(3), "sheet_00003.jpg");
        assert_eq!(parse_sheet_name("sheet_00003.jpg"), Some(3));
        assert_eq!(parse_sheet_name("sheet_123456.jpg"), Some(123_456));
        for bad in [
            "sheet_3.jpg",
            "sheet_000003.jpg",
            "sheet_00003.jpeg",
            "sheet_-0003.jpg",
            "sheet_99999999999.jpg",
            "../sheet_00003.jpg",
            "seg_00003.m4s",
            "",
        ] {
            assert_eq!(parse_sheet_name(bad), None, "{bad}");
        }
        let p = plan(3600.0);
        assert_eq!(p.sheet_of("sheet_00003.jpg"), Some(3));
        assert_eq!(p.sheet_of("sheet_00004.jpg"), None);
        let id = p.sheet_id(2);
        assert_eq!(id.file_name(), "sheet_00002.jpg");
        assert_eq!(id.content_type(), SHEET_CONTENT_TYPE);
        assert_eq!(
            id.object_key(),
            format!("renditions/{}/sheet_00002.jpg", p.content_key())
        );
        assert!(crate::segment::is_content_key(&p.content_key()));
        // The same media and parameters: the same key (any viewer); anything else: another.
        assert_eq!(p.content_key(), plan(3600.0).content_key());
        let other = TrickplayParams {
            interval: 5,
            ..Default::default()
        };
        let q = TrickplayPlan::new("m1", &probe(3600.0, 1920, 1080, 0), other).unwrap();
        assert_ne!(p.content_key(), q.content_key());
        let r = TrickplayPlan::new("m2", &probe(3600.0, 1920, 1080, 0), Default::default());
        assert_ne!(p.content_key(), r.unwrap().content_key());
    }

    #[test]
    fn the_storyboard_covers_the_media_without_gaps() {
        let p = plan(45.0);
        let vtt = p.storyboard_vtt(|s| format!("/r/{}?sig=1", sheet_file_name(s)));
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:10.000\n/r/sheet_00000.jpg?sig=1#xywh=0,0,320,180\n"), "{vtt}");
        assert!(
            vtt.ends_with(
                "00:00:40.000 --> 00:00:45.000\n/r/sheet_00000.jpg?sig=1#xywh=1280,0,320,180\n"
            ),
            "{vtt}"
        );
        assert_eq!(vtt.matches(" --> ").count(), 5);
        assert_eq!(vtt_time(3725.5), "01:02:05.500");
    }

    #[test]
    fn the_image_playlist_and_the_master_line() {
        let p = plan(3600.0);
        let m3u8 = p.image_playlist(|s| format!("{}?q", sheet_file_name(s)));
        let expected_head = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1000\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-IMAGES-ONLY\n#EXTINF:1000.000,\n#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=10x10,DURATION=10\nsheet_00000.jpg?q\n";
        assert!(m3u8.starts_with(expected_head), "{m3u8}");
        assert!(
            m3u8.ends_with("#EXTINF:600.000,\n#EXT-X-TILES:RESOLUTION=320x180,LAYOUT=10x10,DURATION=10\nsheet_00003.jpg?q\n#EXT-X-ENDLIST\n"),
            "{m3u8}"
        );
        let sum: f64 = m3u8
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|l| l.trim_end_matches(',').parse::<f64>().unwrap())
            .sum();
        assert!((sum - 3600.0).abs() < 1e-6);
        assert_eq!(
            p.image_stream_inf("images/playlist.m3u8?token=t"),
            "#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=5760,RESOLUTION=320x180,CODECS=\"jpeg\",URI=\"images/playlist.m3u8?token=t\""
        );
    }

    #[test]
    fn parameters_are_bounded() {
        assert!(TrickplayParams::default().validate().is_ok());
        let bad = TrickplayParams {
            interval: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("interval"));
        assert_eq!(TrickplayParams::parse_grid("4x3"), Some((4, 3)));
        assert_eq!(TrickplayParams::parse_grid("4"), None);
    }
}
