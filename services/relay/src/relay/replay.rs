//! The outbox rebuild: republish what the stream lost, from the published rows still kept.

use std::{collections::HashSet, time::Duration};

use gewebe_events::{Envelope, subjects};
use time::OffsetDateTime;

use super::{Relay, RelayError};

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
                .is_ok_and(|i| i.stream_sequence >= state.last_sequence)
            {
                break;
            }
        }
        Ok(ids)
    }
}
