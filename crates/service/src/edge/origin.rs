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
use stream_core::hls::record::RenditionRecord;
use stream_core::ids::is_valid_id;
use stream_core::segment::{
    content_type_of, is_content_key, parse_segment_name, Piece, SegmentName,
};
use stream_core::trickplay::parse_sheet_name;

use super::Edge;
use crate::segments::request::{deliver, deliver_sheet, Ask, Delivery};
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

/// What a process that is its own edge answers at most: everything (files straight from disk).
const NO_LIMIT: u64 = u64::MAX / 2;

/// Whether a request for a content path may be answered. Embedded, by its HMAC signature
/// (`path` and the raw `query` as received). Behind CloudFront, the CDN checked the signature
/// before its cache, so a process trusts it only when the CDN is the only way in
/// (`AppState::cdn_origin`: a Lambda behind its IAM-authenticated function URL); any other
/// process with a CloudFront edge refuses, rather than serve and encode for anyone. Without an
/// edge there are no content paths.
pub fn authorize(state: &AppState, path: &str, query: &str) -> Result<()> {
    match state.edge.as_deref() {
        Some(Edge::Local(signer)) => signer.verify(path, query, Utc::now().timestamp()),
        Some(Edge::CloudFront { .. }) if state.cdn_origin => Ok(()),
        Some(Edge::CloudFront { .. }) => Err(Error::Forbidden(
            "content paths are served through the CDN".into(),
        )),
        None => Err(Error::NotFound("route")),
    }
}

/// Serves `file` of the rendition with `content_key`; `session`: the `session` query parameter of
/// the URI, if any (extends that session and records the position; never required, and only a
/// hint: session ids are unguessable, and a session is only touched for a rendition of its own
/// media).
pub async fn serve(
    state: &AppState,
    content_key: &str,
    file: &str,
    session: Option<&str>,
) -> Result<Answer> {
    let sheet = parse_sheet_name(file);
    if !is_content_key(content_key) || (parse_segment_name(file).is_none() && sheet.is_none()) {
        return Err(Error::NotFound("segment"));
    }
    let local = state.edge.as_ref().is_some_and(|e| e.is_local());
    let limit = if local { NO_LIMIT } else { LAMBDA_BODY_LIMIT };
    // The edge's own cache is the bucket: a made piece costs one read (and, embedded, the
    // session's touch, as every request that reaches this process does).
    if local {
        let key = stream_core::segment::object_key(content_key, file);
        if let Some(answer) = read(state, &key, file, limit).await? {
            if let Some(SegmentName::Media { index, .. }) = parse_segment_name(file) {
                let media = open_media(state, session, content_key);
                if let Some(media) = media {
                    note_session(state, session, &media, Piece::Media(index)).await;
                }
            }
            return Ok(answer);
        }
    }
    if sheet.is_some() {
        return serve_sheet(state, content_key, file, limit).await;
    }
    let record = state
        .meta
        .get_rendition(content_key)
        .await?
        .ok_or(Error::NotFound("segment"))?;
    let piece = record.piece(file).ok_or(Error::NotFound("segment"))?;
    let noted = note_session(state, session, &record.set.media_id, piece).await;
    // Twice at most: a piece whose object is gone although its claim says ready (the bucket's
    // lifecycle rule expired it) is forgotten and made again.
    for _ in 0..2 {
        match make(state, &record, piece, &noted).await? {
            Delivery::Ready(key) => {
                if let Some(answer) = read(state, &key, file, limit).await? {
                    return Ok(answer);
                }
                tracing::warn!(piece = %file, "a ready piece's object is gone; making it again");
                let id = record.set.segment(&record.rendition, piece);
                if let Some(id) = id {
                    state.meta.delete_segment(&id.record_id()).await?;
                }
            }
            Delivery::Pending => return Ok(Answer::Pending),
            Delivery::Failed(m) => return Ok(Answer::Failed(m)),
        }
    }
    Ok(Answer::Pending)
}

/// A trick-play sheet that is not in the store: made from the plan stored under the content
/// key (`trickplay::record`), under the same claims and bounded wait as a segment; a sheet
/// whose object is gone although its claim says ready is made again, as a segment is.
async fn serve_sheet(
    state: &AppState,
    content_key: &str,
    file: &str,
    limit: u64,
) -> Result<Answer> {
    let plan = state
        .meta
        .get_trickplay(content_key)
        .await?
        .ok_or(Error::NotFound("sheet"))?;
    let s = plan.sheet_of(file).ok_or(Error::NotFound("sheet"))?;
    for _ in 0..2 {
        match deliver_sheet(state, &plan, s).await? {
            Delivery::Ready(key) => {
                if let Some(answer) = read(state, &key, file, limit).await? {
                    return Ok(answer);
                }
                tracing::warn!(sheet = %file, "a ready sheet's object is gone; making it again");
                state
                    .meta
                    .delete_segment(&plan.sheet_id(s).record_id())
                    .await?;
            }
            Delivery::Pending => return Ok(Answer::Pending),
            Delivery::Failed(m) => return Ok(Answer::Failed(m)),
        }
    }
    Ok(Answer::Pending)
}

