//! HLS sessions (SPEC §3 "HLS"): a request names a session and carries its token (players
//! cannot add headers to segment requests, so HLS URLs are capabilities). Here a session is
//! opened and verified (from this process's short-lived cache, `open_sessions`, else read and
//! built: the rendition set and plan from the media's probe), kept alive, and asked for its
//! playlists and segments.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use stream_core::error::{Error, Result};
use stream_core::hls::ladder::{build, ClientLimits, LadderConfig};
use stream_core::hls::playlist::{self, SegmentUris};
use stream_core::hls::record::RenditionRecord;
use stream_core::playback::decision::SegmentFormat;
use stream_core::segment::{parse_segment_name, SegmentName};

use crate::auth::{SessionTokenError, SessionTokens};
use crate::open_sessions::{OpenSession, PlaylistKind};
use crate::segments::request::{deliver, Ask, Delivery};
use crate::segments::worker::JobKind;
use crate::state::AppState;
use crate::subtitles;
use crate::trickplay;
use stream_core::trickplay::IMAGES_RENDITION;

/// A verified session, and the token it was opened with (every URI it emits carries it).
pub struct HlsSession {
    open: Arc<OpenSession>,
    token: String,
}

impl std::ops::Deref for HlsSession {
    type Target = OpenSession;
    fn deref(&self) -> &OpenSession {
        &self.open
    }
}

fn token_error(e: SessionTokenError) -> Error {
    match e {
        SessionTokenError::Invalid => {
            Error::Forbidden("the session token is not valid for this session".into())
        }
        SessionTokenError::Missing => {
            Error::Unauthenticated("a session token is required (`token` query parameter)".into())
        }
        SessionTokenError::Malformed | SessionTokenError::Expired => {
            Error::Unauthenticated("the session token is malformed or expired".into())
        }
    }
}

/// The session `session_id`, verified with `token`.
pub async fn open(state: &AppState, session_id: &str, token: Option<&str>) -> Result<HlsSession> {
    if !stream_core::ids::is_valid_id(session_id) {
        return Err(Error::NotFound("session"));
    }
    let now = Utc::now().timestamp();
    let tokens = &state.session_tokens;
    let owned = || token.unwrap_or_default().to_string();
    if let Some(open) = state.open_sessions.get(session_id, now) {
        tokens
            .verify(token, &open.session.id, &open.session.user_id, now)
            .map_err(token_error)?;
        return Ok(HlsSession {
            open,
            token: owned(),
        });
    }
    let session = state
        .meta
        .get_session(session_id, now)
        .await?
        .ok_or(Error::NotFound("session"))?;
    tokens
        .verify(token, &session.id, &session.user_id, now)
        .map_err(token_error)?;
    let gone = || Error::Gone {
        code: "media_gone",
        message: "The media of this session was deleted.".into(),
    };
    let media = state
        .meta
        .get_media(&session.media_id)
        .await?
        .ok_or_else(gone)?;
    let probe = media
        .probe
        .as_ref()
        .ok_or_else(|| Error::Internal("session media without probe".into()))?;
    let not_playable = |what: String| Error::Conflict {
        code: "not_playable",
        message: what,
    };
    let limits = ClientLimits::from(session.limits);
    let set = build(
        &media.id,
        probe,
        &session.decision,
        &limits,
        &LadderConfig::default(),
    )
    .map_err(|e| not_playable(format!("This media cannot be delivered as HLS: {e}")))?;
    let plan = set
        .plan
        .plan(probe)
        .map_err(|e| not_playable(format!("No segment plan for this media: {e}")))?;
    let open = Arc::new(
        OpenSession::new(session, set, plan, state.config.session_idle)
            .with_subtitles(media.subtitles.clone())
            .with_trickplay(trickplay::plan_of(state, &media.id, probe)),
    );
    state.open_sessions.insert(open.clone());
    Ok(HlsSession {
        open,
        token: owned(),
    })
}

/// Every access moves the session's expiry forward: segment requests always (with the
/// position), playlist requests at most once per `open_sessions::TOUCH_EVERY`.
async fn touch(state: &AppState, s: &HlsSession, position: Option<f64>) -> Result<()> {
    let now = Utc::now().timestamp();
    if position.is_none() && !s.touch_due(now) {
        return Ok(());
    }
    let expires_at = now + state.config.session_idle.as_secs() as i64;
    state
        .meta
        .touch_session(&s.session.id, now, expires_at, position)
        .await?;
    s.touched(now, expires_at, position);
    Ok(())
}

