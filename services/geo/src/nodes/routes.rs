//! `/geo/nodes...` and `/geo/cells/{h3}/nodes`.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use gewebe_platform::{
    auth::AuthUser,
    http::extract::{IfMatch, Json, Path, etag},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    queries::{in_cell, list, near},
    store::{self, NodeRow},
};
use crate::{
    AppState,
    access::{check_version, limit_writes, may_change, settings_known},
    cells, edges,
    error::Error,
    events,
    validate::{self, LatLon},
};

pub const KINDS: [&str; 4] = ["place", "idea", "resource", "home"];

/// A node as the caller may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Node {
    id: Uuid,
    /// `place`, `idea`, `resource` or `home` (a person's own marker).
    kind: String,
    title: String,
    description: Option<String>,
    tags: Vec<String>,
    /// The exact position for the owner; for everyone else the public one (for a `home` node,
    /// a fixed point within the owner's fuzz radius).
    location: LatLon,
    /// Only in the owner's view of a `home` node whose public position differs: what others see.
    #[serde(skip_serializing_if = "Option::is_none")]
    public_location: Option<LatLon>,
    /// The resolution-15 H3 cell of the public position.
    h3: String,
    /// The owner's account id; `null` when the owner uses role-without-name or was forgotten.
    owner: Option<Uuid>,
    /// True when `owner` is hidden (show the role-without-name placeholder).
    owner_ron: bool,
    /// Also the `ETag`; send it as `If-Match` to change or delete the node.
    version: i64,
    /// Only in radius queries: metres from the query point to the public position.
    #[serde(skip_serializing_if = "Option::is_none")]
    distance_m: Option<f64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

impl From<NodeRow> for Node {
    fn from(r: NodeRow) -> Self {
        let location = LatLon {
            lat: r.lat,
            lon: r.lon,
        };
        let public = LatLon {
            lat: r.public_lat,
            lon: r.public_lon,
        };
        Self {
            id: r.id,
            kind: r.kind,
            title: r.title,
            description: r.description,
            tags: r.tags,
            public_location: (public != location).then_some(public),
            location,
            h3: cells::from_db(r.h3)
                .map(|c| c.to_string())
                .unwrap_or_default(),
            owner: if r.owner_ron { None } else { r.owner_id },
            owner_ron: r.owner_ron,
            version: r.version,
            distance_m: r.distance_m,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodePage {
    pub(super) items: Vec<Node>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub(super) next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNode {
    kind: String,
    /// 1–200 characters.
    title: String,
    /// At most 5,000 characters.
    description: Option<String>,
    /// At most 20 tags of 1–40 characters; stored trimmed and lower-case.
    #[serde(default)]
    tags: Vec<String>,
    location: LatLon,
}

/// Only the fields present change; `description: ""` removes it. The kind cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNode {
    title: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    location: Option<LatLon>,
}

fn with_etag(status: StatusCode, row: NodeRow) -> Response {
    let tag = etag(row.version);
    (status, [(header::ETAG, tag)], Json(Node::from(row))).into_response()
}

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
    let public = super::homes::public_position(&app, id, &req.kind, radius, exact);
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

pub fn h3_of((lat, lon): (f64, f64)) -> Result<i64, Error> {
    cells::cell_of(lat, lon)
        .map(cells::to_db)
        .ok_or_else(|| Error::field("location", "out_of_range", "not a position on Earth"))
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
        let public = super::homes::public_position(&app, id, &node.kind, radius, exact);
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

/// Deletes a (locked) node with its edges and records every event; also used by the forget handler.
pub async fn delete_with_edges(
    conn: &mut sqlx::PgConnection,
    outbox: &gewebe_events::outbox::Outbox,
    id: Uuid,
    actor: Option<Uuid>,
) -> Result<(), Error> {
    let edges = edges::store::delete_at_node(conn, id).await?;
    let mut envelopes = Vec::with_capacity(edges.len() + 1);
    for e in &edges {
        envelopes.push(events::edge_deleted(e, actor)?);
    }
    if let Some(last) = store::delete(conn, id).await? {
        envelopes.push(events::node_deleted(id, last, actor)?);
    }
    outbox.record_many(conn, &envelopes).await?;
    Ok(())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/geo/nodes", get(list).post(create))
        .route("/geo/nodes/near", get(near))
        .route("/geo/nodes/{id}", get(get_one).patch(update).delete(delete))
        .route("/geo/cells/{h3}/nodes", get(in_cell))
}
