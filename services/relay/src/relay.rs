//! The relay loop: committed outbox rows → JetStream, acknowledged, in order, none lost.
//!
//! - **One active relay.** Instances compete for a session advisory lock on a direct connection
//!   (PgBouncer would drop it); the holder publishes, the others wait and take over within one poll
//!   interval when it dies (its session ends, the lock goes with it). Order is simple to reason
//!   about with one publisher, and two instances never interleave. The leader reads and marks its
//!   batches on that same session.
//! - **Order per aggregate.** A batch holds at most one row per aggregate — the oldest pending one,
//!   so a busy aggregate cannot crowd the others out of a batch — and is fully acknowledged before
//!   the next batch is read, so version n+1 is only sent after version n was acked.
//! - **No loss, no double effect.** A row is marked published only after JetStream's ack; every
//!   message carries `Nats-Msg-Id` = event id, so a row republished after a crash between ack and
//!   mark is dropped as a duplicate within the 72 h window.
//! - **Poison rows** (not an envelope, larger than NATS accepts) go to the quarantine table and the
//!   DLQ subject; the rows behind them carry on. Anything else (NATS down, timeouts) is retried with
//!   capped exponential backoff and jitter, the rows staying pending.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use async_nats::{
    HeaderMap,
    jetstream::{context::PublishErrorKind, message::PublishMessage},
};
use bytes::Bytes;
use gewebe_events::{Envelope, outbox::NOTIFY_CHANNEL, subjects};
use gewebe_platform::{Shutdown, db::Db, nats::Nats};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::{
    config::RelayConfig,
    metrics::RelayMetrics,
    store::{Row, SchemaSql},
    stream,
};

const LEADER_LOCK: &str = "SELECT pg_try_advisory_lock(hashtext('gewebe-relay'))";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("publishing: {0}")]
    Publish(String),
    #[error("stream: {0}")]
    Stream(#[from] stream::StreamError),
}

/// What `/relay/status` shows.
#[derive(Default)]
pub struct RelayState {
    pub leader: AtomicBool,
}

pub struct Relay {
    pub db: Db,
    pub nats: Nats,
    pub schemas: Vec<SchemaSql>,
    pub config: RelayConfig,
    pub metrics: RelayMetrics,
    pub state: Arc<RelayState>,
    /// Acknowledged rows per schema, marked published by the statement that reads the next batch
    /// (one round trip less per batch). If the process dies first they are sent again and
    /// JetStream drops them as duplicates.
    pub acked: std::sync::Mutex<std::collections::HashMap<String, Vec<i64>>>,
}

/// The outcome of one batch.
#[derive(Debug, Default)]
struct Batch {
    published: usize,
    quarantined: usize,
    /// Rows may still be pending without a notification to come for them: the batch was full, or
    /// it held back later versions of an aggregate.
    more: bool,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ReplayReport {
    /// Missing from the stream and sent again.
    pub republished: u64,
    /// Still in the stream; skipped.
    pub present: u64,
    /// Sent but reported as duplicates by JetStream (an earlier replay's copy).
    pub duplicates: u64,
}

impl Relay {
    /// Runs until shutdown: wait for the lock, relay while holding it, repeat.
    pub async fn run(&self, shutdown: Shutdown) {
        let mut backoff = Backoff::new(self.config.backoff_max);
        while !shutdown.is_triggered() {
            let Some(lock) = self.lead(&shutdown).await else {
                break;
            };
            self.set_leader(true);
            let result = self.relay_while_leader(lock, &shutdown, &mut backoff).await;
            if let Err(e) = self.flush_marks().await {
                tracing::warn!(error = %e, "marking the last batch failed; it will be sent again and deduplicated");
            }
            self.set_leader(false);
            if let Err(e) = result {
                tracing::warn!(error = %e, "relay round ended; retrying");
                sleep_or_shutdown(backoff.next_delay(), &shutdown).await;
            }
        }
        tracing::info!("relay stopped");
    }

    fn set_leader(&self, leader: bool) {
        self.state.leader.store(leader, Ordering::Relaxed);
        self.metrics.leader.set(i64::from(leader));
    }

