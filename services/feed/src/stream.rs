//! `GET /feed/stream`: one Server-Sent Events stream per client.
//!
//! Every event's `id:` is its JetStream stream sequence. A client that reconnects sends it back as
//! `Last-Event-ID` (EventSource does so by itself), and the stream replays everything after it from
//! JetStream with the same filters, then continues live — no gap, no duplicate:
//! 1. subscribe to the live fan-out first (so nothing that arrives from now on can be missed),
//! 2. replay from JetStream what came after the token,
//! 3. go live, skipping what the replay already sent (sequences only grow).
//!
//! A token older than the stream keeps (or from before a purge) gets `event: reset`: reload your
//! state. A stream opened with a ticket or token ends at the token's expiry (with jitter) with
//! `event: reauth`; the client reconnects with a fresh ticket and resumes. Shutdown ends streams
//! with a short `retry:` so clients move to another instance at once. A client that reads too
//! slowly gets `event: lagged` and is closed; it resumes from JetStream on reconnect.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use futures::StreamExt;
use gewebe_platform::{auth::AuthUser, http::extract::Query};
use serde::Deserialize;
use tokio::time::{Instant, Sleep};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    AppState,
    error::Error,
    event::FeedEvent,
    filter::Filter,
    hub::{Next, Subscribed},
    tickets::{self, Holder},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Comma-separated: `nodes`, `edges`, `conversations`, `account` (your own private events;
    /// needs a ticket or token). Default: all.
    topics: Option<String>,
    /// `minLon,minLat,maxLon,maxLat`: only events on the map inside it.
    bbox: Option<String>,
    /// Comma-separated H3 cells of any resolution: only events inside them (at most 64).
    cells: Option<String>,
    /// The resume token on a first connect (reconnects send the `Last-Event-ID` header).
    last_event_id: Option<String>,
    /// From `POST /feed/tickets`: authenticates a browser's EventSource.
    ticket: Option<String>,
}

/// Open streams per account, released when a stream ends.
#[derive(Default)]
pub struct AccountStreams(Mutex<HashMap<Uuid, usize>>);

pub struct AccountGuard(Arc<crate::App>, Uuid);

impl AccountStreams {
    fn acquire(app: &AppState, account: Uuid) -> Result<AccountGuard, Error> {
        let mut open = app
            .accounts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(account).or_default();
        if *n >= app.config.feed.max_per_account {
            return Err(Error::TooManyStreams { per_account: true });
        }
        *n += 1;
        Ok(AccountGuard(app.0.clone(), account))
    }
}

