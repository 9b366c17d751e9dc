//! One round: from every schema, mark what the last batch got acknowledged, claim the next batch
//! (the oldest pending row of each aggregate), publish it, wait for the acks; poison rows go to
//! quarantine.

use std::{collections::HashSet, time::Instant};

use async_nats::{
    HeaderMap,
    jetstream::{context::PublishErrorKind, message::PublishMessage},
};
use bytes::Bytes;
use gewebe_events::{Envelope, subjects};
use sqlx::PgConnection;

use super::{Relay, RelayError};
use crate::{
    metrics::RelayMetrics,
    store::{Row, SchemaSql},
};

/// The outcome of one batch.
#[derive(Debug, Default)]
struct Batch {
    published: usize,
    quarantined: usize,
    /// Rows may still be pending without a notification to come for them: the batch was full, or
    /// it held back later versions of an aggregate.
    more: bool,
}

impl Relay {
    /// One batch from every schema; returns whether to go on at once rather than wait for the
    /// next notification.
    pub(super) async fn round(&self, session: &mut PgConnection) -> Result<bool, RelayError> {
        let mut more = false;
        for schema in &self.schemas {
            let started = Instant::now();
            let batch = self.batch(session, schema).await?;
            if batch.published + batch.quarantined > 0 {
                self.metrics
                    .batch_duration
                    .observe(started.elapsed().as_secs_f64());
            }
            more |= batch.more;
        }
        Ok(more)
    }

    fn take_acked(&self, schema: &SchemaSql) -> Vec<i64> {
        let mut acked = self
            .acked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        acked.remove(&schema.schema).unwrap_or_default()
    }

