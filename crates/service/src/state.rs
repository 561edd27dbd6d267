//! The state every handler is a function of: configuration, the two stores, the token verifier,
//! the prober, the session cache and the dispatcher of encode jobs. Built once per process (per
//! Lambda cold start, or at `streamd` start).
//!
//! Which backend is used is decided here, once, from `Config::storage`, and each backend is
//! compiled in only with its feature (`aws`, `embedded`): no other code asks which one it is.
//! What differs between them in behaviour (such as how often a waiting request polls a claim)
//! is configuration.

use std::path::Path;
use std::sync::Arc;

use stream_core::error::{Error, Result};
use stream_media::probe::Prober;
use stream_storage::{MetaStore, ObjectStore};

use crate::auth::{SessionTokens, TokenVerifier};
use crate::config::{Config, ConfigError, StorageKind};
use crate::edge::cloudfront::CloudFrontSigner;
use crate::edge::local::LocalSigner;
use crate::edge::Edge;
use crate::open_sessions::OpenSessions;
use crate::segments::dispatch::{Dispatcher, InProcess};
use crate::segments::worker::WorkerContext;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub objects: Arc<dyn ObjectStore>,
    pub meta: Arc<dyn MetaStore>,
    pub verifier: Arc<TokenVerifier>,
    pub prober: Arc<Prober>,
    pub session_tokens: Arc<SessionTokens>,
    /// Where just-in-time encode jobs run.
    pub dispatcher: Arc<dyn Dispatcher>,
    /// HLS sessions opened recently in this process (the HLS hot path).
    pub open_sessions: Arc<OpenSessions>,
    /// Signalled whenever a job of this process publishes a piece or records a failure: a
    /// waiting segment request looks again at once instead of at its next poll.
    pub segment_events: Arc<tokio::sync::Notify>,
    /// Who checks edge signatures (SPEC §3 "Edge delivery"): CloudFront, this process
    /// (embedded), or nobody (the cloud without a CDN key: segments on the session route).
    pub edge: Option<Arc<Edge>>,
    /// Whether this process's content paths are reachable only through the CDN, which checked
    /// the edge signature: a Lambda function behind its function URL (`AWS_IAM` auth, which
    /// admits only the distribution's origin access control). Set by the Lambda adapter, never
    /// from the environment; otherwise a CloudFront edge's content paths are refused here.
    pub cdn_origin: bool,
    /// Where a completed multipart upload is announced when no store event does it: `streamd`
    /// ingests what arrives here (its object route starts ingest for single PUTs itself). `None`
    /// in the cloud, where S3's ObjectCreated event (`CompleteMultipartUpload`) starts ingest.
    pub uploads_completed: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    /// The embedded backend's own parts, for what only `streamd` does with them (its signed
    /// object route, its session sweeper). `None` on the cloud backend.
    #[cfg(feature = "embedded")]
    pub embedded: Option<Embedded>,
}

