//! The embedded storage shape: objects as files under `<data dir>/objects`, records in SQLite
//! (`<data dir>/meta.sqlite3`). Objects are written to a temporary file and renamed into place,
//! so a reader never sees half an object.
//!
//! Multipart uploads live beside the objects, under `<data dir>/multipart/<upload id>/`: an
//! `upload.json` (key, content type, when it began) and one file per part received, named
//! `part-<number>-<md5 hex>` (the part's ETag is its MD5, as in S3, and it is kept in the name so
//! listing the parts reads no bytes; a retried part replaces the file of its number). Completion
//! concatenates the listed parts into a temporary file and publishes it with the same
//! no-clobber hard link as a single upload, then drops the directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::signed_url::Part;
use super::signed_url::{SignedMethod, UrlSigner};
use super::{
    check_completion, is_safe_key, MetaStore, ObjectInfo, ObjectStore, PartInfo, PendingUpload,
    PresignedPut, MAX_PARTS, WRITE_ONCE,
};
use stream_core::error::{Error, Result};
use stream_core::hls::record::RenditionRecord;
use stream_core::model::{Claim, Media, Progress, SegmentRecord, SegmentState};
use stream_core::session::Session;
use stream_core::trickplay::TrickplayPlan;

pub struct FsObjectStore {
    root: PathBuf,
    /// `<data dir>/multipart`: one directory per open multipart upload.
    multipart: PathBuf,
    public_url: String,
    signer: UrlSigner,
}

/// `upload.json` of a multipart upload.
#[derive(serde::Serialize, serde::Deserialize)]
struct UploadMeta {
    key: String,
    content_type: String,
    initiated: chrono::DateTime<chrono::Utc>,
}

const UPLOAD_META: &str = "upload.json";

/// `part-00042-<md5 hex>` → (42, md5 hex).
fn parse_part_name(name: &str) -> Option<(u32, &str)> {
    let (number, md5) = name.strip_prefix("part-")?.split_once('-')?;
    let number: u32 = number.parse().ok()?;
    (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit())).then_some((number, md5))
}

/// The MD5 of a file, hex (read on a blocking thread, 1 MiB at a time).
async fn md5_of(path: &Path) -> Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use md5::Digest;
        use std::io::Read;
        let mut f = std::fs::File::open(&path).map_err(disk_error)?;
        let mut hasher = md5::Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(disk_error)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(Error::internal)?
}