    async fn lead(&self, shutdown: &Shutdown) -> Option<PgConnection> {
        let mut waiting_logged = false;
        loop {
            if shutdown.is_triggered() {
                return None;
            }
            match self.db.direct().await {
                Ok(mut conn) => match sqlx::query_scalar::<_, bool>(LEADER_LOCK)
                    .fetch_one(&mut conn)
                    .await
                {
                    Ok(true) => {
                        tracing::info!("relay lock acquired; this instance publishes");
                        return Some(conn);
                    }
                    Ok(false) if !waiting_logged => {
                        tracing::info!("another relay holds the lock; standing by");
                        waiting_logged = true;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %gewebe_platform::db::describe(e), "taking the relay lock failed")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %gewebe_platform::db::describe(e), "cannot reach PostgreSQL directly")
                }
            }
            sleep_or_shutdown(self.config.poll_interval, shutdown).await;
        }
    }

    async fn relay_while_leader(
        &self,
        mut session: PgConnection,
        shutdown: &Shutdown,
        backoff: &mut Backoff,
    ) -> Result<(), RelayError> {
        self.provision().await?;
        // The marks are bookkeeping that a crash may lose: the rows are sent again and JetStream
        // drops the copies by `Nats-Msg-Id`. So the leader's commits need not wait for the WAL
        // flush, which was on the path of every event. Only this session is affected.
        sqlx::query("SET synchronous_commit = off")
            .execute(&mut session)
            .await?;
        let mut listener = self.db.listener().await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        loop {
            if shutdown.is_triggered() {
                return Ok(());
            }
            // Under a steady trickle of writes every batch is small; going on at once would spend a
            // round trip per batch on finding nothing. The next notification (buffered if it came
            // during the batch) starts the next batch, which also marks this one's rows published;
            // when none comes, the poll interval does.
            match self.round(&mut session).await {
                Ok(true) => backoff.reset(),
                Ok(false) => {
                    backoff.reset();
                    tokio::select! {
                        notification = listener.recv() => {
                            notification?;
                            while listener.next_buffered().is_some() {}
                        }
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                        () = shutdown.cancelled() => return Ok(()),
                    }
                }
                // The session holds the lock: if it failed, the lock may be gone with it, so this
                // instance must compete for the lock again before it publishes anything more.
                Err(e @ RelayError::Db(_)) => return Err(e),
                Err(e) => {
                    self.metrics.publish_errors.inc();
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "relaying failed; rows stay pending");
                    sleep_or_shutdown(delay, shutdown).await;
                }
            }
        }
    }

    /// Creates or checks the streams. A stream that captures other subjects would lose events, so
    /// that is fatal; other differences (retention, replicas) are reported and publishing goes on.
    pub async fn provision(&self) -> Result<(), RelayError> {
        match stream::provision(
            &self.nats.jetstream,
            &self.nats.subject_prefix,
            &self.config.stream,
        )
        .await
        {
            Err(stream::StreamError::Mismatch { name, differences })
                if !differences.contains("subjects") =>
            {
                tracing::error!(stream = %name, %differences, "stream settings differ from the policy; not changing them");
                Ok(())
            }
            other => Ok(other?),
        }
    }

    /// One batch from every schema; returns whether to go on at once rather than wait for the
    /// next notification.
    async fn round(&self, session: &mut PgConnection) -> Result<bool, RelayError> {
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
        let more = fetched as i64 >= self.config.batch_size
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
    async fn send(
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

    /// Republishes every published row created since `since` that the stream no longer holds (the
    /// DR drill's "outbox rebuild", or after NATS lost acknowledged writes in a crash).
    ///
    /// JetStream keeps its duplicate-tracking ids even when the messages are purged, so a republish
    /// under the original `Nats-Msg-Id` would be dropped. Instead the replay first reads the ids of
    /// the events the stream holds since `since`, skips those, and sends the missing ones under
    /// `<id>:replay`. Running it twice adds nothing the second time. A hole in the middle of an
    /// aggregate's history lands after its later versions; consumers compare versions (see
    /// `gewebe_events::consumer`).
    pub async fn replay(&self, since: OffsetDateTime) -> Result<ReplayReport, RelayError> {
        let present = self.ids_in_stream_since(since).await?;
        let mut report = ReplayReport::default();
        for schema in &self.schemas {
            let mut after = 0;
            loop {
                let page = {
                    let mut tx = self.db.begin().await?;
                    let page = schema
                        .replay_page(&mut tx, since, after, self.config.batch_size)
                        .await?;
                    tx.commit().await?;
                    page
                };
                let Some(last) = page.last() else { break };
                after = last.seq;
                let mut acks = Vec::with_capacity(page.len());
                for mut row in page.into_iter().filter(|r| {
                    let known = present.contains(&r.id);
                    report.present += u64::from(known);
                    !known
                }) {
                    let msg_id = format!("{}:replay", row.id);
                    let ack = self
                        .send(&mut row, &msg_id, None)
                        .await
                        .map_err(|e| RelayError::Publish(e.to_string()))?;
                    acks.push(ack);
                }
                for ack in acks {
                    let ack = ack.await.map_err(|e| RelayError::Publish(e.to_string()))?;
                    if ack.duplicate {
                        report.duplicates += 1;
                    } else {
                        report.republished += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// The event ids of every message stored since `since` (messages are stored after their row
    /// was created, so this covers every row created since then).
    async fn ids_in_stream_since(
        &self,
        since: OffsetDateTime,
    ) -> Result<HashSet<uuid::Uuid>, RelayError> {
        use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
        use futures::StreamExt;

        let err = |e: &dyn std::fmt::Display| RelayError::Publish(e.to_string());
        let mut ids = HashSet::new();
        let mut stream = self
            .nats
            .jetstream
            .get_stream(subjects::stream(&self.nats.subject_prefix))
            .await
            .map_err(|e| err(&e))?;
        let state = stream.info().await.map_err(|e| err(&e))?.state.clone();
        if state.messages == 0 {
            return Ok(ids);
        }
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartTime { start_time: since },
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
        let mut messages = consumer.messages().await.map_err(|e| err(&e))?;
        // Messages arrive back to back; a pause this long means there are no more since `since`.
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_secs(2), messages.next()).await
        {
            let message = message.map_err(|e| err(&e))?;
            if let Ok(envelope) = Envelope::from_slice(&message.payload) {
                ids.insert(envelope.id);
            }
            if message
                .info()
                .map(|i| i.stream_sequence >= state.last_sequence)
                .unwrap_or(false)
            {
                break;
            }
        }
        Ok(ids)
    }

    /// Deletes published rows older than the retention window.
    pub async fn prune(&self) -> Result<u64, RelayError> {
        let mut total = 0;
        for schema in &self.schemas {
            loop {
                let mut tx = self.db.begin().await?;
                let n = schema
                    .prune(&mut tx, self.config.retention.as_secs_f64())
                    .await?;
                tx.commit().await?;
                total += n;
                if n < 5000 {
                    break;
                }
            }
        }
        self.metrics.pruned.inc_by(total);
        Ok(total)
    }

    /// Refreshes the pending gauges; returns (schema, pending, oldest age in seconds).
    pub async fn stats(&self) -> Result<Vec<(String, i64, f64)>, RelayError> {
        let mut out = Vec::new();
        for schema in &self.schemas {
            let mut tx = self.db.begin().await?;
            let (pending, age) = schema.stats(&mut tx).await?;
            tx.commit().await?;
            let label = RelayMetrics::label(&schema.schema);
            self.metrics.pending.get_or_create(&label).set(pending);
            self.metrics
                .oldest_pending_age
                .get_or_create(&label)
                .set(age);
            out.push((schema.schema.clone(), pending, age));
        }
        Ok(out)
    }
}

fn short(e: &async_nats::jetstream::context::PublishError) -> String {
    // The error text carries the sizes; keep the log line short and free of payload bytes.
    e.to_string().chars().take(120).collect()
}

async fn sleep_or_shutdown(delay: Duration, shutdown: &Shutdown) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = shutdown.cancelled() => {}
    }
}

/// Capped exponential backoff with full jitter (AWS architecture blog's "full jitter").
pub struct Backoff {
    attempt: u32,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self { attempt: 0, max }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = Duration::from_millis(100).saturating_mul(1 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        let cap = base.min(self.max);
        // Jitter from a random UUID's bits: no extra RNG dependency for one number per retry.
        let fraction = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        cap.mul_f64(0.5 + fraction / 2.0)
    }
}
