//! `streamd`: the embedded shape. One process serving every route at the same paths as the cloud
//! shape, bytes on the local disk, records in SQLite, ingest in-process (SPEC §7).
//! The library half lets tests start the very same server in-process on a free port.

pub mod conn;
mod objects;
mod player;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use stream_service::config::{Config, StorageKind};
use stream_service::state::{secret_file, AppState};
use stream_storage::embedded::FsObjectStore;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

pub struct Server {
    pub state: AppState,
    pub options: Options,
    tasks: TaskTracker,
    ingest_slots: Arc<Semaphore>,
    /// The shared link of the test-only throttle (`STREAM_TEST_THROTTLE_BYTES_PER_SEC`).
    throttle: objects::Link,
}

/// streamd's own settings, beside `stream_service::config::Config`.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `STREAM_PLAYER_DIR` (default `./player`): the player page's files.
    pub player_dir: std::path::PathBuf,
    /// `STREAM_TEST_THROTTLE_BYTES_PER_SEC` (test only, unset by default): the object route sends
    /// the bodies of rendition objects (`renditions/...`) at most this fast, all responses sharing
    /// one link, so a player's ABR can be tested against a slow network.
    pub throttle_bytes_per_sec: Option<u64>,
    /// Test only (never from the environment): this server stands in for the `hls` function
    /// behind the CDN, so its content paths trust the CDN's signature check (`AppState::
    /// cdn_origin`). Otherwise, with a CloudFront edge key, they are refused.
    pub cdn_origin: bool,
    /// How long a client may take to send its headers, and to pause in a body.
    pub timeouts: conn::Timeouts,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            player_dir: player::DEFAULT_DIR.into(),
            throttle_bytes_per_sec: None,
            cdn_origin: false,
            timeouts: conn::Timeouts::default(),
        }
    }
}

impl Options {
    pub fn from_env() -> Result<Options, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut o = Options::default();
        if let Some(dir) = get("STREAM_PLAYER_DIR") {
            o.player_dir = dir.into();
        }
        for (var, slot) in [
            ("STREAM_HEADER_TIMEOUT_SECONDS", &mut o.timeouts.header),
            (
                "STREAM_BODY_IDLE_TIMEOUT_SECONDS",
                &mut o.timeouts.body_idle,
            ),
        ] {
            if let Some(v) = get(var) {
                match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => *slot = std::time::Duration::from_secs(n),
                    _ => {
                        return Err(format!(
                            "{var}: expected a positive whole number of seconds, got `{v}`"
                        ))
                    }
                }
            }
        }
        if let Some(v) = get("STREAM_TEST_THROTTLE_BYTES_PER_SEC") {
            match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => o.throttle_bytes_per_sec = Some(n),
                _ => return Err(format!("STREAM_TEST_THROTTLE_BYTES_PER_SEC: expected a positive whole number of bytes per second, got `{v}`")),
            }
        }
        Ok(o)
    }
}

impl Server {
    /// The embedded object store (the signed object route is mounted only when there is one).
    fn local_objects(&self) -> Option<&FsObjectStore> {
        self.state.embedded.as_ref().map(|e| e.objects.as_ref())
    }

    /// Runs ingest in the background, at most one per core at a time.
    pub fn spawn_ingest(&self, media_id: String) {
        let state = self.state.clone();
        let slots = self.ingest_slots.clone();
        self.tasks.spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else { return };
            if let Err(e) = stream_service::ingest::ingest(&state, &media_id).await {
                tracing::error!(media_id = %media_id, error = %e, "ingest could not record its outcome");
            }
        });
    }

    /// Waits (bounded) for background work to finish: used at shutdown.
    pub async fn drain(&self, limit: Duration) {
        self.tasks.close();
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "background ingests still running at exit; they resume at the next start"
            );
        }
    }
}

async fn api(State(server): State<Arc<Server>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // The test-only throttle also slows the content paths (the edge's rendition objects).
    let throttled = parts.method == http::Method::GET
        && stream_service::edge::is_rendition_path(parts.uri.path())
        && server.throttle.rate.is_some();
    // Read no more than the route accepts (SPEC §2 limits); `handle` refuses a body over it.
    let limit = stream_http::routes::max_body(&parts.method, parts.uri.path());
    let resp = match to_bytes(body, limit).await {
        Ok(bytes) => {
            stream_http::handle(&server.state, http::Request::from_parts(parts, bytes)).await
        }
        Err(e) => {
            let rid = stream_http::request_id_of(&parts.headers);
            let e = conn::body_error(e.into_inner().as_ref(), limit as u64);
            let mut resp = stream_http::response::error_response(&e, &rid);
            stream_http::finish_headers(&mut resp, &rid, &server.state.config.cors_origin);
            resp
        }
    };
    let (p, b) = resp.into_parts();
    let body = Body::from(b);
    let body = match throttled {
        true => server.throttle.clone().throttle(body),
        false => body,
    };
    Response::from_parts(p, body)
}

