//! The pure core of the streaming service: what a media file is, what a client can play, how to
//! play a file on it, and what an HLS rendition of it looks like. No I/O, no async runtime, no
//! HTTP, no cloud SDK: apart from `ids` (which asks the OS for random bytes), every function
//! here is a function of its arguments (the time is passed in), so it is tested without any of
//! them and measured in microseconds (SPEC §8).
//!
//! # Layout
//!
//! - [`model`]: media records, their probe (streams, keyframes), progress, segment claim
//!   records, the caller. The leaf: it depends on nothing else here.
//! - [`playback`]: client capabilities, the device profiles (data), their parsing from a stream
//!   request's query, and **the decision** (`playback::decision::decide`: direct play, remux,
//!   audio transcode or transcode, with every reason).
//! - [`session`]: an HLS playback session (it embeds its decision).
//! - [`hls`]: the segment plan, the rendition ladder and content keys, RFC 6381 codec strings,
//!   playlist text.
//! - [`tracks`]: the subtitle tracks of a media (embedded and sidecar), their ids, WebVTT keys,
//!   BCP 47 languages and menu names.
//! - [`segment`]: the identity of one piece of a rendition (file name, claim record id, object
//!   key, content type), in one type.
//! - [`download`]: offline downloads: the rung a download takes, its content key, progress,
//!   the file name it is saved under.
//! - [`trickplay`]: trick-play images: the thumbnail plan, sheet identity, the WebVTT
//!   storyboard and the HLS image playlist.
//! - [`error`]: the domain's error type (no HTTP status: the edge maps it).
//! - [`ids`], [`frame_rate`]: random ids and constant-time comparison; nominal frame rates.
//!
//! Dependencies point one way: `playback` → `model`; `session` → `playback`, `model`;
//! `segment` → `playback` (the segment format); `hls` → `segment`, `playback`, `model`, `tracks`;
//! `tracks` → `model`, `playback` (the default audio track); `download` → `hls`, `segment`,
//! `playback`.

pub mod download;
pub mod error;
pub mod frame_rate;
pub mod hls;
pub mod ids;
pub mod model;
pub mod playback;
pub mod segment;
pub mod session;
pub mod tracks;
pub mod trickplay;

pub use error::{Error, Result};
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
