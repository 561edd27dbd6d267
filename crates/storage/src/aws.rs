//! The cloud storage shape: S3 for objects, DynamoDB for records (LocalStack and DynamoDB Local
//! in tests; endpoints come from the SDK's own `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_DYNAMODB`).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{
    is_safe_key, MetaStore, ObjectInfo, ObjectStore, PartInfo, PendingUpload, PresignedPut,
    WRITE_ONCE,
};
use stream_core::error::{Error, Result};
use stream_core::hls::record::RenditionRecord;
use stream_core::model::{Claim, Media, Progress, SegmentRecord, SegmentState};
use stream_core::session::Session;
use stream_core::trickplay::TrickplayPlan;

/// Loads the shared SDK configuration: region, credentials and endpoints from the environment,
/// with short timeouts so an unreachable service fails fast with `storage_unavailable`.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(20))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

fn unavailable(what: &str, e: impl std::error::Error) -> Error {
    Error::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    /// `force_path_style`: bucket in the path (LocalStack), not in the host name.
    pub fn new(sdk: &aws_config::SdkConfig, bucket: &str, force_path_style: bool) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(force_path_style)
            // Presigned PUTs must not carry SDK checksum headers the client cannot reproduce.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        S3ObjectStore {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: bucket.to_string(),
        }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    fn check(key: &str) -> Result<()> {
        if is_safe_key(key) {
            Ok(())
        } else {
            Err(Error::invalid("invalid_key", "invalid object key"))
        }
    }

    /// A presigned GET, answered with `disposition` as its `Content-Disposition` when given
    /// (`response-content-disposition`, part of the signature).
    async fn presign_get_as(
        &self,
        key: &str,
        ttl: Duration,
        disposition: Option<String>,
    ) -> Result<String> {
        Self::check(key)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_response_content_disposition(disposition)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| Error::Internal(format!("presign GET: {}", DisplayErrorContext(e))))?;
        Ok(req.uri().to_string())
    }

    fn presigning(ttl: Duration) -> Result<PresigningConfig> {
        PresigningConfig::expires_in(ttl)
            .map_err(|e| Error::Internal(format!("presigning config: {e}")))
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        cache_control: Option<&str>,
    ) -> Result<()> {
        Self::check(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type(content_type)
            .set_cache_control(cache_control.map(str::to_string))
            .send()
            .await
            .map_err(|e| unavailable("S3 PutObject", e))?;
        Ok(())
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        cache_control: Option<&str>,
    ) -> Result<()> {
        Self::check(key)?;
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .content_type(content_type)
            .set_cache_control(cache_control.map(str::to_string))
            .send()
            .await
            .map_err(|e| unavailable("S3 PutObject", e))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        Self::check(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                content_type: out.content_type().map(str::to_string),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(unavailable("S3 HeadObject", e)),
        }
    }

    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Bytes>> {
        Self::check(key)?;
        if len == 0 {
            return Ok(self.head(key).await?.map(|_| Bytes::new()));
        }
        let range = format!("bytes={}-{}", offset, offset + len - 1);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(range)
            .send()
            .await
        {
            Ok(out) => {
                let data = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| Error::Unavailable(format!("S3 GetObject body: {e}")))?;
                Ok(Some(data.into_bytes()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) if e.code() == Some("InvalidRange") => Ok(Some(Bytes::new())),
            Err(e) => Err(unavailable("S3 GetObject", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        Self::check(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable("S3 DeleteObject", e))?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        self.presign_get_as(key, ttl, None).await
    }

    async fn presign_download(&self, key: &str, ttl: Duration, file_name: &str) -> Result<String> {
        let disposition = format!("attachment; filename=\"{file_name}\"");
        self.presign_get_as(key, ttl, Some(disposition)).await
    }

    async fn presign_head(&self, key: &str, ttl: Duration) -> Result<String> {
        Self::check(key)?;
        let req = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| Error::Internal(format!("presign HEAD: {}", DisplayErrorContext(e))))?;
        Ok(req.uri().to_string())
    }

    async fn presign_put(
        &self,
        key: &str,
        _content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut> {
        Self::check(key)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match(WRITE_ONCE.1)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| Error::Internal(format!("presign PUT: {}", DisplayErrorContext(e))))?;
        // The signed headers the client must send (the host is the URL's own).
        let headers = req
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
            .collect();
        Ok(PresignedPut {
            url: req.uri().to_string(),
            headers,
        })
    }

    async fn media_location(&self, key: &str) -> Result<String> {
        // ffprobe/ffmpeg read by HTTP range from a presigned URL: the source is never downloaded whole.
        self.presign_get(key, Duration::from_secs(6 * 3600)).await
    }

    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String> {
        Self::check(key)?;
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| unavailable("S3 CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| Error::Internal("S3 CreateMultipartUpload without an upload id".into()))
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        ttl: Duration,
    ) -> Result<PresignedPut> {
        Self::check(key)?;
        let number = i32::try_from(number)
            .map_err(|_| Error::invalid("invalid_part", "part number out of range"))?;
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| {
                Error::Internal(format!("presign UploadPart: {}", DisplayErrorContext(e)))
            })?;
        Ok(PresignedPut {
            url: req.uri().to_string(),
            headers: vec![],
        })
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Option<Vec<PartInfo>>> {
        Self::check(key)?;
        let mut parts = vec![];
        let mut marker: Option<String> = None;
        loop {
            let out = match self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.code() == Some("NoSuchUpload") => return Ok(None),
                Err(e) => return Err(unavailable("S3 ListParts", e)),
            };
            for p in out.parts() {
                parts.push(PartInfo {
                    number: p.part_number().unwrap_or(0).max(0) as u32,
                    size: p.size().unwrap_or(0).max(0) as u64,
                    etag: p.e_tag().unwrap_or_default().to_string(),
                });
            }
            match (out.is_truncated(), out.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(Some(parts))
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<()> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        Self::check(key)?;
        let completed = parts
            .iter()
            .map(|(number, etag)| {
                CompletedPart::builder()
                    .part_number(i32::try_from(*number).unwrap_or(i32::MAX))
                    .e_tag(etag)
                    .build()
            })
            .collect();
        let upload = CompletedMultipartUpload::builder()
            .set_parts(Some(completed))
            .build();
        match self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(upload)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let (code, message) = (e.code().map(str::to_owned), e.message().map(str::to_owned));
                Err(complete_error(code.as_deref(), message.as_deref(), e))
            }
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        Self::check(key)?;
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(unavailable("S3 AbortMultipartUpload", e)),
        }
    }

    async fn pending_multiparts(
        &self,
        prefix: &str,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PendingUpload>> {
        let mut out = vec![];
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| unavailable("S3 ListMultipartUploads", e))?;
            for u in page.uploads() {
                let initiated = u
                    .initiated()
                    .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                if let (Some(key), Some(upload_id), Some(initiated)) =
                    (u.key(), u.upload_id(), initiated)
                {
                    if initiated < before {
                        out.push(PendingUpload {
                            key: key.to_string(),
                            upload_id: upload_id.to_string(),
                            initiated,
                        });
                    }
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

/// S3's refusals of a CompleteMultipartUpload, in the words of SPEC §3 (`400` naming the part,
/// when S3 names it; the service checks the list against ListParts first, so S3's own check is
/// the second line).
fn complete_error(code: Option<&str>, message: Option<&str>, e: impl std::error::Error) -> Error {
    let said = message.unwrap_or("").to_string();
    match code {
        Some("InvalidPart") => Error::invalid(
            "invalid_part",
            format!("a listed part was not received or its ETag does not match ({said})"),
        ),
        Some("InvalidPartOrder") => Error::invalid(
            "invalid_part_order",
            format!("parts must be listed in ascending order ({said})"),
        ),
        Some("EntityTooSmall") => Error::invalid(
            "part_too_small",
            format!("every part but the last must be at least 5 MiB ({said})"),
        ),
        Some("NoSuchUpload") => Error::NotFound("upload"),
        _ => unavailable("S3 CompleteMultipartUpload", e),
    }
}

/// Table names: `<prefix>-media`, `<prefix>-progress`, ... as in `infra/tables.json`.
#[derive(Clone)]
pub struct TableNames {
    pub media: String,
    pub progress: String,
    pub sessions: String,
    pub segments: String,
}

impl TableNames {
    pub fn new(prefix: &str) -> Self {
        TableNames {
            media: format!("{prefix}-media"),
            progress: format!("{prefix}-progress"),
            sessions: format!("{prefix}-sessions"),
            segments: format!("{prefix}-segments"),
        }
    }
}

pub struct DynamoMetaStore {
    client: aws_sdk_dynamodb::Client,
    tables: TableNames,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn doc_of<T: serde::de::DeserializeOwned>(item: &HashMap<String, AttributeValue>) -> Result<T> {
    let doc = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| Error::Internal("record without doc".into()))?;
    serde_json::from_str(doc).map_err(|e| Error::Internal(format!("corrupt record: {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

impl DynamoMetaStore {
    /// The tables are `<table_prefix>-media`, `-progress`, `-sessions`, `-segments`.
    pub fn new(sdk: &aws_config::SdkConfig, table_prefix: &str) -> Self {
        DynamoMetaStore {
            client: aws_sdk_dynamodb::Client::new(sdk),
            tables: TableNames::new(table_prefix),
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }
}

#[async_trait]
impl MetaStore for DynamoMetaStore {
    async fn create_media(&self, media: &Media) -> Result<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.media)
            .item("id", s(&media.id))
            .item("owner", s(&media.owner))
            .item("version", n(media.version))
            .item("doc", s(json(media)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict {
                    code: "media_exists",
                    message: format!("media {} already exists", media.id),
                })
            }
            Err(e) => Err(unavailable("DynamoDB PutItem", e)),
        }
    }

    async fn get_media(&self, id: &str) -> Result<Option<Media>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.media)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB GetItem", e))?;
        out.item().map(doc_of).transpose()
    }

    async fn update_media(&self, media: &Media) -> Result<Media> {
        let mut next = media.clone();
        next.version = media.version + 1;
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.media)
            .item("id", s(&next.id))
            .item("owner", s(&next.owner))
            .item("version", n(next.version))
            .item("doc", s(json(&next)?))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(media.version))
            .send()
            .await;
        match r {
            Ok(_) => Ok(next),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::ConcurrentModification(format!("media {}", media.id)))
            }
            Err(e) => Err(unavailable("DynamoDB PutItem", e)),
        }
    }

    async fn list_media(&self) -> Result<Vec<Media>> {
        let mut out = vec![];
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.media)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("DynamoDB Scan", e))?;
            for item in page.items() {
                out.push(doc_of::<Media>(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn put_progress(&self, p: &Progress) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.tables.progress)
            .item("user_id", s(&p.user_id))
            .item("media_id", s(&p.media_id))
            .item("doc", s(json(p)?))
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB PutItem", e))?;
        Ok(())
    }

    async fn get_progress(&self, user_id: &str, media_id: &str) -> Result<Option<Progress>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.progress)
            .key("user_id", s(user_id))
            .key("media_id", s(media_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB GetItem", e))?;
        out.item().map(doc_of).transpose()
    }

    async fn create_or_reuse_session(&self, candidate: &Session, now: i64) -> Result<Session> {
        let key_pk = session_key_pk(&candidate.reuse_key);
        for _ in 0..6 {
            // 1. A live session under this reuse key wins.
            let key_item = self.get_item_pk(&key_pk).await?;
            let mut stale_owner: Option<String> = None;
            if let Some(item) = &key_item {
                let owner = item
                    .get("session_id")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if item_expires_at(item) > now {
                    if let Some(live) = self.get_session(&owner, now).await? {
                        return Ok(live);
                    }
                }
                stale_owner = Some(owner);
            }
            // 2. Store our candidate, then 3. claim the reuse key with a condition: only if it is
            // absent, expired, or still held by the stale owner we saw.
            self.put_session_item(candidate).await?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.tables.sessions)
                .item("pk", s(&key_pk))
                .item("kind", s("key"))
                .item("session_id", s(&candidate.id))
                .item("expires_at", n(candidate.expires_at))
                .expression_attribute_values(":now", n(now));
            put = match &stale_owner {
                Some(owner) => put
                    .condition_expression(
                        "attribute_not_exists(pk) OR expires_at <= :now OR session_id = :stale",
                    )
                    .expression_attribute_values(":stale", s(owner)),
                None => put.condition_expression("attribute_not_exists(pk) OR expires_at <= :now"),
            };
            match put.send().await {
                Ok(_) => return Ok(candidate.clone()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    // Another request won the race: drop our candidate and read theirs.
                    self.delete_item_pk(&session_pk(&candidate.id)).await?;
                }
                Err(e) => return Err(unavailable("DynamoDB PutItem", e)),
            }
        }
        Err(Error::ConcurrentModification(format!(
            "session for {}",
            candidate.media_id
        )))
    }

    async fn get_session(&self, id: &str, now: i64) -> Result<Option<Session>> {
        match self.get_item_pk(&session_pk(id)).await? {
            Some(item) if item_expires_at(&item) > now => Ok(Some(session_of(&item)?)),
            _ => Ok(None),
        }
    }

    async fn touch_session(
        &self,
        id: &str,
        now: i64,
        expires_at: i64,
        position: Option<f64>,
    ) -> Result<Option<Session>> {
        // Expiry only moves forward: the first attempt extends it (the usual case); if the stored
        // expiry is already later, the second records the access without touching it.
        let mut item = None;
        for extend in [true, false] {
            let mut sets = vec!["last_access = :now"];
            let mut update = self
                .client
                .update_item()
                .table_name(&self.tables.sessions)
                .key("pk", s(session_pk(id)))
                .expression_attribute_values(":now", n(now))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
            if extend {
                sets.push("expires_at = :exp");
                update = update
                    .condition_expression(
                        "attribute_exists(pk) AND expires_at > :now AND expires_at <= :exp",
                    )
                    .expression_attribute_values(":exp", n(expires_at));
            } else {
                update = update.condition_expression("attribute_exists(pk) AND expires_at > :now");
            }
            if let Some(p) = position {
                sets.push("last_position = :pos");
                update = update.expression_attribute_values(":pos", n(p));
            }
            match update
                .update_expression(format!("SET {}", sets.join(", ")))
                .send()
                .await
            {
                Ok(out) => {
                    item = Some(out.attributes.unwrap_or_default());
                    break;
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    continue
                }
                Err(e) => return Err(unavailable("DynamoDB UpdateItem", e)),
            }
        }
        let Some(item) = item else { return Ok(None) };
        let session = session_of(&item)?;
        // Keep the reuse key alive as long as its session (only if it still points here).
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_key_pk(&session.reuse_key)))
            .update_expression("SET expires_at = :exp")
            .condition_expression("session_id = :id")
            .expression_attribute_values(":exp", n(session.expires_at))
            .expression_attribute_values(":id", s(id))
            .send()
            .await;
        match r {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable("DynamoDB UpdateItem", e)),
        }
        Ok(Some(session))
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        let Some(item) = self.get_item_pk(&session_pk(id)).await? else {
            return Ok(());
        };
        let session = session_of(&item)?;
        let r = self
            .client
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_key_pk(&session.reuse_key)))
            .condition_expression("session_id = :id")
            .expression_attribute_values(":id", s(id))
            .send()
            .await;
        match r {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable("DynamoDB DeleteItem", e)),
        }
        self.delete_item_pk(&session_pk(id)).await
    }

    async fn live_sessions_of_media(&self, media_id: &str, now: i64) -> Result<Vec<Session>> {
        // A filtered Scan: cleanup is rare and off the request path. (At scale: a GSI on media_id.)
        let mut out = vec![];
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.sessions)
                .filter_expression("kind = :k AND media_id = :m AND expires_at > :now")
                .expression_attribute_values(":k", s("session"))
                .expression_attribute_values(":m", s(media_id))
                .expression_attribute_values(":now", n(now))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("DynamoDB Scan", e))?;
            for item in page.items() {
                out.push(session_of(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn get_segment(&self, id: &str) -> Result<Option<SegmentRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.segments)
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB GetItem", e))?;
        Ok(out.item.as_ref().map(segment_of))
    }

    async fn claim_segment(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_until: i64,
        max_attempts: u32,
    ) -> Result<Claim> {
        let r = self
            .client
            .update_item()
            .table_name(&self.tables.segments)
            .key("id", s(id))
            .update_expression("SET #st = :enc, worker = :w, lease_until = :lease, attempts = if_not_exists(attempts, :zero) + :one REMOVE #err")
            .condition_expression("attribute_not_exists(id) OR (attempts < :max AND ((#st = :enc AND lease_until < :now) OR #st = :failed))")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":enc", s("encoding"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":w", s(worker))
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max_attempts))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => Ok(Claim::Claimed(segment_of(
                &out.attributes.unwrap_or_default(),
            ))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                match self.get_segment(id).await? {
                    Some(rec) => Ok(Claim::Held(rec)),
                    // Deleted in between: claim again.
                    None => {
                        Box::pin(self.claim_segment(id, worker, now, lease_until, max_attempts))
                            .await
                    }
                }
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem", e)),
        }
    }

    async fn complete_segment(&self, id: &str, worker: &str, object_key: &str) -> Result<bool> {
        self.finish_segment(
            id,
            worker,
            "SET #st = :ready, object_key = :k REMOVE #err",
            &[(":ready", s("ready")), (":k", s(object_key))],
        )
        .await
    }

    async fn fail_segment(&self, id: &str, worker: &str, error: &str) -> Result<bool> {
        self.finish_segment(
            id,
            worker,
            "SET #st = :failed, #err = :e",
            &[(":failed", s("failed")), (":e", s(error))],
        )
        .await
    }

    async fn delete_segment(&self, id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.tables.segments)
            .key("id", s(id))
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB DeleteItem", e))?;
        Ok(())
    }
    async fn release_segment(&self, id: &str, worker: &str) -> Result<bool> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.tables.segments)
            .key("id", s(id))
            .condition_expression("worker = :w AND #st = :enc")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":w", s(worker))
            .expression_attribute_values(":enc", s("encoding"))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("DynamoDB DeleteItem", e)),
        }
    }

    async fn put_rendition(&self, content_key: &str, record: &RenditionRecord) -> Result<()> {
        let doc = serde_json::to_string(record)
            .map_err(|e| Error::Internal(format!("rendition record: {e}")))?;
        // The first record of a content key stays (as in SQLite): the sets of two sessions
        // sharing the key may differ in their other renditions.
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.segments)
            .item("id", s(&rendition_item_id(content_key)))
            .item("doc", s(&doc))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("DynamoDB PutItem", e)),
        }
    }

    async fn get_rendition(&self, content_key: &str) -> Result<Option<RenditionRecord>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.segments)
            .key("id", s(&rendition_item_id(content_key)))
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB GetItem", e))?;
        let Some(doc) = out.item.as_ref().and_then(|i| i.get("doc")?.as_s().ok()) else {
            return Ok(None);
        };
        serde_json::from_str(doc)
            .map(Some)
            .map_err(|e| Error::Internal(format!("rendition record {content_key}: {e}")))
    }

    async fn put_trickplay(&self, content_key: &str, plan: &TrickplayPlan) -> Result<()> {
        let doc = serde_json::to_string(plan)
            .map_err(|e| Error::Internal(format!("trick-play plan: {e}")))?;
        self.put_doc_once(&trickplay_item_id(content_key), doc)
            .await
    }

    async fn get_trickplay(&self, content_key: &str) -> Result<Option<TrickplayPlan>> {
        let Some(doc) = self.get_doc(&trickplay_item_id(content_key)).await? else {
            return Ok(None);
        };
        serde_json::from_str(&doc)
            .map(Some)
            .map_err(|e| Error::Internal(format!("trick-play plan {content_key}: {e}")))
    }
}

