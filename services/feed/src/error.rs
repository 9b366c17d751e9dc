//! gewebe-feed's one error type, with an exhaustive mapping to problem+json.

use axum::response::{IntoResponse, Response};
use gewebe_platform::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("too many streams ({0:?})")]
    TooManyStreams(Limit),
    /// 401 `invalid_ticket`, 503 `ticket_store_unavailable` (`gewebe_platform::tickets`).
    #[error("ticket: {0}")]
    Ticket(#[from] gewebe_platform::tickets::TicketError),
    #[error("internal: {0}")]
    Internal(String),
}

/// Which stream limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `FEED_MAX_CONNECTIONS`: this instance is full (503; another instance may have room).
    Instance,
    /// `FEED_MAX_CONNECTIONS_PER_ACCOUNT` (429).
    Account,
    /// `FEED_MAX_CONNECTIONS_PER_ADDRESS`, anonymous streams only (429).
    Address,
}

impl Error {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::BadRequest { code, detail } => Problem::bad_request(code, detail),
            Error::Ticket(e) => e.into(),
            Error::TooManyStreams(Limit::Account) => Problem::too_many_requests(5)
                .with_detail("this account has too many open streams; close one first"),
            Error::TooManyStreams(Limit::Address) => Problem::too_many_requests(5).with_detail(
                "this address has too many open anonymous streams; close one first, or sign in",
            ),
            Error::TooManyStreams(Limit::Instance) => Problem::unavailable(
                "overloaded",
                "this instance has as many streams open as it serves; retry shortly (another instance may take it)",
                1,
            ),
            Error::Internal(e) => {
                tracing::error!(error = %e, "request failed");
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
