//! Playback progress per user and media (SPEC §3 "Progress").

use chrono::Utc;
use stream_core::error::{Error, Result};
use stream_core::model::{Caller, Media, Progress};

use crate::media::load_visible;
use crate::state::AppState;

/// Records the caller's position in `media` (loaded with `media::load_visible`), at most one
/// second past its end.
pub async fn save(
    state: &AppState,
    caller: &Caller,
    media: &Media,
    position_seconds: f64,
    completed: bool,
) -> Result<()> {
    if !position_seconds.is_finite() || position_seconds < 0.0 {
        return Err(Error::invalid(
            "invalid_field",
            "`position_seconds` must be a number >= 0",
        ));
    }
    if let Some(d) = media.probe.as_ref().map(|p| p.duration_seconds) {
        if position_seconds > d + 1.0 {
            let msg = format!("`position_seconds` is past the end of the media ({d:.3} s)");
            return Err(Error::invalid("invalid_field", msg));
        }
    }
    let progress = Progress {
        user_id: caller.user_id.clone(),
        media_id: media.id.clone(),
        position_seconds,
        completed,
        updated_at: Utc::now(),
    };
    state.meta.put_progress(&progress).await
}

/// The caller's saved position in a media it may see.
pub async fn load(state: &AppState, caller: &Caller, media_id: &str) -> Result<Progress> {
    let media = load_visible(state, caller, media_id).await?;
    state
        .meta
        .get_progress(&caller.user_id, &media.id)
        .await?
        .ok_or(Error::NotFound("progress"))
}
