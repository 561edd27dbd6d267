//! Trick-play images (SPEC §3 "Trick-play"): seek-bar previews, in both forms players read.
//!
//! - **The storyboard** (`GET /api/v1/storyboard/{media}?token=…`, WebVTT): what web players
//!   read. Every `/stream` answer carries its URL (`storyboard_url`), direct play included, so
//!   it is not tied to a session: the token is an HMAC of the media id and an expiry under a
//!   key of its own (derived from the session-token key: a storyboard token opens no session,
//!   and a session token is no storyboard token). Its cues name the sheets at their content
//!   paths with an edge signature valid as long as the token.
//! - **The image playlist** (`/hls/{sid}/images/playlist.m3u8`, announced in the master by
//!   `EXT-X-IMAGE-STREAM-INF`): what Roku and Apple TV players read. Same sheets, the session's
//!   edge signature (and its `session` parameter, as segments carry).
//! - **The sheets** are pieces like segments (`stream_core::trickplay`): `renditions/<trick-play
//!   key>/sheet_00003.jpg`, shared by every viewer and cached by the edge; a miss reaches the
//!   edge's origin (`edge::origin`), which finds the plan stored under the key, claims the sheet
//!   (one maker, a lease), has a worker make it (in-process, or the `transcode` function, as a
//!   segment: `segments::request::deliver_sheet`) and answers its bytes.
//!
//! Without an edge (a cloud deployment with no CDN key) there are no content paths, so there is
//! no trick-play: no storyboard URL, no image playlist.

use chrono::Utc;
use stream_core::error::{Error, Result};
use stream_core::model::Probe;
use stream_core::trickplay::{sheet_file_name, TrickplayPlan};

use crate::auth::{SessionTokenError, SessionTokens};
use crate::edge::Edge;
use crate::state::AppState;

/// What the storyboard tokens' key is derived for.
const STORYBOARD_KEY: &str = "stream storyboard token v1";

fn tokens(state: &AppState) -> SessionTokens {
    SessionTokens::new(&state.session_tokens.derive_key(STORYBOARD_KEY))
}

/// The trick-play plan of a media with `probe`, when this service can serve sheets (an edge
/// is configured) and the media has video.
pub fn plan_of(state: &AppState, media_id: &str, probe: &Probe) -> Option<TrickplayPlan> {
    state.edge.as_ref()?;
    TrickplayPlan::new(media_id, probe, state.config.trickplay)
}

/// The storyboard URL of a media, signed until `expires`; `None` when it has none.
pub fn storyboard_url(
    state: &AppState,
    media_id: &str,
    probe: &Probe,
    expires: i64,
) -> Option<String> {
    plan_of(state, media_id, probe)?;
    let token = tokens(state).mint(media_id, "", expires);
    let base = state.config.api_base_url();
    Some(format!("{base}/api/v1/storyboard/{media_id}?token={token}"))
}

/// Stores the plan under its content key (before any URL names a sheet: the origin makes sheets
/// from it). Idempotent.
pub async fn record(state: &AppState, plan: &TrickplayPlan) -> Result<()> {
    state.meta.put_trickplay(&plan.content_key(), plan).await
}

/// The URI of each sheet of `plan`, signed until `expires` (naming `session`, if any).
pub fn sheet_uris(
    edge: &Edge,
    plan: &TrickplayPlan,
    session: Option<&str>,
    expires: i64,
) -> impl Fn(u32) -> String {
    let uris = edge.content_uris(&plan.content_key(), session, expires);
    move |s| format!("{}{}?{}", uris.prefix, sheet_file_name(s), uris.query)
}

/// The WebVTT storyboard of `media_id`, for the holder of a storyboard `token`.
pub async fn storyboard(state: &AppState, media_id: &str, token: Option<&str>) -> Result<String> {
    // The token first: without a valid one nothing is said about the media (not even whether
    // its id is well formed).
    let token = token.unwrap_or_default();
    tokens(state)
        .verify(Some(token), media_id, "", Utc::now().timestamp())
        .map_err(token_error)?;
    if !stream_core::ids::is_valid_id(media_id) {
        return Err(Error::NotFound("media"));
    }
    let expires = SessionTokens::expiry_of(token).unwrap_or_default();
    let media = state
        .meta
        .get_media(media_id)
        .await?
        .ok_or(Error::NotFound("media"))?;
    let (Some(probe), Some(edge)) = (media.probe.as_ref(), state.edge.as_deref()) else {
        return Err(Error::NotFound("storyboard"));
    };
    let plan = plan_of(state, &media.id, probe).ok_or(Error::NotFound("storyboard"))?;
    record(state, &plan).await?;
    Ok(plan.storyboard_vtt(sheet_uris(edge, &plan, None, expires)))
}

fn token_error(e: SessionTokenError) -> Error {
    match e {
        SessionTokenError::Invalid => {
            Error::Forbidden("the storyboard token is not valid for this media".into())
        }
        SessionTokenError::Missing => Error::Unauthenticated(
            "a storyboard token is required (`token` query parameter)".into(),
        ),
        SessionTokenError::Malformed | SessionTokenError::Expired => {
            Error::Unauthenticated("the storyboard token is malformed or expired".into())
        }
    }
}
