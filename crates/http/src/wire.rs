//! The wire format: request and response bodies of the API, as the clients see them (SPEC §3).
//! They are converted from and to the service's types at the edge, and their JSON schemas are
//! the OpenAPI document's (`utoipa::ToSchema`).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use stream_core::model::{
    AudioStream, Media, MediaStatus, Progress, SubtitleKind, VideoStream, Visibility,
};
use stream_core::playback::decision::{Method, Reason, SegmentFormat};
use stream_core::tracks::{SubtitleTrack, TrackSource};
use stream_service::media::{MediaChanges, NewUpload, UploadTicket};
use stream_service::playback::Playback;
use stream_service::subtitles::SubtitleLink;
use stream_service::uploads::{MultipartTicket, PartUrl, Upload, UploadProgress};
use utoipa::ToSchema;

/// `{"error": {"code", "message", "request_id"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case, stable: what a client branches on.
    pub code: String,
    /// For a person; internal details are never included.
    pub message: String,
    pub request_id: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: &str, request_id: &str) -> Self {
        let error = ErrorDetail {
            code: code.into(),
            message: message.into(),
            request_id: request_id.into(),
        };
        ErrorBody { error }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// `POST /uploads`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUploadBody {
    /// The client's file name (only its extension is kept, lower-cased, in the object key).
    pub filename: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// The file's size in bytes. Above the part size (16 MiB by default) the answer is a
    /// multipart upload (`MultipartCreated`); otherwise, or without it, one PUT.
    #[serde(default)]
    pub size: Option<u64>,
}

impl From<NewUploadBody> for NewUpload {
    fn from(b: NewUploadBody) -> Self {
        NewUpload {
            filename: b.filename,
            content_type: b.content_type,
            title: b.title,
            visibility: b.visibility,
            size: b.size,
        }
    }
}

/// `POST /uploads` answers one PUT, or, for a `size` above the part size, parts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadAnswer {
    Single(UploadCreated),
    Multipart(MultipartCreated),
}

impl From<Upload> for UploadAnswer {
    fn from(u: Upload) -> Self {
        match u {
            Upload::Single(t) => UploadAnswer::Single(t.into()),
            Upload::Multipart(t) => UploadAnswer::Multipart(t.into()),
        }
    }
}

/// A multipart upload: PUT each part (bytes `(number - 1) * part_size` onwards, `part_size` of
/// them, the last one shorter) to its URL, in any order, keep each answer's `ETag`, then
/// `POST /uploads/{media_id}/complete`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartCreated {
    pub media_id: String,
    pub upload_id: String,
    pub part_size: u64,
    pub part_count: u32,
    /// The first part URLs (up to 100); `POST /uploads/{media_id}/parts` gives the others.
    pub parts: Vec<PartUrlView>,
    /// When unfinished uploads are dropped.
    pub expires_at: String,
}

impl From<MultipartTicket> for MultipartCreated {
    fn from(t: MultipartTicket) -> Self {
        MultipartCreated {
            media_id: t.media_id,
            upload_id: t.upload_id,
            part_size: t.part_size,
            part_count: t.part_count,
            parts: t.parts.into_iter().map(PartUrlView::from).collect(),
            expires_at: rfc3339(t.expires_at),
        }
    }
}

/// Where to PUT one part (no extra headers; a repeated PUT replaces the part).
#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrlView {
    pub number: u32,
    pub url: String,
}

impl From<PartUrl> for PartUrlView {
    fn from(p: PartUrl) -> Self {
        PartUrlView {
            number: p.number,
            url: p.url,
        }
    }
}

/// `POST /uploads/{id}/parts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartNumbersBody {
    /// 1 to 100 part numbers.
    pub numbers: Vec<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrls {
    pub parts: Vec<PartUrlView>,
}

/// `GET /uploads/{id}`: what the store has received.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadProgressView {
    pub media_id: String,
    pub upload_id: String,
    pub size: u64,
    pub part_size: u64,
    pub part_count: u32,
    /// The parts received, by number.
    pub parts: Vec<ReceivedPart>,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedPart {
    pub number: u32,
    pub size: u64,
    pub etag: String,
}

impl From<UploadProgress> for UploadProgressView {
    fn from(p: UploadProgress) -> Self {
        UploadProgressView {
            media_id: p.media_id,
            upload_id: p.upload_id,
            size: p.size,
            part_size: p.part_size,
            part_count: p.part_count,
            parts: p
                .parts
                .into_iter()
                .map(|p| ReceivedPart {
                    number: p.number,
                    size: p.size,
                    etag: p.etag,
                })
                .collect(),
            expires_at: rfc3339(p.expires_at),
        }
    }
}

