//! The library every function and the embedded server share: configuration, errors, auth,
//! domain types, storage, probing, ingest and the HTTP handlers.

pub mod auth;
pub mod config;
pub mod error;
pub mod ids;
pub mod model;
pub mod storage;

pub use error::{Error, Result};
