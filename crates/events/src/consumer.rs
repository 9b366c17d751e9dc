//! A durable JetStream consumer that hands typed events to a handler.
//!
//! - ack after the handler succeeds;
//! - an event that can never succeed — the payload is not an envelope, the handler cannot decode
//!   it ([`DecodeError`]: wrong type, a schema version newer than this build) or the handler says
//!   so with [`Permanent`] — is reported on the DLQ subject and terminated, so it never blocks the
//!   rest;
//! - every other failure is taken to be a dependency that is down (PostgreSQL restarting, a pool
//!   timeout): the consumer keeps that event, pauses (reads nothing else, so per-aggregate order
//!   holds) and retries it with capped exponential backoff for as long as it takes, telling
//!   JetStream it is still working on it. [`ConsumerHealth`] turns readiness red meanwhile. An
//!   outage therefore delays events; it never dead-letters them (a forget request must not be
//!   lost because the database restarted);
//! - each event runs in a span whose parent is the `traceparent` the writer recorded;
//! - idempotency is the handler's, with [`first_time`]: it records the event id in
//!   `<schema>.processed_events` inside the handler's own transaction, so a redelivery or a replay
//!   finds it and skips. Handlers that keep a per-aggregate version may compare versions instead.
//!   A redelivery after a crash can reorder events of one aggregate; set `max_ack_pending = 1`
//!   where a handler needs strict order and cannot compare versions.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use sqlx::{AssertSqlSafe, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{DecodeError, Envelope, outbox::sql_for, subjects};

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Subject/stream prefix (`NATS_SUBJECT_PREFIX`).
    pub prefix: String,
    /// Durable name, e.g. `geo-accounts`.
    pub durable: String,
    /// Event types to receive, e.g. `["account.updated", "account.forgotten"]`; empty = all.
    pub event_types: Vec<String>,
    /// Delay before the first retry of a failing event; it doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// One attempt of the handler that takes longer counts as a failure (and is retried): a
    /// dependency that hangs instead of failing — PgBouncer waiting for a server that refuses
    /// logins — must turn readiness red like one that fails.
    pub attempt_timeout: Duration,
    pub max_ack_pending: i64,
    /// Red while an event is being retried; give it to the service's readiness.
    pub health: ConsumerHealth,
}

impl ConsumerConfig {
    pub fn new(prefix: &str, durable: &str, event_types: &[&str]) -> Self {
        Self {
            prefix: prefix.to_owned(),
            durable: durable.to_owned(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(15),
            max_ack_pending: 1000,
            health: ConsumerHealth::default(),
        }
    }

    /// JetStream redelivers an event whose handler sends no sign of life for this long; the
    /// consumer sends one before every retry wait, so the wait must fit well inside it.
    fn ack_wait(&self) -> Duration {
        (self.retry_max * 3)
            .max(self.attempt_timeout * 2)
            .max(Duration::from_secs(30))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("setting up the consumer: {0}")]
    Setup(String),
    #[error("reading messages: {0}")]
    Stream(String),
}

/// What a handler returns on failure. Any error converts into it with `?` and counts as transient
/// (retried until it succeeds); wrap it in [`Permanent`], or return a [`DecodeError`], for an
/// event that can never succeed.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// An event the handler can never apply: it is dead-lettered instead of retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

fn is_permanent(e: &HandlerError) -> bool {
    e.is::<Permanent>() || e.is::<DecodeError>()
}

/// Whether the consumer is keeping up: red while an event is being retried after a failure.
#[derive(Debug, Clone, Default)]
pub struct ConsumerHealth(Arc<Mutex<Option<String>>>);

impl ConsumerHealth {
    /// For `Readiness::check`: the last failure while one is being retried.
    pub fn check(&self) -> Result<(), String> {
        match self.0.lock().map(|g| g.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(format!("paused, retrying an event: {reason}")),
            Err(_) => Err("consumer state unavailable".to_owned()),
        }
    }

    pub fn is_paused(&self) -> bool {
        self.check().is_err()
    }

