//! Domain types: media files and their probe, progress. Serialized as JSON documents in both
//! storage shapes, so the two stores hold exactly the same data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Visibility {
    Private,
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MediaStatus {
    Uploading,
    Probing,
    Ready,
    Failed,
}

/// Who is asking: the subject of a verified bearer token (`sub`), and whether its roles or
/// scope make it an admin (SPEC §2). Made by the service's token verifier, used by every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub is_admin: bool,
}

/// A media file: the record of an upload and, once probed, of what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub visibility: Visibility,
    pub status: MediaStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub filename: String,
    pub content_type: String,
    /// Object key of the original upload.
    pub source_key: String,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub probe: Option<Probe>,
    /// Its subtitle tracks, embedded and added (`tracks`): made at ingest, changed by sidecar
    /// uploads and deletions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtitles: Vec<SubtitleTrack>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: every write must name the version it read.
    #[serde(default)]
    pub version: u64,
    /// The resumable upload of a large source, sent in parts (SPEC §3 "Uploads from phones").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<MultipartUpload>,
}

/// A source sent in parts: the store's upload id and how the client cuts the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    pub upload_id: String,
    /// The size the client announced, in bytes.
    pub size: u64,
    /// Every part but the last has this size.
    pub part_size: u64,
    /// Parts are numbered `1..=part_count`.
    pub part_count: u32,
}

impl Media {
    pub fn visible_to(&self, caller: &Caller) -> bool {
        caller.is_admin || self.owner == caller.user_id || self.visibility == Visibility::Shared
    }
}

/// What ffprobe found, in typed form (SPEC §3 "Ingest").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Normalised container name: mp4, mov, mkv, webm, avi, ts, m4a, mp3, ...
    pub container: String,
    /// ffprobe's raw `format_name`.
    pub format_name: String,
    pub duration_seconds: f64,
    /// The container's start time (seconds; AAC priming often makes it slightly negative).
    /// Every time here (keyframes, durations) and on the segments' timeline is relative to it;
    /// subtitle cues keep the container's own times, and their timeline map says so
    /// (`stream_media::subtitles`).
    #[serde(default)]
    pub start_time: f64,
    /// Overall bitrate in bits/s.
    pub bitrate: Option<u64>,
    pub video: Option<VideoStream>,
    pub audio: Vec<AudioStream>,
    pub subtitles: Vec<SubtitleStream>,
    /// Presentation times (seconds) of the primary video stream's keyframes, ascending.
    #[serde(default)]
    pub keyframes: Vec<f64>,
    /// Human-readable remarks, e.g. that a file is audio only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum HdrKind {
    Sdr,
    Hdr10,
    Hlg,
    DolbyVision,
}

/// The dynamic range a picture is coded in, as HLS names it (`VIDEO-RANGE`): SDR, or HDR with
/// the PQ (SMPTE ST 2084: HDR10, Dolby Vision profiles 5 and 8.1) or HLG (ARIB STD-B67: phones'
/// HDR, Dolby Vision profile 8.4) transfer. It says how the base picture is decoded to light,
/// so it picks both the master's label and the tone-mapping's input transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DynamicRange {
    #[default]
    Sdr,
    Pq,
    Hlg,
}

impl DynamicRange {
    /// The `VIDEO-RANGE` attribute value.
    pub fn as_hls(self) -> &'static str {
        match self {
            DynamicRange::Sdr => "SDR",
            DynamicRange::Pq => "PQ",
            DynamicRange::Hlg => "HLG",
        }
    }
}

/// A Dolby Vision configuration record (the `dvcC`/`dvvC` box, ffprobe's "DOVI configuration
/// record"). Phones record profile 8.4 (an HLG base layer plus metadata); streaming services
/// ship 8.1 (an HDR10 base) and 5 (no backward-compatible base: only a Dolby Vision decoder
/// shows it right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DolbyVision {
    pub profile: u8,
    pub level: u8,
    /// `dv_bl_signal_compatibility_id`: what the base layer is without the metadata: 0 none
    /// (profile 5), 1 HDR10, 2 SDR, 4 HLG, 6 Blu-ray HDR10.
    pub compatibility: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VideoStream {
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    /// Level as a number (4.1 for H.264 level 41, 4.0 for HEVC level 120).
    pub level: Option<f64>,
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    pub pix_fmt: Option<String>,
    pub frame_rate: Option<f64>,
    pub codec_tag: Option<String>,
    pub color_transfer: Option<String>,
    pub hdr: HdrKind,
    pub interlaced: bool,
    pub bitrate: Option<u64>,
    /// Degrees (0, 90, 180, 270) the coded picture is turned clockwise to be shown: a phone's
    /// display matrix. `width`/`height` are the coded size.
    #[serde(default)]
    pub rotation: u16,
    /// The size the viewer sees: the coded size with square pixels (stretched by a sample
    /// aspect ratio other than 1:1), swapped for 90 and 270. What client limits and ladder
    /// rungs compare with (0 in records probed before rotation was recorded: read
    /// them through [`VideoStream::displayed_size`]).
    #[serde(default)]
    pub display_width: u32,
    #[serde(default)]
    pub display_height: u32,
    /// The Dolby Vision configuration, when the stream carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dolby_vision: Option<DolbyVision>,
}

impl VideoStream {
    /// True when the display turns the picture a quarter (its width and height swap).
    pub fn quarter_turned(&self) -> bool {
        self.rotation % 180 == 90
    }

