//! Authentication (SPEC §2): JWT bearer tokens for the API.

mod jwt;

pub use jwt::{mint_hs256, Caller, TokenVerifier};
