//! Nodes (Knoten): places, ideas, resources and each person's `home`.
//! Handlers: `routes` (create, get, update, delete) and `queries` (box, radius, H3 cell); JSON in
//! `model`; where a node is shown in `position`; SQL in `store`; a `home`'s privacy in `homes`.

pub mod homes;
pub mod model;
pub mod position;
pub(crate) mod queries;
pub(crate) mod routes;
pub mod store;

use gewebe_events::outbox::Outbox;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{AppState, edges, error::Error, events};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queries::list, routes::create))
        .routes(routes!(queries::near))
        .routes(routes!(routes::get_one, routes::update, routes::delete))
        .routes(routes!(queries::in_cell))
}

/// Deletes a (locked) node with its edges and records every event; also used by the forget handler.
pub async fn delete_with_edges(
    conn: &mut sqlx::PgConnection,
    outbox: &Outbox,
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
