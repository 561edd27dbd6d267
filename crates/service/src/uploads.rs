//! Resumable multipart uploads (SPEC §3 "Uploads from phones"). One presigned PUT cannot carry
//! more than 5 GB to S3, and a phone that loses its connection at 90 % would start again from
//! zero; so a file announced larger than the part size is sent in numbered parts, each to its
//! own presigned URL, in any order, in parallel, retried at will. The client may lose all its
//! state: `progress` lists what the store has received, so it sends only what is missing. When
//! every part is there the client lists them with their ETags and the store assembles the
//! object, whole or not at all; that completion is what starts ingest (S3's ObjectCreated
//! event in the cloud, [`AppState::uploads_completed`] embedded).
//!
//! The multipart state lives where the bytes do (S3's own multipart upload; the embedded
//! store's part files): the media record only keeps the upload id and how the file is cut.
//! The checks a client can fail (a part missing from the list, not received, with a wrong ETag,
//! too small; parts that do not add up to the announced size) are made here against the store's
//! list of parts, so both shapes refuse with the same `400` naming the part, before anything is
//! assembled or ingested.

use chrono::{DateTime, Utc};
use stream_core::error::{Error, Result};
use stream_core::model::{Caller, Media, MediaStatus, MultipartUpload};
use stream_storage::{check_completion, modify_media, PartInfo, MAX_PARTS};

use crate::ingest::{media_id_from_key, UPLOAD_PREFIX};
use crate::media::{self, NewUpload, UploadTicket};
use crate::state::AppState;

/// S3's largest object: the largest source a multipart upload may announce.
pub const MAX_SOURCE_BYTES: u64 = 5 << 40;

/// The most part URLs one answer carries (the first ones at creation, then on request).
pub const MAX_PART_URLS: usize = 100;

/// A created upload: one PUT, or parts.
#[derive(Debug, Clone)]
pub enum Upload {
    Single(UploadTicket),
    Multipart(MultipartTicket),
}

/// Where to PUT part `number`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartUrl {
    pub number: u32,
    pub url: String,
}

/// A created multipart upload: how to cut the file and the first part URLs.
#[derive(Debug, Clone)]
pub struct MultipartTicket {
    pub media_id: String,
    pub upload_id: String,
    pub part_size: u64,
    pub part_count: u32,
    pub parts: Vec<PartUrl>,
    pub expires_at: DateTime<Utc>,
}

/// What a resuming client needs: how the file is cut and which parts the store has.
#[derive(Debug, Clone)]
pub struct UploadProgress {
    pub media_id: String,
    pub upload_id: String,
    pub size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub parts: Vec<PartInfo>,
    pub expires_at: DateTime<Utc>,
}

/// How a file of `size` bytes is cut: parts of the configured size, larger when the file would
/// otherwise need more than S3's 10,000 parts (rounded up to whole MiB).
pub fn plan(size: u64, configured_part_size: u64) -> (u64, u32) {
    let needed = size
        .div_ceil(u64::from(MAX_PARTS))
        .next_multiple_of(1 << 20);
    let part_size = configured_part_size.max(needed);
    let count = size.div_ceil(part_size).max(1);
    (part_size, u32::try_from(count).unwrap_or(MAX_PARTS))
}

/// `POST /uploads`: one presigned PUT, or, for a file announced larger than the part size, a
/// multipart upload with its first part URLs.
pub async fn create(state: &AppState, caller: &Caller, new: NewUpload) -> Result<Upload> {
    let size = match new.size {
        Some(size) if size > state.config.upload_part_size => size,
        _ => {
            return Ok(Upload::Single(
                media::create_upload(state, caller, new).await?,
            ))
        }
    };
    if size > MAX_SOURCE_BYTES {
        return Err(Error::TooLarge {
            message: format!("`size`: a source may be at most {MAX_SOURCE_BYTES} bytes (5 TiB)"),
        });
    }
    let mut media = media::new_record(caller, &new)?;
    let (part_size, part_count) = plan(size, state.config.upload_part_size);
    let upload_id = state
        .objects
        .create_multipart(&media.source_key, &media.content_type)
        .await?;
    let upload = MultipartUpload {
        upload_id: upload_id.clone(),
        size,
        part_size,
        part_count,
    };
    media.multipart = Some(upload.clone());
    if let Err(e) = state.meta.create_media(&media).await {
        let _ = state
            .objects
            .abort_multipart(&media.source_key, &upload_id)
            .await;
        return Err(e);
    }
    tracing::info!(media_id = %media.id, size, part_size, part_count, "multipart upload created");
    let first: Vec<u32> = (1..=part_count).take(MAX_PART_URLS).collect();
    let parts = presign(state, &media, &upload, &first).await?;
    Ok(Upload::Multipart(MultipartTicket {
        expires_at: expires_at(state, &media),
        media_id: media.id,
        upload_id,
        part_size,
        part_count,
        parts,
    }))
}

