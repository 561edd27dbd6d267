//! The HLS hot path: what a request needs of its session, kept per process for a few seconds.
//!
//! Every playlist and segment request of a session needs the same things: the session (is it
//! live, whose is it), its rendition set and segment plan (built from the media's probe), and
//! for playlists the same text again. Read and built on every request, that is two store reads,
//! a ladder and a plan, a render and a session write per request (the benchmark's playlist
//! route was bound by exactly that). Here they are kept for [`FRESH_FOR`] after they were read,
//! with the rendered playlists, and a playlist request extends the session at most once per
//! [`TOUCH_EVERY`] (segment requests always write: they carry the position).
//!
//! Staleness is bounded and no worse than the CDN's: a session ended through another process
//! (another Lambda instance) is still served by this one for at most [`FRESH_FOR`], as the CDN
//! serves its playlists for up to 10 s; one ended here is dropped at once. The session token is
//! verified on every request, cached or not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use stream_core::hls::ladder::RenditionSet;
use stream_core::hls::plan::SegmentPlan;
use stream_core::session::Session;
use stream_core::tracks::SubtitleTrack;

/// How long a session read from the store is used without reading it again.
pub const FRESH_FOR: Duration = Duration::from_secs(5);
/// A playlist request writes the session's new expiry only when the last write is this old
/// (seconds); the idle timeout is hours, so the expiry is at most this much short.
pub const TOUCH_EVERY: i64 = 60;
/// Entries kept at most; past it, stale ones are dropped, then the whole map if need be.
const MAX_ENTRIES: usize = 10_000;

/// A verified, live session with what its requests need.
pub struct OpenSession {
    pub session: Session,
    pub set: RenditionSet,
    pub plan: SegmentPlan,
    /// The media's subtitle tracks when the session was read (`with_subtitles`).
    pub subtitles: Vec<SubtitleTrack>,
    /// The media's trick-play images, if it has them (`with_trickplay`).
    pub trickplay: Option<stream_core::trickplay::TrickplayPlan>,
    /// The expiry as last written (moves forward with touches), epoch seconds.
    expires_at: AtomicI64,
    /// When the expiry was last written, epoch seconds.
    touched_at: AtomicI64,
    /// The last known position (f64 bits; NaN: none).
    position: AtomicU64,
    /// The last media segment a player of this session asked for (`u64::MAX`: none yet).
    played: AtomicU64,
    /// Rendered playlists, keyed by (kind, rendition, token): the master without a start offset
    /// (rendition empty), and each rendition's variant playlist (its segment URIs name the
    /// rendition's content path).
    rendered: Mutex<Vec<(PlaylistKind, String, String, Bytes)>>,
    /// Renditions whose records (`RenditionRecord`) this process has stored.
    recorded: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    Master,
    Variant,
}

impl OpenSession {
    /// `idle`: the session idle timeout (the last touch was `expires_at - idle`).
    pub fn new(session: Session, set: RenditionSet, plan: SegmentPlan, idle: Duration) -> Self {
        let expires = session.expires_at;
        OpenSession {
            expires_at: AtomicI64::new(expires),
            touched_at: AtomicI64::new(expires - idle.as_secs() as i64),
            position: AtomicU64::new(session.last_position.unwrap_or(f64::NAN).to_bits()),
            played: AtomicU64::new(u64::MAX),
            session,
            set,
            plan,
            subtitles: Vec::new(),
            trickplay: None,
            rendered: Mutex::new(Vec::new()),
            recorded: Mutex::new(Vec::new()),
        }
    }

    /// The same session offering the media's subtitle tracks.
    pub fn with_subtitles(mut self, tracks: Vec<SubtitleTrack>) -> Self {
        self.subtitles = tracks;
        self
    }

    /// The same session offering the media's trick-play images.
    pub fn with_trickplay(mut self, plan: Option<stream_core::trickplay::TrickplayPlan>) -> Self {
        self.trickplay = plan;
        self
    }

    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.load(Ordering::Relaxed) > now
    }

    /// Whether a playlist request at `now` should write the session's expiry.
    pub fn touch_due(&self, now: i64) -> bool {
        now - self.touched_at.load(Ordering::Relaxed) >= TOUCH_EVERY
    }

    /// Records a write of the expiry (and of the position, when one was written).
    pub fn touched(&self, now: i64, expires_at: i64, position: Option<f64>) {
        self.touched_at.fetch_max(now, Ordering::Relaxed);
        self.expires_at.fetch_max(expires_at, Ordering::Relaxed);
        if let Some(p) = position {
            self.position.store(p.to_bits(), Ordering::Relaxed);
        }
    }

    /// Records that a player of the session asked for media segment `index`.
    pub fn played(&self, index: u32) {
        self.played.store(u64::from(index), Ordering::Relaxed);
    }

    /// The segment an init asked for now will be followed by, made by the init's run when free
    /// (`JobKind::InitWith`): after a segment was played, the next one (an init asked for then is
    /// a player switching rungs, which goes on from there); else the segment at the known
    /// position (the start, or the resume point); else 0.
    pub fn init_start(&self) -> u32 {
        let last = self.plan.len().saturating_sub(1) as u32;
        match self.played.load(Ordering::Relaxed) {
            u64::MAX => self
                .position()
                .and_then(|p| self.plan.segment_at(p))
                .unwrap_or(0),
            i => (i as u32).saturating_add(1).min(last),
        }
    }

    /// The last known position (seconds): the session's start, or its latest segment request.
    pub fn position(&self) -> Option<f64> {
        Some(f64::from_bits(self.position.load(Ordering::Relaxed))).filter(|p| p.is_finite())
    }

    /// Whether this process has stored the record of `rendition` (a playlist listing its
    /// content paths is served only after that).
    pub fn is_recorded(&self, rendition: &str) -> bool {
        self.recorded
            .lock()
            .is_ok_and(|l| l.iter().any(|r| r == rendition))
    }

    /// Notes that the record of `rendition` is stored (concurrent first requests may each have
    /// written it: the same record, so nothing is lost).
    pub fn mark_recorded(&self, rendition: &str) {
        if let Ok(mut l) = self.recorded.lock() {
            if !l.iter().any(|r| r == rendition) {
                l.push(rendition.to_string());
            }
        }
    }

    /// The playlist of `kind` (and `rendition`, empty for the master) for `token`, rendered
    /// once by `render`. A session has a few renditions and one or two tokens in use, so a
    /// short list is searched (no allocation on the hot path).
    pub fn playlist(
        &self,
        kind: PlaylistKind,
        rendition: &str,
        token: &str,
        render: impl FnOnce() -> String,
    ) -> Bytes {
        let cached = self.rendered.lock().ok().and_then(|l| {
            l.iter()
                .find(|(k, r, t, _)| *k == kind && r == rendition && t == token)
                .map(|(_, _, _, b)| b.clone())
        });
        if let Some(b) = cached {
            return b;
        }
        let body = Bytes::from(render());
        if let Ok(mut l) = self.rendered.lock() {
            // Never let a client grow this (a ladder's renditions for two tokens fit).
            if l.len() >= 24 {
                l.clear();
            }
            l.push((kind, rendition.to_string(), token.to_string(), body.clone()));
        }
        body
    }
}