/// `431` for a request whose header block is over `stream_http::MAX_HEADER_BLOCK`, with the
/// request id and CORS headers of every answer.
async fn limit_headers(
    State(server): State<Arc<Server>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if stream_http::header_block_size(req.headers()) > stream_http::MAX_HEADER_BLOCK {
        let rid = stream_http::request_id_of(req.headers());
        let mut resp = stream_http::headers_too_large(&rid);
        stream_http::finish_headers(&mut resp, &rid, &server.state.config.cors_origin);
        let (parts, body) = resp.into_parts();
        return Response::from_parts(parts, Body::from(body));
    }
    next.run(req).await
}

/// A prepared server: state built, listener bound, not yet serving.
pub struct Prepared {
    pub server: Arc<Server>,
    pub listener: TcpListener,
    pub addr: std::net::SocketAddr,
    /// The HS256 secret generated into the data dir when no key was configured.
    pub dev_secret: Option<String>,
}

/// Binds the listener, completes the configuration (public URL from the bound address when
/// unset, a generated dev secret when no key is configured) and builds the state.
pub async fn prepare(
    config: Config,
    public_url_from_env: bool,
) -> Result<Prepared, Box<dyn std::error::Error + Send + Sync>> {
    prepare_with(config, public_url_from_env, Options::from_env()?).await
}

/// [`prepare`] with streamd's own options given instead of read from the environment.
pub async fn prepare_with(
    mut config: Config,
    public_url_from_env: bool,
    options: Options,
) -> Result<Prepared, Box<dyn std::error::Error + Send + Sync>> {
    // STREAM_STORAGE=aws serves the very same handlers over S3 + DynamoDB (a local HTTP front of
    // the cloud shape, used by the tests against LocalStack + DynamoDB Local); ingest then comes
    // from S3 events, not from the object route.
    let embedded = config.storage == StorageKind::Embedded;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let mut dev_secret = None;
    if config.jwt.secret.is_none()
        && config.jwt.jwks_file.is_none()
        && config.jwt.jwks_url.is_none()
    {
        let (secret, _) = secret_file(&config.data_dir.join("jwt-secret"))?;
        config.jwt.secret = Some(secret.clone());
        dev_secret = Some(secret);
    }
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    if !public_url_from_env {
        config.public_url = format!("http://{addr}");
    }
    let mut state = AppState::from_config(config).await?;
    state.cdn_origin = options.cdn_origin;
    // Completed multipart uploads are ingested here (no store event does it embedded).
    let (completed_tx, completed_rx) = tokio::sync::mpsc::unbounded_channel();
    if embedded {
        state.uploads_completed = Some(completed_tx);
    }
    if embedded {
        clean_temp_files(&state);
        release_orphaned_claims(&state).await;
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    if let Some(rate) = options.throttle_bytes_per_sec {
        tracing::warn!(
            bytes_per_sec = rate,
            "test-only throttle on: rendition objects are sent slowly"
        );
    }
    let throttle = objects::Link::new(options.throttle_bytes_per_sec);
    let server = Arc::new(Server {
        state,
        options,
        tasks: TaskTracker::new(),
        ingest_slots: Arc::new(Semaphore::new(cores)),
        throttle,
    });
    if embedded {
        resume_interrupted_ingests(&server).await;
        spawn_session_sweeper(&server);
        spawn_completed_upload_ingests(&server, completed_rx);
    }
    Ok(Prepared {
        server,
        listener,
        addr,
        dev_secret,
    })
}

pub fn router(server: Arc<Server>) -> Router {
    let mut r = Router::new();
    // The signed object route stands in for S3: only the embedded shape has it.
    if server.local_objects().is_some() {
        r = r.route("/objects/{*key}", any(objects::object));
    }
    // The player page: `/` and `/player/...` only, so no API path is shadowed.
    let dir = server.options.player_dir.clone();
    let index = {
        let dir = dir.clone();
        move || {
            let dir = dir.clone();
            async move { player::index(&dir).await }
        }
    };
    let asset = move |req: Request| player::asset(dir.clone(), req);
    r = r
        .route("/", get(index))
        .route("/player", get(asset.clone()))
        .route("/player/", get(asset.clone()))
        .route("/player/{*path}", get(asset));
    // An oversized header block is refused before any work: on streamd's own routes (object,
    // player) by this layer, which `route_layer` keeps off the fallback; the API (the fallback)
    // is checked once, by `stream_http::handle`, as for the Lambda functions.
    let limit = axum::middleware::from_fn_with_state(server.clone(), limit_headers);
    r.route_layer(limit).fallback(api).with_state(server)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and background work.
pub async fn serve(
    prepared: Prepared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = prepared.server.clone();
    let timeouts = server.options.timeouts;
    let drain = Duration::from_secs(30);
    conn::serve(
        prepared.listener,
        router(prepared.server),
        timeouts,
        shutdown,
        drain,
    )
    .await;
    server.drain(drain).await;
    Ok(())
}

/// The embedded stand-in for DynamoDB TTL + the cleanup function: every minute, expired sessions
/// are deleted and the renditions only they used are removed; and for S3's lifecycle rule:
/// multipart uploads left unfinished past `STREAM_UPLOAD_EXPIRY_SECONDS` are dropped.
fn spawn_session_sweeper(server: &Arc<Server>) {
    let state = server.state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = stream_service::cleanup::sweep_expired_sessions(&state).await {
                tracing::warn!(error = %e, "session sweep failed");
            }
            if let Err(e) = stream_service::uploads::sweep_abandoned(&state).await {
                tracing::warn!(error = %e, "abandoned upload sweep failed");
            }
        }
    });
}

