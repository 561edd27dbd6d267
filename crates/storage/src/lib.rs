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
use stream_core::trickplay::TrickplayPlan;

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

/// The smallest part of a multipart upload but the last (S3's rule, which the embedded store
/// keeps too, so a client written against one shape works on the other).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The most parts one multipart upload may have (S3's limit), numbered `1..=MAX_PARTS`.
pub const MAX_PARTS: u32 = 10_000;

/// A part a multipart upload has received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    /// As S3 gives it: the MD5 of the part in hex, in double quotes.
    pub etag: String,
}

/// A multipart upload that was started and never completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated: chrono::DateTime<chrono::Utc>,
}

/// Whether two ETags name the same bytes (S3 quotes them; clients may not).
pub fn same_etag(a: &str, b: &str) -> bool {
    a.trim()
        .trim_matches('"')
        .eq_ignore_ascii_case(b.trim().trim_matches('"'))
}

/// Checks the client's list of parts for completion against what was received, so both stores
/// refuse the same lists with the same words (SPEC §3: a wrong ETag, a missing part or a part
/// too small answers `400` naming it). S3 checks again; the embedded store relies on this.
pub fn check_completion(given: &[(u32, String)], received: &[PartInfo]) -> Result<()> {
    use stream_core::Error;
    if given.is_empty() {
        return Err(Error::invalid("invalid_part", "the list of parts is empty"));
    }
    for pair in given.windows(2) {
        if pair[1].0 <= pair[0].0 {
            return Err(Error::invalid(
                "invalid_part_order",
                format!(
                    "parts must be listed in ascending order, once each: part {} follows part {}",
                    pair[1].0, pair[0].0
                ),
            ));
        }
    }
    let last = given.len() - 1;
    for (i, (number, etag)) in given.iter().enumerate() {
        let Some(part) = received.iter().find(|p| p.number == *number) else {
            return Err(Error::invalid(
                "invalid_part",
                format!("part {number} was not received"),
            ));
        };
        if !same_etag(&part.etag, etag) {
            return Err(Error::invalid(
                "invalid_part",
                format!("part {number}: the ETag does not match the part received"),
            ));
        }
        if i < last && part.size < MIN_PART_SIZE {
            return Err(Error::invalid(
                "part_too_small",
                format!(
                    "part {number} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes",
                    part.size
                ),
            ));
        }
    }
    Ok(())
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

    // Multipart uploads (SPEC §3 "Uploads from phones"): the object is sent in numbered parts,
    // in any order, each retried at will, and assembled when the client lists them.

    /// Starts a multipart upload of `key`; returns its upload id.
    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String>;
    /// An expiring URL a client PUTs part `number` to (a retried PUT replaces the part). Its
    /// answer carries the part's `ETag`.
    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        ttl: Duration,
    ) -> Result<PresignedPut>;
    /// The parts received so far, by number; `None` if the upload is unknown (completed,
    /// aborted or expired).
    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Option<Vec<PartInfo>>>;
    /// Assembles the parts listed (ascending numbers, each with its ETag) into the object,
    /// whole or not at all; parts not listed are dropped. `Invalid` naming the part for a wrong
    /// ETag, a part not received or one too small; `NotFound("upload")` for an unknown upload.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<()>;
    /// Drops the upload and its parts. An unknown upload is fine.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()>;
    /// Multipart uploads under `prefix` started before `before` and still open (the embedded
    /// sweep aborts them; in S3 the bucket's lifecycle rule does).
    async fn pending_multiparts(
        &self,
        prefix: &str,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PendingUpload>>;
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

    /// Stores a media's trick-play plan under its content key (idempotent, as renditions): the
    /// edge's origin makes a sheet from its path alone (SPEC §3 "Trick-play").
    async fn put_trickplay(&self, content_key: &str, plan: &TrickplayPlan) -> Result<()>;
    /// The trick-play plan with `content_key`, if a storyboard or playlist ever listed it.
    async fn get_trickplay(&self, content_key: &str) -> Result<Option<TrickplayPlan>>;
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
