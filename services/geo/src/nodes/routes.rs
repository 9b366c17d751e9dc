//! The write side of `/geo/nodes...`, and one node by id.

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::{
    auth::AuthUser,
    http::extract::{IfMatch, Json, Path},
};
use uuid::Uuid;

use super::{
    delete_with_edges,
    model::{CreateNode, KINDS, Node, UpdateNode, with_etag},
    position::{h3_of, public_position},
    store,
};
use crate::{
    AppState,
    access::{check_version, limit_writes, may_change, settings_known},
    error::Error,
    events, validate,
};

/// Places a node. A `home` node's public position is fuzzed by the owner's radius (set in auth); geo
/// writes it only once it knows the settings at the version the access token names (`pv`), so a
/// home is never published under settings older than the token's.
#[utoipa::path(post, path = "/geo/nodes", tag = "nodes", security(("bearer" = [])), request_body = CreateNode,
    responses(
        (status = 201, body = Node, description = "created; `ETag` is its version, `Location` its URL"),
        (status = 401, description = "`unauthorized`; `invalid_token`, also for a `home` with a token that predates the `pv` claim (refresh it)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the account was forgotten", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`home_exists`: one home per person; `privacy_pending` (with `Retry-After`): your latest privacy settings (fuzz radius, role-without-name) have not reached geo yet, retry the same request", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 422, description = "`validation_failed`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many writes from this account; `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 503, description = "`auth_unavailable` (a `home` only): auth could not confirm your current privacy settings, so the home is not written; also `overloaded`, `timeout`, `database_busy`, `query_timeout`. `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn create(
    State(app): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    Json(req): Json<CreateNode>,
) -> Result<Response, Error> {
    limit_writes(&app, &user)?;
    let mut errors = Vec::new();
    if !KINDS.contains(&req.kind.as_str()) {
        errors.push(gewebe_platform::FieldError::new(
            "kind",
            "unknown_kind",
            "must be one of place, idea, resource, home",
        ));
    }
    let title = validate::title(&req.title, &mut errors);
    let description = req
        .description
        .as_deref()
        .and_then(|d| validate::description(d, &mut errors));
    let tags = validate::tags(&req.tags, &mut errors);
    validate::location("location", req.location, &mut errors);
    validate::finish(errors)?;

    let id = Uuid::now_v7();
    let current = if req.kind == "home" {
        super::homes::current_version(&app, &headers).await?
    } else {
        0
    };
    let mut tx = app.db.begin().await?;
    // Only a `home` needs its owner's settings before the insert, known and locked. For the other
    // kinds the insert itself refuses a deleted account, and settings older than the token's (the
    // event names the owner unless they chose role-without-name): one statement less on the
    // busiest write. A token from before `pv` (an older auth) writes them as before.
    let radius = if req.kind == "home" {
        super::homes::radius(&app, &mut tx, &user, current).await?
    } else {
        0
    };
    let privacy_version = user.privacy_version.unwrap_or(0);
    let exact = (req.location.lat, req.location.lon);
    let public = public_position(&app, id, &req.kind, radius, exact);
    let h3 = h3_of(public)?;
    let new = store::NewNode {
        id,
        owner_id: user.id,
        kind: &req.kind,
        title: &title,
        description: description.as_deref(),
        tags: &tags,
        location: exact,
        public_location: public,
        h3,
        privacy_version,
    };
    let event = events::node_created(&new, user.id)?;
    let Some(row) = store::insert(&mut tx, &new, &event).await? else {
        return Err(
            match store::refusal(&mut tx, user.id, privacy_version).await? {
                store::Refusal::Forgotten => Error::Forbidden("this account was deleted"),
                store::Refusal::SettingsPending => {
                    app.metrics.refused("privacy_pending");
                    Error::PrivacyPending
                }
                store::Refusal::HomeExists => Error::Conflict {
                    code: "home_exists",
                    detail: "you already have a home node; move it with PATCH instead".into(),
                },
            },
        );
    };
    // The event is in the outbox already (written by the insert).
    app.outbox.commit(tx).await?;
    let mut response = with_etag(StatusCode::CREATED, row);
    if let Ok(url) = header::HeaderValue::from_str(&format!("/geo/nodes/{id}")) {
        response.headers_mut().insert(header::LOCATION, url);
    }
    Ok(response)
}

/// One node. Its owner sees a `home` node's exact position; everyone else the public one.
#[utoipa::path(get, path = "/geo/nodes/{id}", tag = "nodes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Node, description = "`ETag` is its version"),
        (status = 400, description = "`invalid_path`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(app): State<AppState>,
    user: Option<AuthUser>,
    Path(id): Path<Uuid>,
) -> Result<Response, Error> {
    let mut tx = app.db.begin().await?;
    let row = store::get(&mut tx, id, user.map(|u| u.id)).await?;
    tx.commit().await?;
    Ok(with_etag(
        StatusCode::OK,
        row.ok_or(Error::NotFound("no such node"))?,
    ))
}

/// Changes a node. Send `If-Match` with the version you read: 412 `version_mismatch` if it changed.
/// Changes of your own nodes wait for your privacy settings like a create; only its owner may move
/// a `home`.
#[utoipa::path(patch, path = "/geo/nodes/{id}", tag = "nodes", security(("bearer" = [])), request_body = UpdateNode,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "the ETag you read")),
    responses(
        (status = 200, body = Node, description = "`ETag` is the new version"),
        (status = 401, description = "`unauthorized`; `invalid_token`, also for your `home` with a token that predates the `pv` claim (refresh it)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not yours, or a moderator moving someone's `home`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`privacy_pending` (with `Retry-After`): a change of your own node waits until your latest privacy settings (fuzz radius, role-without-name) reached geo; retry the same request", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 412, description = "`version_mismatch`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many writes from this account; `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 503, description = "`auth_unavailable` (a `home` only): auth could not confirm your current privacy settings, so the home is not written; also `overloaded`, `timeout`, `database_busy`, `query_timeout`. `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn update(
    State(app): State<AppState>,
    user: AuthUser,
    headers: axum::http::HeaderMap,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
    Json(req): Json<UpdateNode>,
) -> Result<Response, Error> {
    limit_writes(&app, &user)?;
    let mut errors = Vec::new();
    let mut changes = store::Changes {
        title: req
            .title
            .as_deref()
            .map(|t| validate::title(t, &mut errors)),
        description: req
            .description
            .as_deref()
            .map(|d| validate::description(d, &mut errors)),
        tags: req.tags.as_deref().map(|t| validate::tags(t, &mut errors)),
        location: None,
    };
    if let Some(l) = req.location {
        validate::location("location", l, &mut errors);
    }
    if req.title.is_none()
        && req.description.is_none()
        && req.tags.is_none()
        && req.location.is_none()
    {
        errors.push(gewebe_platform::FieldError::new(
            "",
            "empty",
            "name at least one of title, description, tags, location",
        ));
    }
    validate::finish(errors)?;

    // Only a move of the caller's own home places it under the radius: then auth is asked first,
    // outside the transaction below (which reads owner and kind again; a node's kind never
    // changes). Every other change skips the extra read.
    let current = if req.location.is_none() {
        0
    } else {
        let mut tx = app.db.begin().await?;
        let found = store::owner_and_kind(&mut tx, id).await?;
        tx.commit().await?;
        match found {
            Some((Some(owner), kind)) if kind == "home" && owner == user.id => {
                super::homes::current_version(&app, &headers).await?
            }
            _ => 0,
        }
    };
    let mut tx = app.db.begin().await?;
    // The owner's settings before the node: the lock order of the account consumer.
    let (owner, kind) = store::owner_and_kind(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such node"))?;
    let radius = if kind == "home" && owner == Some(user.id) {
        super::homes::radius(&app, &mut tx, &user, current).await?
    } else if kind == "home" && req.location.is_some() {
        // Nobody but its owner knows where a home really is.
        may_change(&user, owner)?;
        return Err(Error::Forbidden("only its owner may move a home"));
    } else {
        0
    };
    let node = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such node"))?;
    may_change(&user, node.owner_id)?;
    check_version(expected, node.version)?;
    if node.owner_id == Some(user.id) {
        settings_known(&app, &user, node.owner_version)?;
    }
    if let Some(l) = req.location {
        let exact = (l.lat, l.lon);
        let public = public_position(&app, id, &node.kind, radius, exact);
        changes.location = Some((exact, public, h3_of(public)?));
    }
    let row = store::update(&mut tx, id, &changes, user.id).await?;
    app.outbox
        .record(&mut tx, &events::node_updated(&row, Some(user.id))?)
        .await?;
    app.outbox.commit(tx).await?;
    Ok(with_etag(StatusCode::OK, row))
}

/// Deletes a node and its edges (each with its event). `If-Match` is honoured when sent.
#[utoipa::path(delete, path = "/geo/nodes/{id}", tag = "nodes", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "the ETag you read")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`privacy_pending` (with `Retry-After`): deleting your own node waits until your latest privacy settings reached geo; retry the same request", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 412, description = "`version_mismatch`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many writes from this account; `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn delete(
    State(app): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    IfMatch(expected): IfMatch,
) -> Result<Response, Error> {
    limit_writes(&app, &user)?;
    let mut tx = app.db.begin().await?;
    let node = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such node"))?;
    may_change(&user, node.owner_id)?;
    check_version(expected, node.version)?;
    if node.owner_id == Some(user.id) {
        settings_known(&app, &user, node.owner_version)?;
    }
    // Events about a home, or about the node of someone using role-without-name, name nobody: the
    // actor of a home's deletion (and of its edges') is, nearly always, the person living there.
    let actor = events::names_actor(&node.kind, node.owner_ron).then_some(user.id);
    delete_with_edges(&mut tx, &app.outbox, id, actor).await?;
    app.outbox.commit(tx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
