//! gewebe-geo's one error type, with an exhaustive mapping to problem+json. 5xx causes are logged
//! here and never sent.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use gewebe_platform::{FieldError, Problem};

/// What `privacy_pending` asks the client to wait: about one relay round plus a consumer's apply.
pub const PRIVACY_PENDING_RETRY_SECS: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 422 with the offending fields.
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// 400: a query parameter or path segment that is not what the endpoint takes.
    #[error("invalid parameter: {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("not found")]
    NotFound(&'static str),
    #[error("version mismatch")]
    VersionMismatch,
    #[error("not allowed")]
    Forbidden(&'static str),
    #[error("conflict")]
    Conflict { code: &'static str, detail: String },
    /// 429: the account's write bucket is empty.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u32 },
    /// 409 + Retry-After: a `home` write whose owner's privacy settings geo has not caught up with.
    #[error("privacy settings pending")]
    PrivacyPending,
    /// 401: a token without the privacy-settings version (issued before auth carried it).
    #[error("token without privacy version")]
    TokenWithoutPrivacyVersion,
    /// 401: auth no longer accepts the caller's token (session ended, account forgotten).
    #[error("token rejected by auth")]
    TokenRejected,
    /// 503: auth could not say which privacy settings are current, so a `home` is not written.
    #[error("auth unavailable: {0}")]
    AuthUnavailable(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] gewebe_events::outbox::OutboxError),
    #[error("event: {0}")]
    Event(#[from] serde_json::Error),
}

impl Error {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => Problem::validation(errors),
            Error::BadRequest { code, detail } => Problem::bad_request(code, detail),
            Error::NotFound(what) => Problem::not_found(what),
            Error::VersionMismatch => Problem::precondition_failed(
                "the resource changed since you read it; reload and retry",
            ),
            Error::Forbidden(why) => Problem::forbidden(why),
            Error::Conflict { code, detail } => Problem::conflict(code, detail),
            Error::RateLimited { retry_after_secs } => Problem::too_many_requests(retry_after_secs)
                .with_detail("too many writes from this account; retry after the given seconds"),
            Error::PrivacyPending => Problem::conflict(
                "privacy_pending",
                "your latest privacy settings have not reached the map yet; retry shortly",
            )
            .with_retry_after(PRIVACY_PENDING_RETRY_SECS),
            Error::TokenWithoutPrivacyVersion => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Authentication required",
            )
            .with_detail("the access token predates privacy versions; refresh it and retry")
            .with_header(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ),
            Error::TokenRejected => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "Authentication required",
            )
            .with_detail("auth no longer accepts this access token; log in again")
            .with_header(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ),
            Error::AuthUnavailable(why) => {
                tracing::warn!(reason = %why, "home write refused: auth did not confirm the privacy settings");
                Problem::unavailable(
                    "auth_unavailable",
                    "your privacy settings cannot be confirmed right now, so the home is not placed; retry shortly",
                    PRIVACY_PENDING_RETRY_SECS,
                )
            }
            Error::Db(e) => gewebe_platform::db::problem(&e),
            other @ (Error::Outbox(_) | Error::Event(_)) => {
                tracing::error!(error = %other, "request failed");
                Problem::internal()
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// For handlers that must say "not modified" without a body.
pub fn not_modified(etag: axum::http::HeaderValue) -> Response {
    (StatusCode::NOT_MODIFIED, [(axum::http::header::ETAG, etag)]).into_response()
}
