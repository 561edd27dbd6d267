//! Storage behind two small traits, each with two real implementations:
//! - [`ObjectStore`]: bytes (uploads, later segments). S3, or files under the data dir.
//! - [`MetaStore`]: records (media, progress, sessions, segment claims). DynamoDB, or SQLite.
//!
//! The same contract tests (`tests/tests/storage_contract.rs`) run against both.
//!
//! Each implementation is behind its own feature, so a binary links only the backend it uses:
//! `aws` (S3, DynamoDB, and the decoding of the sessions table's stream), `embedded` (files
//! under the data dir and SQLite). The traits, `modify_media`, key checks and the signed-URL
//! scheme of the embedded object route are always here.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod dynamodb_stream;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod signed_url;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use stream_core::error::Result;
use stream_core::hls::record::RenditionRecord;
use stream_core::model::{Claim, Media, Progress, SegmentRecord};
use stream_core::session::Session;

/// What a store knows of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

/// The header that makes a presigned upload write its object once (SPEC §3 "An upload URL writes
/// its object once"): S3 refuses a conditional PUT onto an existing key with `412`
/// (`PreconditionFailed`), and the embedded object route does the same. It is signed into the S3
/// URL, so a client that leaves it out is refused (`403`) rather than allowed to overwrite.
pub const WRITE_ONCE: (&str, &str) = ("if-none-match", "*");

/// A presigned upload: the URL, and the headers the client must send with it (part of the
/// signature in S3).
#[derive(Debug, Clone, PartialEq)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes a whole object. Readers see either nothing or the complete object, never a part.
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        cache_control: Option<&str>,
    ) -> Result<()>;
    /// Writes a whole object from a local file (streamed, not loaded in memory).
    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
        content_type: &str,
        cache_control: Option<&str>,
    ) -> Result<()>;
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// Reads `len` bytes from `offset` (fewer at the end of the object). `None` if absent.
    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Bytes>>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// An expiring URL a client can GET (and ask ranges of). Never signed with a range.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String>;
    /// An expiring GET URL whose answer says `Content-Disposition: attachment;
    /// filename="<file_name>"` (a download saved under that name, not played in the page).
    /// `file_name` is plain ASCII without quotes (`stream_core::download::file_name`).
    async fn presign_download(&self, key: &str, ttl: Duration, file_name: &str) -> Result<String>;
    /// An expiring URL a client can HEAD (S3 signs the method: a GET URL refuses HEAD).
    async fn presign_head(&self, key: &str, ttl: Duration) -> Result<String>;
    /// An expiring URL a client can PUT the object's bytes to, once: a second PUT with the
    /// same headers is refused while the object exists ([`WRITE_ONCE`]).
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut>;
    /// Where ffprobe/ffmpeg can read the object by range: a local path or a presigned URL.
    async fn media_location(&self, key: &str) -> Result<String>;
}

