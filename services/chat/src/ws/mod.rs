//! `GET /chat/ws`: the WebSocket (subprotocol `gewebe.chat.v1`). The upgrade authenticates (a
//! ticket, or a Bearer header for clients that can send one) and takes a connection slot of the
//! instance and of the account; `session` runs the connection, `writer` writes it, `guard` rations
//! its frames, `protocol` defines them.

pub mod guard;
pub mod peer;
pub mod protocol;
pub mod session;
pub mod writer;

use std::sync::Arc;

use axum::{
    extract::{State, WebSocketUpgrade},
    response::Response,
};
use gewebe_platform::{auth::AuthUser, http::extract::Query};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, error::Error};

/// What one read from a client's socket takes at most.
const READ_BUFFER_BYTES: usize = 2 * 1024;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// From `POST /chat/tickets`; single use. Without it, send `Authorization: Bearer <token>`.
    ticket: Option<String>,
}

/// Opens the chat WebSocket. Frames, close codes and limits: see the service README and this
/// document's description.
#[utoipa::path(get, path = "/chat/ws", tag = "chat", params(WsQuery),
    responses(
        (status = 101, description = "switching to WebSocket, subprotocol `gewebe.chat.v1`"),
        (status = 400, description = "not a WebSocket upgrade request", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_ticket`, `unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account holds `CHAT_MAX_CONNECTIONS_PER_ACCOUNT` connections", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: this instance is full; `ticket_store_unavailable`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn upgrade(
    State(app): State<AppState>,
    user: Option<AuthUser>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, Error> {
    let holder = match (q.ticket.as_deref(), user) {
        (Some(ticket), _) => {
            let h = app.tickets.redeem(ticket).await?;
            session::Holder {
                account: h.account,
                expires_at: h.expires_at,
            }
        }
        (None, Some(u)) => session::Holder {
            account: u.id,
            expires_at: u.expires_at,
        },
        (None, None) => return Err(gewebe_platform::tickets::TicketError::Invalid.into()),
    };
    let instance = Arc::clone(&app.connections)
        .try_acquire_owned()
        .map_err(|_| Error::InstanceFull)?;
    let account = app
        .accounts
        .acquire(holder.account, app.config.chat.max_per_account)
        .ok_or(Error::TooManyConnections)?;
    let max = app.config.chat.max_frame_bytes;
    Ok(ws
        .protocols([protocol::SUBPROTOCOL])
        // tungstenite zero-fills its whole read buffer (128 KiB by default) before the first read,
        // so every idle connection would hold it; clients send small frames, and a larger one
        // (up to the limit) grows the buffer as it arrives.
        .read_buffer_size(READ_BUFFER_BYTES)
        // Every frame is flushed as it is sent (the writer's queue is the batching), so a write
        // buffer never fills: 0 writes each frame at once instead of copying it first.
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| session::run(app, socket, holder, (instance, account))))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}
