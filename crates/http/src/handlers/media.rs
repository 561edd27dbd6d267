//! `POST /uploads`, `GET /media`, `GET|PATCH /media/{id}`.

use http::StatusCode;
use stream_core::error::Result;
use stream_core::model::Caller;
use stream_service::{media, uploads, AppState};

use crate::response::{json, parse_json, Req, Resp};
use crate::wire::{MediaList, MediaPatchBody, MediaView, NewUploadBody, UploadAnswer};

pub async fn create_upload(state: &AppState, caller: &Caller, req: &Req) -> Result<Resp> {
    let body: NewUploadBody = parse_json(req)?;
    let upload = uploads::create(state, caller, body.into()).await?;
    Ok(json(StatusCode::CREATED, &UploadAnswer::from(upload)))
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
