//! What `/chat/conversations...` reads and writes as JSON.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::ConversationRow;

/// The most accounts a group names at its creation (the creator comes on top).
pub const MAX_GROUP_PARTICIPANTS: usize = 100;
/// The most members a group holds, its creator included.
pub const MAX_GROUP_MEMBERS: i64 = 101;
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    /// `node` (a node's room: anyone may read and join), `direct` (two people) or `group`.
    pub kind: String,
    /// The node of a node room.
    pub node_id: Option<Uuid>,
    pub title: Option<String>,
    /// Who created a direct or group room (`null` for node rooms).
    pub creator: Option<Uuid>,
    /// The seq of the room's newest message; `GET .../messages?after=` from a lower one.
    pub last_seq: i64,
    /// A node room whose node was deleted: readable, but it takes no new messages.
    pub archived: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<ConversationRow> for Conversation {
    fn from(r: ConversationRow) -> Self {
        Self {
            creator: if r.kind == "node" { None } else { r.creator_id },
            id: r.id,
            kind: r.kind,
            node_id: r.node_id,
            title: r.title,
            last_seq: r.last_seq,
            archived: r.archived_at.is_some(),
            last_activity_at: r.last_activity_at,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<Conversation>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    /// `node`, `direct` or `group`.
    pub kind: String,
    /// Required for `node`, refused otherwise.
    pub node_id: Option<Uuid>,
    /// `direct`: exactly one other account; `group`: 1–100 accounts; `node`: none.
    #[serde(default)]
    pub participants: Vec<Uuid>,
    /// `group` only; 1–200 characters.
    pub title: Option<String>,
}

/// `POST /chat/conversations/{id}/members`: in a node room, join yourself (`{}`, or your own id);
/// in a group, its creator adds someone.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Members {
    pub conversation_id: Uuid,
    pub members: Vec<Uuid>,
}
