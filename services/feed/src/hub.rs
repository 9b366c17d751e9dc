//! One JetStream consumer per instance, fanned out in process: every connection subscribes to one
//! broadcast channel and filters for itself. The channel is the only buffer between the stream and
//! the connections, so memory stays bounded however slow a reader is: one that falls more than
//! `FEED_BUFFER` events behind is told `lagged` and resumes from JetStream.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use futures::StreamExt;
use gewebe_platform::Shutdown;
use tokio::sync::broadcast;

use crate::event::FeedEvent;

pub struct Hub {
    tx: broadcast::Sender<Arc<FeedEvent>>,
    /// The last stream sequence handed to the connections.
    last: AtomicU64,
}

impl Hub {
    pub fn new(buffer: usize) -> Self {
        let (tx, _) = broadcast::channel(buffer);
        Self {
            tx,
            last: AtomicU64::new(0),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.tx.subscribe()
    }

    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Reads the stream from now on until shutdown; after a failure it continues after the last
    /// sequence it handed out, so the live path has no gap either.
    pub async fn run(&self, js: jetstream::Context, stream: String, shutdown: Shutdown) {
        loop {
            let deliver = match self.last() {
                0 => DeliverPolicy::New,
                last => DeliverPolicy::ByStartSequence {
                    start_sequence: last + 1,
                },
            };
            match self.follow(&js, &stream, deliver, &shutdown).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, %stream, "feed consumer interrupted; resuming")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn follow(
        &self,
        js: &jetstream::Context,
        stream: &str,
        deliver_policy: DeliverPolicy,
        shutdown: &Shutdown,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let consumer = js
            .get_stream(stream)
            .await?
            .create_consumer(OrderedConfig {
                deliver_policy,
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
            let seq = message.info()?.stream_sequence;
            if let Some(event) = FeedEvent::from_message(seq, &message.payload) {
                // No receivers is fine: nobody is listening right now.
                let _ = self.tx.send(Arc::new(event));
            }
            self.last.store(seq, Ordering::Release);
        }
    }
}