/// `POST /uploads/{id}/complete`: every part, in ascending order, with the `ETag` its PUT
/// answered.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUploadBody {
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadCreated {
    pub media_id: String,
    /// PUT the file's bytes here (a presigned S3 PUT, or the embedded server's signed route).
    pub upload_url: String,
    /// Always `PUT`.
    pub upload_method: String,
    /// Headers the PUT must carry, exactly (`If-None-Match: *`: the URL writes its object once;
    /// in the cloud they are part of the signature, and a PUT without them is refused).
    pub upload_headers: std::collections::BTreeMap<String, String>,
    pub expires_at: String,
}

impl From<UploadTicket> for UploadCreated {
    fn from(t: UploadTicket) -> Self {
        UploadCreated {
            media_id: t.media_id,
            upload_url: t.upload_url,
            upload_method: "PUT".into(),
            upload_headers: t.upload_headers.into_iter().collect(),
            expires_at: rfc3339(t.expires_at),
        }
    }
}

/// A media record as the API shows it (SPEC §3 `GET /media/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub visibility: Visibility,
    pub status: MediaStatus,
    /// Why ingest failed (only when `status` is `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub duration_seconds: Option<f64>,
    pub container: Option<String>,
    /// Overall bitrate, bits/s.
    pub bitrate: Option<u64>,
    pub video: Option<VideoStream>,
    pub audio: Vec<AudioStream>,
    /// Subtitle tracks: the file's own (`embedded`) and added ones (`sidecar`).
    pub subtitles: Vec<SubtitleTrackView>,
    pub keyframe_count: Option<usize>,
    pub notes: Vec<String>,
}

impl From<&Media> for MediaView {
    fn from(m: &Media) -> Self {
        let p = m.probe.as_ref();
        MediaView {
            id: m.id.clone(),
            title: m.title.clone(),
            owner: m.owner.clone(),
            visibility: m.visibility,
            status: m.status,
            error: m.error.clone(),
            filename: m.filename.clone(),
            content_type: m.content_type.clone(),
            size_bytes: m.size_bytes,
            created_at: m.created_at,
            updated_at: m.updated_at,
            duration_seconds: p.map(|p| p.duration_seconds),
            container: p.map(|p| p.container.clone()),
            bitrate: p.and_then(|p| p.bitrate),
            video: p.and_then(|p| p.video.clone()),
            audio: p.map(|p| p.audio.clone()).unwrap_or_default(),
            subtitles: m.subtitles.iter().map(SubtitleTrackView::from).collect(),
            keyframe_count: p.map(|p| p.keyframes.len()),
            notes: p.map(|p| p.notes.clone()).unwrap_or_default(),
        }
    }
}