impl FsObjectStore {
    pub fn new(data_dir: &Path, public_url: &str, signer: UrlSigner) -> Result<Self> {
        let root = data_dir.join("objects");
        std::fs::create_dir_all(root.join(".tmp"))
            .map_err(|e| Error::Unavailable(format!("{}: {e}", root.display())))?;
        let multipart = data_dir.join("multipart");
        std::fs::create_dir_all(&multipart)
            .map_err(|e| Error::Unavailable(format!("{}: {e}", multipart.display())))?;
        Ok(FsObjectStore {
            root,
            multipart,
            public_url: public_url.to_string(),
            signer,
        })
    }

    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// The file behind a key; `BadRequest` for a key that could escape the object root.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        if !is_safe_key(key) {
            return Err(Error::invalid("invalid_key", "invalid object key"));
        }
        Ok(self.root.join(key))
    }

    /// A fresh temporary path on the same file system as the objects (for atomic renames).
    pub fn temp_path(&self) -> PathBuf {
        self.root.join(".tmp").join(stream_core::ids::random_id())
    }

    /// Moves a complete temporary file into place under `key`, unless an object is there
    /// already (`Precondition`, as S3 answers a PUT with `If-None-Match: *`). A hard link is
    /// the atomic no-clobber move: of two racing writers one wins, the other is refused.
    pub async fn publish_new(&self, temp: &Path, key: &str) -> Result<()> {
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(disk_error)?;
        }
        let linked = tokio::fs::hard_link(temp, &dest).await;
        let _ = tokio::fs::remove_file(temp).await;
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Precondition {
                message: "the object exists already; an upload URL writes once".into(),
            }),
            Err(e) => Err(disk_error(e)),
        }
    }

    /// The directory of an open multipart upload of `key`; `NotFound("upload")` for an id we
    /// never issued, an upload of another key, or one completed, aborted or expired.
    async fn upload_dir(&self, key: &str, upload_id: &str) -> Result<PathBuf> {
        if !stream_core::ids::is_valid_id(upload_id) {
            return Err(Error::NotFound("upload"));
        }
        let dir = self.multipart.join(upload_id);
        match tokio::fs::read(dir.join(UPLOAD_META)).await {
            Ok(doc) => match serde_json::from_slice::<UploadMeta>(&doc) {
                Ok(meta) if meta.key == key => Ok(dir),
                _ => Err(Error::NotFound("upload")),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound("upload")),
            Err(e) => Err(disk_error(e)),
        }
    }

    /// Stores a complete temporary file as part `number` of an upload (replacing an earlier
    /// copy of that part: a retry); returns its ETag (`"<md5 hex>"`, as S3 answers).
    pub async fn publish_part(
        &self,
        temp: &Path,
        key: &str,
        upload_id: &str,
        number: u32,
    ) -> Result<String> {
        let stored = async {
            if !(1..=MAX_PARTS).contains(&number) {
                return Err(Error::invalid(
                    "invalid_part",
                    format!("part numbers run from 1 to {MAX_PARTS}"),
                ));
            }
            let dir = self.upload_dir(key, upload_id).await?;
            let md5 = md5_of(temp).await?;
            let name = format!("part-{number:05}-{md5}");
            match tokio::fs::rename(temp, dir.join(&name)).await {
                Ok(()) => {}
                // Completed or aborted meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotFound("upload"))
                }
                Err(e) => return Err(disk_error(e)),
            }
            // Earlier copies of this part (with other bytes) are replaced by this one.
            let mut entries = tokio::fs::read_dir(&dir).await.map_err(disk_error)?;
            while let Some(e) = entries.next_entry().await.map_err(disk_error)? {
                let other = e.file_name().to_string_lossy().into_owned();
                if other != name && parse_part_name(&other).is_some_and(|(n, _)| n == number) {
                    let _ = tokio::fs::remove_file(e.path()).await;
                }
            }
            Ok(format!("\"{md5}\""))
        }
        .await;
        let _ = tokio::fs::remove_file(temp).await;
        stored
    }

    /// The part files of an upload directory, one per number (the newest if a retry raced).
    async fn parts_in(dir: &Path) -> Result<Vec<(PartInfo, PathBuf)>> {
        let mut found: std::collections::BTreeMap<u32, (PartInfo, PathBuf, std::time::SystemTime)> =
            Default::default();
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound("upload"))
            }
            Err(e) => return Err(disk_error(e)),
        };
        while let Some(e) = entries.next_entry().await.map_err(disk_error)? {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((number, md5)) = parse_part_name(&name) else {
                continue;
            };
            let Ok(meta) = e.metadata().await else {
                continue; // replaced by a retry meanwhile
            };
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            let info = PartInfo {
                number,
                size: meta.len(),
                etag: format!("\"{md5}\""),
            };
            if found.get(&number).is_none_or(|(_, _, t)| *t <= modified) {
                found.insert(number, (info, e.path(), modified));
            }
        }
        Ok(found.into_values().map(|(i, p, _)| (i, p)).collect())
    }

    /// Moves a complete temporary file into place under `key`.
    pub async fn publish(&self, temp: &Path, key: &str) -> Result<()> {
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(disk_error)?;
        }
        tokio::fs::rename(temp, &dest).await.map_err(disk_error)
    }
}

