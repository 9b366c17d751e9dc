//! Single-use tickets for connections a browser cannot authenticate with a header (EventSource,
//! WebSocket): the client trades its access token for a short-lived ticket (`POST /<service>/tickets`)
//! and puts that in the connection URL. Tickets live in Redis (any instance may redeem one), stored
//! by SHA-256 so the store never holds a usable ticket, and are taken with GETDEL, so one can be
//! used once.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use fred::prelude::{Expiration, KeysInterface, SetOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{auth::AuthUser, redis::Redis};

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is unknown, used or expired")]
    Invalid,
    #[error("ticket store: {0}")]
    Store(#[from] fred::error::Error),
    #[error("no entropy from the operating system")]
    Entropy,
}

impl From<TicketError> for crate::Problem {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::Invalid => crate::Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_ticket",
                "Authentication required",
            )
            .with_detail("the ticket is unknown, used or expired; get a new one"),
            TicketError::Store(e) => {
                tracing::warn!(error = %e, "ticket store failed");
                crate::Problem::unavailable(
                    "ticket_store_unavailable",
                    "tickets cannot be issued or checked right now; retry shortly",
                    2,
                )
            }
            TicketError::Entropy => {
                tracing::error!("no entropy from the operating system for a ticket");
                crate::Problem::internal()
            }
        }
    }
}

impl TicketError {
    /// The problem code, for frames that carry one.
    pub fn code(&self) -> &'static str {
        match self {
            TicketError::Invalid => "invalid_ticket",
            TicketError::Store(_) => "ticket_store_unavailable",
            TicketError::Entropy => "internal",
        }
    }
}

/// What `POST /<service>/tickets` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    /// Put it in the connection URL as `?ticket=...`; it works once.
    pub ticket: String,
    /// Seconds left to use it.
    pub expires_in: u64,
}

/// Who a ticket was issued to, and when their access token expires (the connection ends then).
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    pub account: Uuid,
    pub expires_at: i64,
}

/// A service's tickets: its own key namespace in Redis, its own lifetime.
#[derive(Clone)]
pub struct Tickets {
    redis: Redis,
    namespace: &'static str,
    ttl: Duration,
}

impl Tickets {
    /// `namespace` keeps one service's tickets from redeeming at another (`feed:ticket`).
    pub fn new(redis: Redis, namespace: &'static str, ttl: Duration) -> Self {
        Self {
            redis,
            namespace,
            ttl,
        }
    }

    fn key(&self, ticket: &str) -> String {
        let digest = Sha256::digest(ticket.as_bytes());
        self.redis
            .key(&format!("{}:{}", self.namespace, B64.encode(digest)))
    }

    /// A ticket for `user`, valid for the configured lifetime.
    pub async fn issue(&self, user: &AuthUser) -> Result<Ticket, TicketError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|_| TicketError::Entropy)?;
        let ticket = B64.encode(raw);
        let ttl = self.ttl.as_secs();
        let _: () = self
            .redis
            .client
            .set(
                self.key(&ticket),
                format!("{}:{}", user.id, user.expires_at),
                Some(Expiration::EX(i64::try_from(ttl).unwrap_or(30))),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(Ticket {
            ticket,
            expires_in: ttl,
        })
    }

    /// Takes a ticket: `Ok(holder)` once, `Err(Invalid)` for every other try.
    pub async fn redeem(&self, ticket: &str) -> Result<Holder, TicketError> {
        let value: Option<String> = self.redis.client.getdel(self.key(ticket)).await?;
        let (account, expires_at) = value
            .as_deref()
            .and_then(|v| v.split_once(':'))
            .ok_or(TicketError::Invalid)?;
        Ok(Holder {
            account: account.parse().map_err(|_| TicketError::Invalid)?,
            expires_at: expires_at.parse().map_err(|_| TicketError::Invalid)?,
        })
    }
}
