//! What gewebe-chat does with other services' events (consumer `chat-events`):
//! - `account.forgotten`: the account leaves every room (its open connections are closed, on every
//!   instance, by `live::repair`); its messages in direct and group rooms become tombstones without
//!   body, and in node rooms the author becomes the role-without-name placeholder (open connections
//!   get `message_deleted` / `message_edited`); it is recorded as forgotten, so its still-valid
//!   tokens cannot bring it into a room again, and its id leaves the rooms it made;
//! - `node.deleted`: the node's room is archived (readable, no new messages).
//!
//! Idempotent: each event id is applied once (`processed_events`, in the same transaction as the
//! effect).

use gewebe_events::{
    Envelope, Event,
    consumer::{self, ConsumerConfig, ConsumerHealth, HandlerError},
    types::{AccountForgotten, MemberLeft, NodeDeleted},
};
use gewebe_platform::Shutdown;

use crate::{
    AppState, SCHEMA,
    conversations::store as rooms,
    events,
    live::{self, Live},
    messages::store as messages,
};

pub const DURABLE: &str = "chat-events";

/// Consumes until shutdown; retries the setup while the stream does not exist yet.
pub async fn run(app: AppState, health: ConsumerHealth, shutdown: Shutdown) {
    let mut config = ConsumerConfig::new(
        &app.nats.subject_prefix,
        DURABLE,
        &[AccountForgotten::TYPE, NodeDeleted::TYPE],
    );
    config.health = health;
    let handler = |envelope: Envelope| {
        let app = app.clone();
        async move { apply(&app, envelope).await }
    };
    consumer::run_until_shutdown(&app.nats.jetstream, &config, &shutdown, handler).await;
}

pub async fn apply(app: &AppState, envelope: Envelope) -> Result<(), HandlerError> {
    match envelope.event_type.as_str() {
        AccountForgotten::TYPE => forgotten(app, &envelope, &envelope.decode()?).await,
        NodeDeleted::TYPE => node_deleted(app, &envelope, &envelope.decode()?).await,
        _ => Ok(()),
    }
}

async fn forgotten(
    app: &AppState,
    envelope: &Envelope,
    e: &AccountForgotten,
) -> Result<(), HandlerError> {
    let mut tx = app.db.begin().await?;
    if !consumer::first_time(&mut tx, SCHEMA, DURABLE, envelope.id).await? {
        tx.commit().await?;
        return Ok(());
    }
    // First: joins and rooms in flight for this account either commit before this goes on, or
    // wait and then find the account forgotten.
    messages::hold_for_forget(&mut tx, e.account_id).await?;
    let left = messages::forget_memberships(&mut tx, e.account_id).await?;
    let mut envelopes = Vec::with_capacity(left.len());
    for room in &left {
        let Some(conversation) = rooms::get(&mut tx, *room).await? else {
            continue;
        };
        let version = rooms::bump(&mut tx, *room).await?;
        let event = MemberLeft {
            conversation_id: *room,
            account_id: e.account_id,
        };
        envelopes.push(events::envelope(
            *room,
            &conversation.kind,
            version,
            &event,
        )?);
    }
    let mut changed = messages::forget_author(&mut tx, e.account_id).await?;
    messages::forget_account(&mut tx, e.account_id).await?;
    app.outbox.record_many(&mut tx, &envelopes).await?;
    app.outbox.commit(tx).await?;
    let count = changed.len();
    // Open connections see the messages change as well: per room the newest, up to a quarter of a
    // connection's queue (more would close every subscriber of a busy room as too slow; a client
    // that missed some sees them when it reloads).
    let per_room = app.config.chat.outbound_queue / 4;
    changed.sort_unstable_by_key(|m| (m.conversation_id, std::cmp::Reverse(m.seq)));
    let mut sent_in_room = (uuid::Uuid::nil(), 0usize);
    for row in changed {
        if sent_in_room.0 == row.conversation_id {
            sent_in_room.1 += 1;
        } else {
            sent_in_room = (row.conversation_id, 1);
        }
        if sent_in_room.1 > per_room {
            continue;
        }
        let message: crate::messages::model::Message = row.into();
        live::publish(
            app,
            if message.deleted {
                Live::MessageDeleted { message }
            } else {
                Live::MessageEdited { message }
            },
        );
    }
    for room in left {
        live::publish(
            app,
            Live::MemberLeft {
                conversation_id: room,
                account_id: e.account_id,
            },
        );
    }
    tracing::info!(messages = count, "forgotten account removed from chat");
    Ok(())
}

async fn node_deleted(
    app: &AppState,
    envelope: &Envelope,
    e: &NodeDeleted,
) -> Result<(), HandlerError> {
    let mut tx = app.db.begin().await?;
    if consumer::first_time(&mut tx, SCHEMA, DURABLE, envelope.id).await?
        && let Some((room, _)) = rooms::archive_node(&mut tx, e.node_id).await?
    {
        tracing::info!(%room, "node room archived: its node was deleted");
    }
    tx.commit().await?;
    Ok(())
}
