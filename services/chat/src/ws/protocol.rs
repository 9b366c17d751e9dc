//! The frames of subprotocol `gewebe.chat.v1`: JSON text, each with `type`. The service README
//! documents them; this file is their definition.

use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::messages::model::Message;

pub const SUBPROTOCOL: &str = "gewebe.chat.v1";

/// Client → server.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Live messages of a room you are a member of; with `after`, its history after that seq first,
    /// with no gap and no duplicate at the seam.
    Subscribe {
        conversation_id: Uuid,
        after: Option<i64>,
    },
    Unsubscribe {
        conversation_id: Uuid,
    },
    /// Answered with `ack` (or `error` with `ref` = the `client_msg_id`); a retry with the same
    /// `client_msg_id` is acknowledged with the same message.
    Send {
        conversation_id: Uuid,
        client_msg_id: Uuid,
        body: String,
    },
    Typing {
        conversation_id: Uuid,
    },
    Read {
        conversation_id: Uuid,
        seq: i64,
    },
    /// A fresh access token of the same account, before the current one expires (after `reauth`).
    Auth {
        access_token: String,
    },
    Ping,
}

fn text(value: &serde_json::Value) -> String {
    value.to_string()
}

pub fn message(m: &Message) -> String {
    text(&json!({ "type": "message", "message": m }))
}

pub fn edited(m: &Message) -> String {
    text(&json!({ "type": "message_edited", "message": m }))
}

pub fn deleted(m: &Message) -> String {
    text(&json!({ "type": "message_deleted", "message": m }))
}

pub fn ack(client_msg_id: Uuid, id: Uuid, seq: i64) -> String {
    text(&json!({ "type": "ack", "client_msg_id": client_msg_id, "id": id, "seq": seq }))
}

pub fn subscribed(conversation_id: Uuid, seq: i64) -> String {
    text(&json!({ "type": "subscribed", "conversation_id": conversation_id, "seq": seq }))
}

pub fn typing(conversation_id: Uuid, account_id: Uuid) -> String {
    text(&json!({ "type": "typing", "conversation_id": conversation_id, "account_id": account_id }))
}

pub fn read(conversation_id: Uuid, account_id: Uuid, seq: i64) -> String {
    text(&json!({
        "type": "read", "conversation_id": conversation_id, "account_id": account_id, "seq": seq,
    }))
}

pub fn presence(conversation_id: Uuid, online: &std::collections::BTreeSet<Uuid>) -> String {
    text(&json!({ "type": "presence", "conversation_id": conversation_id, "online": online }))
}

pub fn reauth(expires_at: i64) -> String {
    text(&json!({ "type": "reauth", "expires_at": expires_at }))
}

pub fn pong() -> String {
    text(&json!({ "type": "pong" }))
}

/// `error`: `ref` names the frame it answers (a `send`'s `client_msg_id`), when there is one.
pub fn error(
    code: &str,
    detail: &str,
    conversation_id: Option<Uuid>,
    reference: Option<Uuid>,
) -> String {
    let mut frame = json!({ "type": "error", "code": code, "detail": detail });
    if let Some(c) = conversation_id {
        frame["conversation_id"] = json!(c);
    }
    if let Some(r) = reference {
        frame["ref"] = json!(r);
    }
    text(&frame)
}

/// You were removed from the room (or left it on another connection): no more of its frames.
pub fn removed(conversation_id: Uuid) -> std::sync::Arc<str> {
    error(
        "removed",
        "you are no longer a member of this conversation",
        Some(conversation_id),
        None,
    )
    .into()
}