/// The master playlist; `start` (seconds) becomes its `EXT-X-START`, kept within the media.
pub async fn master(state: &AppState, s: &HlsSession, start: Option<f64>) -> Result<Bytes> {
    // Never past the end: a player would start on nothing.
    let start = start.map(|t| t.min((s.plan.total - 0.5).max(0.0)));
    // A start is the position the player is about to ask for (its init is made with it).
    touch(state, s, start).await?;
    let token = format!("token={}", s.token);
    let render = || {
        let mut text = playlist::master_with(&s.set, start, &token, &s.subtitles);
        // The image playlist (trick-play), for players that read it (Roku, Apple TV); others
        // ignore the tag (hls.js does).
        if let Some(plan) = &s.trickplay {
            let uri = format!("{IMAGES_RENDITION}/playlist.m3u8?{token}");
            text.push_str(&plan.image_stream_inf(&uri));
            text.push('\n');
        }
        text
    };
    Ok(match start {
        None => s.playlist(PlaylistKind::Master, "", &s.token, render),
        Some(_) => Bytes::from(render()),
    })
}

/// The VOD media playlist of one rendition. With an edge, its pieces are listed at the
/// rendition's content path with the session's edge signature (and the rendition's record is
/// stored first, so the edge's origin can make them); without one, relative to the playlist, on
/// the session route, with the session token.
pub async fn variant(state: &AppState, s: &HlsSession, rendition: &str) -> Result<Bytes> {
    if let Some(track) = playlist::subtitle_track_of(rendition) {
        return subtitle_playlist(state, s, track).await;
    }
    if rendition == IMAGES_RENDITION {
        return image_playlist(state, s).await;
    }
    if s.set.rendition(rendition).is_none() {
        return Err(Error::NotFound("rendition"));
    }
    touch(state, s, None).await?;
    let Some(edge) = state.edge.as_ref() else {
        let token = format!("token={}", s.token);
        let render = || playlist::variant(&s.plan, s.set.format, SegmentUris::relative(&token));
        return Ok(s.playlist(PlaylistKind::Variant, rendition, &s.token, render));
    };
    // Stored before any playlist lists the paths (the edge's origin needs it for them). The
    // content key (a hash) is computed only here and when the playlist is rendered: a cached
    // playlist costs a lookup.
    if !s.is_recorded(rendition) {
        let record = RenditionRecord::new(&s.set, rendition, s.plan.len() as u32)
            .ok_or(Error::NotFound("rendition"))?;
        let content_key = record.content_key().ok_or(Error::NotFound("rendition"))?;
        state.meta.put_rendition(&content_key, &record).await?;
        s.mark_recorded(rendition);
    }
    // Valid for as long as the session token the playlist was asked with.
    let expires = SessionTokens::expiry_of(&s.token).unwrap_or_default();
    let render = || {
        let content_key = s.set.content_key(rendition).unwrap_or_default();
        let uris = edge.rendition_uris(&content_key, &s.session.id, expires);
        let uris = SegmentUris {
            prefix: &uris.prefix,
            query: &uris.query,
        };
        playlist::variant(&s.plan, s.set.format, uris)
    };
    Ok(s.playlist(PlaylistKind::Variant, rendition, &s.token, render))
}

/// The trick-play image playlist: every sheet at its content path with the session's edge
/// signature (the plan is stored first: the edge's origin makes sheets from it).
async fn image_playlist(state: &AppState, s: &HlsSession) -> Result<Bytes> {
    let (Some(plan), Some(edge)) = (s.trickplay.as_ref(), state.edge.as_deref()) else {
        return Err(Error::NotFound("rendition"));
    };
    touch(state, s, None).await?;
    if !s.is_recorded(IMAGES_RENDITION) {
        trickplay::record(state, plan).await?;
        s.mark_recorded(IMAGES_RENDITION);
    }
    let expires = SessionTokens::expiry_of(&s.token).unwrap_or_default();
    let render = || {
        let uris = trickplay::sheet_uris(edge, plan, Some(&s.session.id), expires);
        plan.image_playlist(uris)
    };
    Ok(s.playlist(PlaylistKind::Variant, IMAGES_RENDITION, &s.token, render))
}

/// The WebVTT playlist of subtitle track `track_id`: its file signed for as long as the session
/// token the playlist was asked with.
async fn subtitle_playlist(state: &AppState, s: &HlsSession, track_id: &str) -> Result<Bytes> {
    let key = s
        .subtitles
        .iter()
        .find(|t| t.id == track_id)
        .and_then(|t| t.vtt_key.as_deref())
        .ok_or(Error::NotFound("rendition"))?;
    touch(state, s, None).await?;
    let expires = SessionTokens::expiry_of(&s.token).unwrap_or_default();
    let url = subtitles::vtt_url(state, key, expires).await?;
    Ok(Bytes::from(playlist::subtitle_playlist(s.plan.total, &url)))
}

