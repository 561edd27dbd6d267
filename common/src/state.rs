//! The state every handler is a function of: configuration, the two stores, the token verifier
//! and the prober. Built once per process (per Lambda cold start, or at `streamd` start).

use std::path::Path;
use std::sync::Arc;

use crate::auth::{SessionTokens, TokenVerifier};
use crate::config::{Config, ConfigError, StorageKind};
use crate::error::{Error, Result};
use crate::probe::Prober;
use crate::segments::dispatch::{Dispatcher, InProcess, LambdaInvoke};
use crate::storage::aws::{DynamoMetaStore, S3ObjectStore};
use crate::storage::embedded::{FsObjectStore, SqliteMetaStore};
use crate::storage::signed_url::UrlSigner;
use crate::storage::{MetaStore, ObjectStore};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub objects: Arc<dyn ObjectStore>,
    pub meta: Arc<dyn MetaStore>,
    pub verifier: Arc<TokenVerifier>,
    pub prober: Arc<Prober>,
    /// The embedded shape's object store, which also serves the signed object route.
    pub local_objects: Option<Arc<FsObjectStore>>,
    /// The embedded shape's SQLite store (its session sweeper needs it).
    pub local_meta: Option<Arc<SqliteMetaStore>>,
    pub session_tokens: Arc<SessionTokens>,
    /// Where just-in-time encode jobs run.
    pub dispatcher: Arc<dyn Dispatcher>,
    /// HLS sessions opened recently in this process (the HLS hot path).
    pub open_sessions: Arc<crate::api::open_sessions::OpenSessions>,
    /// Signalled whenever a job of this process publishes a piece or records a failure: a
    /// waiting segment request looks again at once instead of at its next poll.
    pub segment_events: Arc<tokio::sync::Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Storage(String),
}

impl From<Error> for StartupError {
    fn from(e: Error) -> Self {
        StartupError::Storage(e.to_string())
    }
}

impl AppState {
    /// A Lambda function's cold start: configuration from the environment, tracing, state.
    pub async fn init_from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        crate::telemetry::init(config.log_format);
        Self::from_config(config).await
    }

    pub async fn from_config(config: Config) -> Result<Self, StartupError> {
        let verifier = Arc::new(TokenVerifier::new(&config.jwt)?);
        let prober = Arc::new(Prober::new(&config.ffprobe));
        match config.storage {
            StorageKind::Aws => {
                let session_tokens = Arc::new(session_tokens(&config, None)?);
                let sdk = crate::storage::aws::sdk_config().await;
                let dispatcher: Arc<dyn Dispatcher> = match &config.transcode_function {
                    Some(f) => Arc::new(LambdaInvoke::new(&sdk, f)),
                    None => Arc::new(InProcess::new(config.workers)),
                };
                Ok(AppState {
                    dispatcher,
                    objects: Arc::new(S3ObjectStore::new(&sdk, &config)),
                    meta: Arc::new(DynamoMetaStore::new(&sdk, &config)),
                    config: Arc::new(config),
                    verifier,
                    prober,
                    local_objects: None,
                    local_meta: None,
                    session_tokens,
                    open_sessions: Arc::default(),
                    segment_events: Arc::default(),
                })
            }
            StorageKind::Embedded => {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| StartupError::Storage(format!("{}: {e}", config.data_dir.display())))?;
                let signing = match &config.url_signing_secret {
                    Some(s) => s.clone(),
                    None => secret_file(&config.data_dir.join("url-signing-secret"))?.0,
                };
                let objects = Arc::new(FsObjectStore::new(&config.data_dir, &config.public_url, UrlSigner::new(signing.as_bytes()))?);
                let meta = Arc::new(SqliteMetaStore::open(&config.data_dir.join("meta.sqlite3"))?);
                let session_tokens = Arc::new(session_tokens(&config, Some(&config.data_dir.join("session-secret")))?);
                Ok(AppState {
                    dispatcher: Arc::new(InProcess::new(config.workers)),
                    objects: objects.clone(),
                    meta: meta.clone(),
                    config: Arc::new(config),
                    verifier,
                    prober,
                    local_objects: Some(objects),
                    local_meta: Some(meta),
                    session_tokens,
                    open_sessions: Arc::default(),
                    segment_events: Arc::default(),
                })
            }
        }
    }
}

/// The session-token key: `STREAM_SESSION_SECRET`, else derived from the HS256 JWT secret, else
/// (embedded) a secret kept in the data dir. The cloud shape needs one of the first two.
fn session_tokens(config: &Config, file: Option<&Path>) -> Result<SessionTokens, StartupError> {
    if let Some(s) = &config.session_secret {
        return Ok(SessionTokens::new(s.as_bytes()));
    }
    if let Some(s) = &config.jwt.secret {
        return Ok(SessionTokens::derived_from(s.as_bytes()));
    }
    match file {
        Some(path) => Ok(SessionTokens::new(secret_file(path)?.0.as_bytes())),
        None => Err(StartupError::Config(ConfigError { var: "STREAM_SESSION_SECRET", message: "required when no HS256 STREAM_JWT_SECRET is configured (it keys the HLS session tokens)".into() })),
    }
}

/// Reads a secret kept in a file, generating it (mode 0600) on first use. Returns the secret and
/// whether it was just created.
pub fn secret_file(path: &Path) -> Result<(String, bool), StartupError> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok((s.trim().to_string(), false)),
        Ok(_) => return Err(StartupError::Storage(format!("{}: the secret in it is too short", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StartupError::Storage(format!("{}: {e}", path.display()))),
    }
    let secret = crate::ids::random_secret();
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path)?.write_all(secret.as_bytes())
    };
    match write() {
        Ok(()) => Ok((secret, true)),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => secret_file(path),
        Err(e) => Err(StartupError::Storage(format!("{}: {e}", path.display()))),
    }
}
