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
