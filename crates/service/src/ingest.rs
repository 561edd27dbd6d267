//! Ingest: from a completed upload to a probed media record
//! (`uploading` → `probing` → `ready` | `failed`). Idempotent: S3 may deliver an event twice.

use crate::state::AppState;
use crate::subtitles;
use stream_core::error::{Error, Result};
use stream_core::model::{Media, MediaStatus};
use stream_core::tracks::TrackSource;
use stream_media::probe::ProbeError;
use stream_storage::modify_media;

pub const UPLOAD_PREFIX: &str = "uploads/";

/// `uploads/<media id>/source.<ext>`: keyed by id, never by the client's file name.
pub fn upload_key(media_id: &str, filename: &str) -> String {
    let ext: String = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".into());
    format!("{UPLOAD_PREFIX}{media_id}/source.{ext}")
}

/// The media id an upload key belongs to, if the key is one of ours.
pub fn media_id_from_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(UPLOAD_PREFIX)?;
    let (id, file) = rest.split_once('/')?;
    (stream_core::ids::is_valid_id(id) && file.starts_with("source.") && !file.contains('/'))
        .then_some(id)
}

/// Whether the bytes of object `key` may be written now (the embedded object route's PUT, which
/// stands in for S3 + its ObjectCreated trigger): any key may be, but an upload key must belong
/// to a media record still waiting for its bytes (an upload URL writes its object once).
/// Returns the media id to ingest once the object is stored.
pub async fn accept_upload(state: &AppState, key: &str) -> Result<Option<String>> {
    let Some(id) = media_id_from_key(key) else {
        return Ok(None);
    };
    let media = state
        .meta
        .get_media(id)
        .await?
        .ok_or(Error::NotFound("media"))?;
    if media.source_key != key {
        return Err(Error::NotFound("media"));
    }
    if media.status != MediaStatus::Uploading {
        let message = "this media has already been uploaded".into();
        return Err(Error::Conflict {
            code: "upload_complete",
            message,
        });
    }
    Ok(Some(id.to_string()))
}

/// Probes the uploaded source of `media_id` and records the outcome.
pub async fn ingest(state: &AppState, media_id: &str) -> Result<Media> {
    let media = state
        .meta
        .get_media(media_id)
        .await?
        .ok_or(Error::NotFound("media"))?;
    if media.status == MediaStatus::Ready {
        tracing::info!(media_id, "already ingested; duplicate event ignored");
        return Ok(media);
    }
    let media = set_status(state, media_id, MediaStatus::Probing, None).await?;
    let info = state.objects.head(&media.source_key).await?;
    let size = match info {
        None => {
            return fail(
                state,
                media_id,
                "The upload is missing: no bytes were received.".into(),
                None,
            )
            .await
        }
        Some(i) if i.size == 0 => {
            return fail(
                state,
                media_id,
                "The file is empty (0 bytes).".into(),
                Some(0),
            )
            .await
        }
        Some(i) => i.size,
    };
    let location = state.objects.media_location(&media.source_key).await?;
    let started = std::time::Instant::now();
    match state.prober.probe(&location, &media.filename).await {
        Ok(probe) => {
            tracing::info!(media_id, container = %probe.container, duration = probe.duration_seconds, keyframes = probe.keyframes.len(), elapsed_ms = started.elapsed().as_millis() as u64, "probed");
            // Before `ready`: a player never waits for a conversion, and never finds a
            // media ready whose subtitles are still being made.
            let tracks = subtitles::from_probe(state, media_id, &probe, &location).await;
            modify_media(state.meta.as_ref(), media_id, move |m| {
                m.status = MediaStatus::Ready;
                m.error = None;
                m.size_bytes = Some(size);
                m.probe = Some(probe.clone());
                // Added files stay; the file's own tracks are the ones just made.
                m.subtitles.retain(|t| t.source == TrackSource::Sidecar);
                m.subtitles.splice(0..0, tracks.iter().cloned());
                Ok(true)
            })
            .await
        }
        Err(ProbeError::Unusable(msg)) => fail(state, media_id, msg, Some(size)).await,
        Err(ProbeError::Tool(msg)) => {
            tracing::error!(media_id, error = %msg, "probe tool failure");
            fail(
                state,
                media_id,
                "The file could not be probed because of a server problem; it can be re-ingested."
                    .into(),
                Some(size),
            )
            .await
        }
    }
}

