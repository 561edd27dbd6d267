//! The subtitle tracks of a media (SPEC §3 "Tracks"): made at ingest from the source's
//! streams, added and removed by the owner (sidecar files), and handed to players as signed
//! WebVTT URLs (the `/stream` answer for direct play, the HLS subtitle playlists).
//!
//! Each text track's WebVTT is converted once and stored (`stream_core::tracks::vtt_key`);
//! a conversion failure stays on its track (`error`) and does not stop the media from being
//! `ready`. See `stream_core::tracks` for ids, languages and names, and
//! `stream_media::subtitles` for the conversion and its timing.

use bytes::Bytes;
use stream_core::error::{Error, Result};
use stream_core::model::{Media, Probe, SubtitleKind};
use stream_core::tracks::{
    embedded_id, is_track_id, language_tag, new_sidecar_id, subtitle_name, vtt_key, SubtitleTrack,
    TrackSource, VTT_CONTENT_TYPE,
};
pub use stream_media::subtitles::MAX_SUBTITLE_BYTES;
use stream_media::subtitles::{extract, to_webvtt, SubtitleError, TextFormat, TextStream};
use stream_storage::modify_media;

use crate::state::AppState;

/// The most sidecar tracks a media may have (each is a stored file and a menu entry).
pub const MAX_SIDECARS: usize = 32;

/// A subtitle track as a player gets it: where its WebVTT is, signed until `expires`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleLink {
    pub id: String,
    pub language: Option<String>,
    pub name: String,
    pub forced: bool,
    pub default: bool,
    pub url: String,
}

/// The embedded subtitle tracks of a freshly probed source at `location`: text streams
/// converted to WebVTT (one ffmpeg run) and stored, bitmap ones listed for burn-in. Never
/// fails: what could not be converted says so on its track.
pub async fn from_probe(
    state: &AppState,
    media_id: &str,
    probe: &Probe,
    location: &str,
) -> Vec<SubtitleTrack> {
    let text: Vec<TextStream> = probe
        .subtitles
        .iter()
        .filter(|s| s.kind == SubtitleKind::Text)
        .map(|s| TextStream {
            index: s.index,
            codec: s.codec.clone(),
        })
        .collect();
    let limit = state.config.probe_timeout;
    let ffmpeg = &state.config.ffmpeg;
    let mut converted = extract(ffmpeg, location, &text, probe.start_time, limit)
        .await
        .into_iter();
    let mut tracks: Vec<SubtitleTrack> = Vec::with_capacity(probe.subtitles.len());
    for s in &probe.subtitles {
        let id = embedded_id(s.index);
        let language = s.language.as_deref().and_then(language_tag);
        let taken: Vec<&str> = tracks.iter().map(|t| t.name.as_str()).collect();
        let name = subtitle_name(language.as_deref(), s.title.as_deref(), s.forced, &taken);
        let mut track = SubtitleTrack {
            id,
            language,
            name,
            codec: s.codec.clone(),
            kind: s.kind,
            source: TrackSource::Embedded,
            forced: s.forced,
            default: s.default,
            stream_index: Some(s.index),
            vtt_key: None,
            error: None,
            cues: 0,
        };
        if s.kind == SubtitleKind::Text {
            let outcome = converted.next().unwrap_or_else(|| {
                Err(SubtitleError::Tool(
                    "no conversion result for the stream".into(),
                ))
            });
            store(state, media_id, &mut track, outcome).await;
        }
        tracks.push(track);
    }
    tracks
}

/// Stores a conversion's WebVTT on `track`, or records why there is none.
async fn store(
    state: &AppState,
    media_id: &str,
    track: &mut SubtitleTrack,
    outcome: std::result::Result<stream_media::subtitles::WebVtt, SubtitleError>,
) {
    let vtt = match outcome {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(media_id, track = %track.id, error = %e, "subtitle stream not converted");
            track.error = Some(sentence(&e));
            return;
        }
    };
    let key = vtt_key(media_id, &track.id);
    let body = Bytes::from(vtt.text);
    match state.objects.put(&key, body, VTT_CONTENT_TYPE, None).await {
        Ok(()) => {
            tracing::info!(media_id, track = %track.id, cues = vtt.cues, styling_dropped = vtt.dropped, "subtitle track stored");
            track.vtt_key = Some(key);
            track.cues = vtt.cues;
        }
        Err(e) => {
            tracing::error!(media_id, track = %track.id, error = %e, "subtitle track not stored");
            track.error = Some("The subtitles could not be stored; re-ingest to retry.".into());
        }
    }
}

/// An error as a sentence for the media's owner.
fn sentence(e: &SubtitleError) -> String {
    let mut s = e.to_string();
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{s}.")
}

