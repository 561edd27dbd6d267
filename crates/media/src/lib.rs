//! The media engine: everything that runs ffprobe or ffmpeg, or reads and rewrites what they
//! write. Bytes in, bytes out: no storage, no claims, no HTTP. The service decides what to make
//! and where the bytes go; benchmarks and tests call the same public builders the workers run.
//!
//! # Layout
//!
//! - [`probe`]: ffprobe's JSON parsed into `stream_core::model::Probe`, the keyframe index, and
//!   failures turned into sentences an uploader understands.
//! - [`subtitles`]: text subtitles to WebVTT: the streams of an upload (one ffmpeg run) and
//!   files users add, through one conversion.
//! - [`transcode`]: the encode engine. `transcode::args` builds every ffmpeg argument list,
//!   `transcode::run` runs ffmpeg (one place for process handling), `transcode::boxes` and
//!   `transcode::frame_grid` read and rewrite fragmented MP4, `transcode::ts` cuts MPEG-TS.
//! - [`trickplay`]: one trick-play sheet (thumbnails tiled into a JPEG) per ffmpeg run.

pub mod probe;
pub mod subtitles;
pub mod transcode;
pub mod trickplay;