/// Ingests each multipart upload the API completes (the single-PUT route starts its own).
fn spawn_completed_upload_ingests(
    server: &Arc<Server>,
    mut completed: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let server = Arc::downgrade(server);
    tokio::spawn(async move {
        while let Some(media_id) = completed.recv().await {
            let Some(server) = server.upgrade() else {
                return;
            };
            server.spawn_ingest(media_id);
        }
    });
}

/// Temporary files left by a crash are never published objects: remove them.
fn clean_temp_files(state: &AppState) {
    let dir = state.config.data_dir.join("objects").join(".tmp");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Segment claims of the previous process (it crashed mid-encode) are freed at once rather than
/// after their lease, so the segments they held are made on the first request after a restart.
async fn release_orphaned_claims(state: &AppState) {
    let Some(embedded) = &state.embedded else {
        return;
    };
    match embedded.meta.release_orphaned_claims().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            claims = n,
            "released the segment claims of a stopped process"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "segment claims of a stopped process left to their lease")
        }
    }
}

/// Media left in `probing` by a stop mid-ingest, or uploaded but not yet probed, are probed again.
async fn resume_interrupted_ingests(server: &Arc<Server>) {
    match stream_service::ingest::interrupted(&server.state).await {
        Ok(ids) => {
            for id in ids {
                tracing::info!(media_id = %id, "resuming interrupted ingest");
                server.spawn_ingest(id);
            }
        }
        Err(e) => tracing::warn!(error = %e, "interrupted ingests could not be listed"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Options;

    #[test]
    fn options_from_the_environment() {
        let o = Options::from_lookup(|_| None).unwrap();
        assert_eq!(
            o,
            Options {
                player_dir: "./player".into(),
                throttle_bytes_per_sec: None,
                cdn_origin: false,
                timeouts: super::conn::Timeouts {
                    header: Duration::from_secs(10),
                    body_idle: Duration::from_secs(30),
                },
            }
        );
        let o = Options::from_lookup(|k| match k {
            "STREAM_PLAYER_DIR" => Some("/srv/player".into()),
            "STREAM_TEST_THROTTLE_BYTES_PER_SEC" => Some("150000".into()),
            "STREAM_HEADER_TIMEOUT_SECONDS" => Some("5".into()),
            "STREAM_BODY_IDLE_TIMEOUT_SECONDS" => Some(" 60 ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            o,
            Options {
                player_dir: "/srv/player".into(),
                throttle_bytes_per_sec: Some(150_000),
                cdn_origin: false,
                timeouts: super::conn::Timeouts {
                    header: Duration::from_secs(5),
                    body_idle: Duration::from_secs(60),
                },
            }
        );
        for var in [
            "STREAM_HEADER_TIMEOUT_SECONDS",
            "STREAM_BODY_IDLE_TIMEOUT_SECONDS",
        ] {
            let e = Options::from_lookup(|k| (k == var).then(|| "0".to_string())).unwrap_err();
            assert!(e.contains(var), "{e}");
        }
        for bad in ["0", "-5", "fast", "1.5"] {
            let e = Options::from_lookup(|k| {
                (k == "STREAM_TEST_THROTTLE_BYTES_PER_SEC").then(|| bad.to_string())
            })
            .unwrap_err();
            assert!(
                e.contains("STREAM_TEST_THROTTLE_BYTES_PER_SEC"),
                "{bad}: {e}"
            );
        }
    }
}
