//! `/geo/edges...`

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::{
    FieldError,
    auth::AuthUser,
    http::extract::{IfMatch, Json, Path, Query, etag},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::store::{self, EdgeRow};
use crate::{
    AppState,
    access::{check_version, limit_writes, may_change, settings_known},
    cursor,
    error::Error,
    events,
    validate::{self, LatLon},
};

pub const KINDS: [&str; 5] = ["link", "supports", "needs", "offers", "part_of"];

#[derive(Debug, Serialize, ToSchema)]
pub struct Edge {
    id: Uuid,
    from_node: Uuid,
    to_node: Uuid,
    /// `link`, `supports`, `needs`, `offers` or `part_of`.
    kind: String,
    /// Public positions of the endpoints.
    from_location: LatLon,
    to_location: LatLon,
    /// Who drew it; `null` under role-without-name or after a forget.
    owner: Option<Uuid>,
    owner_ron: bool,
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
}

impl From<EdgeRow> for Edge {
    fn from(r: EdgeRow) -> Self {
        Self {
            id: r.id,
            from_node: r.from_node,
            to_node: r.to_node,
            kind: r.kind,
            from_location: LatLon {
                lat: r.from_lat,
                lon: r.from_lon,
            },
            to_location: LatLon {
                lat: r.to_lat,
                lon: r.to_lon,
            },
            owner: if r.owner_ron { None } else { r.owner_id },
            owner_ron: r.owner_ron,
            version: r.version,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEdge {
    from_node: Uuid,
    to_node: Uuid,
    kind: String,
}

/// Draws an edge between two existing nodes.
#[utoipa::path(post, path = "/geo/edges", tag = "edges", security(("bearer" = [])), request_body = CreateEdge,
    responses(
        (status = 201, body = Edge),
        (status = 401, description = "`unauthorized`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: the account was deleted", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`duplicate_edge`: the same edge exists; `privacy_pending` (with `Retry-After`): your latest privacy settings have not reached geo yet, retry the same request", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 422, description = "`validation_failed`: unknown kind, a missing node, or a node to itself", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many writes from this account; `Retry-After` says when to retry", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
pub async fn create(
    State(app): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateEdge>,
) -> Result<Response, Error> {
    limit_writes(&app, &user)?;
    let mut errors = Vec::new();
    if !KINDS.contains(&req.kind.as_str()) {
        errors.push(FieldError::new(
            "kind",
            "unknown_kind",
            "must be one of link, supports, needs, offers, part_of",
        ));
    }
    if req.from_node == req.to_node {
        errors.push(FieldError::new(
            "to_node",
            "same_node",
            "an edge connects two different nodes",
        ));
    }
    validate::finish(errors)?;

    let mut tx = app.db.begin().await?;
    let ((forgotten, known), existing) = {
        let known = crate::nodes::store::account_state(&mut tx, user.id).await?;
        let existing = store::lock_endpoints(&mut tx, req.from_node, req.to_node).await?;
        (known, existing)
    };
    if forgotten {
        return Err(Error::Forbidden("this account was deleted"));
    }
    settings_known(&app, &user, Some(known))?;
    let mut missing = Vec::new();
    for (field, id) in [("from_node", req.from_node), ("to_node", req.to_node)] {
        if !existing.contains(&id) {
            missing.push(FieldError::new(field, "unknown_node", "no such node"));
        }
    }
    validate::finish(missing)?;
    let id = Uuid::now_v7();
    let row = store::insert(&mut tx, id, req.from_node, req.to_node, &req.kind, user.id)
        .await?
        .ok_or_else(|| Error::Conflict {
            code: "duplicate_edge",
            detail: "an edge of this kind between these nodes exists".into(),
        })?;
    app.outbox
        .record(&mut tx, &events::edge_created(&row, user.id)?)
        .await?;
    app.outbox.commit(tx).await?;
    let tag = etag(row.version);
    let mut response = (
        StatusCode::CREATED,
        [(header::ETAG, tag)],
        Json(Edge::from(row)),
    )
        .into_response();
    if let Ok(url) = header::HeaderValue::from_str(&format!("/geo/edges/{id}")) {
        response.headers_mut().insert(header::LOCATION, url);
    }
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EdgePage {
    items: Vec<Edge>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EdgeQuery {
    /// Edges that start or end at this node.
    node_id: Uuid,
    /// 1–500 (default 100).
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The edges at a node (either end), oldest first.
#[utoipa::path(get, path = "/geo/edges", tag = "edges", params(EdgeQuery),
    responses(
        (status = 200, body = EdgePage),
        (status = 400, description = "`invalid_query`, `invalid_limit`, `invalid_cursor`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<EdgeQuery>,
) -> Result<axum::Json<EdgePage>, Error> {
    let limit = validate::limit(q.limit)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| cursor::decode_id("edges", c))
        .transpose()?;
    let mut tx = app.db.begin().await?;
    let rows = store::of_node(&mut tx, q.node_id, after, limit).await?;
    tx.commit().await?;
    let (rows, next_cursor) = cursor::page(rows, limit, |r| cursor::encode_id("edges", r.id));
    Ok(axum::Json(EdgePage {
        items: rows.into_iter().map(Edge::from).collect(),
        next_cursor,
    }))
}

/// One edge.
#[utoipa::path(get, path = "/geo/edges/{id}", tag = "edges", params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Edge),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn get_one(State(app): State<AppState>, Path(id): Path<Uuid>) -> Result<Response, Error> {
    let mut tx = app.db.begin().await?;
    let row = store::get(&mut tx, id).await?;
    tx.commit().await?;
    let row = row.ok_or(Error::NotFound("no such edge"))?;
    Ok(([(header::ETAG, etag(row.version))], Json(Edge::from(row))).into_response())
}

/// Deletes an edge (its owner, a moderator or an admin).
#[utoipa::path(delete, path = "/geo/edges/{id}", tag = "edges", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "the ETag you read")),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "`forbidden`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`privacy_pending` (with `Retry-After`): your latest privacy settings have not reached geo yet, retry the same request", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
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
    let (owner, version, owner_version) = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such edge"))?;
    may_change(&user, owner)?;
    check_version(expected, version)?;
    if owner == Some(user.id) {
        settings_known(&app, &user, owner_version)?;
    }
    if let Some(row) = store::delete(&mut tx, id).await? {
        app.outbox
            .record(&mut tx, &events::edge_deleted(&row, Some(user.id))?)
            .await?;
    }
    app.outbox.commit(tx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
