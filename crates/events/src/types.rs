//! The events gewebe's services exchange. Payloads hold ids and public fields only.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Event, Location, Visibility};

macro_rules! event {
    ($ty:ident, $name:literal, $aggregate:literal, $visibility:expr) => {
        impl Event for $ty {
            const TYPE: &'static str = $name;
            const SCHEMA_VERSION: u32 = 1;
            const AGGREGATE: &'static str = $aggregate;
            const VISIBILITY: Visibility = $visibility;
        }
    };
}

/// A new account; only its id (no e-mail, no name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRegistered {
    pub account_id: Uuid,
}
event!(
    AccountRegistered,
    "account.registered",
    "account",
    Visibility::Internal
);

/// Privacy settings others must apply: the fuzz radius of the `home` node and role-without-name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountUpdated {
    pub account_id: Uuid,
    pub fuzz_radius_m: u32,
    pub ron: bool,
}
event!(
    AccountUpdated,
    "account.updated",
    "account",
    Visibility::Private
);

/// DSGVO forget: every service removes or pseudonymises this account's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountForgotten {
    pub account_id: Uuid,
}
event!(
    AccountForgotten,
    "account.forgotten",
    "account",
    Visibility::Internal
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeCreated {
    pub node_id: Uuid,
    pub kind: String,
    pub title: String,
    /// The public position (fuzzed for `home` nodes).
    pub location: Location,
    pub h3: String,
    /// The owner, or `None` when the owner uses role-without-name.
    pub owner: Option<Uuid>,
}
event!(NodeCreated, "node.created", "node", Visibility::Public);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeUpdated {
    pub node_id: Uuid,
    pub kind: String,
    pub title: String,
    /// The public position (fuzzed for `home` nodes).
    pub location: Location,
    pub h3: String,
}
event!(NodeUpdated, "node.updated", "node", Visibility::Public);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDeleted {
    pub node_id: Uuid,
}
event!(NodeDeleted, "node.deleted", "node", Visibility::Public);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeCreated {
    pub edge_id: Uuid,
    pub from_node: Uuid,
    pub to_node: Uuid,
    pub kind: String,
    pub from_location: Location,
    pub to_location: Location,
}
event!(EdgeCreated, "edge.created", "edge", Visibility::Public);

/// Carries both endpoints' public positions, like `edge.created`, so a map scoped by area can drop it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeDeleted {
    pub edge_id: Uuid,
    pub from_node: Uuid,
    pub to_node: Uuid,
    pub from_location: Location,
    pub to_location: Location,
}
event!(EdgeDeleted, "edge.deleted", "edge", Visibility::Public);