/// The per-process map session id → open session.
#[derive(Default)]
pub struct OpenSessions {
    map: Mutex<HashMap<String, (Instant, Arc<OpenSession>)>>,
}

impl OpenSessions {
    /// The session if it was read less than [`FRESH_FOR`] ago and is live at `now`.
    pub fn get(&self, id: &str, now: i64) -> Option<Arc<OpenSession>> {
        let map = self.map.lock().ok()?;
        let (at, open) = map.get(id)?;
        (at.elapsed() < FRESH_FOR && open.is_live(now)).then(|| open.clone())
    }

    pub fn insert(&self, open: Arc<OpenSession>) {
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(open.session.id.clone(), (Instant::now(), open));
    }

    /// Forgets a session (ended here).
    pub fn remove(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use stream_core::model::RenditionLimits;

    fn open(expires_at: i64) -> OpenSession {
        let (probe, decision, set) = stream_core::fixtures::remux_fixture();
        let plan = set.plan.plan(&probe).unwrap();
        let limits = RenditionLimits {
            max_width: None,
            max_height: None,
            max_bitrate: None,
            ..Default::default()
        };
        let now = Utc::now();
        let session = Session {
            id: "s1".into(),
            user_id: "u".into(),
            media_id: "m1".into(),
            reuse_key: "k".into(),
            decision,
            limits,
            created_at: now,
            last_access: now,
            last_position: None,
            expires_at,
        };
        OpenSession::new(session, set, plan, Duration::from_secs(7200))
    }

    #[test]
    fn touches_are_throttled_and_expiry_only_moves_forward() {
        let now = 1_000_000;
        // Last touched 10 s ago (expiry = then + idle).
        let o = open(now - 10 + 7200);
        assert!(!o.touch_due(now));
        assert!(o.touch_due(now + 50));
        assert_eq!(o.position(), None);
        assert_eq!(o.init_start(), 0);
        o.touched(now + 50, now + 50 + 7200, Some(12.5));
        assert!(!o.touch_due(now + 100));
        o.touched(now + 20, now + 20 + 7200, None);
        assert_eq!(o.position(), Some(12.5));
        assert!(o.is_live(now + 50 + 7199) && !o.is_live(now + 50 + 7200));
    }

    #[test]
    fn an_init_is_made_with_the_segment_asked_for_next() {
        let o = open(i64::MAX / 2);
        assert_eq!(o.init_start(), 0, "a start");
        let at = o.plan.segments[3].start;
        o.touched(1, 2, Some(at));
        assert_eq!(o.init_start(), 3, "a resume at the known position");
        o.played(5);
        assert_eq!(o.init_start(), 6, "a switch after segment 5 goes on with 6");
        o.played(o.plan.len() as u32 - 1);
        assert_eq!(
            o.init_start(),
            o.plan.len() as u32 - 1,
            "never past the end"
        );
    }

    #[test]
    fn fresh_live_sessions_only() {
        let now = Utc::now().timestamp();
        let cache = OpenSessions::default();
        cache.insert(Arc::new(open(now + 100)));
        assert!(cache.get("s1", now).is_some());
        assert!(cache.get("s1", now + 100).is_none(), "expired");
        assert!(cache.get("s2", now).is_none());
        cache.remove("s1");
        assert!(cache.get("s1", now).is_none());
    }

    #[test]
    fn playlists_render_once_per_token() {
        let o = open(i64::MAX / 2);
        let mut renders = 0;
        for _ in 0..3 {
            o.playlist(PlaylistKind::Variant, "v1", "t1", || {
                renders += 1;
                "#EXTM3U".into()
            });
        }
        o.playlist(PlaylistKind::Variant, "v1", "t2", || {
            renders += 1;
            "#EXTM3U".into()
        });
        o.playlist(PlaylistKind::Variant, "v2", "t1", || {
            renders += 1;
            "#EXTM3U".into()
        });
        assert_eq!(renders, 3, "once per rendition and token");
        assert!(!o.is_recorded("v1"));
        o.mark_recorded("v1");
        o.mark_recorded("v1");
        assert!(o.is_recorded("v1") && !o.is_recorded("v2"));
    }
}
