//! `/chat/conversations...`

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use gewebe_events::{
    Envelope,
    types::{ConversationCreated, MemberJoined, MemberLeft},
};
use gewebe_platform::{
    auth::{AuthUser, Role},
    http::extract::{Json, Path, Query},
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{
    model::{
        AddMember, Conversation, ConversationPage, CreateConversation, MAX_GROUP_MEMBERS,
        MAX_GROUP_PARTICIPANTS, MAX_TITLE_CHARS, Members,
    },
    store::{self, ConversationRow, NewConversation},
};
use crate::{
    AppState, cursor,
    error::Error,
    events,
    live::{self, Live},
    messages, validate,
};

type Problem = gewebe_platform::http::problem::ProblemBody;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1–100 (default 50).
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Your conversations, most recent activity first.
#[utoipa::path(get, path = "/chat/conversations", tag = "conversations", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = ConversationPage),
        (status = 400, description = "`invalid_query`, `invalid_limit`, `invalid_cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(app): State<AppState>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<ConversationPage>, Error> {
    let limit = validate::limit(q.limit, 50, 100)?;
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut tx = app.db.begin().await?;
    let mut rows = store::mine(&mut tx, user.id, after, limit).await?;
    tx.commit().await?;
    let more = i64::try_from(rows.len()).is_ok_and(|n| n > limit);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| cursor::encode(r.last_activity_at, r.id))
        })
        .flatten();
    Ok(Json(ConversationPage {
        items: rows.into_iter().map(Conversation::from).collect(),
        next_cursor,
    }))
}

