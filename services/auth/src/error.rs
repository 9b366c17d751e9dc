//! gewebe-auth's one error type, with an exhaustive mapping to problem+json. 5xx causes are logged
//! here and never sent.

use axum::response::{IntoResponse, Response};
use gewebe_platform::{FieldError, Problem};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("e-mail address already registered")]
    EmailTaken,
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("account not found")]
    NotFound,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("signing keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("outbox: {0}")]
    Outbox(#[from] gewebe_events::outbox::OutboxError),
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error("too many attempts")]
    Throttled { retry_after: u32 },
    #[error("rate-limit store unavailable")]
    ThrottleUnavailable,
    #[error("every password-hashing slot is busy")]
    Overloaded,
    #[error("forbidden")]
    Forbidden(&'static str),
    #[error("version mismatch")]
    VersionMismatch,
    #[error("no admin would remain")]
    LastAdmin,
    #[error("invalid cursor")]
    InvalidCursor,
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => Problem::validation(errors),
            Error::EmailTaken => {
                Problem::conflict("email_taken", "an account with this e-mail address exists")
            }
            Error::InvalidCredentials => Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Authentication failed",
            )
            .with_detail("wrong e-mail address or password"),
            Error::NotFound => Problem::not_found("no such account"),
            Error::InvalidRefreshToken => Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "Authentication required",
            )
            .with_detail("the refresh token is missing, unknown, expired or revoked; log in again"),
            Error::RefreshTokenReused => Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "Authentication required",
            )
            .with_detail(
                "this refresh token was already used; the session has been ended, log in again",
            ),
            Error::Throttled { retry_after } => Problem::too_many_requests(retry_after)
                .with_detail("too many attempts; wait before trying again"),
            Error::ThrottleUnavailable => Problem::unavailable(
                "throttle_unavailable",
                "login protection is unavailable, so logins are paused; retry shortly",
                5,
            ),
            Error::Overloaded => Problem::unavailable(
                "overloaded",
                "too many logins are being checked right now; retry shortly",
                1,
            ),
            Error::Forbidden(detail) => Problem::forbidden(detail),
            Error::VersionMismatch => Problem::precondition_failed(
                "the account changed since you read it; reload and retry",
            ),
            Error::LastAdmin => Problem::conflict(
                "last_admin",
                "this change would leave no account with the admin role",
            ),
            Error::InvalidCursor => Problem::bad_request(
                "invalid_cursor",
                "the cursor is not one this endpoint handed out",
            ),
            Error::Db(e) => gewebe_platform::db::problem(&e),
            other @ (Error::Keys(_) | Error::Outbox(_) | Error::Hashing(_)) => {
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