impl Drop for AccountGuard {
    fn drop(&mut self) {
        let mut open = self
            .0
            .accounts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

fn resume_token(headers: &HeaderMap, query: Option<&str>) -> Result<Option<u64>, Error> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(query);
    raw.map(|r| {
        r.trim().parse::<u64>().map_err(|_| {
            Error::bad_request(
                "invalid_last_event_id",
                "the resume token is the `id` of an event this feed sent",
            )
        })
    })
    .transpose()
}

/// The live feed. Public events need no authentication; send a ticket (browsers) or a Bearer token
/// to also get your private events.
#[utoipa::path(get, path = "/feed/stream", tag = "feed", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "the `id` of the last event received")),
    responses(
        (status = 200, description = "`text/event-stream`; events `node.created` … with `id:` (resume token) and `data:` (the public projection), and `reset`, `lagged`, `reauth`", content_type = "text/event-stream"),
        (status = 400, description = "`invalid_topics`, `invalid_bbox`, `invalid_cells`, `invalid_area`, `invalid_last_event_id`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 401, description = "`invalid_ticket`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 429, description = "`rate_limited`: too many streams for this account", body = gewebe_platform::http::problem::ProblemBody),
        (status = 503, description = "`overloaded`: this instance is full", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    user: Option<AuthUser>,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Error> {
    let resume = resume_token(&headers, q.last_event_id.as_deref())?;
    let holder = match (&q.ticket, user) {
        (Some(ticket), _) => Some(tickets::redeem(&app, ticket).await?),
        (None, Some(u)) => Some(Holder {
            account: u.id,
            expires_at: u.expires_at,
        }),
        (None, None) => None,
    };
    let filter = Filter::parse(
        q.topics.as_deref(),
        q.bbox.as_deref(),
        q.cells.as_deref(),
        app.config.feed.max_cells,
        holder.map(|h| h.account),
    )?;
    let permit = app
        .connections
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::TooManyStreams { per_account: false })?;
    let account = holder
        .map(|h| AccountStreams::acquire(&app, h.account))
        .transpose()?;

    // Subscribe before anything else, so the live path holds everything from now on.
    let live = app.hub.subscribe(filter);
    app.metrics.opened();
    let expiry = holder.map(|h| expiry_instant(h.expires_at));
    let now = Instant::now();
    let mut pump = Pump {
        live,
        cursor: 0,
        phase: Phase::Hello(resume),
        expiry,
        last_write: now,
        timer: Box::pin(tokio::time::sleep_until(now)),
        shutdown: app.shutdown.clone(),
        _held: Held {
            app: app.clone(),
            _permit: permit,
            _account: account,
        },
        app: app.clone(),
    };
    pump.arm();
    // The stream is the connection: no task per client. hyper polls it when the socket can take
    // more; the hub queues only this stream's own events for it, at most `FEED_BUFFER`, so a
    // client that stops reading fills its queue and learns `lagged` when it reads again.
    let body = futures::stream::unfold(pump, |mut pump| async move {
        let frame = pump.next().await?;
        Some((Ok::<_, Infallible>(frame), pump))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// What a stream holds until it ends: its slot, its account's slot, and the open-streams gauge.
struct Held {
    app: AppState,
    _permit: tokio::sync::OwnedSemaphorePermit,
    _account: Option<AccountGuard>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.app.metrics.closed();
    }
}

/// When a stream authenticated by a token ends: at the token's expiry, minus up to 30 s of jitter
/// so the streams opened with tokens from one login burst do not all reconnect in the same second.
fn expiry_instant(expires_at: i64) -> Instant {
    let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16 % 30);
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

enum Phase {
    /// The greeting (`retry:`), then replay from this token if there is one.
    Hello(Option<u64>),
    Replay(Messages),
    Live,
    Done,
}

struct Pump {
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

/// How a replay starts.
enum Start {
    Replay(Messages),
    /// Nothing after the token matches: go live from this sequence.
    Caught(u64),
    /// The stream cannot continue from the token.
    Reset,
}

impl Pump {
    /// The next bytes for the socket: an event's frame (rendered once for every stream), a control
    /// event, or a keep-alive comment.
    async fn next(&mut self) -> Option<Bytes> {
        let frame = self.next_frame().await;
        self.last_write = Instant::now();
        frame
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
                    if let Some(after) = resume {
                        // Boxed: the replay's setup is large and runs once; the live loop stays small.
                        match Box::pin(start_replay(&self.app, self.live.filter(), after)).await {
                            Ok(Start::Replay(messages)) => {
                                self.app.metrics.replayed();
                                self.cursor = after;
                                self.phase = Phase::Replay(messages);
                            }
                            Ok(Start::Caught(upto)) => self.cursor = upto,
                            Ok(Start::Reset) => {
                                self.app.metrics.reset();
                                return Some(control(
                                    "reset",
                                    "the resume token is older than the stream keeps; reload your state",
                                    Some(self.app.config.feed.retry),
                                ));
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "replay failed; closing so the client retries");
                                self.phase = Phase::Done;
                                return None;
                            }
                        }
                    }
                    return Some(Bytes::from(format!(
                        "retry: {}\n: gewebe feed\n\n",
                        self.app.config.feed.retry.as_millis()
                    )));
                }
                Phase::Replay(messages) => match messages.next().await {
                    Some(Ok(message)) => {
                        let Ok(info) = message.info() else {
                            continue;
                        };
                        let (seq, pending) = (info.stream_sequence, info.pending);
                        self.cursor = seq;
                        if pending == 0 {
                            self.phase = Phase::Live;
                        }
                        if let Some(e) = FeedEvent::from_message(seq, &message.payload)
                            && self.live.filter().matches(&e)
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

pub fn router() -> Router<AppState> {
    Router::new().route("/feed/stream", get(stream))
}