impl DynamoMetaStore {
    /// Writes `doc` under `id` in the segments table unless an item is there (the first record
    /// of a content key stays).
    async fn put_doc_once(&self, id: &str, doc: String) -> Result<()> {
        let r = self
            .client
            .put_item()
            .table_name(&self.tables.segments)
            .item("id", s(id))
            .item("doc", s(&doc))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable("DynamoDB PutItem", e)),
        }
    }

    /// The `doc` of the item `id` of the segments table, if any.
    async fn get_doc(&self, id: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.segments)
            .key("id", s(id))
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB GetItem", e))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| i.get("doc")?.as_s().ok())
            .cloned())
    }
}

/// Trick-play plans share the segments table too: `trickplay#<content key>`.
fn trickplay_item_id(content_key: &str) -> String {
    format!("trickplay#{content_key}")
}

/// Rendition records share the segments table with the claims (one table for what is made and
/// how): `rendition#<content key>` can never equal a claim's `<content key>/<file>`.
fn rendition_item_id(content_key: &str) -> String {
    format!("rendition#{content_key}")
}

fn segment_of(item: &HashMap<String, AttributeValue>) -> SegmentRecord {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let num = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    SegmentRecord {
        id: text("id").unwrap_or_default(),
        state: text("state")
            .as_deref()
            .and_then(SegmentState::parse)
            .unwrap_or(SegmentState::Failed),
        worker: text("worker").unwrap_or_default(),
        lease_until: num("lease_until"),
        attempts: num("attempts") as u32,
        object_key: text("object_key"),
        error: text("error"),
    }
}