    /// Marks what was acknowledged but not marked yet (at shutdown, or before leaving the lock).
    pub async fn flush_marks(&self) -> Result<(), RelayError> {
        for schema in &self.schemas {
            let seqs = self.take_acked(schema);
            if !seqs.is_empty() {
                let mut tx = self.db.begin().await?;
                schema.mark_published(&mut tx, &seqs).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Reads on the leader's own session, straight to PostgreSQL: one statement that marks the
    /// previous batch and reads this one, a prepared statement after the first round, and no
    /// PgBouncer hop (a pooled transaction took four round trips through it: BEGIN, prepare,
    /// execute, COMMIT). The session is the one holding the lock, so a relay that lost its lock
    /// with its session cannot read or mark anything either.
    async fn batch(
        &self,
        session: &mut PgConnection,
        schema: &SchemaSql,
    ) -> Result<Batch, RelayError> {
        let to_mark = self.take_acked(schema);
        let rows = match schema
            .claim(session, &to_mark, self.config.batch_size)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                // Not marked: keep them for the next leader round (or for `flush_marks`).
                self.acked
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(schema.schema.clone())
                    .or_default()
                    .extend_from_slice(&to_mark);
                return Err(e.into());
            }
        };
        if rows.is_empty() {
            return Ok(Batch::default());
        }
        // One row per aggregate (the claim returns heads only; this guards the invariant): the next
        // version waits for the next batch, after this one's ack.
        let fetched = rows.len();
        let mut aggregates = HashSet::new();
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| aggregates.insert(r.aggregate_id))
            .collect();
        let more = i64::try_from(fetched).map_or(true, |n| n >= self.config.batch_size)
            || rows.len() < fetched
            || rows.iter().any(|r| r.queued_behind);

        let mut poison: Vec<(Row, String)> = Vec::new();
        let mut in_flight = Vec::with_capacity(rows.len());
        let mut failure = None;
        for mut row in rows {
            let envelope = match Envelope::from_slice(&row.payload) {
                Ok(e) if e.id == row.id && e.event_type == row.event_type => e,
                Ok(_) => {
                    poison.push((row, "envelope id or type differs from the row".to_owned()));
                    continue;
                }
                Err(e) => {
                    poison.push((row, format!("not an event envelope: {e}")));
                    continue;
                }
            };
            let msg_id = row.id.to_string();
            match self
                .send(&mut row, &msg_id, envelope.traceparent.as_deref())
                .await
            {
                Ok(ack) => in_flight.push((row, ack)),
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    poison.push((row, format!("larger than NATS accepts: {}", short(&e))));
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }

        let timeout = self.config.ack_timeout;
        let acks = futures::future::join_all(in_flight.into_iter().map(|(row, ack)| async move {
            let result = match tokio::time::timeout(timeout, ack.into_future()).await {
                Ok(Ok(_ack)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no ack within {} ms", timeout.as_millis())),
            };
            (row, result)
        }))
        .await;

        let mut acked = Vec::new();
        let mut failed = Vec::new();
        for (row, result) in acks {
            match result {
                Ok(()) => acked.push(row.seq),
                Err(e) if e.contains("maximum") && e.contains("size") => poison.push((row, e)),
                Err(e) => {
                    failed.push(row.seq);
                    failure.get_or_insert(e);
                }
            }
        }

        // Marked in the transaction that reads the next batch (one transaction less per batch);
        // a crash before that republishes them, and JetStream drops the copies by `Nats-Msg-Id`.
        if !acked.is_empty() {
            self.acked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(schema.schema.clone())
                .or_default()
                .extend_from_slice(&acked);
        }
        if let Some(error) = &failure {
            let mut tx = self.db.begin().await?;
            schema.note_failure(&mut tx, &failed, error).await?;
            tx.commit().await?;
        }
        self.metrics
            .published
            .get_or_create(&RelayMetrics::label(&schema.schema))
            .inc_by(acked.len() as u64);

        let quarantined = poison.len();
        for (row, reason) in poison {
            self.quarantine(schema, &row, &reason).await?;
        }
        match failure {
            Some(error) => Err(RelayError::Publish(error)),
            None => Ok(Batch {
                published: acked.len(),
                quarantined,
                more,
            }),
        }
    }

    /// Sends one row's payload (moved out of the row: it is published byte for byte and not needed
    /// afterwards) with its dedupe id and, when known, the writer's trace context.
    pub(super) async fn send(
        &self,
        row: &mut Row,
        msg_id: &str,
        traceparent: Option<&str>,
    ) -> Result<
        async_nats::jetstream::context::PublishAckFuture,
        async_nats::jetstream::context::PublishError,
    > {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        if let Some(tp) = traceparent {
            headers.insert("traceparent", tp);
        }
        let subject = subjects::event(&self.nats.subject_prefix, &row.event_type);
        let payload = Bytes::from(std::mem::take(&mut row.payload));
        self.nats
            .jetstream
            .send_publish(
                subject,
                PublishMessage::build().payload(payload).headers(headers),
            )
            .await
    }

    async fn quarantine(
        &self,
        schema: &SchemaSql,
        row: &Row,
        reason: &str,
    ) -> Result<(), RelayError> {
        let mut tx = self.db.begin().await?;
        let moved = schema.quarantine(&mut tx, row.seq, reason).await?;
        tx.commit().await?;
        if !moved {
            return Ok(());
        }
        self.metrics
            .quarantined
            .get_or_create(&RelayMetrics::label(&schema.schema))
            .inc();
        tracing::error!(
            schema = %schema.schema, seq = row.seq, event_id = %row.id, event_type = %row.event_type, %reason,
            "outbox row quarantined"
        );
        // The DLQ message names the row; the payload itself may be what made it poison.
        let token = if subjects::valid_event_type(&row.event_type) {
            row.event_type.as_str()
        } else {
            "invalid"
        };
        let report = serde_json::json!({
            "schema": schema.schema, "seq": row.seq, "id": row.id, "event_type": row.event_type, "reason": reason,
        });
        let subject = subjects::dlq(&self.nats.subject_prefix, token);
        if let Err(e) = self
            .nats
            .client
            .publish(subject, report.to_string().into())
            .await
        {
            tracing::warn!(error = %e, "reporting a quarantined row on the DLQ subject failed");
        }
        Ok(())
    }
}

fn short(e: &async_nats::jetstream::context::PublishError) -> String {
    // The error text carries the sizes; keep the log line short and free of payload bytes.
    e.to_string().chars().take(120).collect()
}
