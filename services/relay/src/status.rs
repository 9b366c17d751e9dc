//! `GET /relay/status`: leadership and the backlog per schema.

use std::sync::atomic::Ordering;

use axum::extract::State;
use gewebe_platform::{Problem, http::extract::Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// Whether this instance holds the relay lock and publishes.
    leader: bool,
    schemas: Vec<SchemaStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct SchemaStatus {
    schema: String,
    pending: i64,
    oldest_pending_age_seconds: f64,
}

/// The relay's state: leadership and the backlog per schema.
#[utoipa::path(get, path = "/relay/status", tag = "relay",
    responses((status = 200, body = Status), (status = 503, description = "PostgreSQL unreachable")))]
pub async fn status(State(app): State<AppState>) -> Result<Json<Status>, Problem> {
    let stats = app.relay.stats().await.map_err(|e| {
        tracing::warn!(error = %e, "outbox stats failed");
        Problem::unavailable(
            "database_unavailable",
            "the outbox cannot be read right now",
            5,
        )
    })?;
    Ok(Json(Status {
        leader: app.relay.state.leader.load(Ordering::Relaxed),
        schemas: stats
            .into_iter()
            .map(|(schema, pending, age)| SchemaStatus {
                schema,
                pending,
                oldest_pending_age_seconds: age,
            })
            .collect(),
    }))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}
