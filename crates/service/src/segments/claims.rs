//! The claim lifecycle of a segment, in one file (SPEC §4): every piece is claimed before it is
//! made (one conditional write: one worker per piece), holds a lease while it is encoded, and
//! ends `ready` (its object published) or `failed` (the encoder's error). A lease that runs out
//! (a worker died, an invocation timed out) lets the next request take it over; a piece that
//! failed `MAX_ATTEMPTS` times fails for good, so a broken source is not retried forever.
//!
//! The request side reads a record's [`Standing`]; a worker holds its claims in a [`Held`] set,
//! publishes what it made through [`Held::complete`], and everything it still holds when it
//! stops is released through [`Held::release_all`]: one release path, whatever went wrong.

use std::sync::Mutex;

use stream_core::error::Result;
use stream_core::model::{Claim, SegmentRecord, SegmentState};
use stream_core::segment::SegmentId;
use stream_storage::MetaStore;

/// How long a claim lasts before another worker may take it over.
pub const LEASE_SECONDS: i64 = 90;
/// Claims per segment before it is failed for good (no endless retries of a broken source).
pub const MAX_ATTEMPTS: u32 = 3;

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// What a claim record says to a request that wants the piece.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Made: its object key.
    Ready(Option<String>),
    /// Failed `MAX_ATTEMPTS` times: the last error.
    FailedForGood(Option<String>),
    /// A live claim: someone is making it.
    Encoding,
    /// Absent, a retryable failure, or a dead worker's expired lease: claim it.
    Free,
}

impl Standing {
    pub fn of(record: Option<&SegmentRecord>, now: i64) -> Standing {
        match record {
            Some(r) if r.state == SegmentState::Ready => Standing::Ready(r.object_key.clone()),
            Some(r) if r.state == SegmentState::Failed && r.attempts >= MAX_ATTEMPTS => {
                Standing::FailedForGood(r.error.clone())
            }
            Some(r) if r.state == SegmentState::Encoding && r.lease_until >= now => {
                Standing::Encoding
            }
            // A dead worker's lease on the last attempt: no claim can take it over (the stores
            // allow `MAX_ATTEMPTS`), so it has failed for good, not "free" for ever.
            Some(r) if r.state == SegmentState::Encoding && r.attempts >= MAX_ATTEMPTS => {
                Standing::FailedForGood(Some(
                    "The segment's encoder stopped on its last attempt.".into(),
                ))
            }
            _ => Standing::Free,
        }
    }
}

/// Claims `id` for `worker` (lease from now). `Claimed` means the caller must make it.
pub async fn claim(meta: &dyn MetaStore, id: &SegmentId, worker: &str) -> Result<Claim> {
    let t = now();
    meta.claim_segment(&id.record_id(), worker, t, t + LEASE_SECONDS, MAX_ATTEMPTS)
        .await
}

/// A further claim beside one already held (the segment made with an init, the same segment of
/// other rungs, the next piece of an audio run). One that cannot be taken, or fails because the
/// store is down, is simply not taken: the worker makes what it holds.
pub async fn claim_more(meta: &dyn MetaStore, id: &SegmentId, worker: &str) -> bool {
    match claim(meta, id, worker).await {
        Ok(c) => matches!(c, Claim::Claimed(_)),
        Err(e) => {
            tracing::warn!(error = %e, "a further claim failed; the worker makes what it holds");
            false
        }
    }
}

/// The claims one worker holds, as the worker goes.
pub struct Held<'a> {
    meta: &'a dyn MetaStore,
    worker: String,
    ids: Mutex<Vec<SegmentId>>,
}

