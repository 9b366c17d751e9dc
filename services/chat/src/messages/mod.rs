//! Messages: sending (REST and WebSocket alike), editing, deleting, and the history. Handlers in
//! `routes`, JSON in `model`, SQL in `store`.

pub mod model;
pub(crate) mod routes;
pub mod store;

use gewebe_events::types::{MessageCreated, MessageDeleted, MessageEdited};
use gewebe_platform::auth::{AuthUser, Role};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use self::model::Message;
use crate::{
    AppState,
    conversations::store::{self as rooms, ConversationRow},
    error::Error,
    events,
    live::{self, Live},
    validate,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::history, routes::create))
        .routes(routes!(routes::edit, routes::delete))
}

pub struct Sent {
    pub message: Message,
    /// `false` for a retry: the message was sent before under the same `client_msg_id`.
    pub fresh: bool,
}

/// Sends a message: the room is locked, so its seq is the next one and commits in order; the
/// message and its `message.created` event commit together; then the live path carries it.
/// Idempotent on (author, `client_msg_id`). Two statements besides `BEGIN` and `COMMIT` (each is
/// two round trips through PgBouncer): the room's checks, then the message with its event, which
/// is rendered for the seq and version the locked room gives next.
pub async fn send(
    app: &AppState,
    author: Uuid,
    room: Uuid,
    client_msg_id: Uuid,
    body: &str,
) -> Result<Sent, Error> {
    let body = validate::body(body)?;
    limit_writes(app, author)?;
    let mut tx = app.db.begin().await?;
    let check = store::prepare_send(&mut tx, room, author, client_msg_id)
        .await?
        .ok_or(Error::NotFound("no such conversation"))?;
    if !check.is_member {
        return Err(if check.kind == "node" {
            Error::Forbidden("join the conversation first")
        } else {
            Error::NotFound("no such conversation")
        });
    }
    // A retry, checked once the caller is known to be in the room: an earlier message answers only
    // in the room it was sent to.
    if let Some(earlier) = check.earlier {
        let earlier = store::get(&mut tx, earlier).await?;
        tx.commit().await?;
        let earlier = earlier.ok_or(Error::NotFound("no such message"))?;
        if earlier.conversation_id != room {
            return Err(Error::Conflict {
                code: "client_msg_id_reused",
                detail: "this client_msg_id was used for a message in another conversation".into(),
            });
        }
        return Ok(Sent {
            message: earlier.into(),
            fresh: false,
        });
    }
    if check.archived_at.is_some() {
        return Err(archived());
    }
    let id = Uuid::now_v7();
    let (seq, version) = (check.last_seq + 1, check.version + 1);
    let event = MessageCreated {
        conversation_id: room,
        message_id: id,
        seq,
    };
    let envelope = events::envelope(room, &check.kind, version, &event)?;
    let payload = envelope.to_vec()?;
    let new = store::NewMessage {
        room,
        id,
        author,
        client_msg_id,
        body: &body,
        event: &envelope,
        payload: &payload,
    };
    let Some((row, written_version)) = store::insert(&mut tx, &new).await? else {
        // Either the same send committed meanwhile (a retry that raced it: answer with that one),
        // or the author was removed while this send waited for the room. The rollback gives the
        // seq back.
        tx.rollback().await?;
        return Box::pin(after_refused_insert(
            app,
            author,
            room,
            client_msg_id,
            &check.kind,
        ))
        .await;
    };
    if row.seq != seq || written_version != version {
        // Cannot happen while the room is locked; if it did, the event would name the wrong seq.
        tx.rollback().await?;
        tracing::error!(%room, seq, written = row.seq, "a send's seq moved under the room's lock");
        return Err(Error::Conflict {
            code: "send_conflict",
            detail: "the message could not be sent; retry".into(),
        });
    }
    app.outbox.commit(tx).await?;
    app.metrics.sent.inc();
    let message: Message = row.into();
    live::publish(
        app,
        Live::Message {
            message: message.clone(),
        },
    );
    Ok(Sent {
        message,
        fresh: true,
    })
}

/// Why an insert wrote nothing: an earlier send with this `client_msg_id` (answered as a retry, in
/// its own room only), or the author is no longer in the room.
async fn after_refused_insert(
    app: &AppState,
    author: Uuid,
    room: Uuid,
    client_msg_id: Uuid,
    kind: &str,
) -> Result<Sent, Error> {
    let mut tx = app.db.begin().await?;
    let earlier = store::by_client_id(&mut tx, author, client_msg_id).await?;
    tx.commit().await?;
    match earlier {
        Some(earlier) if earlier.conversation_id == room => Ok(Sent {
            message: earlier.into(),
            fresh: false,
        }),
        Some(_) => Err(Error::Conflict {
            code: "client_msg_id_reused",
            detail: "this client_msg_id was used for a message in another conversation".into(),
        }),
        None if kind == "node" => Err(Error::Forbidden("join the conversation first")),
        None => Err(Error::NotFound("no such conversation")),
    }
}

