//! `tracing` setup: JSON lines in the cloud shape, human-readable locally; `RUST_LOG` filters.
//!
//! `RUST_LOG` is read as per-target levels (`info`, `stream_service=debug,hyper=warn`) with
//! `tracing_subscriber::filter::Targets`, not `EnvFilter`: `EnvFilter`'s span and field
//! directives need the `regex` engine, which is a large share of the embedded server's build
//! time, and per-target levels are what this service's logs are filtered by. A `RUST_LOG` that
//! does not parse falls back to `info` and says so.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

/// The filter of a `RUST_LOG` value (`None`: unset), and whether it had to fall back.
fn filter(rust_log: Option<&str>) -> (Targets, bool) {
    let fallback = Targets::new().with_default(LevelFilter::INFO);
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => (fallback, false),
        Some(v) => v
            .parse::<Targets>()
            .map_or((fallback, true), |t| (t, false)),
    }
}

pub fn init(format: LogFormat) {
    let (targets, fell_back) = filter(std::env::var("RUST_LOG").ok().as_deref());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let registered = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                fmt.json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(targets),
            )
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::registry()
            .with(fmt.compact().with_filter(targets))
            .try_init(),
    };
    if registered.is_ok() && fell_back {
        tracing::warn!("RUST_LOG is not a list of `target=level`: logging at info");
    }
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn rust_log_values() {
        let (t, fell_back) = filter(Some("stream_service=debug,hyper=warn"));
        assert!(!fell_back);
        assert!(t.would_enable("stream_service::hls", &Level::DEBUG));
        assert!(!t.would_enable("hyper::proto", &Level::INFO));
        let (t, _) = filter(None);
        assert!(
            t.would_enable("anything", &Level::INFO) && !t.would_enable("anything", &Level::DEBUG)
        );
        let (t, fell_back) = filter(Some("debug"));
        assert!(!fell_back && t.would_enable("x", &Level::DEBUG));
        let (_, fell_back) = filter(Some("stream=loud"));
        assert!(fell_back);
    }
}
