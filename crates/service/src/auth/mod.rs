//! Authentication (SPEC §2): JWT bearer tokens for the API, session tokens for HLS URLs.

mod jwt;
pub mod session_token;

pub use jwt::{mint_hs256, TokenVerifier};
pub use session_token::{SessionTokenError, SessionTokens};
pub use stream_core::model::Caller;
