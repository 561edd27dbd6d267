//! `PUT|GET /progress/{media_id}`.

use http::StatusCode;
use stream_core::error::Result;
use stream_core::model::Caller;
use stream_service::{media, progress, AppState};

use crate::response::{empty, json, parse_json, Req, Resp};
use crate::wire::{ProgressBody, ProgressView};

pub async fn put(state: &AppState, caller: &Caller, media_id: &str, req: &Req) -> Result<Resp> {
    // Visibility first: a caller who may not see the media learns nothing from a bad body.
    let m = media::load_visible(state, caller, media_id).await?;
    let body: ProgressBody = parse_json(req)?;
    let completed = body.completed.unwrap_or(false);
    progress::save(state, caller, &m, body.position_seconds, completed).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get(state: &AppState, caller: &Caller, media_id: &str) -> Result<Resp> {
    let p = progress::load(state, caller, media_id).await?;
    Ok(json(StatusCode::OK, &ProgressView::from(p)))
}