/// Adds a subtitle file (SRT, WebVTT or ASS/SSA, at most 5 MiB, UTF-8) to `media` (loaded
/// with `media::load_changeable`: the owner or an admin). Refused with a reason when it cannot
/// be read or has no cue; nothing is stored then.
pub async fn add_sidecar(
    state: &AppState,
    media: &Media,
    language: Option<&str>,
    body: &[u8],
) -> Result<SubtitleTrack> {
    let language = match language {
        Some(l) => Some(language_tag(l).ok_or_else(|| {
            Error::invalid(
                "invalid_parameter",
                format!("`language` ({l:.20}) is not a known language code (e.g. en, fr, pt-BR)"),
            )
        })?),
        None => None,
    };
    if media
        .subtitles
        .iter()
        .filter(|t| t.source == TrackSource::Sidecar)
        .count()
        >= MAX_SIDECARS
    {
        let message = format!("this media already has {MAX_SIDECARS} added subtitle tracks");
        return Err(Error::Conflict {
            code: "too_many_subtitles",
            message,
        });
    }
    let format = TextFormat::sniff(body);
    let start = media.probe.as_ref().map_or(0.0, |p| p.start_time);
    let vtt = to_webvtt(body, format, start, true)
        .map_err(|e| Error::invalid("invalid_subtitles", sentence(&e)))?;
    let id = new_sidecar_id();
    let key = vtt_key(&media.id, &id);
    let cues = vtt.cues;
    state
        .objects
        .put(&key, Bytes::from(vtt.text), VTT_CONTENT_TYPE, None)
        .await?;
    let mut added = None;
    let result = modify_media(state.meta.as_ref(), &media.id, |m| {
        let taken: Vec<&str> = m.subtitles.iter().map(|t| t.name.as_str()).collect();
        let track = SubtitleTrack {
            id: id.clone(),
            name: subtitle_name(language.as_deref(), None, false, &taken),
            language: language.clone(),
            codec: format.name().into(),
            kind: SubtitleKind::Text,
            source: TrackSource::Sidecar,
            forced: false,
            default: false,
            stream_index: None,
            vtt_key: Some(key.clone()),
            error: None,
            cues,
        };
        m.subtitles.push(track.clone());
        added = Some(track);
        Ok(true)
    })
    .await;
    if let Err(e) = result {
        // The record was not changed: the file is nobody's.
        let _ = state.objects.delete(&key).await;
        return Err(e);
    }
    let track = added.ok_or_else(|| Error::Internal("sidecar not recorded".into()))?;
    tracing::info!(media_id = %media.id, track = %track.id, cues, "sidecar subtitles added");
    Ok(track)
}

/// Removes an added subtitle track from `media` (loaded with `media::load_changeable`).
/// Embedded tracks belong to the file and are not removed (`409`).
pub async fn delete_sidecar(state: &AppState, media: &Media, track_id: &str) -> Result<()> {
    let track = is_track_id(track_id)
        .then(|| media.subtitles.iter().find(|t| t.id == track_id))
        .flatten()
        .ok_or(Error::NotFound("subtitle track"))?;
    if track.source == TrackSource::Embedded {
        return Err(Error::Conflict {
            code: "embedded_track",
            message: "this track is part of the uploaded file and cannot be removed".into(),
        });
    }
    let key = track.vtt_key.clone();
    modify_media(state.meta.as_ref(), &media.id, |m| {
        let before = m.subtitles.len();
        m.subtitles.retain(|t| t.id != track_id);
        Ok(m.subtitles.len() != before)
    })
    .await?;
    // After the record: a failed delete leaves an unlisted file, never a listed missing one.
    if let Some(key) = key {
        if let Err(e) = state.objects.delete(&key).await {
            tracing::warn!(media_id = %media.id, track = track_id, error = %e, "subtitle file left behind");
        }
    }
    tracing::info!(media_id = %media.id, track = track_id, "sidecar subtitles removed");
    Ok(())
}

/// Signed URLs of the media's playable subtitle tracks, valid until `expires` (epoch seconds).
pub async fn links(state: &AppState, media: &Media, expires: i64) -> Result<Vec<SubtitleLink>> {
    let mut out = vec![];
    for t in &media.subtitles {
        let Some(key) = t.vtt_key.as_deref() else {
            continue;
        };
        out.push(SubtitleLink {
            id: t.id.clone(),
            language: t.language.clone(),
            name: t.name.clone(),
            forced: t.forced,
            default: t.default,
            url: vtt_url(state, key, expires).await?,
        });
    }
    Ok(out)
}

/// A signed URL of the WebVTT at `key`, valid until `expires` (epoch seconds): through the
/// CDN when there is one (as the original in direct play), else the store's presigned URL.
pub async fn vtt_url(state: &AppState, key: &str, expires: i64) -> Result<String> {
    if let Some(url) = state
        .edge
        .as_ref()
        .and_then(|e| e.original_url(key, expires))
    {
        return Ok(url);
    }
    let now = chrono::Utc::now().timestamp();
    let ttl = std::time::Duration::from_secs(expires.saturating_sub(now).max(60) as u64);
    state.objects.presign_get(key, ttl).await
}