/// `POST /uploads/{id}/parts`: URLs for the parts asked for (at most [`MAX_PART_URLS`]).
pub async fn part_urls(
    state: &AppState,
    open: &OpenUpload,
    numbers: &[u32],
) -> Result<Vec<PartUrl>> {
    let (media, upload) = (&open.media, &open.upload);
    if numbers.is_empty() || numbers.len() > MAX_PART_URLS {
        return Err(Error::invalid(
            "invalid_field",
            format!("`numbers`: ask for 1 to {MAX_PART_URLS} parts at a time"),
        ));
    }
    if let Some(n) = numbers
        .iter()
        .find(|n| !(1..=upload.part_count).contains(*n))
    {
        return Err(Error::invalid(
            "invalid_part",
            format!(
                "part {n} does not exist: parts run from 1 to {}",
                upload.part_count
            ),
        ));
    }
    presign(state, media, upload, numbers).await
}

/// `GET /uploads/{id}`: the parts the store has received, for a client that resumes.
pub async fn progress(state: &AppState, caller: &Caller, media_id: &str) -> Result<UploadProgress> {
    let OpenUpload { media, upload } = open(state, caller, media_id).await?;
    let parts = received(state, &media, &upload).await?;
    Ok(UploadProgress {
        expires_at: expires_at(state, &media),
        media_id: media.id,
        upload_id: upload.upload_id,
        size: upload.size,
        part_size: upload.part_size,
        part_count: upload.part_count,
        parts,
    })
}

/// `POST /uploads/{id}/complete`: checks the client's list (every part `1..=part_count`, in
/// order, each received with that ETag, each but the last at least 5 MiB, adding up to the
/// announced size), assembles the object and starts ingest. A refused list changes nothing:
/// the parts stay, the client may fix its list or send a part again.
pub async fn complete(
    state: &AppState,
    open: OpenUpload,
    parts: Vec<(u32, String)>,
) -> Result<Media> {
    let OpenUpload { media, upload } = open;
    if let Some((n, _)) = parts
        .iter()
        .find(|(n, _)| *n == 0 || *n > upload.part_count)
    {
        return Err(Error::invalid(
            "invalid_part",
            format!(
                "part {n} does not exist: parts run from 1 to {}",
                upload.part_count
            ),
        ));
    }
    if let Some(n) = (1..=upload.part_count).find(|n| !parts.iter().any(|(m, _)| m == n)) {
        return Err(Error::invalid(
            "invalid_part",
            format!("part {n} is missing from the list"),
        ));
    }
    let have = received(state, &media, &upload).await?;
    check_completion(&parts, &have)?;
    let total: u64 = have.iter().map(|p| p.size).sum();
    if total != upload.size {
        return Err(Error::invalid(
            "size_mismatch",
            format!(
                "the parts hold {total} bytes; the upload announced {}",
                upload.size
            ),
        ));
    }
    let done = state
        .objects
        .complete_multipart(&media.source_key, &upload.upload_id, &parts)
        .await;
    match done {
        Ok(()) => {}
        // Completed by a concurrent call, or gone meanwhile.
        Err(Error::NotFound(_)) => return Err(gone_or_complete(state, &media).await),
        Err(e) => return Err(e),
    }
    tracing::info!(media_id = %media.id, parts = parts.len(), "multipart upload completed");
    if let Some(tx) = &state.uploads_completed {
        // The receiver lives as long as the server; a closed one means it is stopping, and
        // the next start ingests what was uploaded (`ingest::interrupted`).
        let _ = tx.send(media.id.clone());
    }
    Ok(media)
}

/// `DELETE /uploads/{id}`: drops the parts; the media ends `failed` ("cancelled").
pub async fn abort(state: &AppState, caller: &Caller, media_id: &str) -> Result<()> {
    let OpenUpload { media, upload } = open(state, caller, media_id).await?;
    state
        .objects
        .abort_multipart(&media.source_key, &upload.upload_id)
        .await?;
    modify_media(state.meta.as_ref(), &media.id, |m| {
        if m.status != MediaStatus::Uploading {
            return Ok(false);
        }
        m.status = MediaStatus::Failed;
        m.error = Some("The upload was cancelled by its owner.".into());
        Ok(true)
    })
    .await?;
    tracing::info!(media_id = %media.id, "multipart upload aborted");
    Ok(())
}

