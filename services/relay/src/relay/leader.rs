//! Leading: instances compete for a session advisory lock on a direct connection; the holder
//! publishes on that session until it loses it or shutdown starts, then the lock is free for the
//! next one.

use std::{sync::atomic::Ordering, time::Duration};

use gewebe_events::outbox::NOTIFY_CHANNEL;
use gewebe_platform::{Shutdown, sql};
use sqlx::PgConnection;

use super::{Backoff, Relay, RelayError};
use crate::jetstream;

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
                Ok(mut conn) => match sqlx::query_scalar::<_, bool>(sql!("leader_lock"))
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
                        tracing::warn!(error = %gewebe_platform::db::describe(e), "taking the relay lock failed");
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %gewebe_platform::db::describe(e), "cannot reach PostgreSQL directly");
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
        sqlx::query(sql!("synchronous_commit_off"))
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
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "relaying failed; rows stay pending");
                    sleep_or_shutdown(delay, shutdown).await;
                }
            }
        }
    }

    /// Creates or checks the streams. A stream that captures other subjects would lose events, so
    /// that is fatal; other differences (retention, replicas) are reported and publishing goes on.
    pub async fn provision(&self) -> Result<(), RelayError> {
        match jetstream::provision(
            &self.nats.jetstream,
            &self.nats.subject_prefix,
            &self.config.stream,
        )
        .await
        {
            Err(jetstream::StreamError::Mismatch { name, differences })
                if !differences.contains("subjects") =>
            {
                tracing::error!(stream = %name, %differences, "stream settings differ from the policy; not changing them");
                Ok(())
            }
            other => Ok(other?),
        }
    }
}

pub(super) async fn sleep_or_shutdown(delay: Duration, shutdown: &Shutdown) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = shutdown.cancelled() => {}
    }
}
