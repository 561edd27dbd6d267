//! Uploads and media records: `POST /uploads`, `GET /media`, `GET|PATCH /media/{id}`.

use chrono::Utc;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{json as json_resp, parse_json, Req, Resp};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::ids;
use crate::ingest::upload_key;
use crate::model::{Media, MediaStatus, Visibility};
use crate::state::AppState;
use crate::storage::modify_media;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUpload {
    filename: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    visibility: Option<Visibility>,
}

fn clean_text(field: &'static str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::bad_request("invalid_field", format!("`{field}` must not be empty")));
    }
    if v.chars().count() > max {
        return Err(Error::bad_request("invalid_field", format!("`{field}` is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::bad_request("invalid_field", format!("`{field}` contains control characters")));
    }
    Ok(v.to_string())
}

fn valid_content_type(ct: &str) -> bool {
    let Some((kind, sub)) = ct.split(';').next().unwrap_or("").trim().split_once('/') else {
        return false;
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    token(kind) && token(sub) && matches!(kind, "video" | "audio" | "application")
}

pub async fn create_upload(state: &AppState, caller: &Caller, req: &Req) -> Result<Resp> {
    let body: NewUpload = parse_json(req)?;
    let filename = clean_text("filename", &body.filename, 255)?;
    let content_type = match body.content_type.as_deref() {
        None => "application/octet-stream".to_string(),
        Some(ct) if valid_content_type(ct) => ct.trim().to_string(),
        Some(_) => return Err(Error::bad_request("invalid_field", "`content_type` must be a video/*, audio/* or application/* media type")),
    };
    let title = match body.title.as_deref() {
        Some(t) => clean_text("title", t, 200)?,
        None => filename.rsplit_once('.').map(|(stem, _)| stem).filter(|s| !s.is_empty()).unwrap_or(&filename).to_string(),
    };
    let id = ids::random_id();
    let now = Utc::now();
    let media = Media {
        source_key: upload_key(&id, &filename),
        id: id.clone(),
        title,
        owner: caller.user_id.clone(),
        visibility: body.visibility.unwrap_or(Visibility::Private),
        status: MediaStatus::Uploading,
        error: None,
        filename,
        content_type: content_type.clone(),
        size_bytes: None,
        probe: None,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let ttl = state.config.upload_url_ttl;
    let upload_url = state.objects.presign_put(&media.source_key, &content_type, ttl).await?;
    state.meta.create_media(&media).await?;
    tracing::info!(media_id = %id, "upload created");
    Ok(json_resp(
        StatusCode::CREATED,
        &json!({
            "media_id": id,
            "upload_url": upload_url,
            "upload_method": "PUT",
            "expires_at": (now + chrono::Duration::from_std(ttl).unwrap_or_default()).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    ))
}

/// The public view of a media record (SPEC §3 `GET /media/{id}`).
pub fn view(m: &Media) -> Value {
    let p = m.probe.as_ref();
    let mut v = json!({
        "id": m.id,
        "title": m.title,
        "owner": m.owner,
        "visibility": m.visibility,
        "status": m.status,
        "filename": m.filename,
        "content_type": m.content_type,
        "size_bytes": m.size_bytes,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "duration_seconds": p.map(|p| p.duration_seconds),
        "container": p.map(|p| p.container.clone()),
        "bitrate": p.and_then(|p| p.bitrate),
        "video": p.and_then(|p| p.video.as_ref()),
        "audio": p.map(|p| p.audio.clone()).unwrap_or_default(),
        "subtitles": p.map(|p| p.subtitles.clone()).unwrap_or_default(),
        "keyframe_count": p.map(|p| p.keyframes.len()),
        "notes": p.map(|p| p.notes.clone()).unwrap_or_default(),
    });
    if let Some(e) = &m.error {
        v["error"] = json!(e);
    }
    v
}

/// Loads a media record the caller may see; 404 for one that is absent *or* hidden (SPEC §2:
/// no existence leak).
pub async fn load_visible(state: &AppState, caller: &Caller, id: &str) -> Result<Media> {
    if !ids::is_valid_id(id) {
        return Err(Error::NotFound("media"));
    }
    match state.meta.get_media(id).await? {
        Some(m) if m.visible_to(caller) => Ok(m),
        _ => Err(Error::NotFound("media")),
    }
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<Resp> {
    let m = load_visible(state, caller, id).await?;
    Ok(json_resp(StatusCode::OK, &view(&m)))
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Resp> {
    let items: Vec<Value> = state.meta.list_media().await?.iter().filter(|m| m.visible_to(caller)).map(view).collect();
    Ok(json_resp(StatusCode::OK, &json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaPatch {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    visibility: Option<Visibility>,
}

pub async fn patch(state: &AppState, caller: &Caller, id: &str, req: &Req) -> Result<Resp> {
    let m = load_visible(state, caller, id).await?;
    if m.owner != caller.user_id && !caller.is_admin {
        return Err(Error::Forbidden("only the owner or an admin may change this media".into()));
    }
    let patch: MediaPatch = parse_json(req)?;
    let title = patch.title.as_deref().map(|t| clean_text("title", t, 200)).transpose()?;
    if title.is_none() && patch.visibility.is_none() {
        return Err(Error::bad_request("invalid_body", "nothing to change: send `title` and/or `visibility`"));
    }
    let updated = modify_media(state.meta.as_ref(), id, |m| {
        if let Some(t) = &title {
            m.title = t.clone();
        }
        if let Some(v) = patch.visibility {
            m.visibility = v;
        }
        Ok(true)
    })
    .await?;
    Ok(json_resp(StatusCode::OK, &view(&updated)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_types() {
        for ok in ["video/mp4", "video/x-matroska", "audio/mpeg", "application/octet-stream", "video/mp4; codecs=avc1"] {
            assert!(super::valid_content_type(ok), "{ok}");
        }
        for bad in ["", "mp4", "text/html", "video/", "/mp4", "video/mp4\r\nX: y"] {
            assert!(!super::valid_content_type(bad), "{bad}");
        }
    }
}
