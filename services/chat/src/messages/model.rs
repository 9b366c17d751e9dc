//! What messages look like as JSON, over REST and in WebSocket frames alike.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::MessageRow;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// The room's sequence: gapless, in commit order. "Everything after seq N" is exact.
    pub seq: i64,
    /// `null`: the role-without-name placeholder (an author who was forgotten from a node room).
    pub author: Option<Uuid>,
    /// `null`: a tombstone (deleted, or its author was forgotten in a direct or group room).
    pub body: Option<String>,
    /// Also the `ETag`; send it as `If-Match` to edit.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Self {
            id: r.id,
            conversation_id: r.conversation_id,
            seq: r.seq,
            author: r.author_id,
            body: r.body,
            version: r.version,
            created_at: r.created_at,
            edited_at: r.edited_at,
            deleted: r.deleted_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first.
    pub items: Vec<Message>,
    /// The seq to pass as the same parameter (`after`, or `before` when paging back) for the next
    /// page in the same direction; `null` when there is none.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// Chosen by the client, once per message: a retry with the same one returns the same message.
    pub client_msg_id: Uuid,
    /// 1–4,000 characters after trimming; no control characters but newline.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    pub body: String,
}