/// The one conversion of a data-disk error: a full disk (`ENOSPC`, or a quota: `EDQUOT`) is
/// [`Error::StorageFull`] (`503 storage_full`, cleared by freeing space, no restart needed);
/// anything else the disk refuses is `Unavailable`. `streamd`'s upload route writes through it
/// too, so an upload on a full disk gets the same clear answer.
pub fn disk_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
    {
        Error::StorageFull(format!("local disk: {e}"))
    } else {
        Error::Unavailable(format!("local disk: {e}"))
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        _content_type: &str,
        _cache_control: Option<&str>,
    ) -> Result<()> {
        self.path_of(key)?;
        let tmp = self.temp_path();
        let mut f = tokio::fs::File::create(&tmp).await.map_err(disk_error)?;
        f.write_all(&body).await.map_err(disk_error)?;
        f.sync_all().await.map_err(disk_error)?;
        drop(f);
        self.publish(&tmp, key).await
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
        _cache_control: Option<&str>,
    ) -> Result<()> {
        self.path_of(key)?;
        let tmp = self.temp_path();
        tokio::fs::copy(path, &tmp).await.map_err(disk_error)?;
        self.publish(&tmp, key).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        match tokio::fs::metadata(self.path_of(key)?).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectInfo {
                size: m.len(),
                content_type: None,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(disk_error(e)),
        }
    }

    async fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Option<Bytes>> {
        let mut f = match tokio::fs::File::open(self.path_of(key)?).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(disk_error(e)),
        };
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(disk_error)?;
        // Sized by what the file holds, not by `len`: the edge origin asks for "everything"
        // (a huge `len`), and a 16 MiB buffer per ~1 MB segment request, freed and reused by the
        // allocator, kept streamd's RSS climbing under load (BENCHMARKS.md, section 8).
        let size = f.metadata().await.map_err(disk_error)?.len();
        let mut buf =
            Vec::with_capacity(size.saturating_sub(offset).min(len).min(16 << 20) as usize);
        f.take(len)
            .read_to_end(&mut buf)
            .await
            .map_err(disk_error)?;
        Ok(Some(Bytes::from(buf)))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(disk_error(e)),
        }
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        self.path_of(key)?;
        Ok(self
            .signer
            .sign(&self.public_url, SignedMethod::Get, key, expiry(ttl)))
    }

    async fn presign_download(&self, key: &str, ttl: Duration, file_name: &str) -> Result<String> {
        self.path_of(key)?;
        Ok(self
            .signer
            .sign_download(&self.public_url, key, expiry(ttl), file_name))
    }

    async fn presign_head(&self, key: &str, ttl: Duration) -> Result<String> {
        // The object route answers HEAD on a GET signature: HEAD is the body-less GET.
        self.presign_get(key, ttl).await
    }

    async fn presign_put(
        &self,
        key: &str,
        _content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut> {
        self.path_of(key)?;
        let url = self
            .signer
            .sign(&self.public_url, SignedMethod::Put, key, expiry(ttl));
        // The object route honours the header as S3 does (`publish_new`).
        let (name, value) = WRITE_ONCE;
        let headers = vec![(name.to_string(), value.to_string())];
        Ok(PresignedPut { url, headers })
    }

    async fn media_location(&self, key: &str) -> Result<String> {
        let path = self.path_of(key)?;
        let abs = std::path::absolute(&path).map_err(disk_error)?;
        Ok(abs.to_string_lossy().into_owned())
    }

    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String> {
        self.path_of(key)?;
        let upload_id = stream_core::ids::random_id();
        let dir = self.multipart.join(&upload_id);
        tokio::fs::create_dir_all(&dir).await.map_err(disk_error)?;
        let meta = UploadMeta {
            key: key.to_string(),
            content_type: content_type.to_string(),
            initiated: chrono::Utc::now(),
        };
        // Written aside and renamed: an upload directory without its whole `upload.json` is
        // not an upload (nothing can write parts to it).
        let tmp = self.temp_path();
        let doc = serde_json::to_vec(&meta).map_err(Error::internal)?;
        tokio::fs::write(&tmp, doc).await.map_err(disk_error)?;
        tokio::fs::rename(&tmp, dir.join(UPLOAD_META))
            .await
            .map_err(disk_error)?;
        Ok(upload_id)
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        ttl: Duration,
    ) -> Result<PresignedPut> {
        self.path_of(key)?;
        let part = Part { upload_id, number };
        let url = self
            .signer
            .sign_part(&self.public_url, key, part, expiry(ttl));
        // No write-once condition: a retried part replaces the earlier copy, as in S3.
        Ok(PresignedPut {
            url,
            headers: vec![],
        })
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Option<Vec<PartInfo>>> {
        let dir = match self.upload_dir(key, upload_id).await {
            Ok(d) => d,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match Self::parts_in(&dir).await {
            Ok(parts) => Ok(Some(parts.into_iter().map(|(i, _)| i).collect())),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<()> {
        let dir = self.upload_dir(key, upload_id).await?;
        let received = Self::parts_in(&dir).await?;
        let infos: Vec<PartInfo> = received.iter().map(|(i, _)| i.clone()).collect();
        check_completion(parts, &infos)?;
        let tmp = self.temp_path();
        let assembled = async {
            let mut out = tokio::fs::File::create(&tmp).await.map_err(disk_error)?;
            for (number, _) in parts {
                let Some((_, path)) = received.iter().find(|(i, _)| i.number == *number) else {
                    return Err(Error::Internal("a checked part vanished".into()));
                };
                let mut part = tokio::fs::File::open(path).await.map_err(disk_error)?;
                tokio::io::copy(&mut part, &mut out)
                    .await
                    .map_err(disk_error)?;
            }
            out.sync_all().await.map_err(disk_error)
        }
        .await;
        if let Err(e) = assembled {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        self.publish_new(&tmp, key).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(())
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        match self.upload_dir(key, upload_id).await {
            Ok(dir) => match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(disk_error(e)),
                _ => Ok(()),
            },
            Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn pending_multiparts(
        &self,
        prefix: &str,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<PendingUpload>> {
        let mut out = vec![];
        let mut entries = tokio::fs::read_dir(&self.multipart)
            .await
            .map_err(disk_error)?;
        while let Some(e) = entries.next_entry().await.map_err(disk_error)? {
            let upload_id = e.file_name().to_string_lossy().into_owned();
            let Ok(doc) = tokio::fs::read(e.path().join(UPLOAD_META)).await else {
                continue;
            };
            let Ok(meta) = serde_json::from_slice::<UploadMeta>(&doc) else {
                continue;
            };
            if meta.key.starts_with(prefix) && meta.initiated < before {
                out.push(PendingUpload {
                    key: meta.key,
                    upload_id,
                    initiated: meta.initiated,
                });
            }
        }
        Ok(out)
    }
}

fn expiry(ttl: Duration) -> i64 {
    chrono::Utc::now().timestamp() + ttl.as_secs() as i64
}

/// Records in SQLite. One connection behind a mutex, used from blocking threads: SQLite
/// serialises writers anyway, and every statement here is a point read or write.
#[derive(Clone)]
pub struct SqliteMetaStore {
    conn: Arc<Mutex<Connection>>,
}

/// SQLite's errors: "database or disk is full" (`SQLITE_FULL`: the disk filled during a write,
/// which SQLite rolls back, leaving the database intact) is [`Error::StorageFull`], as for
/// [`disk_error`]; the rest `Unavailable`.
fn db(e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        Error::StorageFull(format!("embedded database: {e}"))
    } else {
        Error::Unavailable(format!("embedded database: {e}"))
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(Error::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Internal(format!("corrupt record: {e}")))
}

impl SqliteMetaStore {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(disk_error)?;
        }
        let conn = Connection::open(path).map_err(db)?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(conn: Connection) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS media (id TEXT PRIMARY KEY, owner TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS progress (user_id TEXT NOT NULL, media_id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (user_id, media_id));
             CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, reuse_key TEXT NOT NULL, expires_at INTEGER NOT NULL, doc TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
             CREATE TABLE IF NOT EXISTS session_keys (reuse_key TEXT PRIMARY KEY, session_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS segments (id TEXT PRIMARY KEY, state TEXT NOT NULL, worker TEXT NOT NULL, lease_until INTEGER NOT NULL,
                                                  attempts INTEGER NOT NULL, object_key TEXT, error TEXT);
             CREATE TABLE IF NOT EXISTS renditions (content_key TEXT PRIMARY KEY, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS trickplay (content_key TEXT PRIMARY KEY, doc TEXT NOT NULL);",
        )
        .map_err(db)?;
        Ok(SqliteMetaStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| Error::Internal("embedded database lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(Error::internal)?
    }
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn create_media(&self, media: &Media) -> Result<()> {
        let (id, owner, doc) = (media.id.clone(), media.owner.clone(), to_json(media)?);
        let version = media.version as i64;
        self.with_conn(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO media (id, owner, version, doc) VALUES (?1, ?2, ?3, ?4)",
                    params![id, owner, version, doc],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(Error::Conflict {
                    code: "media_exists",
                    message: format!("media {id} already exists"),
                });
            }
            Ok(())
        })
        .await
    }

    async fn get_media(&self, id: &str) -> Result<Option<Media>> {
        let id = id.to_string();
        let doc: Option<String> = self
            .with_conn(move |c| {
                c.query_row("SELECT doc FROM media WHERE id = ?1", params![id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db)
            })
            .await?;
        doc.map(|d| from_json(&d)).transpose()
    }

    async fn update_media(&self, media: &Media) -> Result<Media> {
        let mut next = media.clone();
        next.version = media.version + 1;
        let (id, doc, expected) = (next.id.clone(), to_json(&next)?, media.version as i64);
        self.with_conn(move |c| {
            let n = c
                .execute(
                    "UPDATE media SET doc = ?1, version = ?2 WHERE id = ?3 AND version = ?4",
                    params![doc, expected + 1, id, expected],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(Error::ConcurrentModification(format!("media {id}")));
            }
            Ok(())
        })
        .await?;
        Ok(next)
    }

    async fn list_media(&self) -> Result<Vec<Media>> {
        let docs: Vec<String> = self
            .with_conn(|c| {
                let mut st = c
                    .prepare("SELECT doc FROM media ORDER BY rowid")
                    .map_err(db)?;
                let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
                rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db)
            })
            .await?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    async fn put_progress(&self, p: &Progress) -> Result<()> {
        let (u, m, doc) = (p.user_id.clone(), p.media_id.clone(), to_json(p)?);
        self.with_conn(move |c| {
            c.execute("INSERT INTO progress (user_id, media_id, doc) VALUES (?1, ?2, ?3) ON CONFLICT(user_id, media_id) DO UPDATE SET doc = excluded.doc", params![u, m, doc]).map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn get_progress(&self, user_id: &str, media_id: &str) -> Result<Option<Progress>> {
        let (u, m) = (user_id.to_string(), media_id.to_string());
        let doc: Option<String> = self
            .with_conn(move |c| {
                c.query_row(
                    "SELECT doc FROM progress WHERE user_id = ?1 AND media_id = ?2",
                    params![u, m],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        doc.map(|d| from_json(&d)).transpose()
    }

    async fn create_or_reuse_session(&self, candidate: &Session, now: i64) -> Result<Session> {
        let cand = candidate.clone();
        let doc = to_json(&cand)?;
        let found: Option<String> = self
            .with_conn(move |c| {
                // One IMMEDIATE transaction: concurrent callers serialise here, so the first one
                // stores its candidate and every later one reads it back.
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
                let live: Option<String> = tx
                    .query_row(
                        "SELECT s.doc FROM session_keys k JOIN sessions s ON s.id = k.session_id
                         WHERE k.reuse_key = ?1 AND k.expires_at > ?2 AND s.expires_at > ?2",
                        params![cand.reuse_key, now],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                if live.is_none() {
                    tx.execute("INSERT INTO sessions (id, reuse_key, expires_at, doc) VALUES (?1, ?2, ?3, ?4)", params![cand.id, cand.reuse_key, cand.expires_at, doc]).map_err(db)?;
                    tx.execute(
                        "INSERT INTO session_keys (reuse_key, session_id, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(reuse_key) DO UPDATE SET session_id = excluded.session_id, expires_at = excluded.expires_at",
                        params![cand.reuse_key, cand.id, cand.expires_at],
                    )
                    .map_err(db)?;
                }
                tx.commit().map_err(db)?;
                Ok(live)
            })
            .await?;
        match found {
            Some(d) => from_json(&d),
            None => Ok(candidate.clone()),
        }
    }

    async fn get_session(&self, id: &str, now: i64) -> Result<Option<Session>> {
        let id = id.to_string();
        let doc: Option<String> = self
            .with_conn(move |c| {
                c.query_row(
                    "SELECT doc FROM sessions WHERE id = ?1 AND expires_at > ?2",
                    params![id, now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        doc.map(|d| from_json(&d)).transpose()
    }

    async fn touch_session(
        &self,
        id: &str,
        now: i64,
        expires_at: i64,
        position: Option<f64>,
    ) -> Result<Option<Session>> {
        let id = id.to_string();
        self.with_conn(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let doc: Option<String> = tx
                .query_row(
                    "SELECT doc FROM sessions WHERE id = ?1 AND expires_at > ?2",
                    params![id, now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            let Some(doc) = doc else { return Ok(None) };
            let mut session: Session = from_json(&doc)?;
            session.expires_at = session.expires_at.max(expires_at);
            session.last_access =
                chrono::DateTime::from_timestamp(now, 0).unwrap_or_else(chrono::Utc::now);
            if position.is_some() {
                session.last_position = position;
            }
            tx.execute(
                "UPDATE sessions SET doc = ?1, expires_at = ?2 WHERE id = ?3",
                params![to_json(&session)?, session.expires_at, id],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE session_keys SET expires_at = ?1 WHERE reuse_key = ?2 AND session_id = ?3",
                params![session.expires_at, session.reuse_key, id],
            )
            .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(Some(session))
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.with_conn(move |c| {
            let tx = c.transaction().map_err(db)?;
            tx.execute(
                "DELETE FROM session_keys WHERE session_id = ?1",
                params![id],
            )
            .map_err(db)?;
            tx.execute("DELETE FROM sessions WHERE id = ?1", params![id])
                .map_err(db)?;
            tx.commit().map_err(db)
        })
        .await
    }

    async fn live_sessions_of_media(&self, media_id: &str, now: i64) -> Result<Vec<Session>> {
        let media_id = media_id.to_string();
        let docs: Vec<String> = self
            .with_conn(move |c| {
                let mut st = c.prepare("SELECT doc FROM sessions WHERE expires_at > ?1 AND json_extract(doc, '$.media_id') = ?2").map_err(db)?;
                let rows = st.query_map(params![now, media_id], |r| r.get::<_, String>(0)).map_err(db)?;
                rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db)
            })
            .await?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    async fn get_segment(&self, id: &str) -> Result<Option<SegmentRecord>> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.query_row(
                &format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = ?1"),
                params![id],
                segment_row,
            )
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn claim_segment(
        &self,
        id: &str,
        worker: &str,
        now: i64,
        lease_until: i64,
        max_attempts: u32,
    ) -> Result<Claim> {
        let (id, worker) = (id.to_string(), worker.to_string());
        self.with_conn(move |c| {
            // Insert, or take over a dead worker's claim / a retryable failure: one statement,
            // so two claimers can never both succeed.
            let n = c
                .execute(
                    "INSERT INTO segments (id, state, worker, lease_until, attempts) VALUES (?1, 'encoding', ?2, ?3, 1)
                     ON CONFLICT(id) DO UPDATE SET state = 'encoding', worker = excluded.worker, lease_until = excluded.lease_until,
                                                   attempts = segments.attempts + 1, error = NULL
                     WHERE segments.attempts < ?5 AND ((segments.state = 'encoding' AND segments.lease_until < ?4) OR segments.state = 'failed')",
                    params![id, worker, lease_until, now, max_attempts],
                )
                .map_err(db)?;
            let rec = c.query_row(&format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = ?1"), params![id], segment_row).map_err(db)?;
            Ok(if n == 1 && rec.worker == worker && rec.state == SegmentState::Encoding { Claim::Claimed(rec) } else { Claim::Held(rec) })
        })
        .await
    }

    async fn complete_segment(&self, id: &str, worker: &str, object_key: &str) -> Result<bool> {
        let (id, worker, key) = (id.to_string(), worker.to_string(), object_key.to_string());
        self.with_conn(move |c| {
            let n = c.execute("UPDATE segments SET state = 'ready', object_key = ?3, error = NULL WHERE id = ?1 AND worker = ?2 AND state = 'encoding'", params![id, worker, key]).map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn fail_segment(&self, id: &str, worker: &str, error: &str) -> Result<bool> {
        let (id, worker, error) = (id.to_string(), worker.to_string(), error.to_string());
        self.with_conn(move |c| {
            let n = c.execute("UPDATE segments SET state = 'failed', error = ?3 WHERE id = ?1 AND worker = ?2 AND state = 'encoding'", params![id, worker, error]).map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_segment(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.execute("DELETE FROM segments WHERE id = ?1", params![id])
                .map(|_| ())
                .map_err(db)
        })
        .await
    }
    async fn release_segment(&self, id: &str, worker: &str) -> Result<bool> {
        let (id, worker) = (id.to_string(), worker.to_string());
        self.with_conn(move |c| {
            let n = c
                .execute(
                    "DELETE FROM segments WHERE id = ?1 AND worker = ?2 AND state = 'encoding'",
                    params![id, worker],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
        .await
    }

    async fn put_rendition(&self, content_key: &str, record: &RenditionRecord) -> Result<()> {
        let (key, doc) = (content_key.to_string(), to_json(record)?);
        self.with_conn(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO renditions (content_key, doc) VALUES (?1, ?2)",
                params![key, doc],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn get_rendition(&self, content_key: &str) -> Result<Option<RenditionRecord>> {
        let key = content_key.to_string();
        let doc: Option<String> = self
            .with_conn(move |c| {
                c.query_row(
                    "SELECT doc FROM renditions WHERE content_key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        doc.map(|d| from_json(&d)).transpose()
    }

    async fn put_trickplay(&self, content_key: &str, plan: &TrickplayPlan) -> Result<()> {
        let (key, doc) = (content_key.to_string(), to_json(plan)?);
        self.with_conn(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO trickplay (content_key, doc) VALUES (?1, ?2)",
                params![key, doc],
            )
            .map(|_| ())
            .map_err(db)
        })
        .await
    }

    async fn get_trickplay(&self, content_key: &str) -> Result<Option<TrickplayPlan>> {
        let key = content_key.to_string();
        let doc: Option<String> = self
            .with_conn(move |c| {
                c.query_row(
                    "SELECT doc FROM trickplay WHERE content_key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)
            })
            .await?;
        doc.map(|d| from_json(&d)).transpose()
    }
}

fn segment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SegmentRecord> {
    let state: String = r.get(1)?;
    Ok(SegmentRecord {
        id: r.get(0)?,
        state: SegmentState::parse(&state).unwrap_or(SegmentState::Failed),
        worker: r.get(2)?,
        lease_until: r.get(3)?,
        attempts: r.get::<_, i64>(4)? as u32,
        object_key: r.get(5)?,
        error: r.get(6)?,
    })
}

const SEGMENT_COLUMNS: &str = "id, state, worker, lease_until, attempts, object_key, error";

impl SqliteMetaStore {
    /// Deletes sessions (and their reuse keys) expired before `now`; returns the removed ones so
    /// the caller can clean up what only they held. The embedded shape's stand-in for TTL.
    pub async fn sweep_expired_sessions(&self, now: i64) -> Result<Vec<Session>> {
        let docs: Vec<String> = self
            .with_conn(move |c| {
                let tx = c.transaction().map_err(db)?;
                let docs = {
                    let mut st = tx
                        .prepare("SELECT doc FROM sessions WHERE expires_at <= ?1")
                        .map_err(db)?;
                    let rows = st
                        .query_map(params![now], |r| r.get::<_, String>(0))
                        .map_err(db)?;
                    rows.collect::<std::result::Result<Vec<_>, _>>()
                        .map_err(db)?
                };
                tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])
                    .map_err(db)?;
                tx.execute(
                    "DELETE FROM session_keys WHERE expires_at <= ?1",
                    params![now],
                )
                .map_err(db)?;
                tx.commit().map_err(db)?;
                Ok(docs)
            })
            .await?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    /// Frees every segment claim still `encoding`, without counting an attempt; returns how
    /// many. Called once at start, before anything is dispatched: in the embedded shape only
    /// this process makes segments, so such a claim belongs to a worker of a process that
    /// crashed (killed mid-encode). Left alone it would hold its segment for the rest of its
    /// lease (90 s): every request for it would wait and get `503` after a restart. Its partial
    /// output was never published (objects are renamed into place whole) and the temp files are
    /// removed at the same start, so the piece is simply free again.
    pub async fn release_orphaned_claims(&self) -> Result<usize> {
        self.with_conn(|c| {
            c.execute("DELETE FROM segments WHERE state = 'encoding'", [])
                .map_err(db)
        })
        .await
    }
}

#[cfg(test)]
mod disk_error_tests {
    use super::disk_error;
    use stream_core::error::Error;

    /// A full disk (or quota) is `StorageFull`, whatever call met it; other disk errors are not.
    #[test]
    fn a_full_disk_is_storage_full() {
        for errno in [28 /* ENOSPC */, 122 /* EDQUOT */] {
            let e = disk_error(std::io::Error::from_raw_os_error(errno));
            assert!(matches!(e, Error::StorageFull(_)), "{errno}: {e:?}");
            assert_eq!(e.code(), "storage_full");
        }
        let e = disk_error(std::io::Error::from_raw_os_error(13 /* EACCES */));
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
        let full = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL);
        let e = super::db(rusqlite::Error::SqliteFailure(full, None));
        assert!(matches!(e, Error::StorageFull(_)), "{e:?}");
        let busy = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY);
        let e = super::db(rusqlite::Error::SqliteFailure(busy, None));
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    }
}