/// The embedded backend's concrete stores (the same objects as `AppState::objects`/`meta`).
#[cfg(feature = "embedded")]
#[derive(Clone)]
pub struct Embedded {
    pub objects: Arc<stream_storage::embedded::FsObjectStore>,
    pub meta: Arc<stream_storage::embedded::SqliteMetaStore>,
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

/// What a backend contributes to the state.
struct Backend {
    objects: Arc<dyn ObjectStore>,
    meta: Arc<dyn MetaStore>,
    /// Where a generated session-token key may be kept (the embedded data dir).
    secret_dir: Option<std::path::PathBuf>,
    /// The remote dispatcher, when jobs do not run in this process.
    remote: Option<Arc<dyn Dispatcher>>,
    /// Whether this process is its own edge (embedded: `streamd` serves the content paths).
    own_edge: bool,
    /// The cloud's SDK configuration (reads the edge key from the secret store).
    #[cfg(feature = "aws")]
    sdk: Option<aws_config::SdkConfig>,
    #[cfg(feature = "embedded")]
    embedded: Option<Embedded>,
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
        let prober = Arc::new(Prober::new(&config.ffprobe).with_timeout(config.probe_timeout));
        let backend = backend(&config).await?;
        let key_file = backend
            .secret_dir
            .as_ref()
            .map(|d| d.join("session-secret"));
        let session_tokens = session_tokens(&config, key_file.as_deref())?;
        let edge = edge(&config, &backend, &session_tokens).await?;
        let segment_events: Arc<tokio::sync::Notify> = Arc::default();
        let dispatcher = match backend.remote {
            Some(remote) => remote,
            None => {
                let ctx = WorkerContext {
                    objects: backend.objects.clone(),
                    meta: backend.meta.clone(),
                    ffmpeg: config.ffmpeg.clone(),
                    events: segment_events.clone(),
                };
                Arc::new(InProcess::new(config.workers, config.encodes_per_user, ctx))
                    as Arc<dyn Dispatcher>
            }
        };
        Ok(AppState {
            objects: backend.objects,
            meta: backend.meta,
            config: Arc::new(config),
            verifier,
            prober,
            session_tokens: Arc::new(session_tokens),
            dispatcher,
            open_sessions: Arc::default(),
            segment_events,
            edge: edge.map(Arc::new),
            cdn_origin: false,
            uploads_completed: None,
            #[cfg(feature = "embedded")]
            embedded: backend.embedded,
        })
    }

    /// The `transcode` function's cold start: configuration from the environment, tracing, and
    /// only what a worker needs (the stores, ffmpeg): no token keys, no verifier, no prober.
    pub async fn worker_from_env() -> Result<WorkerContext, StartupError> {
        let config = Config::from_env()?;
        crate::telemetry::init(config.log_format);
        let backend = backend(&config).await?;
        Ok(WorkerContext {
            objects: backend.objects,
            meta: backend.meta,
            ffmpeg: config.ffmpeg.clone(),
            events: Arc::default(),
        })
    }

    /// What a worker of this process needs.
    pub fn worker_context(&self) -> WorkerContext {
        WorkerContext {
            objects: self.objects.clone(),
            meta: self.meta.clone(),
            ffmpeg: self.config.ffmpeg.clone(),
            events: self.segment_events.clone(),
        }
    }
}

/// The configured backend's stores (and remote dispatcher): the one place that looks at
/// `Config::storage`.
async fn backend(config: &Config) -> Result<Backend, StartupError> {
    match config.storage {
        StorageKind::Aws => aws_backend(config).await,
        StorageKind::Embedded => embedded_backend(config),
    }
}

#[cfg(feature = "aws")]
async fn aws_backend(config: &Config) -> Result<Backend, StartupError> {
    use crate::segments::dispatch::LambdaInvoke;
    use stream_storage::aws::{sdk_config, DynamoMetaStore, S3ObjectStore};
    let sdk = sdk_config().await;
    let remote = config
        .transcode_function
        .as_ref()
        .map(|f| Arc::new(LambdaInvoke::new(&sdk, f)) as Arc<dyn Dispatcher>);
    Ok(Backend {
        objects: Arc::new(S3ObjectStore::new(
            &sdk,
            &config.bucket,
            config.s3_force_path_style,
        )),
        meta: Arc::new(DynamoMetaStore::new(&sdk, &config.table_prefix)),
        secret_dir: None,
        remote,
        own_edge: false,
        sdk: Some(sdk),
        #[cfg(feature = "embedded")]
        embedded: None,
    })
}

#[cfg(not(feature = "aws"))]
async fn aws_backend(_: &Config) -> Result<Backend, StartupError> {
    Err(not_built(
        "aws",
        "the `cloud` feature of streamd, or `aws` of stream-service",
    ))
}

