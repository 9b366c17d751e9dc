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

/// A new conversation. Node rooms are public (the room belongs to a place on the map); direct and
/// group rooms are internal, so no client sees that they exist through the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationCreated {
    pub conversation_id: Uuid,
    /// `node`, `direct` or `group`.
    pub kind: String,
    pub node_id: Option<Uuid>,
}
event!(
    ConversationCreated,
    "conversation.created",
    "conversation",
    Visibility::Internal
);

/// Someone joined a room. Internal: who talks where is for the room's members, over chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberJoined {
    pub conversation_id: Uuid,
    pub account_id: Uuid,
}
event!(
    MemberJoined,
    "member.joined",
    "conversation",
    Visibility::Internal
);

/// Someone left a room, or was removed; open connections of theirs are unsubscribed at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLeft {
    pub conversation_id: Uuid,
    pub account_id: Uuid,
}
event!(
    MemberLeft,
    "member.left",
    "conversation",
    Visibility::Internal
);

/// A message, by id and room sequence only: bodies never enter the event stream (clients and
/// chat instances read them from chat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageCreated {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub seq: i64,
}
event!(
    MessageCreated,
    "message.created",
    "conversation",
    Visibility::Internal
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEdited {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub seq: i64,
    /// The message's own version after the edit.
    pub version: i64,
}
event!(
    MessageEdited,
    "message.edited",
    "conversation",
    Visibility::Internal
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeleted {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    pub seq: i64,
}
event!(
    MessageDeleted,
    "message.deleted",
    "conversation",
    Visibility::Internal
);
