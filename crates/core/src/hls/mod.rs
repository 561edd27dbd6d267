//! HLS for the `remux`, `transcode_audio` and `transcode` methods (SPEC §3 "HLS", §4): pure
//! functions of the probe and the decision, no I/O.
//!
//! - [`codecs`]: exact RFC 6381 `CODECS` strings of copied streams and of the H.264 / AAC-LC
//!   the transcoder makes, and the H.264 level a transcode is encoded at.
//! - [`plan`]: the segment plan, at source keyframes for copied video, at fixed (forced
//!   keyframe) boundaries with short first segments for transcoded video.
//! - [`ladder`]: the rendition set of a decision (a copied rendition or the transcode ladder,
//!   and the separate audio rendition), bandwidths, and the content keys segments are stored
//!   under (shared by every session that plays the same rendition).
//! - [`playlist`]: the master and media playlist text, segment file names.

pub mod codecs;
pub mod ladder;
pub mod plan;
pub mod playlist;
pub mod record;
