//! The live path between chat instances. Whichever instance accepts a message publishes it, body
//! and all, on core NATS under `<prefix>_chat.live.<room>` — outside the event stream, which
//! captures `<prefix>.>`, so no body is ever stored in JetStream — and hands it to its own hub at
//! once. Every instance subscribes to `<prefix>_chat.live.>` and hands what arrives to its hub.
//!
//! Core NATS keeps nothing: a message published while NATS is away, or dropped on the way, is not
//! redelivered. The outbox is the safety net: each message's `message.created` event (id and seq
//! only) reaches every instance from JetStream once the relay publishes it, and a room that sees a
//! seq beyond what it delivered reads the missing messages from PostgreSQL. The same holds for
//! edits, deletions and members who left.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use gewebe_events::{
    Envelope, Event,
    types::{AccountForgotten, MemberLeft, MessageCreated, MessageDeleted, MessageEdited},
};
use gewebe_platform::Shutdown;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AppState, messages::model::Message, ws::protocol};

/// What travels between instances, and from a writer to its own hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Live {
    Message {
        message: Message,
    },
    MessageEdited {
        message: Message,
    },
    MessageDeleted {
        message: Message,
    },
    /// A seq known to be committed (from the event stream): whatever is missing up to it is read.
    Committed {
        conversation_id: Uuid,
        seq: i64,
    },
    MemberLeft {
        conversation_id: Uuid,
        account_id: Uuid,
    },
    Typing {
        conversation_id: Uuid,
        account_id: Uuid,
    },
    Read {
        conversation_id: Uuid,
        account_id: Uuid,
        seq: i64,
    },
    /// An instance's subscribers of a room (all of them; see `presence`).
    Presence {
        conversation_id: Uuid,
        instance: Uuid,
        online: Vec<Uuid>,
    },
}

impl Live {
    pub fn room(&self) -> Uuid {
        match self {
            Live::Message { message }
            | Live::MessageEdited { message }
            | Live::MessageDeleted { message } => message.conversation_id,
            Live::Committed {
                conversation_id, ..
            }
            | Live::MemberLeft {
                conversation_id, ..
            }
            | Live::Typing {
                conversation_id, ..
            }
            | Live::Read {
                conversation_id, ..
            }
            | Live::Presence {
                conversation_id, ..
            } => *conversation_id,
        }
    }

    /// The frame subscribers get (for everything but `Message`, which the hub orders itself).
    pub fn frame(&self) -> String {
        match self {
            Live::Message { message } => protocol::message(message),
            Live::MessageEdited { message } => protocol::edited(message),
            Live::MessageDeleted { message } => protocol::deleted(message),
            Live::Typing {
                conversation_id,
                account_id,
            } => protocol::typing(*conversation_id, *account_id),
            Live::Read {
                conversation_id,
                account_id,
                seq,
            } => protocol::read(*conversation_id, *account_id, *seq),
            Live::Committed { .. } | Live::MemberLeft { .. } | Live::Presence { .. } => {
                String::new()
            }
        }
    }
}

/// `<prefix>~chat.live.<room>`: `~` cannot occur in a prefix (`NATS_SUBJECT_PREFIX` takes letters,
/// digits, `_` and `-`), so no deployment's event stream (`<prefix>.>`) can capture it.
fn subject(prefix: &str, room: Uuid) -> String {
    format!("{prefix}~chat.live.{room}")
}

/// What goes on the wire: the live event and the instance that sent it, which ignores its own copy
/// (it handed the event to its hub already).
#[derive(Serialize, Deserialize)]
struct Wire {
    origin: Uuid,
    live: Live,
}

/// Hands `live` to this instance's hub and to every other instance. Best effort on the wire: what
/// core NATS loses, the event stream repairs (see the module docs).
pub fn publish(app: &AppState, live: Live) {
    let subject = subject(&app.nats.subject_prefix, live.room());
    let wire = Wire {
        origin: app.instance,
        live,
    };
    match serde_json::to_vec(&wire) {
        Ok(payload) => {
            // On its own task: a request dropped after its commit (client gone, timeout) still
            // publishes. While NATS is away the client buffers publications, and once its buffer
            // is full a publication waits: bounded, then the event stream repairs it.
            let app2 = app.clone();
            tokio::spawn(async move {
                let published = tokio::time::timeout(
                    Duration::from_millis(100),
                    app2.nats.client.publish(subject, payload.into()),
                )
                .await;
                if !matches!(published, Ok(Ok(()))) {
                    app2.metrics.live_publish_failures.inc();
                    tracing::debug!("live publish failed; the event stream will repair it");
                }
            });
        }
        Err(e) => tracing::error!(error = %e, "live event not serialisable"),
    }
    app.hub.dispatch(app, wire.live);
}

