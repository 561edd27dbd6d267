//! The `streamd` binary: configuration from the environment, then the embedded server.

use std::time::Duration;

use stream_service::config::Config;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
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

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    stream_service::telemetry::init(config.log_format);
    let public_url_set = std::env::var("STREAM_PUBLIC_URL").is_ok_and(|v| !v.is_empty());
    let prepared = streamd::prepare(config, public_url_set).await?;
    let public_url = prepared.server.state.config.public_url.clone();
    if let Some(secret) = &prepared.dev_secret {
        let token = stream_service::auth::mint_hs256(
            secret,
            "dev",
            &["admin"],
            Duration::from_secs(30 * 24 * 3600),
        );
        println!("dev token (user `dev`, admin, valid 30 days):\n{token}");
        println!("player page: {public_url}/#token={token}");
    }
    println!("listening on http://{}", prepared.addr);
    streamd::serve(prepared, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
