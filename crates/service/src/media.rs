//! Uploads and media records (SPEC §3 "Uploads and media"): creating an upload (a media record
//! in `uploading` and a URL the client PUTs its bytes to), reading what a caller may see, and
//! the owner's changes. The rules live here; the HTTP edge only parses and shapes.

use chrono::{DateTime, Utc};
use stream_core::error::{Error, Result};
use stream_core::ids;
use stream_core::model::{Caller, Media, MediaStatus, Visibility};
use stream_storage::modify_media;

use crate::ingest::upload_key;
use crate::state::AppState;

/// What a client says of a new upload.
#[derive(Debug, Clone, Default)]
pub struct NewUpload {
    pub filename: String,
    pub content_type: Option<String>,
    pub title: Option<String>,
    pub visibility: Option<Visibility>,
}

/// A created upload: the media's id and where to PUT its bytes until when.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub media_id: String,
    pub upload_url: String,
    /// Headers the PUT must carry (signed into the URL in S3): the write-once condition.
    pub upload_headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// The owner's (or an admin's) changes to a media record.
#[derive(Debug, Clone, Default)]
pub struct MediaChanges {
    pub title: Option<String>,
    pub visibility: Option<Visibility>,
}

fn clean_text(field: &'static str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(
            "invalid_field",
            format!("`{field}` must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(Error::invalid(
            "invalid_field",
            format!("`{field}` is longer than {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_field",
            format!("`{field}` contains control characters"),
        ));
    }
    Ok(v.to_string())
}

fn valid_content_type(ct: &str) -> bool {
    let Some((kind, sub)) = ct.split(';').next().unwrap_or("").trim().split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    token(kind) && token(sub) && matches!(kind, "video" | "audio" | "application")
}

/// Creates the media record (`uploading`, owned by the caller) and a presigned PUT of its
/// source key (`uploads/<id>/source.<ext>`: the client's file name never names a key).
pub async fn create_upload(
    state: &AppState,
    caller: &Caller,
    new: NewUpload,
) -> Result<UploadTicket> {
    let filename = clean_text("filename", &new.filename, 255)?;
    let content_type = match new.content_type.as_deref() {
        None => "application/octet-stream".to_string(),
        Some(ct) if valid_content_type(ct) => ct.trim().to_string(),
        Some(_) => {
            return Err(Error::invalid(
                "invalid_field",
                "`content_type` must be a video/*, audio/* or application/* media type",
            ))
        }
    };
    let title = match new.title.as_deref() {
        Some(t) => clean_text("title", t, 200)?,
        None => {
            let stem = filename
                .rsplit_once('.')
                .map(|(stem, _)| stem)
                .filter(|s| !s.is_empty());
            stem.unwrap_or(&filename).to_string()
        }
    };
    let id = ids::random_id();
    let now = Utc::now();
    let media = Media {
        source_key: upload_key(&id, &filename),
        id: id.clone(),
        title,
        owner: caller.user_id.clone(),
        visibility: new.visibility.unwrap_or(Visibility::Private),
        status: MediaStatus::Uploading,
        error: None,
        filename,
        content_type: content_type.clone(),
        size_bytes: None,
        probe: None,
        subtitles: vec![],
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let ttl = state.config.upload_url_ttl;
    let put = state
        .objects
        .presign_put(&media.source_key, &content_type, ttl)
        .await?;
    state.meta.create_media(&media).await?;
    tracing::info!(media_id = %id, "upload created");
    let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    Ok(UploadTicket {
        media_id: id,
        upload_url: put.url,
        upload_headers: put.headers,
        expires_at,
    })
}

/// Loads a media record the caller may see; `NotFound` for one that is absent *or* hidden
/// (SPEC §2: no existence leak).
pub async fn load_visible(state: &AppState, caller: &Caller, id: &str) -> Result<Media> {
    if !ids::is_valid_id(id) {
        return Err(Error::NotFound("media"));
    }
    match state.meta.get_media(id).await? {
        Some(m) if m.visible_to(caller) => Ok(m),
        _ => Err(Error::NotFound("media")),
    }
}

/// Every media record the caller may see.
pub async fn list_visible(state: &AppState, caller: &Caller) -> Result<Vec<Media>> {
    Ok(state
        .meta
        .list_media()
        .await?
        .into_iter()
        .filter(|m| m.visible_to(caller))
        .collect())
}

/// Loads a media record the caller may change (its owner, or an admin).
pub async fn load_changeable(state: &AppState, caller: &Caller, id: &str) -> Result<Media> {
    let m = load_visible(state, caller, id).await?;
    if m.owner != caller.user_id && !caller.is_admin {
        return Err(Error::Forbidden(
            "only the owner or an admin may change this media".into(),
        ));
    }
    Ok(m)
}

/// Applies the changes to `media` (loaded with [`load_changeable`]).
pub async fn update(state: &AppState, media: &Media, changes: MediaChanges) -> Result<Media> {
    let title = changes
        .title
        .as_deref()
        .map(|t| clean_text("title", t, 200))
        .transpose()?;
    if title.is_none() && changes.visibility.is_none() {
        return Err(Error::invalid(
            "invalid_body",
            "nothing to change: send `title` and/or `visibility`",
        ));
    }
    modify_media(state.meta.as_ref(), &media.id, |m| {
        if let Some(t) = &title {
            m.title = t.clone();
        }
        if let Some(v) = changes.visibility {
            m.visibility = v;
        }
        Ok(true)
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_types() {
        let ok = [
            "video/mp4",
            "video/x-matroska",
            "audio/mpeg",
            "application/octet-stream",
            "video/mp4; codecs=avc1",
        ];
        for ct in ok {
            assert!(super::valid_content_type(ct), "{ct}");
        }
        for bad in [
            "",
            "mp4",
            "text/html",
            "video/",
            "/mp4",
            "video/mp4\r\nX: y",
        ] {
            assert!(!super::valid_content_type(bad), "{bad}");
        }
    }
}