impl DynamoMetaStore {
    async fn finish_segment(
        &self,
        id: &str,
        worker: &str,
        update: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.tables.segments)
            .key("id", s(id))
            .update_expression(update)
            .condition_expression("worker = :w AND #st = :enc")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#err", "error")
            .expression_attribute_values(":w", s(worker))
            .expression_attribute_values(":enc", s("encoding"));
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable("DynamoDB UpdateItem", e)),
        }
    }
}

/// Sessions table layout: `session#<id>` items hold a session (immutable part in `doc`; the
/// volatile `expires_at`, `last_access`, `last_position` as attributes, so a touch is one
/// UpdateItem); `key#<reuse key>` items point at the live session for that key. Both carry the
/// TTL attribute `expires_at`; the cleanup function acts on `session#` removals only.
pub const SESSION_PK_PREFIX: &str = "session#";
const SESSION_KEY_PK_PREFIX: &str = "key#";

fn session_pk(id: &str) -> String {
    format!("{SESSION_PK_PREFIX}{id}")
}

fn session_key_pk(reuse_key: &str) -> String {
    format!("{SESSION_KEY_PK_PREFIX}{reuse_key}")
}

fn item_expires_at(item: &HashMap<String, AttributeValue>) -> i64 {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A session from its item: the document with the volatile attributes laid over it.
pub fn session_of(item: &HashMap<String, AttributeValue>) -> Result<Session> {
    let mut session: Session = doc_of(item)?;
    session.expires_at = item_expires_at(item);
    if let Some(t) = item
        .get("last_access")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
    {
        if let Some(t) = chrono::DateTime::from_timestamp(t, 0) {
            session.last_access = t;
        }
    }
    if let Some(p) = item
        .get("last_position")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<f64>().ok())
    {
        session.last_position = Some(p);
    }
    Ok(session)
}

impl DynamoMetaStore {
    async fn get_item_pk(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB GetItem", e))?;
        Ok(out.item)
    }

    async fn delete_item_pk(&self, pk: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(pk))
            .send()
            .await
            .map_err(|e| unavailable("DynamoDB DeleteItem", e))?;
        Ok(())
    }

    async fn put_session_item(&self, session: &Session) -> Result<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", s(session_pk(&session.id)))
            .item("kind", s("session"))
            .item("media_id", s(&session.media_id))
            .item("expires_at", n(session.expires_at))
            .item("last_access", n(session.last_access.timestamp()))
            .item("doc", s(json(session)?))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(p) = session.last_position {
            put = put.item("last_position", n(p));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict {
                    code: "session_exists",
                    message: format!("session {} already exists", session.id),
                })
            }
            Err(e) => Err(unavailable("DynamoDB PutItem", e)),
        }
    }
}