/// The embedded sweep (S3's `AbortIncompleteMultipartUpload` lifecycle rule does it in the
/// cloud): multipart uploads older than `STREAM_UPLOAD_EXPIRY_SECONDS` are dropped with their
/// parts. Their media stay `uploading`, as an abandoned single upload does; asking for their
/// progress then answers `410 upload_expired`. Returns how many were dropped.
pub async fn sweep_abandoned(state: &AppState) -> Result<usize> {
    let expiry = chrono::Duration::from_std(state.config.upload_expiry).unwrap_or_default();
    let stale = state
        .objects
        .pending_multiparts(UPLOAD_PREFIX, Utc::now() - expiry)
        .await?;
    for u in &stale {
        state.objects.abort_multipart(&u.key, &u.upload_id).await?;
        let media_id = media_id_from_key(&u.key).unwrap_or("?");
        tracing::info!(media_id, "abandoned multipart upload expired");
    }
    Ok(stale.len())
}

/// A media whose multipart upload is open, loaded for its owner: what the routes that change it
/// take, so a caller who may not learns nothing from a bad body ([`open`] comes first).
#[derive(Debug, Clone)]
pub struct OpenUpload {
    media: Media,
    upload: MultipartUpload,
}

/// The caller's media with an open multipart upload: its owner (or an admin) only; `409
/// upload_complete` once the object is assembled, `410 upload_expired` once it was aborted.
pub async fn open(state: &AppState, caller: &Caller, media_id: &str) -> Result<OpenUpload> {
    let media = media::load_changeable(state, caller, media_id).await?;
    let Some(upload) = media.multipart.clone() else {
        return Err(Error::NotFound("upload"));
    };
    let assembled = state.objects.head(&media.source_key).await?.is_some();
    match media.status {
        MediaStatus::Uploading if !assembled => Ok(OpenUpload { media, upload }),
        // Aborted by its owner (the object never assembled).
        MediaStatus::Failed if !assembled => Err(expired()),
        _ => Err(complete_conflict()),
    }
}

async fn received(
    state: &AppState,
    media: &Media,
    upload: &MultipartUpload,
) -> Result<Vec<PartInfo>> {
    match state
        .objects
        .list_parts(&media.source_key, &upload.upload_id)
        .await?
    {
        Some(parts) => Ok(parts),
        None => Err(gone_or_complete(state, media).await),
    }
}

async fn presign(
    state: &AppState,
    media: &Media,
    upload: &MultipartUpload,
    numbers: &[u32],
) -> Result<Vec<PartUrl>> {
    let ttl = state.config.upload_url_ttl;
    let mut out = Vec::with_capacity(numbers.len());
    for &number in numbers {
        let put = state
            .objects
            .presign_part(&media.source_key, &upload.upload_id, number, ttl)
            .await?;
        out.push(PartUrl {
            number,
            url: put.url,
        });
    }
    Ok(out)
}

fn expires_at(state: &AppState, media: &Media) -> DateTime<Utc> {
    media.created_at + chrono::Duration::from_std(state.config.upload_expiry).unwrap_or_default()
}

fn complete_conflict() -> Error {
    Error::Conflict {
        code: "upload_complete",
        message: "this media has already been uploaded".into(),
    }
}

/// The store no longer knows the upload: assembled (the object exists), else aborted or expired.
async fn gone_or_complete(state: &AppState, media: &Media) -> Error {
    match state.objects.head(&media.source_key).await {
        Ok(Some(_)) => complete_conflict(),
        Ok(None) => expired(),
        Err(e) => e,
    }
}

fn expired() -> Error {
    Error::Gone {
        code: "upload_expired",
        message: "the upload expired or was cancelled; its parts are gone, start again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_cut_into_parts_s3_accepts() {
        const MIB: u64 = 1 << 20;
        assert_eq!(plan(26 * MIB, 5 * MIB), (5 * MIB, 6));
        assert_eq!(plan(16 * MIB + 1, 16 * MIB), (16 * MIB, 2));
        assert_eq!(plan(32 * MIB, 16 * MIB), (16 * MIB, 2));
        // 5 TiB in 16 MiB parts would be 327,680 parts: the parts grow to fit 10,000.
        let (size, count) = plan(MAX_SOURCE_BYTES, 16 * MIB);
        assert!(count <= MAX_PARTS && size % MIB == 0, "{size} {count}");
        assert!(size * u64::from(count) >= MAX_SOURCE_BYTES);
    }
}
