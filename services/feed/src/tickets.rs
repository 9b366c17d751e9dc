//! `POST /feed/tickets`: EventSource cannot send an Authorization header, so a browser trades its
//! access token for a short-lived, single-use ticket and puts that in the stream URL. Tickets live
//! in Redis (any instance may redeem one), stored by SHA-256 so the store never holds a usable
//! ticket, and are taken with GETDEL, so one can be used once.

use axum::extract::State;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use fred::prelude::{Expiration, KeysInterface, SetOptions};
use gewebe_platform::{auth::AuthUser, http::extract::Json};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{AppState, error::Error};

#[derive(Serialize, ToSchema)]
pub struct Ticket {
    /// Put it in the stream URL: `/feed/stream?ticket=...`.
    ticket: String,
    /// Seconds left to use it.
    expires_in: u64,
}

/// Who a ticket was issued to, and when their access token expires (the stream ends then).
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    pub account: Uuid,
    pub expires_at: i64,
}

fn key(app: &AppState, ticket: &str) -> String {
    let digest = Sha256::digest(ticket.as_bytes());
    app.redis
        .key(&format!("feed:ticket:{}", B64.encode(digest)))
}

/// A ticket for one stream, valid for `FEED_TICKET_TTL_SECS`.
#[utoipa::path(post, path = "/feed/tickets", tag = "feed", security(("bearer" = [])),
    responses(
        (status = 200, body = Ticket),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 503, description = "`ticket_store_unavailable`", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn issue(State(app): State<AppState>, user: AuthUser) -> Result<Json<Ticket>, Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| Error::Internal(format!("no entropy: {e}")))?;
    let ticket = B64.encode(raw);
    let expires_at = user.expires_at;
    let ttl = app.config.feed.ticket_ttl.as_secs();
    let _: () = app
        .redis
        .client
        .set(
            key(&app, &ticket),
            format!("{}:{expires_at}", user.id),
            Some(Expiration::EX(i64::try_from(ttl).unwrap_or(30))),
            Some(SetOptions::NX),
            false,
        )
        .await?;
    Ok(Json(Ticket {
        ticket,
        expires_in: ttl,
    }))
}

/// Takes a ticket: `Ok(holder)` once, `Err(InvalidTicket)` for every other try.
pub async fn redeem(app: &AppState, ticket: &str) -> Result<Holder, Error> {
    let value: Option<String> = app.redis.client.getdel(key(app, ticket)).await?;
    let (account, expires_at) = value
        .as_deref()
        .and_then(|v| v.split_once(':'))
        .ok_or(Error::InvalidTicket)?;
    Ok(Holder {
        account: account.parse().map_err(|_| Error::InvalidTicket)?,
        expires_at: expires_at.parse().map_err(|_| Error::InvalidTicket)?,
    })
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue))
}
