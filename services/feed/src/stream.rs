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
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use axum::{
    Router,
    extract::State,
    http::HeaderMap,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::StreamExt;
use gewebe_platform::{auth::AuthUser, http::extract::Query};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    AppState,
    error::Error,
    event::FeedEvent,
    filter::Filter,
    tickets::{self, Holder},
};

/// Events queued for one client's socket. The slack for slow readers is the fan-out buffer
/// (`FEED_BUFFER`); this queue only decouples the socket from the pump.
const QUEUE: usize = 16;

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
    let live = app.hub.subscribe();
    let (tx, rx) = mpsc::channel::<Event>(QUEUE);
    let lagged = Arc::new(AtomicBool::new(false));
    let connection = Connection {
        app: app.clone(),
        filter,
        tx,
        lagged: lagged.clone(),
        deadline: holder.map(|h| h.expires_at),
    };
    app.metrics.opened();
    let shutdown = app.shutdown.clone();
    app.shutdown.spawn(async move {
        connection.run(resume, live, shutdown).await;
        drop((permit, account));
    });
    let body = futures::stream::unfold((rx, lagged, false), |(mut rx, lagged, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(event) => Some((Ok::<_, Infallible>(event), (rx, lagged, false))),
            // The pump let go: if it was because this client read too slowly, say so last.
            None if lagged.load(Ordering::Acquire) => Some((
                Ok(Event::default().event("lagged").data("{}")),
                (rx, lagged, true),
            )),
            None => None,
        }
    });
    Ok(Sse::new(body)
        .keep_alive(KeepAlive::new().interval(app.config.feed.keepalive))
        .into_response())
}

struct Connection {
    app: AppState,
    filter: Filter,
    tx: mpsc::Sender<Event>,
    lagged: Arc<AtomicBool>,
    /// Unix seconds at which the authenticating token expires.
    deadline: Option<i64>,
}

fn sse(e: &FeedEvent) -> Event {
    Event::default()
        .id(e.seq.to_string())
        .event(&e.event_type)
        .data(&e.data)
}

enum Next {
    Continue,
    Stop,
}

impl Connection {
    async fn run(
        self,
        resume: Option<u64>,
        mut live: broadcast::Receiver<Arc<FeedEvent>>,
        shutdown: gewebe_platform::Shutdown,
    ) {
        let hello = Event::default()
            .retry(self.app.config.feed.retry)
            .comment("gewebe feed");
        if self.tx.send(hello).await.is_err() {
            return;
        }
        let mut cursor = match resume {
            Some(after) => match self.replay(after).await {
                Ok(Some(upto)) => upto,
                Ok(None) => {
                    self.app.metrics.reset();
                    let reset = Event::default()
                        .event("reset")
                        .data(r#"{"reason":"the resume token is older than the stream keeps; reload your state"}"#);
                    if self.tx.send(reset).await.is_err() {
                        return;
                    }
                    0
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replay failed; closing so the client retries");
                    return;
                }
            },
            None => 0,
        };
        let expiry = self.deadline.map(|exp| {
            // Jitter, so the streams opened with tokens from one login burst do not all reconnect
            // in the same second.
            let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16 % 30);
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let secs = u64::try_from(exp - now).unwrap_or(0).saturating_sub(jitter);
            tokio::time::Instant::now() + Duration::from_secs(secs)
        });
        loop {
            let next = tokio::select! {
                received = live.recv() => self.live(received, &mut cursor, &shutdown).await,
                () = until(expiry) => {
                    let _ = self.tx.try_send(Event::default().event("reauth").data(r#"{"reason":"the access token expired; reconnect with a fresh ticket"}"#));
                    Next::Stop
                }
                () = shutdown.cancelled() => {
                    let _ = self.tx.try_send(Event::default().retry(Duration::from_millis(200)).event("shutdown").data("{}"));
                    Next::Stop
                }
                () = self.tx.closed() => Next::Stop,
            };
            if matches!(next, Next::Stop) {
                break;
            }
        }
        self.app.metrics.closed();
    }

    /// Forwards one live event. Waiting for a slow socket is fine: the fan-out buffer behind this
    /// receiver holds what arrives meanwhile, and when it overflows the next receive says so.
    async fn live(
        &self,
        received: Result<Arc<FeedEvent>, broadcast::error::RecvError>,
        cursor: &mut u64,
        shutdown: &gewebe_platform::Shutdown,
    ) -> Next {
        match received {
            Ok(e) if e.seq <= *cursor => Next::Continue,
            Ok(e) => {
                *cursor = e.seq;
                if !self.filter.matches(&e) {
                    return Next::Continue;
                }
                tokio::select! {
                    sent = self.tx.send(sse(&e)) => match sent {
                        Ok(()) => {
                            self.app.metrics.delivered(e.occurred_at);
                            Next::Continue
                        }
                        Err(_) => Next::Stop,
                    },
                    () = shutdown.cancelled() => Next::Stop,
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => self.lag(),
            Err(broadcast::error::RecvError::Closed) => Next::Stop,
        }
    }

    fn lag(&self) -> Next {
        self.lagged.store(true, Ordering::Release);
        self.app.metrics.lagged();
        Next::Stop
    }

    /// Sends what the stream holds after `after` and matches; `Ok(None)` when the token is not one
    /// the stream can continue from (aged out, purged, or from another stream).
    async fn replay(
        &self,
        after: u64,
    ) -> Result<Option<u64>, Box<dyn std::error::Error + Send + Sync>> {
        let js = &self.app.nats.jetstream;
        let mut stream = js
            .get_stream(gewebe_events::subjects::stream(
                &self.app.nats.subject_prefix,
            ))
            .await?;
        let state = stream.info().await?.state.clone();
        if after > state.last_sequence || (state.messages > 0 && after + 1 < state.first_sequence) {
            return Ok(None);
        }
        if after >= state.last_sequence {
            return Ok(Some(after));
        }
        self.app.metrics.replayed();
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                filter_subjects: self.filter.subjects(&self.app.nats.subject_prefix),
                ..Default::default()
            })
            .await?;
        let mut cursor = after;
        if consumer.cached_info().num_pending == 0 {
            return Ok(Some(state.last_sequence));
        }
        let mut messages = consumer.messages().await?;
        while let Some(message) = messages.next().await {
            let message = message?;
            let info = message.info()?;
            let (seq, pending) = (info.stream_sequence, info.pending);
            if let Some(e) = FeedEvent::from_message(seq, &message.payload)
                && self.filter.matches(&e)
            {
                // Waiting is right here: replay runs at the client's pace, and what arrives live
                // meanwhile waits in the fan-out buffer.
                self.tx.send(sse(&e)).await?;
            }
            cursor = seq;
            if pending == 0 {
                break;
            }
        }
        Ok(Some(cursor))
    }
}

async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/feed/stream", get(stream))
}
