//! The service: what each request or event asks of the system, above the pure core
//! (`stream-core`), the media engine (`stream-media`) and storage (`stream-storage`), below the
//! HTTP edge (`stream-http`). Its functions take the state and typed inputs and return typed
//! outcomes or a `stream_core::Error` in the domain's words: no HTTP here.
//!
//! # Layout
//!
//! - [`state`]: [`AppState`], built once per process from [`config`]; the one place that picks
//!   a backend (feature `aws`: S3 + DynamoDB + the `transcode` Lambda; feature `embedded`: disk
//!   + SQLite + in-process workers).
//! - [`auth`]: JWT bearer tokens (the API) and session tokens (HLS URLs).
//! - [`media`], [`progress`]: uploads and media records; playback positions.
//! - [`ingest`]: from an uploaded object to a probed media record (and its subtitle tracks).
//! - [`subtitles`]: subtitle tracks: made at ingest, added and removed as files, signed for
//!   players.
//! - [`playback`]: the stream endpoint's work: the decision applied, a session opened.
//! - [`hls`]: HLS sessions: verify, keep alive, playlists, segments ([`open_sessions`] keeps the
//!   hot path in memory for a few seconds).
//! - [`segments`]: just-in-time segments: the request side, the claim lifecycle, the worker,
//!   the dispatcher. **This is where a segment is made** (`segments::worker::run`).
//! - [`download`]: offline downloads: the original, or one rung's pieces made in the background
//!   and assembled into a faststart MP4 (`JobKind::Download`).
//! - [`trickplay`]: seek-bar previews: the storyboard (WebVTT) and the image playlist, whose
//!   sheets are made just in time like segments (`segments::request::deliver_sheet`).
//! - [`cleanup`]: what an ended session leaves behind.
//! - [`telemetry`]: tracing setup.
//!
//! Dependencies inside the crate point one way (`tests/tests/architecture.rs` checks there is
//! no cycle between files): `hls` → `segments::request` → `segments::dispatch` →
//! `segments::worker` → `segments::claims`; `playback` and `progress` → `media`; `ingest` →
//! `subtitles` (which is given media records, as `media::update` is); `state` builds
//! the dispatcher with a `WorkerContext`, and nothing below `state` reaches back up to it
//! except the request side, which is given the state.

pub mod auth;
pub mod cleanup;
pub mod config;
pub mod download;
pub mod edge;
pub mod hls;
pub mod ingest;
pub mod media;
pub mod open_sessions;
pub mod playback;
pub mod progress;
pub mod segments;
pub mod state;
pub mod subtitles;
pub mod telemetry;
pub mod trickplay;
pub mod uploads;

pub use state::AppState;
pub use stream_core::error::{Error, Result};
