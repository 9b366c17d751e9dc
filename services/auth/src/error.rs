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
            Error::Db(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("database pool exhausted");
                Problem::unavailable("database_busy", "the database is busy; retry shortly", 1)
            }
            other @ (Error::Db(_) | Error::Keys(_) | Error::Outbox(_) | Error::Hashing(_)) => {
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