/// One write from the account's bucket (`CHAT_SENDS_PER_SEC`): sends, edits, deletions, rooms and
/// memberships draw on the same one, so no kind of write floods a room or the event stream.
pub fn limit_writes(app: &AppState, account: Uuid) -> Result<(), Error> {
    app.sends.take(account).map_err(|wait| Error::RateLimited {
        retry_after_secs: u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            .unwrap_or(u32::MAX)
            .max(1),
    })
}

/// Changes a message's body: its author only, at the version read (`If-Match`, when sent).
pub async fn edit(
    app: &AppState,
    user: &AuthUser,
    id: Uuid,
    expected: Option<i64>,
    body: &str,
) -> Result<Message, Error> {
    let body = validate::body(body)?;
    limit_writes(app, user.id)?;
    let mut tx = app.db.begin().await?;
    let current = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such message"))?;
    let conversation = readable(&mut tx, current.conversation_id, Some(user.id)).await?;
    if current.author_id != Some(user.id) {
        return Err(Error::Forbidden("only its author may edit a message"));
    }
    if current.deleted_at.is_some() {
        return Err(Error::Conflict {
            code: "deleted",
            detail: "a deleted message cannot be edited".into(),
        });
    }
    if conversation.archived_at.is_some() {
        return Err(archived());
    }
    if expected.is_some_and(|v| v != current.version) {
        return Err(Error::VersionMismatch);
    }
    let row = store::edit(&mut tx, id, &body).await?;
    let version = rooms::bump(&mut tx, conversation.id).await?;
    let event = MessageEdited {
        conversation_id: conversation.id,
        message_id: id,
        seq: row.seq,
        version: row.version,
    };
    let envelope = events::envelope(conversation.id, &conversation.kind, version, &event)?;
    app.outbox.record(&mut tx, &envelope).await?;
    app.outbox.commit(tx).await?;
    let message: Message = row.into();
    live::publish(
        app,
        Live::MessageEdited {
            message: message.clone(),
        },
    );
    Ok(message)
}

/// Deletes a message: its author, or a moderator. A tombstone keeps its seq in the history.
pub async fn delete(app: &AppState, user: &AuthUser, id: Uuid) -> Result<(), Error> {
    limit_writes(app, user.id)?;
    let mut tx = app.db.begin().await?;
    let current = store::lock(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("no such message"))?;
    let conversation = readable(&mut tx, current.conversation_id, Some(user.id)).await?;
    if current.author_id != Some(user.id) && !user.has_role(Role::Moderator) {
        return Err(Error::Forbidden(
            "only its author or a moderator may delete a message",
        ));
    }
    if current.deleted_at.is_some() {
        tx.commit().await?;
        return Ok(());
    }
    let row = store::tombstone(&mut tx, id).await?;
    let version = rooms::bump(&mut tx, conversation.id).await?;
    let event = MessageDeleted {
        conversation_id: conversation.id,
        message_id: id,
        seq: row.seq,
    };
    let envelope = events::envelope(conversation.id, &conversation.kind, version, &event)?;
    app.outbox.record(&mut tx, &envelope).await?;
    app.outbox.commit(tx).await?;
    live::publish(
        app,
        Live::MessageDeleted {
            message: row.into(),
        },
    );
    Ok(())
}

/// The room, if `viewer` may read it: node rooms everyone, direct and group rooms their members
/// (to anyone else they do not exist: 404).
pub async fn readable(
    conn: &mut sqlx::PgConnection,
    room: Uuid,
    viewer: Option<Uuid>,
) -> Result<ConversationRow, Error> {
    let conversation = rooms::get(conn, room)
        .await?
        .ok_or(Error::NotFound("no such conversation"))?;
    if conversation.is_public() {
        return Ok(conversation);
    }
    match viewer {
        Some(v) if rooms::is_member(conn, room, v).await? => Ok(conversation),
        _ => Err(Error::NotFound("no such conversation")),
    }
}

fn archived() -> Error {
    Error::Conflict {
        code: "archived",
        detail: "the conversation is archived (its node was deleted); it takes no new messages"
            .into(),
    }
}
