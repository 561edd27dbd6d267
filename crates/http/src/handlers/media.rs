//! `POST /uploads`, `GET /media`, `GET|PATCH /media/{id}`, `POST /media/{id}/subtitles`,
//! `DELETE /media/{id}/subtitles/{subtitle_id}`.

use http::StatusCode;
use stream_core::error::Result;
use stream_core::model::Caller;
use stream_service::{media, subtitles, AppState};

use crate::response::{empty, json, parse_json, query, Req, Resp};
use crate::wire::{
    MediaList, MediaPatchBody, MediaView, NewUploadBody, SubtitleTrackView, UploadCreated,
};

pub async fn create_upload(state: &AppState, caller: &Caller, req: &Req) -> Result<Resp> {
    let body: NewUploadBody = parse_json(req)?;
    let ticket = media::create_upload(state, caller, body.into()).await?;
    Ok(json(StatusCode::CREATED, &UploadCreated::from(ticket)))
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<Resp> {
    let m = media::load_visible(state, caller, id).await?;
    Ok(json(StatusCode::OK, &MediaView::from(&m)))
}

pub async fn list(state: &AppState, caller: &Caller) -> Result<Resp> {
    let items = media::list_visible(state, caller)
        .await?
        .iter()
        .map(MediaView::from)
        .collect();
    Ok(json(StatusCode::OK, &MediaList { items }))
}

pub async fn patch(state: &AppState, caller: &Caller, id: &str, req: &Req) -> Result<Resp> {
    // Who may change it first: a caller who may not learns nothing from a bad body.
    let m = media::load_changeable(state, caller, id).await?;
    let body: MediaPatchBody = parse_json(req)?;
    let updated = media::update(state, &m, body.into()).await?;
    Ok(json(StatusCode::OK, &MediaView::from(&updated)))
}

/// The body is the subtitle file itself (SRT, WebVTT or ASS/SSA, sniffed from its first bytes;
/// UTF-8), whatever its declared type; `?language=` names its language.
pub async fn add_subtitles(state: &AppState, caller: &Caller, id: &str, req: &Req) -> Result<Resp> {
    let m = media::load_changeable(state, caller, id).await?;
    let q = query(req);
    let language = q
        .get("language")
        .map(String::as_str)
        .filter(|l| !l.is_empty());
    let track = subtitles::add_sidecar(state, &m, language, req.body()).await?;
    Ok(json(StatusCode::CREATED, &SubtitleTrackView::from(&track)))
}

pub async fn delete_subtitles(
    state: &AppState,
    caller: &Caller,
    id: &str,
    subtitle_id: &str,
) -> Result<Resp> {
    let m = media::load_changeable(state, caller, id).await?;
    subtitles::delete_sidecar(state, &m, subtitle_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