#[cfg(feature = "embedded")]
fn embedded_backend(config: &Config) -> Result<Backend, StartupError> {
    use stream_storage::embedded::{FsObjectStore, SqliteMetaStore};
    use stream_storage::signed_url::UrlSigner;
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| StartupError::Storage(format!("{}: {e}", dir.display())))?;
    let signing = match &config.url_signing_secret {
        Some(s) => s.clone(),
        None => secret_file(&dir.join("url-signing-secret"))?.0,
    };
    let signer = UrlSigner::new(signing.as_bytes());
    let objects = Arc::new(FsObjectStore::new(dir, &config.public_url, signer)?);
    let meta = Arc::new(SqliteMetaStore::open(&dir.join("meta.sqlite3"))?);
    Ok(Backend {
        objects: objects.clone(),
        meta: meta.clone(),
        secret_dir: Some(dir.clone()),
        remote: None,
        own_edge: true,
        #[cfg(feature = "aws")]
        sdk: None,
        embedded: Some(Embedded { objects, meta }),
    })
}

#[cfg(not(feature = "embedded"))]
fn embedded_backend(_: &Config) -> Result<Backend, StartupError> {
    Err(not_built(
        "embedded",
        "the `embedded` feature of stream-service",
    ))
}

#[allow(dead_code)]
fn not_built(kind: &str, feature: &str) -> StartupError {
    StartupError::Config(ConfigError {
        var: "STREAM_STORAGE",
        message: format!("this binary was built without the `{kind}` storage (it needs {feature})"),
    })
}

/// The edge (SPEC §3 "Edge delivery"): CloudFront when a key is configured (its private key
/// read once from the secret store), else this process when it is its own edge (embedded),
/// else none.
async fn edge(
    config: &Config,
    backend: &Backend,
    tokens: &SessionTokens,
) -> Result<Option<Edge>, StartupError> {
    if let (Some(key), Some(base)) = (&config.edge_key, &config.edge_url) {
        let pem = edge_private_key(backend, &key.secret_id).await?;
        let signer = CloudFrontSigner::from_pem(&key.key_pair_id, &pem)?;
        return Ok(Some(Edge::CloudFront {
            signer,
            base: base.clone(),
        }));
    }
    Ok(backend
        .own_edge
        .then(|| Edge::Local(LocalSigner::new(&tokens.derive_key("stream edge key v1")))))
}

/// The PEM private key in the secret store (a Lambda reads it once, at its cold start).
#[cfg(feature = "aws")]
async fn edge_private_key(backend: &Backend, secret_id: &str) -> Result<String, StartupError> {
    let sdk = match &backend.sdk {
        Some(sdk) => sdk.clone(),
        None => stream_storage::aws::sdk_config().await,
    };
    let out = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            let e = aws_sdk_secretsmanager::error::DisplayErrorContext(e);
            StartupError::Storage(format!("the edge key secret could not be read: {e}"))
        })?;
    out.secret_string().map(str::to_string).ok_or_else(|| {
        StartupError::Storage("the edge key secret has no SecretString (the PEM key)".into())
    })
}

#[cfg(not(feature = "aws"))]
async fn edge_private_key(_: &Backend, _: &str) -> Result<String, StartupError> {
    Err(not_built(
        "aws",
        "the secret store of the cloud shape (feature `aws`)",
    ))
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
        None => Err(StartupError::Config(ConfigError {
            var: "STREAM_SESSION_SECRET",
            message: "required when no HS256 STREAM_JWT_SECRET is configured (it keys the HLS \
                      session tokens)"
                .into(),
        })),
    }
}

/// Reads a secret kept in a file, generating it (mode 0600) on first use. Returns the secret and
/// whether it was just created.
pub fn secret_file(path: &Path) -> Result<(String, bool), StartupError> {
    let shown = || path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok((s.trim().to_string(), false)),
        Ok(_) => {
            return Err(StartupError::Storage(format!(
                "{}: the secret in it is too short",
                shown()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StartupError::Storage(format!("{}: {e}", shown()))),
    }
    let secret = stream_core::ids::random_secret();
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
        Err(e) => Err(StartupError::Storage(format!("{}: {e}", shown()))),
    }
}
