//! Multipart uploads: `POST /uploads/{id}/parts`, `GET|DELETE /uploads/{id}`,
//! `POST /uploads/{id}/complete` (the creation is `POST /uploads`, in [`super::media`]).

use http::StatusCode;
use stream_core::error::Result;
use stream_core::model::Caller;
use stream_service::{uploads, AppState};

use crate::response::{empty, json, parse_json, Req, Resp};
use crate::wire::{
    CompleteUploadBody, MediaView, PartNumbersBody, PartUrlView, PartUrls, UploadProgressView,
};

// Who may change the upload first: a caller who may not learns nothing from a bad body.

pub async fn parts(state: &AppState, caller: &Caller, id: &str, req: &Req) -> Result<Resp> {
    let open = uploads::open(state, caller, id).await?;
    let body: PartNumbersBody = parse_json(req)?;
    let urls = uploads::part_urls(state, &open, &body.numbers).await?;
    let parts = urls.into_iter().map(PartUrlView::from).collect();
    Ok(json(StatusCode::OK, &PartUrls { parts }))
}

pub async fn progress(state: &AppState, caller: &Caller, id: &str) -> Result<Resp> {
    let p = uploads::progress(state, caller, id).await?;
    Ok(json(StatusCode::OK, &UploadProgressView::from(p)))
}

/// `202`: the object is assembled and ingest has started (or will, on S3's event).
pub async fn complete(state: &AppState, caller: &Caller, id: &str, req: &Req) -> Result<Resp> {
    let open = uploads::open(state, caller, id).await?;
    let body: CompleteUploadBody = parse_json(req)?;
    let parts = body.parts.into_iter().map(|p| (p.number, p.etag)).collect();
    let media = uploads::complete(state, open, parts).await?;
    Ok(json(StatusCode::ACCEPTED, &MediaView::from(&media)))
}

pub async fn abort(state: &AppState, caller: &Caller, id: &str) -> Result<Resp> {
    uploads::abort(state, caller, id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
