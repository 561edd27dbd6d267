//! The one error type of the domain and the service. It says what went wrong in the domain's
//! words (invalid input, not found, a conflict with the record's state, a backing service that
//! cannot be reached); it knows nothing of HTTP. The HTTP edge (`stream-http`) maps each
//! variant to a status and the JSON error body of SPEC §3, in one place.

/// Every failure a handler can report. Internal details (`Internal`, `Unavailable`) are logged
/// by the edge, never sent to the client ([`Error::public_message`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something impossible; `code` names what.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// No valid credentials (a missing, malformed, expired or wrongly signed token).
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials that do not grant this (e.g. another session's token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The record's state does not allow it (a failed media, an upload already made, a
    /// segment that failed for good).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// It existed and is gone for good (the source object of a media).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{message}")]
    TooLarge { message: String },
    /// A condition of the request does not hold (`If-None-Match: *` onto an existing object).
    #[error("{message}")]
    Precondition { message: String },
    /// The client stopped sending its request part-way (a slow or stalled body).
    #[error("{message}")]
    TimedOut { message: String },
    /// The request body is declared in a format the operation does not take (a JSON operation
    /// sent `text/plain`, a form, XML): refused rather than guessed at.
    #[error("{0}")]
    UnsupportedContentType(String),
    /// A backing service (S3, DynamoDB, the embedded database, the data disk) cannot be
    /// reached or refused the work; retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The server's own storage is full (the embedded data disk: `ENOSPC`, SQLite's "database
    /// or disk is full"). Nothing was written; the same request succeeds once space is freed,
    /// without a restart. A distinct code so an operator (and a client's message) knows the
    /// cause instead of "unavailable"; the same 503 + `Retry-After` as `Unavailable`, because
    /// for a client it is the same thing: not now, try again later.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// A conditional write lost a race; callers usually retry.
    #[error("concurrent modification of {0}")]
    ConcurrentModification(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }

    /// The snake_case code a client sees (SPEC §3).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. }
            | Error::Conflict { code, .. }
            | Error::Gone { code, .. } => code,
            Error::Unauthenticated(_) => "invalid_token",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::TooLarge { .. } => "payload_too_large",
            Error::TimedOut { .. } => "request_timeout",
            Error::Precondition { .. } => "precondition_failed",
            Error::UnsupportedContentType(_) => "unsupported_content_type",
            Error::Unavailable(_) => "storage_unavailable",
            Error::StorageFull(_) => "storage_full",
            Error::ConcurrentModification(_) => "concurrent_modification",
            Error::Internal(_) => "internal_error",
        }
    }

    /// The message a client sees. Internal and storage details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".into(),
            Error::Unavailable(_) => "a backing service is unavailable, retry later".into(),
            Error::StorageFull(_) => "the server's storage is full, retry later".into(),
            other => other.to_string(),
        }
    }
}
