//! gewebe-chat's one error type, with an exhaustive mapping to problem+json. 5xx causes are logged
//! here and never sent.

use axum::response::{IntoResponse, Response};
use gewebe_platform::{FieldError, Problem, tickets::TicketError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 422 with the offending fields.
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// 400: a query parameter or path segment that is not what the endpoint takes.
    #[error("invalid parameter: {detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 404 also for a private room the caller is not in: its existence is not revealed.
    #[error("not found")]
    NotFound(&'static str),
    #[error("not allowed")]
    Forbidden(&'static str),
    #[error("conflict")]
    Conflict { code: &'static str, detail: String },
    #[error("version mismatch")]
    VersionMismatch,
    /// 401 `account_forgotten`: the token is valid, but its account was forgotten since.
    #[error("account forgotten")]
    AccountForgotten,
    /// 429 at the WebSocket upgrade: this account holds `CHAT_MAX_CONNECTIONS_PER_ACCOUNT`.
    #[error("too many connections for this account")]
    TooManyConnections,
    /// 429: the account's send bucket is empty.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u32 },
    /// 503 at the WebSocket upgrade: this instance holds `CHAT_MAX_CONNECTIONS`.
    #[error("instance full")]
    InstanceFull,
    /// 503: geo could not say whether a node exists.
    #[error("geo unavailable: {0}")]
    GeoUnavailable(String),
    /// 401 `invalid_ticket` at the upgrade, 503 `ticket_store_unavailable` (`gewebe_platform::tickets`).
    #[error("ticket: {0}")]
    Ticket(#[from] TicketError),
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

    /// The stable code a WebSocket `error` frame carries for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "validation_failed",
            Error::BadRequest { code, .. } | Error::Conflict { code, .. } => code,
            Error::NotFound(_) => "not_found",
            Error::Forbidden(_) => "forbidden",
            Error::VersionMismatch => "version_mismatch",
            Error::AccountForgotten => "account_forgotten",
            Error::TooManyConnections | Error::RateLimited { .. } => "rate_limited",
            Error::InstanceFull => "overloaded",
            Error::GeoUnavailable(_) => "geo_unavailable",
            Error::Ticket(e) => e.code(),
            Error::Db(sqlx::Error::PoolTimedOut) => "database_busy",
            Error::Db(_) | Error::Outbox(_) | Error::Event(_) => "internal",
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => Problem::validation(errors),
            Error::BadRequest { code, detail } => Problem::bad_request(code, detail),
            Error::NotFound(detail) => Problem::not_found(detail),
            Error::Forbidden(detail) => Problem::forbidden(detail),
            Error::Conflict { code, detail } => Problem::conflict(code, detail),
            Error::VersionMismatch => Problem::precondition_failed(
                "the message changed since you read it; reload and retry",
            ),
            Error::Ticket(e) => e.into(),
            Error::AccountForgotten => Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "account_forgotten",
                "Account forgotten",
            )
            .with_detail("this account was deleted; its tokens no longer open conversations"),
            Error::RateLimited { retry_after_secs } => Problem::too_many_requests(retry_after_secs)
                .with_detail("this account sends too many messages; slow down"),
            Error::TooManyConnections => Problem::too_many_requests(5)
                .with_detail("this account has too many open connections; close one first"),
            Error::InstanceFull => Problem::unavailable(
                "overloaded",
                "this instance holds as many connections as it serves; retry shortly",
                1,
            ),
            Error::GeoUnavailable(why) => {
                tracing::warn!(reason = %why, "a node room was not made: geo did not answer");
                Problem::unavailable(
                    "geo_unavailable",
                    "the node cannot be checked right now; retry shortly",
                    2,
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
