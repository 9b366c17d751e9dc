//! One stream's pump: the greeting, the replay from JetStream, then the live queue, with
//! keep-alives, the token's expiry and shutdown — polled by hyper as the socket takes more, so a
//! stream needs no task of its own.

use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use bytes::Bytes;
use futures::StreamExt;
use tokio::time::{Instant, Sleep};
use uuid::Uuid;

use crate::{
    AppState,
    event::FeedEvent,
    filter::Filter,
    hub::{Next, Subscribed},
    limits::Slot,
};

/// How a stream starts.
#[derive(Debug, Clone, Copy)]
pub enum Resume {
    /// No resume token: live from now.
    Fresh,
    /// Replay what came after this sequence, then live.
    From(u64),
    /// A resume token, but no replay: `event: reset` with this code, then live.
    Refused(&'static str),
}

/// What a stream holds until it ends: its slot, its account's or address's slot, and the
/// open-streams gauge.
pub struct Held {
    pub app: AppState,
    pub permit: tokio::sync::OwnedSemaphorePermit,
    pub account: Option<Slot<Uuid>>,
    pub address: Option<Slot<std::net::IpAddr>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.app.metrics.closed();
    }
}

/// When a stream authenticated by a token ends: at the token's expiry, minus up to 30 s of jitter
/// so the streams opened with tokens from one login burst do not all reconnect in the same second.
pub fn expiry_instant(expires_at: i64) -> Instant {
    let jitter = u64::try_from(uuid::Uuid::new_v4().as_u128() % 30).unwrap_or(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let secs = u64::try_from(expires_at - now)
        .unwrap_or(0)
        .saturating_sub(jitter);
    Instant::now() + Duration::from_secs(secs)
}

type Messages = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = Result<
                    async_nats::jetstream::Message,
                    async_nats::jetstream::consumer::pull::OrderedError,
                >,
            > + Send,
    >,
>;

pub enum Phase {
    /// The greeting (`retry:`), then the replay if there is one.
    Hello(Resume),
    /// `checked`: whether the first message was found inside the replay horizon.
    Replay {
        messages: Messages,
        checked: bool,
    },
    Live,
    Done,
}

pub struct Pump {
    app: AppState,
    /// This stream's queue in the hub, with its filter.
    live: Subscribed,
    /// The highest sequence handled (sent or filtered out): what the live path must not repeat.
    cursor: u64,
    phase: Phase,
    expiry: Option<Instant>,
    last_write: Instant,
    /// One timer for the keep-alive and the expiry, armed for whichever comes first. It is moved
    /// only when it fires, not after every write: a delivery costs no timer update.
    timer: std::pin::Pin<Box<Sleep>>,
    shutdown: gewebe_platform::Shutdown,
    _held: Held,
}

/// A control event (`reset`, `lagged`, `reauth`, `shutdown`), with a `retry:` hint when given.
fn control(name: &'static str, reason: &'static str, retry: Option<Duration>) -> Bytes {
    let retry = retry.map_or(String::new(), |r| format!("retry: {}\n", r.as_millis()));
    Bytes::from(format!(
        "{retry}event: {name}\ndata: {{\"reason\":\"{reason}\"}}\n\n"
    ))
}

/// `event: reset` with a stable `code` for clients: reload your state, then go on live. Its `id:`
/// is the newest sequence the hub has handed out, so EventSource's next reconnect resumes from
/// there instead of from the token that was refused (which would be refused again, and cost the
/// client another reload); the reload covers everything up to it.
fn reset(code: &'static str, reason: &'static str, retry: Duration, newest: u64) -> Bytes {
    let id = if newest > 0 {
        format!("id: {newest}\n")
    } else {
        String::new()
    };
    Bytes::from(format!(
        "retry: {}\n{id}event: reset\ndata: {{\"code\":\"{code}\",\"reason\":\"{reason}\"}}\n\n",
        retry.as_millis()
    ))
}

/// What a refused resume's `reset` says.
fn refusal_reason(code: &str) -> &'static str {
    match code {
        "replay_budget_exhausted" => {
            "this address or account resumed too often; reload your state, live events follow"
        }
        _ => "replays are unavailable right now; reload your state, live events follow",
    }
}

