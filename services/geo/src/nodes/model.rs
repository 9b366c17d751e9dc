//! What `/geo/nodes...` reads and writes as JSON.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::http::extract::{Json, etag};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::NodeRow;
use crate::{cells, validate::LatLon};

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
    pub kind: String,
    /// 1–200 characters.
    pub title: String,
    /// At most 5,000 characters.
    pub description: Option<String>,
    /// At most 20 tags of 1–40 characters; stored trimmed and lower-case.
    #[serde(default)]
    pub tags: Vec<String>,
    pub location: LatLon,
}

/// Only the fields present change; `description: ""` removes it. The kind cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNode {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub location: Option<LatLon>,
}

/// A node as JSON with its version as the `ETag`.
pub fn with_etag(status: StatusCode, row: NodeRow) -> Response {
    let tag = etag(row.version);
    (status, [(header::ETAG, tag)], Json(Node::from(row))).into_response()
}