/// Records. Every write that could race is conditional.
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Creates a media record; `Conflict` if the id exists.
    async fn create_media(&self, media: &Media) -> Result<()>;
    async fn get_media(&self, id: &str) -> Result<Option<Media>>;
    /// Replaces the record if its stored version is still `media.version`; the stored copy gets
    /// `version + 1`. `ConcurrentModification` if another writer got there first.
    async fn update_media(&self, media: &Media) -> Result<Media>;
    /// Every media record (callers filter by visibility).
    async fn list_media(&self) -> Result<Vec<Media>>;
    async fn put_progress(&self, progress: &Progress) -> Result<()>;
    async fn get_progress(&self, user_id: &str, media_id: &str) -> Result<Option<Progress>>;

    /// Returns the live session with `candidate.reuse_key` if there is one, else stores
    /// `candidate` and returns it. Atomic: concurrent callers with the same key all get the same
    /// session (the reuse-key record is written with a condition).
    async fn create_or_reuse_session(&self, candidate: &Session, now: i64) -> Result<Session>;
    /// The session, if it exists and is live at `now` (an expired one reads as gone: TTL deletion
    /// is lazy).
    async fn get_session(&self, id: &str, now: i64) -> Result<Option<Session>>;
    /// Moves `expires_at` forward (and the reuse key's with it), records the access time and, if
    /// given, the last known position. `None` if the session is gone.
    async fn touch_session(
        &self,
        id: &str,
        now: i64,
        expires_at: i64,
        position: Option<f64>,
    ) -> Result<Option<Session>>;
    /// Ends a session (and releases its reuse key). Absent sessions are fine.
    async fn delete_session(&self, id: &str) -> Result<()>;

    /// The live sessions of one media (cleanup keeps what they use).
    async fn live_sessions_of_media(&self, media_id: &str, now: i64) -> Result<Vec<Session>>;

    async fn get_segment(&self, id: &str) -> Result<Option<SegmentRecord>>;
    /// Claims a segment for `worker` until `lease_until` with one conditional write. Succeeds if
    /// it is unclaimed, if its claim's lease expired before `now` (a dead worker), or if it
    /// failed with fewer than `max_attempts` attempts; otherwise returns what holds it.
    async fn claim_segment(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_until: i64,
        max_attempts: u32,
    ) -> Result<Claim>;
    /// Marks the segment ready, only if `worker` still holds the claim. `false` if it does not.
    async fn complete_segment(&self, id: &str, worker: &str, object_key: &str) -> Result<bool>;
    /// Marks the segment failed with `error`, only if `worker` still holds the claim.
    async fn fail_segment(&self, id: &str, worker: &str, error: &str) -> Result<bool>;
    /// Forgets a segment record (its object was removed).
    async fn delete_segment(&self, id: &str) -> Result<()>;
    /// Gives up a claim that was never worked on (a read-ahead cancelled before it started): the
    /// record is removed if `worker` still holds it, so the piece is free again and no attempt
    /// is counted. `false` if the claim is not (or no longer) the worker's.
    async fn release_segment(&self, id: &str, worker: &str) -> Result<bool>;

    /// Stores how to make the rendition with `content_key` (idempotent: a content key names
    /// exactly one recipe, so a second write of the same key changes nothing).
    async fn put_rendition(&self, content_key: &str, record: &RenditionRecord) -> Result<()>;
    /// The rendition with `content_key`, if a session ever stored it.
    async fn get_rendition(&self, content_key: &str) -> Result<Option<RenditionRecord>>;
}

/// Reads, modifies and writes a media record, retrying when a concurrent writer wins.
/// `change` returns `Ok(false)` to leave the record as it is.
pub async fn modify_media(
    meta: &dyn MetaStore,
    id: &str,
    mut change: impl FnMut(&mut Media) -> Result<bool> + Send,
) -> Result<Media> {
    for attempt in 0..24u32 {
        if attempt > 0 {
            // Jittered back-off so concurrent writers stop colliding on the same version.
            let mut b = [0u8; 2];
            let _ = getrandom::getrandom(&mut b);
            let ms = u64::from(attempt.min(6)) * 5 + u64::from(u16::from_le_bytes(b) % 20);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let mut media = meta
            .get_media(id)
            .await?
            .ok_or(stream_core::Error::NotFound("media"))?;
        if !change(&mut media)? {
            return Ok(media);
        }
        media.updated_at = chrono::Utc::now();
        match meta.update_media(&media).await {
            Err(stream_core::Error::ConcurrentModification(_)) => continue,
            other => return other,
        }
    }
    Err(stream_core::Error::ConcurrentModification(format!(
        "media {id}"
    )))
}

/// Object keys are made by the service; anything arriving from outside is checked with this
/// before it names a file or an S3 key: `/`-separated segments of `[A-Za-z0-9._-]`, no `.`/`..`.
pub fn is_safe_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

#[cfg(test)]
mod key_tests {
    #[test]
    fn safe_keys() {
        assert!(super::is_safe_key("uploads/0123/source.mp4"));
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", "a/./b", "a b", "a\\b", "a/b/", "%2e%2e/x",
            "a\0b",
        ] {
            assert!(!super::is_safe_key(bad), "{bad:?}");
        }
    }
}
