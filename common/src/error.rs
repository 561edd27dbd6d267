//! The one error type of the service and its single mapping to HTTP (SPEC §3: JSON error body).

use http::StatusCode;

/// Every failure a handler can report. Mapped to a status and a snake_case code in one place
/// ([`Error::status`], [`Error::code`]); internal details are logged, never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{message}")]
    PayloadTooLarge { message: String },
    /// A backing service (S3, DynamoDB, the embedded database) cannot be reached.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A conditional write lost a race; callers usually retry.
    #[error("concurrent modification of {0}")]
    ConcurrentModification(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest { code, message: message.into() }
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict { .. } | Error::ConcurrentModification(_) => StatusCode::CONFLICT,
            Error::Gone { .. } => StatusCode::GONE,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. } | Error::Conflict { code, .. } | Error::Gone { code, .. } => code,
            Error::Unauthorized(_) => "invalid_token",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::Unavailable(_) => "storage_unavailable",
            Error::ConcurrentModification(_) => "concurrent_modification",
            Error::Internal(_) => "internal_error",
        }
    }

    /// The message a client sees. Internal and storage details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".into(),
            Error::Unavailable(_) => "a backing service is unavailable, retry later".into(),
            other => other.to_string(),
        }
    }
}