/// Opens a room: a node's (at most one per node: a second create returns it with 200), a direct
/// talk with one other account (one per pair, likewise), or a group of up to 100 others.
#[utoipa::path(post, path = "/chat/conversations", tag = "conversations", security(("bearer" = [])),
    request_body = CreateConversation,
    responses(
        (status = 201, body = Conversation, description = "created; `Location` is its URL"),
        (status = 200, body = Conversation, description = "the node's or the pair's existing room"),
        (status = 401, description = "`unauthorized`, `invalid_token`, `account_forgotten` (the token's account was deleted)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such node, or the direct room's other account was deleted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account writes too much (`CHAT_SENDS_PER_SEC`, shared by every write); `Retry-After` says when to retry", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 503, description = "`geo_unavailable`: the node cannot be checked right now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(app): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateConversation>,
) -> Result<Response, Error> {
    messages::limit_writes(&app, user.id)?;
    let mut errors = Vec::new();
    let mut others: Vec<Uuid> = req.participants.clone();
    others.sort_unstable();
    others.dedup();
    others.retain(|p| *p != user.id);
    let title = req
        .title
        .as_deref()
        .map(|t| validate::title(t, MAX_TITLE_CHARS, &mut errors));
    let field =
        |name: &str, code: &str, msg: &str| gewebe_platform::FieldError::new(name, code, msg);
    match req.kind.as_str() {
        "node" => {
            if req.node_id.is_none() {
                errors.push(field("node_id", "required", "a node room names its node"));
            }
            if !req.participants.is_empty() || title.is_some() {
                errors.push(field(
                    "participants",
                    "not_allowed",
                    "node rooms take no participants or title; members join themselves",
                ));
            }
        }
        "direct" => {
            if others.len() != 1 || req.participants.len() != 1 {
                errors.push(field(
                    "participants",
                    "count",
                    "a direct room names exactly one other account",
                ));
            }
            if req.node_id.is_some() || title.is_some() {
                errors.push(field(
                    "node_id",
                    "not_allowed",
                    "direct rooms have no node and no title",
                ));
            }
        }
        "group" => {
            if others.is_empty() || req.participants.len() > MAX_GROUP_PARTICIPANTS {
                errors.push(field(
                    "participants",
                    "count",
                    "a group names 1 to 100 other accounts",
                ));
            }
            if req.node_id.is_some() {
                errors.push(field("node_id", "not_allowed", "groups have no node"));
            }
        }
        _ => errors.push(field(
            "kind",
            "unknown_kind",
            "must be one of node, direct, group",
        )),
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if let Some(node) = req.node_id {
        node_exists(&app, node).await?;
    }
    let pair = (req.kind == "direct").then(|| {
        let mut pair = [user.id, others.first().copied().unwrap_or(user.id)];
        pair.sort_unstable();
        pair
    });
    let new = NewConversation {
        id: Uuid::now_v7(),
        kind: &req.kind,
        node_id: req.node_id,
        direct_pair: pair,
        title: title.as_deref(),
        creator: user.id,
    };
    let mut tx = app.db.begin().await?;
    let mut everyone = vec![user.id];
    everyone.extend(&others);
    crate::messages::store::hold_accounts(&mut tx, &everyone).await?;
    if crate::messages::store::is_forgotten(&mut tx, user.id).await? {
        return Err(Error::AccountForgotten);
    }
    let Some(row) = store::insert(&mut tx, &new).await? else {
        let existing = match (req.node_id, pair) {
            (Some(node), _) => store::by_node(&mut tx, node).await?,
            (None, Some(pair)) => store::by_pair(&mut tx, pair).await?,
            (None, None) => None,
        };
        tx.commit().await?;
        let existing = existing.ok_or(Error::NotFound("no such conversation"))?;
        return Ok((StatusCode::OK, Json(Conversation::from(existing))).into_response());
    };
    let mut members = vec![user.id];
    if req.kind != "node" {
        members.extend(others);
    }
    let added = store::add_members(&mut tx, row.id, &members).await?;
    if req.kind == "direct" && added.len() < 2 {
        // The other account was forgotten (members never take a forgotten account).
        tx.rollback().await?;
        return Err(Error::NotFound("no such account"));
    }
    let mut envelopes = vec![events::envelope(
        row.id,
        &row.kind,
        row.version,
        &ConversationCreated {
            conversation_id: row.id,
            kind: row.kind.clone(),
            node_id: row.node_id,
        },
    )?];
    for account in added {
        envelopes.push(joined(&mut tx, &row, account).await?);
    }
    app.outbox.record_many(&mut tx, &envelopes).await?;
    app.outbox.commit(tx).await?;
    let mut response = (StatusCode::CREATED, Json(Conversation::from(row.clone()))).into_response();
    if let Ok(url) = header::HeaderValue::from_str(&format!("/chat/conversations/{}", row.id)) {
        response.headers_mut().insert(header::LOCATION, url);
    }
    Ok(response)
}

async fn joined(
    conn: &mut sqlx::PgConnection,
    room: &ConversationRow,
    account: Uuid,
) -> Result<Envelope, Error> {
    let version = store::bump(conn, room.id).await?;
    let event = MemberJoined {
        conversation_id: room.id,
        account_id: account,
    };
    Ok(events::envelope(room.id, &room.kind, version, &event)?)
}

/// Asks geo whether the node exists (anonymously: a node that exists is public).
async fn node_exists(app: &AppState, node: Uuid) -> Result<(), Error> {
    let url = format!(
        "{}/geo/nodes/{node}",
        app.config.chat.geo_url.trim_end_matches('/')
    );
    match app.geo_http.get(url).send().await.map(|r| r.status()) {
        Ok(s) if s.is_success() => Ok(()),
        Ok(reqwest::StatusCode::NOT_FOUND) => Err(Error::NotFound("no such node")),
        Ok(s) => Err(Error::GeoUnavailable(format!("geo answered {s}"))),
        Err(e) => Err(Error::GeoUnavailable(
            if e.is_timeout() {
                "timeout"
            } else {
                "unreachable"
            }
            .to_owned(),
        )),
    }
}

/// One room: node rooms for everyone, direct and group rooms for their members.
#[utoipa::path(get, path = "/chat/conversations/{id}", tag = "conversations",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Conversation),
        (status = 400, description = "`invalid_path`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such room, or a private room you are not in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(app): State<AppState>,
    user: Option<AuthUser>,
    Path(id): Path<Uuid>,
) -> Result<Json<Conversation>, Error> {
    let mut tx = app.db.begin().await?;
    let row = messages::readable(&mut tx, id, user.map(|u| u.id)).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Who is in the room (members only).
#[utoipa::path(get, path = "/chat/conversations/{id}/members", tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Members),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such room, or you are not in it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn members(
    State(app): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Members>, Error> {
    let mut tx = app.db.begin().await?;
    if !store::is_member(&mut tx, id, user.id).await? {
        return Err(Error::NotFound("no such conversation"));
    }
    let members = store::members(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(Members {
        conversation_id: id,
        members,
    }))
}

/// Joins a node room yourself, or (its creator) adds someone to a group.
#[utoipa::path(post, path = "/chat/conversations/{id}/members", tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AddMember,
    responses(
        (status = 200, body = Members, description = "the members now (a deleted account is never added)"),
        (status = 401, description = "`unauthorized`, `invalid_token`, `account_forgotten` (the token's account was deleted)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: only a group's creator adds; nobody joins a direct room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`archived`, `group_full` (101 members)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account writes too much (`CHAT_SENDS_PER_SEC`, shared by every write); `Retry-After` says when to retry", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn add_member(
    State(app): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(req): Json<AddMember>,
) -> Result<Json<Members>, Error> {
    let who = req.account_id.unwrap_or(user.id);
    messages::limit_writes(&app, user.id)?;
    let mut tx = app.db.begin().await?;
    messages::store::hold_accounts(&mut tx, &[user.id, who]).await?;
    if messages::store::is_forgotten(&mut tx, user.id).await? {
        return Err(Error::AccountForgotten);
    }
    let room = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such conversation"))?;
    let caller_member = store::is_member(&mut tx, id, user.id).await?;
    match room.kind.as_str() {
        "node" if who == user.id => {}
        "node" => return Err(Error::Forbidden("in a node room everyone joins themselves")),
        "group" if caller_member && room.creator_id == Some(user.id) => {
            if store::member_count(&mut tx, id).await? >= MAX_GROUP_MEMBERS {
                return Err(Error::Conflict {
                    code: "group_full",
                    detail: format!("a group holds at most {MAX_GROUP_MEMBERS} members"),
                });
            }
        }
        _ if !caller_member => return Err(Error::NotFound("no such conversation")),
        _ => return Err(Error::Forbidden("only a group's creator adds members")),
    }
    if room.archived_at.is_some() {
        return Err(Error::Conflict {
            code: "archived",
            detail: "the conversation is archived".into(),
        });
    }
    if !store::add_members(&mut tx, id, &[who]).await?.is_empty() {
        let envelope = joined(&mut tx, &room, who).await?;
        app.outbox.record(&mut tx, &envelope).await?;
    }
    let members = store::members(&mut tx, id).await?;
    app.outbox.commit(tx).await?;
    Ok(Json(Members {
        conversation_id: id,
        members,
    }))
}

/// Leaves a room, or removes someone (a group's creator, or a moderator). Open connections of the
/// removed account stop receiving the room at once.
#[utoipa::path(delete, path = "/chat/conversations/{id}/members/{account_id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("account_id" = Uuid, Path)),
    responses(
        (status = 204, description = "not a member (any more)"),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this account writes too much (`CHAT_SENDS_PER_SEC`, shared by every write); `Retry-After` says when to retry", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn remove_member(
    State(app): State<AppState>,
    user: AuthUser,
    Path((id, account)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, Error> {
    messages::limit_writes(&app, user.id)?;
    let mut tx = app.db.begin().await?;
    let room = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such conversation"))?;
    let moderator = user.has_role(Role::Moderator);
    if !moderator && !room.is_public() && !store::is_member(&mut tx, id, user.id).await? {
        return Err(Error::NotFound("no such conversation"));
    }
    let creator = room.kind == "group" && room.creator_id == Some(user.id);
    if account != user.id && !creator && !moderator {
        return Err(Error::Forbidden(
            "only the member, a group's creator or a moderator removes a member",
        ));
    }
    if store::remove_member(&mut tx, id, account).await? {
        let version = store::bump(&mut tx, id).await?;
        let event = MemberLeft {
            conversation_id: id,
            account_id: account,
        };
        let envelope = events::envelope(id, &room.kind, version, &event)?;
        app.outbox.record(&mut tx, &envelope).await?;
        app.outbox.commit(tx).await?;
        live::publish(
            &app,
            Live::MemberLeft {
                conversation_id: id,
                account_id: account,
            },
        );
    } else {
        tx.commit().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
