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

use super::{is_safe_key, MetaStore, ObjectInfo, ObjectStore};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Media, Progress};

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
    pub fn new(sdk: &aws_config::SdkConfig, cfg: &Config) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(cfg.s3_force_path_style)
            // Presigned PUTs must not carry SDK checksum headers the client cannot reproduce.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        S3ObjectStore { client: aws_sdk_s3::Client::from_conf(conf), bucket: cfg.bucket.clone() }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    fn check(key: &str) -> Result<()> {
        if is_safe_key(key) {
            Ok(())
        } else {
            Err(Error::bad_request("invalid_key", "invalid object key"))
        }
    }

    fn presigning(ttl: Duration) -> Result<PresigningConfig> {
        PresigningConfig::expires_in(ttl).map_err(|e| Error::Internal(format!("presigning config: {e}")))
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &str, body: Bytes, content_type: &str, cache_control: Option<&str>) -> Result<()> {
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

    async fn put_file(&self, key: &str, path: &Path, content_type: &str, cache_control: Option<&str>) -> Result<()> {
        Self::check(key)?;
        let body = ByteStream::from_path(path).await.map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
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
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(ObjectInfo { size: out.content_length().unwrap_or(0).max(0) as u64, content_type: out.content_type().map(str::to_string) })),
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
        match self.client.get_object().bucket(&self.bucket).key(key).range(range).send().await {
            Ok(out) => {
                let data = out.body.collect().await.map_err(|e| Error::Unavailable(format!("S3 GetObject body: {e}")))?;
                Ok(Some(data.into_bytes()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) if e.code() == Some("InvalidRange") => Ok(Some(Bytes::new())),
            Err(e) => Err(unavailable("S3 GetObject", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        Self::check(key)?;
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| unavailable("S3 DeleteObject", e))?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        Self::check(key)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| Error::Internal(format!("presign GET: {}", DisplayErrorContext(e))))?;
        Ok(req.uri().to_string())
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

    async fn presign_put(&self, key: &str, _content_type: &str, ttl: Duration) -> Result<String> {
        Self::check(key)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(|e| Error::Internal(format!("presign PUT: {}", DisplayErrorContext(e))))?;
        Ok(req.uri().to_string())
    }

    async fn media_location(&self, key: &str) -> Result<String> {
        // ffprobe/ffmpeg read by HTTP range from a presigned URL: the source is never downloaded whole.
        self.presign_get(key, Duration::from_secs(6 * 3600)).await
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
    let doc = item.get("doc").and_then(|v| v.as_s().ok()).ok_or_else(|| Error::Internal("record without doc".into()))?;
    serde_json::from_str(doc).map_err(|e| Error::Internal(format!("corrupt record: {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

impl DynamoMetaStore {
    pub fn new(sdk: &aws_config::SdkConfig, cfg: &Config) -> Self {
        DynamoMetaStore { client: aws_sdk_dynamodb::Client::new(sdk), tables: TableNames::new(&cfg.table_prefix) }
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
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(Error::Conflict { code: "media_exists", message: format!("media {} already exists", media.id) })
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
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
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
}
