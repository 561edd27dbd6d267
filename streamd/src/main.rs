//! `streamd`: the embedded shape. One process serving every route at the same paths as the cloud
//! shape, bytes on the local disk, records in SQLite, ingest in-process (SPEC §7).

mod objects;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use common::config::{Config, StorageKind};
use common::state::{secret_file, AppState};
use common::storage::embedded::FsObjectStore;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// Largest API request body (JSON); uploads go to the object route and are streamed.
const MAX_API_BODY: usize = 1 << 20;

pub struct Server {
    pub state: AppState,
    tasks: TaskTracker,
    ingest_slots: Arc<Semaphore>,
}

impl Server {
    fn local_objects(&self) -> &FsObjectStore {
        self.state.local_objects.as_deref().expect("streamd always runs the embedded object store")
    }

    /// Runs ingest in the background, at most one per core at a time.
    pub fn spawn_ingest(&self, media_id: String) {
        let state = self.state.clone();
        let slots = self.ingest_slots.clone();
        self.tasks.spawn(async move {
            let Ok(_permit) = slots.acquire_owned().await else { return };
            if let Err(e) = common::ingest::ingest(&state, &media_id).await {
                tracing::error!(media_id = %media_id, error = %e, "ingest could not record its outcome");
            }
        });
    }
}

async fn api(State(server): State<Arc<Server>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_API_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = common::Error::PayloadTooLarge { message: format!("request bodies are limited to {MAX_API_BODY} bytes") };
            let r = common::api::http::error_response(&e, &common::api::request_id(&http::Request::from_parts(parts, bytes::Bytes::new())));
            let (p, b) = r.into_parts();
            return Response::from_parts(p, Body::from(b));
        }
    };
    let resp = common::api::handle(&server.state, http::Request::from_parts(parts, bytes)).await;
    let (p, b) = resp.into_parts();
    Response::from_parts(p, Body::from(b))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("streamd: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    common::telemetry::init(config.log_format);
    if config.storage != StorageKind::Embedded {
        return Err("streamd runs the embedded shape: unset STREAM_STORAGE or set it to `embedded`".into());
    }
    std::fs::create_dir_all(&config.data_dir)?;
    // No key configured at all: generate a secret, keep it in the data dir, print a dev token.
    let mut dev_secret = None;
    if config.jwt.secret.is_none() && config.jwt.jwks_file.is_none() && config.jwt.jwks_url.is_none() {
        let (secret, _) = secret_file(&config.data_dir.join("jwt-secret"))?;
        config.jwt.secret = Some(secret.clone());
        dev_secret = Some(secret);
    }
    let listen = config.listen.clone();
    let public_url = config.public_url.clone();
    let state = AppState::from_config(config).await?;
    clean_temp_files(&state);

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let server = Arc::new(Server { state, tasks: TaskTracker::new(), ingest_slots: Arc::new(Semaphore::new(cores)) });
    resume_interrupted_ingests(&server).await;

    let app = Router::new()
        .route("/objects/{*key}", any(objects::object))
        .fallback(api)
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    if let Some(secret) = dev_secret {
        let token = common::auth::mint_hs256(&secret, "dev", &["admin"], Duration::from_secs(30 * 24 * 3600));
        println!("dev token (user `dev`, admin, valid 30 days):\n{token}");
        println!("player page: {public_url}/#token={token}");
    }
    println!("listening on http://{addr}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    server.tasks.close();
    if tokio::time::timeout(Duration::from_secs(30), server.tasks.wait()).await.is_err() {
        tracing::warn!("background ingests still running at exit; they resume at the next start");
    }
    tracing::info!("stopped");
    Ok(())
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

/// Media left in `probing` by a stop mid-ingest, or uploaded but not yet probed, are probed again.
async fn resume_interrupted_ingests(server: &Arc<Server>) {
    let Ok(all) = server.state.meta.list_media().await else { return };
    for m in all {
        let interrupted = m.status == common::model::MediaStatus::Probing
            || (m.status == common::model::MediaStatus::Uploading && server.state.objects.head(&m.source_key).await.ok().flatten().is_some());
        if interrupted {
            tracing::info!(media_id = %m.id, "resuming interrupted ingest");
            server.spawn_ingest(m.id);
        }
    }
}