    fn set(&self, failure: Option<String>) {
        if let Ok(mut g) = self.0.lock() {
            *g = failure;
        }
    }
}

/// [`run`] for a service's lifetime: when the consumer stops with an error (the stream does not
/// exist yet — the relay creates it — or NATS is away), it is set up again two seconds later, until
/// shutdown.
pub async fn run_until_shutdown<H, Fut>(
    jetstream: &jetstream::Context,
    config: &ConsumerConfig,
    shutdown: &gewebe_platform::Shutdown,
    handler: H,
) where
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    loop {
        match run(jetstream, config, shutdown.token(), &handler).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, durable = %config.durable, "consumer stopped; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Consumes until `shutdown` is cancelled. Returns after the in-flight event is settled.
pub async fn run<H, Fut>(
    jetstream: &jetstream::Context,
    config: &ConsumerConfig,
    shutdown: CancellationToken,
    handler: H,
) -> Result<(), ConsumerError>
where
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let consumer = durable(jetstream, config).await?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| ConsumerError::Stream(e.to_string()))?;

    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = messages.next() => match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    // Transient (e.g. a reconnect); the consumer resumes where it was.
                    tracing::warn!(error = %e, durable = %config.durable, "consumer read failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                None => return Err(ConsumerError::Stream("message stream ended".to_owned())),
            },
        };
        let delivered = message.info().map_or(1, |i| i.delivered);
        let envelope = match Envelope::from_slice(&message.payload) {
            Ok(e) => e,
            Err(e) => {
                let stored = dead_letter(
                    jetstream,
                    config,
                    "unknown",
                    &message.payload,
                    &e.to_string(),
                )
                .await;
                let _ = settle_dead(&message, stored).await;
                continue;
            }
        };
        let span = tracing::info_span!(
            "event",
            event_id = %envelope.id,
            event_type = %envelope.event_type,
            durable = %config.durable,
            delivered,
            traceparent = tracing::field::Empty,
        );
        if let Some(tp) = &envelope.traceparent {
            span.record("traceparent", tp.as_str());
            crate::trace::continue_trace(&span, tp);
        }
        let event_type = envelope.event_type.clone();
        let mut delay = config.retry_initial;
        let settle = loop {
            let attempt = handler(envelope.clone()).instrument(span.clone());
            let result = match tokio::time::timeout(config.attempt_timeout, attempt).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "the handler did not finish within {} s",
                    config.attempt_timeout.as_secs()
                )
                .into()),
            };
            let e = match result {
                Ok(()) => {
                    config.health.set(None);
                    break message.ack().await;
                }
                Err(e) => e,
            };
            if is_permanent(&e) {
                span.in_scope(
                    || tracing::error!(error = %e, "event can never apply; dead-lettered"),
                );
                let stored = dead_letter(
                    jetstream,
                    config,
                    &event_type,
                    &message.payload,
                    &e.to_string(),
                )
                .await;
                break settle_dead(&message, stored).await;
            }
            config.health.set(Some(e.to_string()));
            span.in_scope(
                || tracing::warn!(error = %e, ?delay, "event failed; consumer paused, retrying"),
            );
            // Still ours: JetStream must not hand it to another instance while we wait.
            if let Err(e) = message.ack_with(AckKind::Progress).await {
                tracing::warn!(error = %e, "extending the ack deadline failed");
            }
            tokio::select! {
                () = tokio::time::sleep(jittered(delay)) => {}
                () = shutdown.cancelled() => {
                    // Another instance (or the next start) takes it from here.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    return Ok(());
                }
            }
            delay = (delay * 2).min(config.retry_max);
        };
        if let Err(e) = settle {
            // The server redelivers after ack_wait; idempotency makes that harmless.
            tracing::warn!(error = %e, "settling a message failed");
        }
    }
}

/// The durable consumer with this configuration. One created by an earlier build (which gave up
/// after a few deliveries) is updated in place: JetStream stops delivering an event for good once
/// its `max_deliver` is reached, which is exactly the loss this module exists to prevent.
async fn durable(
    jetstream: &jetstream::Context,
    config: &ConsumerConfig,
) -> Result<jetstream::consumer::PullConsumer, ConsumerError> {
    let stream = jetstream
        .get_stream(subjects::stream(&config.prefix))
        .await
        .map_err(|e| ConsumerError::Setup(e.to_string()))?;
    let wanted = pull::Config {
        durable_name: Some(config.durable.clone()),
        filter_subjects: config
            .event_types
            .iter()
            .map(|t| subjects::event(&config.prefix, t))
            .collect(),
        max_deliver: -1,
        max_ack_pending: config.max_ack_pending,
        ack_wait: config.ack_wait(),
        ..Default::default()
    };
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(&config.durable, wanted.clone())
        .await
        .map_err(|e| ConsumerError::Setup(e.to_string()))?;
    let current = consumer.cached_info().config.clone();
    if current.max_deliver != -1
        || current.ack_wait != wanted.ack_wait
        || current.max_ack_pending != wanted.max_ack_pending
    {
        tracing::info!(durable = %config.durable, old_max_deliver = current.max_deliver, "updating the durable consumer's delivery limits");
        consumer = stream
            .create_consumer(wanted)
            .await
            .map_err(|e| ConsumerError::Setup(format!("updating the consumer: {e}")))?;
    }
    Ok(consumer)
}

/// Equal jitter: half the delay fixed, half random, so instances retrying after one outage do not
/// all hit the database in the same instant.
fn jittered(delay: Duration) -> Duration {
    let half = delay / 2;
    // The clock's nanoseconds spread retries well enough; not worth a `rand` dependency in the
    // crate every service links for one jitter (nothing here is cryptographic).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_nanos(u64::from(nanos) % spread)
}

/// Stores the event on the DLQ stream; `false` if JetStream did not acknowledge it, in which case
/// the caller keeps the event (terminating it now would lose it).
async fn dead_letter(
    js: &jetstream::Context,
    config: &ConsumerConfig,
    event_type: &str,
    payload: &[u8],
    reason: &str,
) -> bool {
    let token = if subjects::valid_event_type(event_type) {
        event_type
    } else {
        "unknown"
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Gewebe-Dlq-Reason",
        reason.chars().take(500).collect::<String>().as_str(),
    );
    headers.insert("Gewebe-Dlq-Consumer", config.durable.as_str());
    let subject = subjects::dlq(&config.prefix, token);
    let stored = match js
        .publish_with_headers(subject, headers, bytes::Bytes::copy_from_slice(payload))
        .await
    {
        Ok(ack) => ack.await.map(|_| ()),
        Err(e) => Err(e),
    };
    match stored {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "storing an event on the DLQ failed; it stays pending");
            false
        }
    }
}

/// Terminates a dead-lettered message, or hands it back for later if the DLQ did not take it.
async fn settle_dead(message: &jetstream::Message, stored: bool) -> Result<(), async_nats::Error> {
    if stored {
        message.ack_with(AckKind::Term).await
    } else {
        message
            .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
            .await
    }
}

/// Records that `consumer` applied `event_id`; `false` if it already had (skip the effect). Call it
/// in the same transaction as the effect.
pub async fn first_time(
    conn: &mut PgConnection,
    schema: &str,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, crate::outbox::OutboxError> {
    let sql = sql_for(
        "INSERT INTO __SCHEMA__.processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        schema,
    )?;
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(consumer)
        .bind(event_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