    /// (width, height) as displayed: rotation applied (and, for records that store it, the
    /// sample aspect ratio).
    pub fn displayed_size(&self) -> (u32, u32) {
        if self.display_width > 0 && self.display_height > 0 {
            (self.display_width, self.display_height)
        } else {
            self.turned(self.width, self.height)
        }
    }

    /// An upright-as-coded size turned as the display turns this stream.
    pub fn turned(&self, width: u32, height: u32) -> (u32, u32) {
        if self.quarter_turned() {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// The dynamic range of the picture as decoded (for Dolby Vision: of its base layer; a
    /// profile 5 stream, which has none, counts as PQ).
    pub fn video_range(&self) -> DynamicRange {
        let hlg = self.color_transfer.as_deref() == Some("arib-std-b67");
        match self.hdr {
            HdrKind::Sdr => DynamicRange::Sdr,
            HdrKind::Hdr10 => DynamicRange::Pq,
            HdrKind::Hlg => DynamicRange::Hlg,
            HdrKind::DolbyVision => match self.dolby_vision.map(|d| d.compatibility) {
                Some(4) => DynamicRange::Hlg,
                Some(2) => DynamicRange::Sdr,
                _ if hlg => DynamicRange::Hlg,
                _ => DynamicRange::Pq,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudioStream {
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub channels: u32,
    pub channel_layout: Option<String>,
    pub sample_rate: Option<u32>,
    pub bitrate: Option<u64>,
    pub language: Option<String>,
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubtitleStream {
    pub index: u32,
    pub codec: String,
    pub language: Option<String>,
    /// `text` (srt, ass, webvtt, mov_text) or `bitmap` (PGS, DVD, DVB).
    pub kind: SubtitleKind,
    /// The container's `forced` disposition.
    #[serde(default)]
    pub forced: bool,
    /// The container's `default` disposition.
    #[serde(default)]
    pub default: bool,
    /// The stream's title tag (e.g. "SDH", "Signs & Songs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SubtitleKind {
    Text,
    Bitmap,
}

/// Where a track comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TrackSource {
    /// A stream of the uploaded file.
    Embedded,
    /// A subtitle file added to the media (`POST /media/{id}/subtitles`).
    Sidecar,
}

/// One subtitle track of a media (stored in its record, listed by `GET /media/{id}`; ids,
/// languages and names are made by `tracks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubtitleTrack {
    /// `s<stream index>` (embedded) or `x<8 hex>` (sidecar): stable for the media's life.
    pub id: String,
    /// BCP 47 (`en`, `fr`, `pt-BR`), if known.
    pub language: Option<String>,
    /// What a player shows in its menu, unique among the media's tracks.
    pub name: String,
    /// The source's codec (`subrip`, `ass`, `mov_text`, `webvtt`, `hdmv_pgs_subtitle`, ...) or,
    /// for a sidecar, its format (`srt`, `vtt`, `ass`).
    pub codec: String,
    pub kind: SubtitleKind,
    pub source: TrackSource,
    /// Shown without the viewer asking (signs, foreign dialogue).
    pub forced: bool,
    pub default: bool,
    /// The stream index in the source (embedded tracks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_index: Option<u32>,
    /// The object key of its WebVTT: present for a text track converted without error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtt_key: Option<String>,
    /// Why the conversion failed (the track is then listed but not offered to players).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The number of cues of its WebVTT.
    #[serde(default)]
    pub cues: usize,
}

impl SubtitleTrack {
    /// Whether players are offered it: a converted text track.
    pub fn playable(&self) -> bool {
        self.vtt_key.is_some()
    }
}

/// A user's playback position in one media file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub user_id: String,
    pub media_id: String,
    pub position_seconds: f64,
    pub completed: bool,
    pub updated_at: DateTime<Utc>,
}

/// The client limits that shape a transcode ladder (kept in the session so the rendition set
/// can be rebuilt exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RenditionLimits {
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub max_bitrate: Option<u64>,
    /// The audio codecs the client plays, a bit per `playback::capabilities::AUDIO_CODECS`
    /// entry (0: unknown, AAC only): the media's other audio tracks are copied only in these.
    #[serde(default)]
    pub audio_codecs: u16,
    /// The most audio channels the client plays (other tracks above it are made AAC stereo).
    #[serde(default)]
    pub max_audio_channels: Option<u32>,
}

/// The state of one segment (or init segment) of a rendition (SPEC §4): claimed before it is made
/// (one worker, a lease), then `ready` with its object or `failed` with the encoder's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentState {
    Encoding,
    Ready,
    Failed,
}

impl SegmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentState::Encoding => "encoding",
            SegmentState::Ready => "ready",
            SegmentState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "encoding" => Some(SegmentState::Encoding),
            "ready" => Some(SegmentState::Ready),
            "failed" => Some(SegmentState::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// `<rendition content key>/<file name>`: shared by every session of that rendition.
    pub id: String,
    pub state: SegmentState,
    /// The worker holding the claim (or that finished it).
    pub worker: String,
    /// Epoch seconds; an `encoding` claim past it belongs to a dead worker and may be taken over.
    pub lease_until: i64,
    /// How many times a worker claimed it (the test of "encoded once", and the retry bound).
    pub attempts: u32,
    pub object_key: Option<String>,
    pub error: Option<String>,
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The caller holds the claim now and must make the segment.
    Claimed(SegmentRecord),
    /// Someone else holds a live claim, or it is ready, or it failed for good.
    Held(SegmentRecord),
}
