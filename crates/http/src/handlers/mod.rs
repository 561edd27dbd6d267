//! The handlers: each parses its request, calls the service, and shapes the response. No rule
//! of the domain is decided here.

pub mod download;
pub mod hls;
pub mod media;
pub mod progress;
pub mod stream;
pub mod uploads;