/// A subtitle track of a media (SPEC §3 "Tracks").
#[derive(Debug, Serialize, ToSchema)]
pub struct SubtitleTrackView {
    pub id: String,
    /// BCP 47.
    pub language: Option<String>,
    pub name: String,
    /// The stream's codec, or a sidecar's format (`srt`, `vtt`, `ass`).
    pub codec: String,
    pub kind: SubtitleKind,
    pub source: TrackSource,
    pub forced: bool,
    pub default: bool,
    /// Cues in its WebVTT.
    pub cues: usize,
    /// Why it could not be converted (it is then not offered to players).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&SubtitleTrack> for SubtitleTrackView {
    fn from(t: &SubtitleTrack) -> Self {
        SubtitleTrackView {
            id: t.id.clone(),
            language: t.language.clone(),
            name: t.name.clone(),
            codec: t.codec.clone(),
            kind: t.kind,
            source: t.source,
            forced: t.forced,
            default: t.default,
            cues: t.cues,
            error: t.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaList {
    pub items: Vec<MediaView>,
}

/// `PATCH /media/{id}`: at least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaPatchBody {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

impl From<MediaPatchBody> for MediaChanges {
    fn from(b: MediaPatchBody) -> Self {
        MediaChanges {
            title: b.title,
            visibility: b.visibility,
        }
    }
}

/// `PUT /progress/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressBody {
    pub position_seconds: f64,
    #[serde(default)]
    pub completed: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressView {
    pub position_seconds: f64,
    pub completed: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<Progress> for ProgressView {
    fn from(p: Progress) -> Self {
        ProgressView {
            position_seconds: p.position_seconds,
            completed: p.completed,
            updated_at: p.updated_at,
        }
    }
}

/// `202` while a media is uploading or being probed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preparing {
    /// Always `preparing`.
    pub status: String,
    pub media_status: MediaStatus,
}

/// `202` while a download is being made (or its media is still being probed).
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadPreparing {
    /// Always `preparing`.
    pub status: String,
    /// The pieces made over all of them, 0.0 to 1.0 (never 1.0: the answer is then a `302`).
    pub progress: f64,
    /// Set while the media itself is still uploading or being probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_status: Option<MediaStatus>,
}

/// A download that is ready, as JSON (`GET /download/{id}` with `Accept: application/json`: a
/// page's `fetch` cannot read a redirect's target without following it).
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadReady {
    /// Always `ready`.
    pub status: String,
    /// The file: its answer says `Content-Disposition: attachment; filename="<file_name>"`.
    pub url: String,
    pub file_name: String,
    /// `true`: the original file; `false`: an MP4 of `rung`.
    pub original: bool,
    /// The rung (`v720`, ...) of an assembled MP4.
    pub rung: Option<String>,
    /// When `url` stops working (RFC 3339).
    pub expires_at: Option<String>,
}

impl From<stream_service::download::Ready> for DownloadReady {
    fn from(r: stream_service::download::Ready) -> Self {
        let expires = Utc.timestamp_opt(r.expires_at, 0).single();
        DownloadReady {
            status: "ready".into(),
            url: r.url,
            file_name: r.file_name,
            original: r.original,
            rung: r.rung,
            expires_at: expires.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        }
    }
}

/// The decision as JSON (`GET /stream/{id}` with `Accept: application/json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamAnswer {
    pub method: Method,
    /// `file` (direct play) or `hls`.
    pub protocol: String,
    pub url: String,
    pub session_id: Option<String>,
    /// Every reason that applies, sorted.
    pub reasons: Vec<Reason>,
    pub audio_track: Option<u32>,
    pub segment_format: Option<SegmentFormat>,
    pub start_position_seconds: Option<f64>,
    pub resume_position_seconds: Option<f64>,
    pub expires_at: Option<String>,
    /// The media's subtitle tracks as WebVTT, signed until `expires_at`: for `<track>` in
    /// direct play (HLS players also find them in the master playlist).
    pub subtitles: Vec<SubtitleLinkView>,
    /// The media's audio tracks; `selected` is the one played (`audio_track`).
    pub audio_tracks: Vec<AudioTrackView>,
    /// The trick-play storyboard (WebVTT: one cue per thumbnail, each a sheet URL with
    /// `#xywh=x,y,w,h`), signed until `expires_at`; for every method. `null` for a media without
    /// video (or a deployment without an edge).
    pub storyboard_url: Option<String>,
}

/// An audio track of the media.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudioTrackView {
    /// The stream index (`audio_track=` selects it).
    pub index: u32,
    /// BCP 47.
    pub language: Option<String>,
    /// As players list it ("Français (5.1)").
    pub name: String,
    pub codec: String,
    pub channels: u32,
    /// The file's default track.
    pub default: bool,
    pub selected: bool,
}

/// A subtitle track a player can load (WebVTT).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubtitleLinkView {
    pub id: String,
    /// BCP 47.
    pub language: Option<String>,
    pub name: String,
    pub forced: bool,
    pub default: bool,
    pub url: String,
}

impl From<SubtitleLink> for SubtitleLinkView {
    fn from(l: SubtitleLink) -> Self {
        SubtitleLinkView {
            id: l.id,
            language: l.language,
            name: l.name,
            forced: l.forced,
            default: l.default,
            url: l.url,
        }
    }
}

impl From<Playback> for StreamAnswer {
    fn from(p: Playback) -> Self {
        let expires = Utc.timestamp_opt(p.expires_at, 0).single();
        StreamAnswer {
            method: p.decision.method,
            protocol: if p.decision.method.is_hls() {
                "hls"
            } else {
                "file"
            }
            .into(),
            url: p.url,
            session_id: p.session_id,
            reasons: p.decision.reasons,
            audio_track: p.decision.audio_track,
            segment_format: p.decision.segment_format,
            start_position_seconds: p.start,
            resume_position_seconds: p.saved,
            expires_at: expires.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            subtitles: p.subtitles.into_iter().map(Into::into).collect(),
            audio_tracks: p
                .audio_tracks
                .into_iter()
                .map(|t| AudioTrackView {
                    selected: p.decision.audio_track == Some(t.index),
                    index: t.index,
                    language: t.language,
                    name: t.name,
                    codec: t.codec,
                    channels: t.channels,
                    default: t.default,
                })
                .collect(),
            storyboard_url: p.storyboard_url,
        }
    }
}
