//! Playback progress per user and media: `PUT|GET /progress/{media_id}`.

use chrono::Utc;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::http::{empty, json as json_resp, parse_json, Req, Resp};
use super::media::load_visible;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::Progress;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressBody {
    position_seconds: f64,
    #[serde(default)]
    completed: Option<bool>,
}

pub async fn put(state: &AppState, caller: &Caller, media_id: &str, req: &Req) -> Result<Resp> {
    let media = load_visible(state, caller, media_id).await?;
    let body: ProgressBody = parse_json(req)?;
    if !body.position_seconds.is_finite() || body.position_seconds < 0.0 {
        return Err(Error::bad_request("invalid_field", "`position_seconds` must be a number >= 0"));
    }
    let duration = media.probe.as_ref().map(|p| p.duration_seconds);
    if let Some(d) = duration {
        if body.position_seconds > d + 1.0 {
            return Err(Error::bad_request("invalid_field", format!("`position_seconds` is past the end of the media ({d:.3} s)")));
        }
    }
    let progress =
        Progress { user_id: caller.user_id.clone(), media_id: media.id.clone(), position_seconds: body.position_seconds, completed: body.completed.unwrap_or(false), updated_at: Utc::now() };
    state.meta.put_progress(&progress).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get(state: &AppState, caller: &Caller, media_id: &str) -> Result<Resp> {
    let media = load_visible(state, caller, media_id).await?;
    let p = state.meta.get_progress(&caller.user_id, &media.id).await?.ok_or(Error::NotFound("progress"))?;
    Ok(json_resp(StatusCode::OK, &json!({"position_seconds": p.position_seconds, "completed": p.completed, "updated_at": p.updated_at})))
}