/// How a replay starts.
enum Start {
    Replay(Messages),
    /// Nothing after the token matches: go live from this sequence.
    Caught(u64),
    /// The stream cannot continue from the token.
    Reset,
}

impl Pump {
    /// A stream that starts as `resume` says, with the hub subscription it already holds.
    pub fn new(
        app: AppState,
        live: Subscribed,
        resume: Resume,
        expiry: Option<Instant>,
        held: Held,
    ) -> Self {
        let now = Instant::now();
        let mut pump = Self {
            shutdown: app.shutdown.clone(),
            app,
            live,
            cursor: 0,
            phase: Phase::Hello(resume),
            expiry,
            last_write: now,
            timer: Box::pin(tokio::time::sleep_until(now)),
            _held: held,
        };
        pump.arm();
        pump
    }

    /// The next bytes for the socket: an event's frame (rendered once for every stream), a control
    /// event, or a keep-alive comment.
    pub async fn next(&mut self) -> Option<Bytes> {
        let frame = self.next_frame().await;
        self.last_write = Instant::now();
        frame
    }

    /// A `reset` whose `id:` is the newest event the hub has seen, and the cursor moved there: the
    /// client reloads its state and resumes from that id, so live events up to it that were already
    /// queued for this stream (the hub can be behind the stream's own setup) are not sent again.
    fn reset(&mut self, code: &'static str, reason: &'static str, retry: Duration) -> Bytes {
        let newest = self.app.hub.last();
        self.cursor = self.cursor.max(newest);
        reset(code, reason, retry, newest)
    }

    fn arm(&mut self) {
        let keepalive = self.last_write + self.app.config.feed.keepalive;
        let at = self
            .expiry
            .map_or(keepalive, |expiry| expiry.min(keepalive));
        self.timer.as_mut().reset(at);
    }