/// Delivers `piece` of the record's rendition as a session's request would.
async fn make(
    state: &AppState,
    record: &RenditionRecord,
    piece: Piece,
    noted: &Noted,
) -> Result<Delivery> {
    let kind = match piece {
        Piece::Init => JobKind::Init,
        Piece::Media(i) => JobKind::Segment(i),
        // No content path names a download (`parse_segment_name` does not accept its name);
        // sheets are served by `serve_sheet`.
        Piece::Download | Piece::Sheet(_) => return Err(Error::NotFound("segment")),
    };
    let ask = Ask {
        set: &record.set,
        rendition: &record.rendition,
        kind,
        requester: noted.user.as_deref(),
    };
    deliver(state, ask, record.segments, noted.init_from).await
}

/// The media of the named session, when this process has it at hand and its rendition set has
/// the content key (embedded: a made piece is answered without reading any record).
fn open_media(state: &AppState, session: Option<&str>, content_key: &str) -> Option<String> {
    let open = state.open_sessions.get(session?, Utc::now().timestamp())?;
    let has = open
        .set
        .ids()
        .any(|id| open.set.content_key(id).as_deref() == Some(content_key));
    has.then(|| open.set.media_id.clone())
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
    let content_type = content_type_of(file).unwrap_or("application/octet-stream");
    Ok(Some(Answer::Object { body, content_type }))
}

/// Moves the named session's expiry forward and, for a media segment, records its position
/// (SPEC §3 "Progress"), if the session is of `media_id`. Returns, for an init, the segment the
/// player will ask for next (made by the same run; `OpenSession::init_start`). Best effort: a
/// missing or unknown session changes nothing, and a store error is logged, never the
/// request's failure.
async fn note_session(
    state: &AppState,
    session: Option<&str>,
    media_id: &str,
    piece: Piece,
) -> Noted {
    noted(state, session, media_id, piece)
        .await
        .unwrap_or_default()
}

/// What the session of an edge request tells: where an init's run starts, and whose it is.
#[derive(Debug, Default)]
struct Noted {
    init_from: Option<u32>,
    user: Option<String>,
}

/// [`note_session`]: `None` when the request names no session of this media.
async fn noted(
    state: &AppState,
    session: Option<&str>,
    media_id: &str,
    piece: Piece,
) -> Option<Noted> {
    let position = match piece {
        Piece::Media(i) => session_position(state, session, i),
        Piece::Init | Piece::Download | Piece::Sheet(_) => None,
    };
    let sid = session.filter(|s| is_valid_id(s))?;
    let now = Utc::now().timestamp();
    let open = state.open_sessions.get(sid, now);
    if open
        .as_ref()
        .is_some_and(|o| o.session.media_id != media_id)
    {
        return None;
    }
    let expires_at = now + state.config.session_idle.as_secs() as i64;
    // A session this process has at hand is of this media (checked above); any other is read
    // back from the touch and checked after it.
    let touched = state
        .meta
        .touch_session(sid, now, expires_at, position)
        .await;
    let user = match touched {
        Ok(Some(s)) if s.media_id == media_id => Some(s.user_id),
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "the segment's session could not be touched");
            return None;
        }
    };
    let init_from = match (open, piece) {
        (Some(open), Piece::Init) => {
            open.touched(now, expires_at, None);
            Some(open.init_start())
        }
        (Some(open), Piece::Media(i)) => {
            open.touched(now, expires_at, position);
            open.played(i);
            None
        }
        // Without the session's plan at hand: an init starts with segment 0.
        (None, Piece::Init) => Some(0),
        (None, Piece::Media(_)) | (_, Piece::Download) | (_, Piece::Sheet(_)) => None,
    };
    Some(Noted { init_from, user })
}

/// The start time of segment `i`, when this process has the session's plan at hand.
fn session_position(state: &AppState, session: Option<&str>, i: u32) -> Option<f64> {
    let open = state.open_sessions.get(session?, Utc::now().timestamp())?;
    open.plan.get(i).map(|s| s.start)
}
