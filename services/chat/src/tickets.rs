//! `POST /chat/tickets`: a browser cannot send an Authorization header on a WebSocket, so it trades
//! its access token for a short-lived, single-use ticket (`gewebe_platform::tickets`) and opens
//! `/chat/ws?ticket=...`.

use axum::extract::State;
use gewebe_platform::{auth::AuthUser, http::extract::Json, tickets::Ticket};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, error::Error};

/// A ticket for one WebSocket connection, valid for `CHAT_TICKET_TTL_SECS`.
#[utoipa::path(post, path = "/chat/tickets", tag = "chat", security(("bearer" = [])),
    responses(
        (status = 200, body = Ticket),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`ticket_store_unavailable`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn issue(State(app): State<AppState>, user: AuthUser) -> Result<Json<Ticket>, Error> {
    Ok(Json(app.tickets.issue(&user).await?))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue))
}