    /// The timer fired: the token expired, the stream was quiet for the keep-alive interval, or
    /// neither any more (it was written to since the timer was armed).
    fn on_timer(&mut self) -> Option<Bytes> {
        let now = Instant::now();
        if self.expiry.is_some_and(|at| now >= at) {
            self.phase = Phase::Done;
            return Some(control(
                "reauth",
                "the access token expired; reconnect with a fresh ticket",
                None,
            ));
        }
        let quiet = now >= self.last_write + self.app.config.feed.keepalive;
        if quiet {
            self.last_write = now;
        }
        self.arm();
        // A comment keeps proxies from closing a stream that has been quiet for a while.
        quiet.then(|| Bytes::from_static(b": keep-alive\n\n"))
    }

    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            match &mut self.phase {
                Phase::Done => return None,
                Phase::Hello(resume) => {
                    let resume = *resume;
                    self.phase = Phase::Live;
                    let retry = self.app.config.feed.retry;
                    match resume {
                        Resume::Fresh => {}
                        Resume::Refused(code) => {
                            self.app.metrics.refused();
                            return Some(self.reset(code, refusal_reason(code), retry));
                        }
                        // Boxed: the replay's setup is large and runs once; the live loop stays small.
                        Resume::From(after) => {
                            match Box::pin(start_replay(&self.app, self.live.filter(), after)).await
                            {
                                Ok(Start::Replay(messages)) => {
                                    self.app.metrics.replayed();
                                    self.cursor = after;
                                    self.phase = Phase::Replay {
                                        messages,
                                        checked: false,
                                    };
                                }
                                Ok(Start::Caught(upto)) => self.cursor = upto,
                                Ok(Start::Reset) => {
                                    self.app.metrics.reset();
                                    return Some(self.reset(
                                        "token_not_in_stream",
                                        "the resume token is older than the stream keeps; reload your state",
                                        retry,
                                    ));
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "replay failed; closing so the client retries");
                                    self.phase = Phase::Done;
                                    return None;
                                }
                            }
                        }
                    }
                    return Some(Bytes::from(format!(
                        "retry: {}\n: gewebe feed\n\n",
                        retry.as_millis()
                    )));
                }
                Phase::Replay { messages, checked } => match messages.next().await {
                    Some(Ok(message)) => {
                        let Ok(info) = message.info() else {
                            continue;
                        };
                        // The replay reads in stream order: if its first message is inside the
                        // horizon, so is everything after it.
                        if !*checked {
                            *checked = true;
                            let horizon = time::OffsetDateTime::now_utc()
                                - self.app.config.feed.replay_horizon;
                            if info.published < horizon {
                                self.app.metrics.reset();
                                self.phase = Phase::Live;
                                let retry = self.app.config.feed.retry;
                                return Some(self.reset(
                                    "beyond_horizon",
                                    "the resume token is older than the feed replays; reload your state",
                                    retry,
                                ));
                            }
                        }
                        let (seq, pending) = (info.stream_sequence, info.pending);
                        self.cursor = seq;
                        if pending == 0 {
                            self.phase = Phase::Live;
                        }
                        if let Some(e) = FeedEvent::from_message(seq, &message.payload)
                            && self.live.filter().matches(&e)
                            && !self.app.forgotten.any(&e.people)
                        {
                            return Some(e.frame.clone());
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "replay interrupted; closing so the client retries");
                        self.phase = Phase::Done;
                        return None;
                    }
                    None => self.phase = Phase::Live,
                },
                Phase::Live => {
                    let live = &self.live;
                    let next = tokio::select! {
                        next = std::future::poll_fn(|cx| live.poll_next(cx)) => next,
                        () = &mut self.timer => match self.on_timer() {
                            Some(frame) => return Some(frame),
                            None => continue,
                        },
                        () = self.shutdown.cancelled() => {
                            self.phase = Phase::Done;
                            return Some(control("shutdown", "this instance is stopping; reconnect", Some(Duration::from_millis(200))));
                        }
                    };
                    match next {
                        Next::Event(e) if e.seq <= self.cursor => {}
                        Next::Event(e) => {
                            self.cursor = e.seq;
                            // The hub queues `account.forgotten` only for that account's streams.
                            if e.forgotten.is_some() {
                                self.phase = Phase::Done;
                                return Some(control("reauth", "this account was deleted", None));
                            }
                            self.app.metrics.delivered(e.occurred_at);
                            return Some(e.frame.clone());
                        }
                        Next::Lagged => {
                            self.app.metrics.lagged();
                            self.phase = Phase::Done;
                            return Some(control(
                                "lagged",
                                "this client read too slowly; reconnect to resume",
                                None,
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Sets up a replay of what the stream holds after `after` for `filter`.
async fn start_replay(
    app: &AppState,
    filter: &Filter,
    after: u64,
) -> Result<Start, Box<dyn std::error::Error + Send + Sync>> {
    let js = &app.nats.jetstream;
    let mut stream = js
        .get_stream(gewebe_events::subjects::stream(&app.nats.subject_prefix))
        .await?;
    let state = stream.info().await?.state.clone();
    // After a purge the stream is empty with `first_sequence = last_sequence + 1`, so every older
    // token lands here too.
    if after > state.last_sequence || after + 1 < state.first_sequence {
        return Ok(Start::Reset);
    }
    if after >= state.last_sequence {
        return Ok(Start::Caught(after));
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            filter_subjects: filter.subjects(&app.nats.subject_prefix),
            ..Default::default()
        })
        .await?;
    if consumer.cached_info().num_pending == 0 {
        return Ok(Start::Caught(state.last_sequence));
    }
    Ok(Start::Replay(Box::pin(consumer.messages().await?)))
}
