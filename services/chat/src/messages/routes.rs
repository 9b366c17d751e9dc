//! `/chat/conversations/{id}/messages` and `/chat/messages/{id}`.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::{
    auth::AuthUser,
    http::extract::{IfMatch, Json, Path, Query, etag},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::model::{EditMessage, Message, MessagePage, SendMessage};
use crate::{AppState, error::Error, validate};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages after this seq, oldest first (catching up).
    after: Option<i64>,
    /// Messages before this seq (paging back); neither: the newest.
    before: Option<i64>,
    /// 1–200 (default 50).
    limit: Option<i64>,
}

fn with_etag(status: StatusCode, message: Message) -> Response {
    let tag = etag(message.version);
    (status, [(header::ETAG, tag)], Json(message)).into_response()
}

/// A room's messages by seq, both directions (keyset). Node rooms are open to everyone; direct
/// and group rooms to their members.
#[utoipa::path(get, path = "/chat/conversations/{id}/messages", tag = "messages",
    params(("id" = Uuid, Path), HistoryQuery),
    responses(
        (status = 200, body = MessagePage),
        (status = 400, description = "`invalid_path`, `invalid_query`, `invalid_limit`, `invalid_cursor` (both `after` and `before`)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such room, or a private room you are not in", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn history(
    State(app): State<AppState>,
    user: Option<AuthUser>,
    Path(id): Path<Uuid>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<MessagePage>, Error> {
    let limit = validate::limit(q.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let mut tx = app.db.begin().await?;
    super::readable(&mut tx, id, user.map(|u| u.id)).await?;
    let (mut rows, forward) = match (q.after, q.before) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "invalid_cursor",
                "give `after` or `before`, not both",
            ));
        }
        (Some(after), None) => (
            super::store::after(&mut tx, id, after, limit + 1).await?,
            true,
        ),
        (None, before) => (
            super::store::before(&mut tx, id, before, limit + 1).await?,
            false,
        ),
    };
    tx.commit().await?;
    let more = i64::try_from(rows.len()).is_ok_and(|n| n > limit);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    if !forward {
        rows.reverse();
    }
    let edge = if forward { rows.last() } else { rows.first() };
    let next_cursor = more.then(|| edge.map(|r| r.seq.to_string())).flatten();
    Ok(Json(MessagePage {
        items: rows.into_iter().map(Message::from).collect(),
        next_cursor,
    }))
}

/// Sends a message (members only). Idempotent on your `client_msg_id`: a retry returns the same
/// message with 200, never a second one.
#[utoipa::path(post, path = "/chat/conversations/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SendMessage,
    responses(
        (status = 201, body = Message, description = "sent; `ETag` is its version"),
        (status = 200, body = Message, description = "a retry: the message sent before under this `client_msg_id`"),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: join the node room first", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`archived`: the room's node was deleted; `client_msg_id_reused`: you sent this `client_msg_id` in another conversation", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: body 1–4,000 characters, no control characters but newline", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account writes too much (`CHAT_SENDS_PER_SEC`, shared by every write); `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn create(
    State(app): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<SendMessage>,
) -> Result<Response, Error> {
    let sent = super::send(&app, user.id, id, req.client_msg_id, &req.body).await?;
    let status = if sent.fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, sent.message))
}

/// Edits your message. Send `If-Match` with the version you read: 412 if it changed.
#[utoipa::path(patch, path = "/chat/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "the ETag you read")),
    request_body = EditMessage,
    responses(
        (status = 200, body = Message, description = "`ETag` is the new version"),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not your message", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`deleted`, `archived`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account writes too much (`CHAT_SENDS_PER_SEC`, shared by every write); `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn edit(
    State(app): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Json(req): Json<EditMessage>,
) -> Result<Response, Error> {
    let message = super::edit(&app, &user, id, expected, &req.body).await?;
    Ok(with_etag(StatusCode::OK, message))
}

/// Deletes a message (its author or a moderator); a tombstone keeps its place in the history.
#[utoipa::path(delete, path = "/chat/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "deleted (also when it was already)"),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account writes too much (`CHAT_SENDS_PER_SEC`, shared by every write); `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn delete(
    State(app): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    super::delete(&app, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
