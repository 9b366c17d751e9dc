//! A durable JetStream consumer that hands typed events to a handler.
//!
//! - ack after the handler succeeds; on failure a NAK with the next backoff delay; after
//!   `max_deliver` failed attempts the event is reported on the DLQ subject and terminated, so one
//!   poison event never blocks the rest;
//! - each event runs in a span whose parent is the `traceparent` the writer recorded;
//! - idempotency is the handler's, with [`first_time`]: it records the event id in
//!   `<schema>.processed_events` inside the handler's own transaction, so a redelivery or a replay
//!   finds it and skips. Handlers that keep a per-aggregate version may compare versions instead.
//!   Redelivery can reorder events of one aggregate; set `max_ack_pending = 1` where a handler needs
//!   strict order and cannot compare versions.

use std::{future::Future, time::Duration};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use sqlx::{AssertSqlSafe, PgConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{Envelope, outbox::sql_for, subjects};

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Subject/stream prefix (`NATS_SUBJECT_PREFIX`).
    pub prefix: String,
    /// Durable name, e.g. `geo-accounts`.
    pub durable: String,
    /// Event types to receive, e.g. `["account.updated", "account.forgotten"]`; empty = all.
    pub event_types: Vec<String>,
    pub max_deliver: i64,
    /// Delay before each redelivery (the last one repeats).
    pub backoff: Vec<Duration>,
    pub max_ack_pending: i64,
}

impl ConsumerConfig {
    pub fn new(prefix: &str, durable: &str, event_types: &[&str]) -> Self {
        Self {
            prefix: prefix.to_owned(),
            durable: durable.to_owned(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            max_deliver: 5,
            backoff: vec![
                Duration::from_millis(200),
                Duration::from_secs(1),
                Duration::from_secs(5),
            ],
            max_ack_pending: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("setting up the consumer: {0}")]
    Setup(String),
    #[error("reading messages: {0}")]
    Stream(String),
}

/// What a handler returns on failure; the message is logged and goes to the DLQ at the end.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

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
    let stream = jetstream
        .get_stream(subjects::stream(&config.prefix))
        .await
        .map_err(|e| ConsumerError::Setup(e.to_string()))?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            &config.durable,
            pull::Config {
                durable_name: Some(config.durable.clone()),
                filter_subjects: config
                    .event_types
                    .iter()
                    .map(|t| subjects::event(&config.prefix, t))
                    .collect(),
                max_deliver: config.max_deliver,
                max_ack_pending: config.max_ack_pending,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ConsumerError::Setup(e.to_string()))?;
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
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let envelope = match Envelope::from_slice(&message.payload) {
            Ok(e) => e,
            Err(e) => {
                dead_letter(
                    jetstream,
                    config,
                    "unknown",
                    &message.payload,
                    &e.to_string(),
                )
                .await;
                let _ = message.ack_with(AckKind::Term).await;
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
        let result = handler(envelope).instrument(span.clone()).await;
        let settle = match result {
            Ok(()) => message.ack().await,
            Err(e) if delivered >= config.max_deliver => {
                span.in_scope(
                    || tracing::error!(error = %e, "event failed for the last time; dead-lettered"),
                );
                dead_letter(
                    jetstream,
                    config,
                    &event_type,
                    &message.payload,
                    &e.to_string(),
                )
                .await;
                message.ack_with(AckKind::Term).await
            }
            Err(e) => {
                let i = usize::try_from(delivered.max(1) - 1).unwrap_or(0);
                let delay = config.backoff.get(i).or(config.backoff.last()).copied();
                span.in_scope(
                    || tracing::warn!(error = %e, ?delay, "event failed; will be redelivered"),
                );
                message.ack_with(AckKind::Nak(delay)).await
            }
        };
        if let Err(e) = settle {
            // The server redelivers after ack_wait; idempotency makes that harmless.
            tracing::warn!(error = %e, "settling a message failed");
        }
    }
}

async fn dead_letter(
    js: &jetstream::Context,
    config: &ConsumerConfig,
    event_type: &str,
    payload: &[u8],
    reason: &str,
) {
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
    if let Err(e) = js
        .client()
        .publish_with_headers(subject, headers, bytes::Bytes::copy_from_slice(payload))
        .await
    {
        tracing::error!(error = %e, "publishing to the DLQ failed");
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
