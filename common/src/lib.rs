//! The library every function and the embedded server share: configuration, errors, auth,
//! domain types, storage, probing, ingest and the HTTP handlers.

pub mod api;
pub mod auth;
pub mod cleanup;
pub mod config;
pub mod error;
pub mod frame_rate;
pub mod hls;
pub mod ids;
pub mod ingest;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod model;
pub mod playback;
pub mod probe;
pub mod segments;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod transcode;

pub use error::{Error, Result};
pub use state::AppState;
