//! The edge's origin for `/renditions/<content key>/<file>` (SPEC §3 "Edge delivery"): what the
//! CDN falls over to when the bucket does not have the object (cloud: the `hls` function), and
//! `streamd`'s own answer (embedded: made objects straight from disk, else made).
//!
//! A request here carries no session token: in the cloud the CDN has checked the edge signature
//! and the function URL accepts only the CDN (origin access control); embedded, the caller
//! checked it (`local`). The content key names a stored [`RenditionRecord`], which says how to
//! make any piece of the rendition, so no session is needed. The piece is then delivered exactly
//! as a session's request would be (`segments::request::deliver`: claims, leases, read-ahead, the
//! bounded wait) and its bytes answered with `200`, which the CDN caches for every later viewer.
//!
//! A Lambda function's buffered response holds at most 6 MB, and binary bodies travel base64
//! encoded (4/3 larger), so a made piece above [`LAMBDA_BODY_LIMIT`] is answered with a redirect
//! to a short-lived presigned URL of the object instead (never cached: the next request for the
//! path finds the object in the bucket, the primary origin, and the CDN caches it from there).

use bytes::Bytes;
use chrono::Utc;
use stream_core::error::{Error, Result};
use stream_core::ids::is_valid_id;
use stream_core::segment::{is_content_key, parse_segment_name, Piece, SegmentId, SegmentName};

use super::Edge;
use crate::segments::request::{deliver, Delivery};
use crate::segments::worker::JobKind;
use crate::state::AppState;

/// Largest body a function answers (raw bytes; base64 and the response envelope fit in 6 MB).
pub const LAMBDA_BODY_LIMIT: u64 = 4_400_000;

/// What the origin answers for a piece.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The piece's bytes (`200`, immutable: the edge caches them).
    Object {
        body: Bytes,
        content_type: &'static str,
    },
    /// Made, but larger than a function may answer: a presigned URL of the object.
    TooLarge(String),
    /// Not made within the wait (`503` + `Retry-After`, never cached).
    Pending,
    /// It failed for good: the encoder's last error.
    Failed(String),
}

/// Whether a request for a content path may be answered: embedded, by its HMAC signature
/// (`path` and the raw `query` as received); in the cloud the CDN checked it before its cache
/// and only the CDN can call the function. Without an edge there are no content paths.
pub fn authorize(state: &AppState, path: &str, query: &str) -> Result<()> {
    match state.edge.as_deref() {
        Some(Edge::Local(signer)) => signer.verify(path, query, Utc::now().timestamp()),
        Some(Edge::CloudFront { .. }) => Ok(()),
        None => Err(Error::NotFound("route")),
    }
}

/// Serves `file` of the rendition with `content_key`; `session`: the `session` query parameter of
/// the URI, if any (extends that session and records the position; never required).
pub async fn serve(
    state: &AppState,
    content_key: &str,
    file: &str,
    session: Option<&str>,
) -> Result<Answer> {
    if !is_content_key(content_key) {
        return Err(Error::NotFound("segment"));
    }
    let local = state.edge.as_ref().is_some_and(|e| e.is_local());
    let limit = if local {
        u64::MAX / 2
    } else {
        LAMBDA_BODY_LIMIT
    };
    let key = stream_core::segment::object_key(content_key, file);
    // The edge's own cache is the bucket: a made piece costs one read (and, embedded, the
    // session's touch, as every request that reaches this process does).
    if local && parse_segment_name(file).is_some() {
        if let Some(answer) = read(state, &key, file, limit).await? {
            if let Some(SegmentName::Media { index, .. }) = parse_segment_name(file) {
                note_session(state, session, None, Piece::Media(index)).await;
            }
            return Ok(answer);
        }
    }
    let record = state
        .meta
        .get_rendition(content_key)
        .await?
        .ok_or(Error::NotFound("segment"))?;
    let piece = record.piece(file).ok_or(Error::NotFound("segment"))?;
    let init_from = note_session(state, session, Some(&record.set.media_id), piece).await;
    let kind = match piece {
        Piece::Init => JobKind::Init,
        Piece::Media(i) => JobKind::Segment(i),
    };
    let delivery = deliver(
        state,
        &record.set,
        &record.rendition,
        kind,
        record.segments,
        init_from,
    )
    .await?;
    match delivery {
        Delivery::Ready(key) => read(state, &key, file, limit)
            .await?
            .ok_or_else(|| Error::Internal(format!("{key} is ready without its object"))),
        Delivery::Pending => Ok(Answer::Pending),
        Delivery::Failed(m) => Ok(Answer::Failed(m)),
    }
}

/// The object's bytes (or a redirect above `limit`); `None` if it is not there.
async fn read(state: &AppState, key: &str, file: &str, limit: u64) -> Result<Option<Answer>> {
    let Some(body) = state
        .objects
        .read_range(key, 0, limit.saturating_add(1))
        .await?
    else {
        return Ok(None);
    };
    if body.len() as u64 > limit {
        let url = state
            .objects
            .presign_get(key, state.config.segment_url_ttl)
            .await?;
        return Ok(Some(Answer::TooLarge(url)));
    }
    Ok(Some(Answer::Object {
        body,
        content_type: content_type(file),
    }))
}

fn content_type(file: &str) -> &'static str {
    use stream_core::playback::decision::SegmentFormat;
    let (piece, format) = match parse_segment_name(file) {
        Some(SegmentName::Media { index, format }) => (Piece::Media(index), format),
        _ => (Piece::Init, SegmentFormat::Fmp4),
    };
    SegmentId::new("", "", piece, format).content_type()
}

/// Moves the named session's expiry forward and, for a media segment, records its position
/// (SPEC §3 "Progress"). Returns, for an init, the segment the stream is expected to start at
/// (made by the same run). Best effort: a missing or unknown session changes nothing, and a
/// store error is logged, never the request's failure.
async fn note_session(
    state: &AppState,
    session: Option<&str>,
    media_id: Option<&str>,
    piece: Piece,
) -> Option<u32> {
    let start_of = |i: u32| session_position(state, session, i);
    let position = match piece {
        Piece::Media(i) => start_of(i),
        Piece::Init => None,
    };
    let sid = session.filter(|s| is_valid_id(s))?;
    let now = Utc::now().timestamp();
    let expires_at = now + state.config.session_idle.as_secs() as i64;
    let touched = state
        .meta
        .touch_session(sid, now, expires_at, position)
        .await;
    let session = match touched {
        Ok(Some(s)) if media_id.is_none_or(|m| m == s.media_id) => s,
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "the segment's session could not be touched");
            return None;
        }
    };
    if let Some(open) = state.open_sessions.get(&session.id, now) {
        open.touched(now, expires_at, position);
        if piece == Piece::Init {
            return Some(
                open.position()
                    .and_then(|p| open.plan.segment_at(p))
                    .unwrap_or(0),
            );
        }
    }
    match piece {
        Piece::Init if session.last_position.is_none() => Some(0),
        _ => None,
    }
}

/// The start time of segment `i`, when this process has the session's plan at hand.
fn session_position(state: &AppState, session: Option<&str>, i: u32) -> Option<f64> {
    let open = state.open_sessions.get(session?, Utc::now().timestamp())?;
    open.plan.get(i).map(|s| s.start)
}