/// Media whose ingest was interrupted (a stop mid-probe), or whose bytes arrived without an
/// ingest (uploaded, not yet probed): the embedded server probes them again at start.
pub async fn interrupted(state: &AppState) -> Result<Vec<String>> {
    let mut ids = vec![];
    for m in state.meta.list_media().await? {
        let waiting = match m.status {
            MediaStatus::Probing => true,
            // A store that cannot answer for one object does not stop the others.
            MediaStatus::Uploading => state
                .objects
                .head(&m.source_key)
                .await
                .ok()
                .flatten()
                .is_some(),
            MediaStatus::Ready | MediaStatus::Failed => false,
        };
        if waiting {
            ids.push(m.id);
        }
    }
    Ok(ids)
}

/// Object keys in S3 event notifications are URL-encoded, with `+` for spaces.
pub fn decode_event_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// What happened to one object of an ObjectCreated notification.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventOutcome {
    pub key: String,
    pub media_id: Option<String>,
    pub status: Option<MediaStatus>,
    pub note: Option<&'static str>,
}

/// Handles the (raw, URL-encoded) keys of an S3 ObjectCreated notification: every upload key is
/// ingested; other keys and uploads nobody announced are skipped. A storage error is returned so
/// the event is retried (ingest is idempotent).
pub async fn ingest_object_keys<'a>(
    state: &AppState,
    raw_keys: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<EventOutcome>> {
    let mut out = vec![];
    for raw in raw_keys {
        let key = decode_event_key(raw);
        let Some(media_id) = media_id_from_key(&key).map(str::to_owned) else {
            tracing::warn!(key = %key, "not an upload key; ignored");
            out.push(EventOutcome {
                key,
                media_id: None,
                status: None,
                note: Some("not an upload key"),
            });
            continue;
        };
        match ingest(state, &media_id).await {
            Ok(m) => out.push(EventOutcome {
                key,
                media_id: Some(media_id),
                status: Some(m.status),
                note: None,
            }),
            Err(Error::NotFound(_)) => {
                tracing::warn!(media_id = %media_id, "upload without a media record; ignored");
                out.push(EventOutcome {
                    key,
                    media_id: Some(media_id),
                    status: None,
                    note: Some("no media record"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

async fn set_status(
    state: &AppState,
    id: &str,
    status: MediaStatus,
    error: Option<String>,
) -> Result<Media> {
    modify_media(state.meta.as_ref(), id, move |m| {
        m.status = status;
        m.error = error.clone();
        Ok(true)
    })
    .await
}

async fn fail(state: &AppState, id: &str, message: String, size: Option<u64>) -> Result<Media> {
    tracing::warn!(media_id = id, reason = %message, "ingest failed");
    modify_media(state.meta.as_ref(), id, move |m| {
        m.status = MediaStatus::Failed;
        m.error = Some(message.clone());
        m.size_bytes = size;
        Ok(true)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_keys_ignore_hostile_names() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            upload_key(id, "My Film.MKV"),
            format!("uploads/{id}/source.mkv")
        );
        assert_eq!(
            upload_key(id, "../../etc/passwd"),
            format!("uploads/{id}/source.bin")
        );
        assert_eq!(upload_key(id, "x.a/b"), format!("uploads/{id}/source.bin"));
        assert_eq!(upload_key(id, "noext"), format!("uploads/{id}/source.bin"));
        assert_eq!(media_id_from_key(&upload_key(id, "a.mp4")), Some(id));
        assert_eq!(media_id_from_key("uploads/xyz/source.mp4"), None);
        assert_eq!(
            decode_event_key("uploads/abc/source.mp4"),
            "uploads/abc/source.mp4"
        );
        assert_eq!(decode_event_key("a+b%2Fc%zz"), "a b/c%zz");
        assert_eq!(
            media_id_from_key("segments/0123456789abcdef0123456789abcdef/source.mp4"),
            None
        );
    }
}
