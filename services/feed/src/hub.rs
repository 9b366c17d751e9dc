//! One JetStream consumer per instance, fanned out in process. The hub matches every event against
//! each open stream's filter and queues it only for the streams that want it, waking just those:
//! a map that shows Berlin is not woken for an event in Munich. (With one broadcast channel every
//! stream was woken for every event to filter for itself; most of the feed's CPU went to streams
//! that then sent nothing.)
//!
//! Each stream's queue is bounded by `FEED_BUFFER`, so memory stays bounded however slow a reader
//! is: a stream whose queue is full is marked lagged and emptied, told `lagged` when it is polled
//! next, and resumes from JetStream on reconnect.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use futures::{StreamExt, task::AtomicWaker};
use gewebe_platform::Shutdown;

use crate::{event::FeedEvent, filter::Filter, forgotten::Forgotten};

pub struct Hub {
    subscriptions: RwLock<slab::Slab<Arc<Subscription>>>,
    /// Events one stream may have queued; one more and it is lagged.
    capacity: usize,
    /// The last stream sequence handed to the streams.
    last: AtomicU64,
    /// Whose events are withheld; the hub adds what it sees in the stream.
    forgotten: Arc<Forgotten>,
}

/// One open stream as the hub sees it: what it wants, and what it has not taken yet.
pub struct Subscription {
    filter: Filter,
    queue: Mutex<Queue>,
    waker: AtomicWaker,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Arc<FeedEvent>>,
    lagged: bool,
}

/// What a stream takes from its subscription.
pub enum Next {
    Event(Arc<FeedEvent>),
    /// More than `FEED_BUFFER` events were waiting: the stream must end with `lagged`.
    Lagged,
}

impl Subscription {
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Option<Next> {
        let mut queue = self.queue();
        if queue.lagged {
            return Some(Next::Lagged);
        }
        queue.events.pop_front().map(Next::Event)
    }

    /// The next queued event, or `Pending` until the hub queues one.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        if let Some(next) = self.take() {
            return Poll::Ready(next);
        }
        self.waker.register(cx.waker());
        // The hub may have queued between the look and the registration.
        match self.take() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    /// Whether `e` is for this stream: it matches the filter, or it ends this stream's account.
    fn wants(&self, e: &FeedEvent) -> bool {
        match e.forgotten {
            Some(account) => self.filter.account == Some(account),
            None => self.filter.matches(e),
        }
    }

    fn push(&self, e: &Arc<FeedEvent>, capacity: usize) {
        {
            let mut queue = self.queue();
            if queue.lagged {
                return;
            }
            if queue.events.len() >= capacity {
                // Nothing queued will be sent now: let the events go at once.
                queue.lagged = true;
                queue.events = VecDeque::new();
            } else {
                queue.events.push_back(e.clone());
            }
        }
        self.waker.wake();
    }
}

/// A stream's place in the hub; leaving drops it from the fan-out.
pub struct Subscribed {
    hub: Arc<Hub>,
    key: usize,
    subscription: Arc<Subscription>,
}

impl std::ops::Deref for Subscribed {
    type Target = Subscription;
    fn deref(&self) -> &Subscription {
        &self.subscription
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        let mut subscriptions = self
            .hub
            .subscriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        subscriptions.try_remove(self.key);
    }
}

impl Hub {
    pub fn new(capacity: usize, forgotten: Arc<Forgotten>) -> Self {
        Self {
            subscriptions: RwLock::new(slab::Slab::new()),
            capacity,
            last: AtomicU64::new(0),
            forgotten,
        }
    }

    /// Everything the hub hands out from now on that `filter` wants is queued for the caller.
    pub fn subscribe(self: &Arc<Self>, filter: Filter) -> Subscribed {
        let subscription = Arc::new(Subscription {
            filter,
            queue: Mutex::new(Queue::default()),
            waker: AtomicWaker::new(),
        });
        let key = self
            .subscriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(subscription.clone());
        Subscribed {
            hub: self.clone(),
            key,
            subscription,
        }
    }

    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Queues `e` for every stream that wants it and wakes those streams only. An event about a
    /// forgotten account goes to nobody; a forget counts from here on, before any event that
    /// follows it in the stream.
    pub fn publish(&self, e: FeedEvent) {
        match e.forgotten {
            Some(account) => self.forgotten.learn(account),
            None if self.forgotten.any(&e.people) => return,
            None => {}
        }
        let e = Arc::new(e);
        let subscriptions = self
            .subscriptions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, s) in subscriptions.iter() {
            if s.wants(&e) {
                s.push(&e, self.capacity);
            }
        }
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
                    tracing::warn!(error = %e, %stream, "feed consumer interrupted; resuming");
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
                self.publish(event);
            }
            self.last.store(seq, Ordering::Release);
        }
    }
}