/// Tells the other instances (only: the room task that calls it knows its own state).
pub async fn announce(app: &AppState, live: &Live) {
    let subject = subject(&app.nats.subject_prefix, live.room());
    let wire = Wire {
        origin: app.instance,
        live: live.clone(),
    };
    if let Ok(payload) = serde_json::to_vec(&wire) {
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            app.nats.client.publish(subject, payload.into()),
        )
        .await;
    }
}

/// Every instance's live subscription, until shutdown; set up again when NATS is away.
pub async fn subscribe(app: AppState, shutdown: Shutdown) {
    let subject = format!("{}~chat.live.>", app.nats.subject_prefix);
    loop {
        match app.nats.client.subscribe(subject.clone()).await {
            Ok(mut sub) => loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    next = sub.next() => match next {
                        Some(m) => match serde_json::from_slice::<Wire>(&m.payload) {
                            // Our own copy (handed to the hub already), and hints that only the
                            // event stream may give, are dropped.
                            Ok(w) if w.origin == app.instance || matches!(w.live, Live::Committed { .. }) => {}
                            Ok(w) => app.hub.dispatch(&app, w.live),
                            Err(e) => tracing::warn!(error = %e, "undecodable live message"),
                        },
                        None => break,
                    },
                }
            },
            Err(e) => tracing::warn!(error = %e, "live subscription failed; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The safety net: `message.*` and `member.left` events from JetStream, from now on, as hints to
/// the hub; and `account.forgotten`, which closes the account's connections on every instance. One
/// ordered consumer per `filter` (`message.>`, `member.>`, `account.forgotten`: NATS 2.9 filters
/// one subject per consumer).
pub async fn repair(app: AppState, filter: &'static str, shutdown: Shutdown) {
    let prefix = app.nats.subject_prefix.clone();
    let stream = gewebe_events::subjects::stream(&prefix);
    // Where to go on after an interruption: the events the relay published meanwhile are the ones
    // this path exists for.
    let mut last = None;
    loop {
        let subject = format!("{prefix}.{filter}");
        if let Err(e) = follow(&app, &stream, &subject, &mut last, &shutdown).await {
            tracing::debug!(error = %e, filter, "event stream not followed; retrying");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn follow(
    app: &AppState,
    stream: &str,
    filter: &str,
    last: &mut Option<u64>,
    shutdown: &Shutdown,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let deliver_policy = match *last {
        Some(seq) => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
        None => DeliverPolicy::New,
    };
    let consumer = app
        .nats
        .jetstream
        .get_stream(stream)
        .await?
        .create_consumer(OrderedConfig {
            deliver_policy,
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = messages.next() => match next {
                Some(m) => m?,
                None => return Err("the consumer ended".into()),
            },
        };
        if let Ok(envelope) = Envelope::from_slice(&message.payload) {
            hint(app, &envelope).await;
        }
        if let Ok(info) = message.info() {
            *last = Some(info.stream_sequence);
        }
    }
}

/// What an event says for the live path.
async fn hint(app: &AppState, envelope: &Envelope) {
    let live = match envelope.event_type.as_str() {
        MessageCreated::TYPE => envelope
            .decode::<MessageCreated>()
            .ok()
            .map(|e| Live::Committed {
                conversation_id: e.conversation_id,
                seq: e.seq,
            }),
        AccountForgotten::TYPE => {
            if let Ok(e) = envelope.decode::<AccountForgotten>() {
                // Nobody listening (no connection open here) is not an error.
                let _ = app.forgotten.send(e.account_id);
            }
            None
        }
        MemberLeft::TYPE => envelope
            .decode::<MemberLeft>()
            .ok()
            .map(|e| Live::MemberLeft {
                conversation_id: e.conversation_id,
                account_id: e.account_id,
            }),
        // Edits and deletions travel with their message; read it as it is now.
        // Read only for a room this instance has subscribers in: every instance sees every event.
        MessageEdited::TYPE | MessageDeleted::TYPE if app.hub.has(envelope.aggregate.id) => {
            let id = envelope.data.get("message_id").and_then(|v| v.as_str());
            match id.and_then(|id| id.parse().ok()) {
                Some(id) => current(app, id).await.map(|message| {
                    if message.deleted {
                        Live::MessageDeleted { message }
                    } else {
                        Live::MessageEdited { message }
                    }
                }),
                None => None,
            }
        }
        _ => None,
    };
    if let Some(live) = live {
        app.hub.dispatch(app, live);
    }
}

async fn current(app: &AppState, id: Uuid) -> Option<Message> {
    let mut tx = app.db.begin().await.ok()?;
    let row = crate::messages::store::get(&mut tx, id).await.ok()??;
    tx.commit().await.ok()?;
    Some(row.into())
}