impl<'a> Held<'a> {
    pub fn new(meta: &'a dyn MetaStore, worker: &str, ids: Vec<SegmentId>) -> Self {
        Held {
            meta,
            worker: worker.to_string(),
            ids: Mutex::new(ids),
        }
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Vec<SegmentId>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one more claim (see [`claim_more`]); held from now on if taken.
    pub async fn add(&self, id: SegmentId) -> bool {
        let taken = claim_more(self.meta, &id, &self.worker).await;
        if taken {
            self.ids().push(id);
        }
        taken
    }

    /// Whether `id` is held.
    pub fn holds(&self, id: &SegmentId) -> bool {
        self.ids().contains(id)
    }

    /// Marks a piece ready with its published object (only if the claim is still this worker's:
    /// a worker whose lease ran out finds the piece taken over; its bytes are the same). The
    /// claim stays held until the write succeeded.
    pub async fn complete(&self, id: &SegmentId) -> Result<()> {
        let record = id.record_id();
        if !self
            .meta
            .complete_segment(&record, &self.worker, &id.object_key())
            .await?
        {
            tracing::warn!(segment = %id.file_name(), "claim lost before completion; the object is identical");
        }
        self.ids().retain(|h| h != id);
        Ok(())
    }

    /// Gives up every claim still held without counting an attempt (a job cancelled before it
    /// started: nothing was tried). Every claim is tried; the first error is returned.
    pub async fn cancel_all(&self) -> Result<()> {
        let ids = std::mem::take(&mut *self.ids());
        let mut first_error = None;
        for id in ids {
            if let Err(e) = self
                .meta
                .release_segment(&id.record_id(), &self.worker)
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Releases every claim still held as failed with `error`: a waiting request claims it again
    /// at once (until `MAX_ATTEMPTS`) instead of waiting out the lease. Every claim is tried;
    /// the first error is returned (the others are left to their lease).
    pub async fn release_all(&self, error: &str) -> Result<()> {
        let ids = std::mem::take(&mut *self.ids());
        let mut first_error = None;
        for id in ids {
            if let Err(e) = self
                .meta
                .fail_segment(&id.record_id(), &self.worker, error)
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: SegmentState, attempts: u32, lease_until: i64) -> SegmentRecord {
        SegmentRecord {
            id: "k/seg_00000.m4s".into(),
            state,
            worker: "w".into(),
            lease_until,
            attempts,
            object_key: Some("o".into()),
            error: Some("e".into()),
        }
    }

    #[test]
    fn standing_of_each_record() {
        assert_eq!(Standing::of(None, 100), Standing::Free);
        assert_eq!(
            Standing::of(Some(&rec(SegmentState::Ready, 1, 0)), 100),
            Standing::Ready(Some("o".into()))
        );
        assert_eq!(
            Standing::of(Some(&rec(SegmentState::Encoding, 1, 100)), 100),
            Standing::Encoding
        );
        // A dead worker's lease: free to take over.
        assert_eq!(
            Standing::of(Some(&rec(SegmentState::Encoding, 1, 99)), 100),
            Standing::Free
        );
        assert_eq!(
            Standing::of(Some(&rec(SegmentState::Failed, 1, 0)), 100),
            Standing::Free
        );
        // The last attempt's worker died: failed for good (no claim could take it over).
        assert!(matches!(
            Standing::of(Some(&rec(SegmentState::Encoding, MAX_ATTEMPTS, 99)), 100),
            Standing::FailedForGood(Some(_))
        ));
        let dead = rec(SegmentState::Failed, MAX_ATTEMPTS, 0);
        assert_eq!(
            Standing::of(Some(&dead), 100),
            Standing::FailedForGood(Some("e".into()))
        );
    }

    /// The lifecycle on a real store (the embedded one, in a temporary directory).
    #[tokio::test]
    async fn held_claims_complete_or_release_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let meta =
            stream_storage::embedded::SqliteMetaStore::open(&dir.path().join("m.db")).unwrap();
        let piece = |i| {
            SegmentId::new(
                "m1",
                "key",
                stream_core::segment::Piece::Media(i),
                stream_core::playback::decision::SegmentFormat::Fmp4,
            )
        };
        let (a, b, c) = (piece(0), piece(1), piece(2));
        assert!(matches!(
            claim(&meta, &a, "w1").await.unwrap(),
            Claim::Claimed(_)
        ));
        let held = Held::new(&meta, "w1", vec![a.clone()]);
        assert!(held.add(b.clone()).await, "a free piece is taken");
        // Another worker cannot take what w1 holds.
        assert!(!claim_more(&meta, &b, "w2").await);
        assert!(held.holds(&a) && held.holds(&b) && !held.holds(&c));
        held.complete(&a).await.unwrap();
        assert!(!held.holds(&a));
        held.release_all("broken").await.unwrap();
        let rec = |id: &SegmentId| {
            let (meta, id) = (&meta, id.record_id());
            async move { meta.get_segment(&id).await.unwrap().unwrap() }
        };
        let (ra, rb) = (rec(&a).await, rec(&b).await);
        assert_eq!(
            (ra.state, ra.object_key.as_deref()),
            (SegmentState::Ready, Some("renditions/key/seg_00000.m4s"))
        );
        assert_eq!(
            (rb.state, rb.error.as_deref()),
            (SegmentState::Failed, Some("broken"))
        );
        // A released piece is free again at once (one attempt used), not after the lease.
        assert_eq!(Standing::of(Some(&rb), now()), Standing::Free);
        assert!(matches!(
            claim(&meta, &b, "w2").await.unwrap(),
            Claim::Claimed(_)
        ));
        // Nothing held is nothing released.
        held.release_all("again").await.unwrap();
        assert_eq!(rec(&b).await.state, SegmentState::Encoding);
    }
}