/// One segment (or init) of a rendition on the session route (kept for players and links from
/// before edge delivery, and the way to segments when no edge is configured): made, made now,
/// or still being made.
pub async fn segment(
    state: &AppState,
    s: &HlsSession,
    rendition: &str,
    file: &str,
) -> Result<SegmentAnswer> {
    if s.set.rendition(rendition).is_none() {
        return Err(Error::NotFound("rendition"));
    }
    // Only names of the plan exist: anything else is not found before any work.
    let kind = match parse_segment_name(file) {
        Some(SegmentName::Init) if s.set.format == SegmentFormat::Fmp4 => JobKind::Init,
        Some(SegmentName::Media { index, format })
            if format == s.set.format && (index as usize) < s.plan.len() =>
        {
            JobKind::Segment(index)
        }
        _ => return Err(Error::NotFound("segment")),
    };
    let position = match kind {
        JobKind::Segment(i) => s.plan.get(i).map(|seg| seg.start),
        _ => None,
    };
    touch(state, s, position).await?;
    // An init is made by the run of the segment the player asks for next (`init_start`).
    let init_from = match kind {
        JobKind::Init => Some(s.init_start()),
        JobKind::Segment(i) => {
            s.played(i);
            None
        }
        _ => None,
    };
    let ask = Ask {
        set: &s.set,
        rendition,
        kind,
        requester: Some(&s.session.user_id),
    };
    let delivery = deliver(state, ask, s.plan.len() as u32, init_from).await?;
    Ok(match delivery {
        Delivery::Ready(key) => {
            let url = state
                .objects
                .presign_get(&key, state.config.segment_url_ttl)
                .await?;
            SegmentAnswer::Redirect(on_origin(url, state.config.segment_url_base.as_ref()))
        }
        Delivery::Pending => SegmentAnswer::Pending,
        Delivery::Failed(m) => SegmentAnswer::Failed(m),
    })
}

/// What the session route answers for a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentAnswer {
    /// Made: a presigned URL of its object.
    Redirect(String),
    /// Not made within the wait: ask again shortly.
    Pending,
    /// It failed for good: the encoder's last error.
    Failed(String),
}

/// Ends a session: with its session token, or with the owner's (or an admin's) bearer token.
pub async fn end(
    state: &AppState,
    session_id: &str,
    token: Option<&str>,
    bearer: Option<&str>,
) -> Result<()> {
    if !stream_core::ids::is_valid_id(session_id) {
        return Err(Error::NotFound("session"));
    }
    let now = Utc::now().timestamp();
    let session = state
        .meta
        .get_session(session_id, now)
        .await?
        .ok_or(Error::NotFound("session"))?;
    if let Err(token_err) = state
        .session_tokens
        .verify(token, &session.id, &session.user_id, now)
    {
        let Some(header) = bearer else {
            return Err(token_error(token_err));
        };
        let caller = state.verifier.verify_header(Some(header)).await?;
        if caller.user_id != session.user_id && !caller.is_admin {
            return Err(Error::NotFound("session"));
        }
    }
    state.meta.delete_session(&session.id).await?;
    state.open_sessions.remove(&session.id);
    tracing::info!(session = %session.id, "session ended");
    Ok(())
}

/// `url` with its scheme, host and port replaced by `origin`'s (path and query, the
/// signature, unchanged): the CDN forwards it to the bucket, whose host the signature names.
fn on_origin(url: String, origin: Option<&url::Url>) -> String {
    let Some(origin) = origin else { return url };
    match url::Url::parse(&url) {
        Ok(mut u) => {
            let ok = u.set_scheme(origin.scheme()).is_ok()
                && u.set_host(origin.host_str()).is_ok()
                && u.set_port(origin.port()).is_ok();
            if ok {
                u.to_string()
            } else {
                url
            }
        }
        // Relative (the embedded object route): already on the service's host.
        Err(_) => url,
    }
}

#[cfg(test)]
mod tests {
    use super::on_origin;

    #[test]
    fn segment_urls_move_to_the_cdn_with_their_signature() {
        let cdn = url::Url::parse("https://d1.cloudfront.net").unwrap();
        let s3 = "https://b.s3.eu-west-1.amazonaws.com/renditions/ab/v1/seg_00001.m4s?X-Amz-Signature=f00&X-Amz-SignedHeaders=host".to_string();
        assert_eq!(on_origin(s3.clone(), Some(&cdn)), "https://d1.cloudfront.net/renditions/ab/v1/seg_00001.m4s?X-Amz-Signature=f00&X-Amz-SignedHeaders=host");
        let local = url::Url::parse("http://127.0.0.1:4001").unwrap();
        assert_eq!(
            on_origin(
                "http://127.0.0.1:4566/bucket/renditions/k?sig=1".into(),
                Some(&local)
            ),
            "http://127.0.0.1:4001/bucket/renditions/k?sig=1"
        );
        assert_eq!(on_origin(s3.clone(), None), s3);
        assert_eq!(
            on_origin("/objects/k?sig=1".into(), Some(&cdn)),
            "/objects/k?sig=1"
        );
    }
}
