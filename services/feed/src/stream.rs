//! `GET /feed/stream`: one Server-Sent Events stream per client.
//!
//! Every event's `id:` is its JetStream stream sequence. A client that reconnects sends it back as
//! `Last-Event-ID` (EventSource does so by itself), and the stream replays everything after it from
//! JetStream with the same filters, then continues live — no gap, no duplicate:
//! 1. subscribe to the live fan-out first (so nothing that arrives from now on can be missed),
//! 2. replay from JetStream what came after the token,
//! 3. go live, skipping what the replay already sent (sequences only grow).
//!
//! A replay reaches back at most `FEED_REPLAY_HORIZON_SECS`, counts against the resumer's replay
//! budget, never carries a forgotten account's events, and needs the forgotten list to be known;
//! otherwise, and for a token older than the stream keeps (or from before a purge), the client
//! gets `event: reset` (reload your state) and the stream goes on live. A stream opened with a
//! ticket or token ends at the token's expiry (with jitter) with `event: reauth`; the client
//! reconnects with a fresh ticket and resumes. Shutdown ends streams with a short `retry:` so
//! clients move to another instance at once. A client that reads too slowly gets `event: lagged`
//! and is closed; it resumes from JetStream on reconnect.

use std::convert::Infallible;

use axum::{
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::{
    auth::AuthUser,
    http::{client_ip::ClientIp, extract::Query},
    tickets::Holder,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    error::{Error, Limit},
    filter::Filter,
    limits::{self, Budget, Resumer},
    pump::{Held, Pump, Resume, expiry_instant},
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

/// Whether a resume may replay. Refused without a fresh forgotten list (an unfiltered replay could
/// carry a forgotten account's events), beyond the budget, or when the budget cannot be read.
async fn gate(app: &AppState, after: u64, who: Resumer) -> Resume {
    if !app.forgotten.fresh() {
        return Resume::Refused("replay_unavailable");
    }
    match limits::spend_replay(app, &who).await {
        Budget::Granted => Resume::From(after),
        Budget::Exhausted => Resume::Refused("replay_budget_exhausted"),
        Budget::Unknown => Resume::Refused("replay_unavailable"),
    }
}

/// The live feed. Public events need no authentication; send a ticket (browsers) or a Bearer token
/// to also get your private events.
#[utoipa::path(get, path = "/feed/stream", tag = "feed", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "the `id` of the last event received: the stream replays what came after it, at most `FEED_REPLAY_HORIZON_SECS` back and within the replay budget (`FEED_REPLAY_BUDGET` per `FEED_REPLAY_WINDOW_SECS` per address or account), else it starts with `event: reset`")),
    responses(
        (status = 200, description = "`text/event-stream`; events `node.created` … with `id:` (resume token) and `data:` (the public projection; never events of a forgotten account), and control events `reset` (`data: {\"code\", \"reason\"}` and the `id:` of the newest event, where the next reconnect resumes; code `token_not_in_stream`, `beyond_horizon`, `replay_budget_exhausted` or `replay_unavailable`: reload your state, live events follow), `lagged`, `reauth`, `shutdown`", content_type = "text/event-stream"),
        (status = 400, description = "`invalid_topics`, `invalid_bbox`, `invalid_cells`, `invalid_area`, `invalid_last_event_id`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_ticket`, `invalid_token`", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited` + `Retry-After`: too many open streams for this account (`FEED_MAX_CONNECTIONS_PER_ACCOUNT`) or, anonymous, for this address (`FEED_MAX_CONNECTIONS_PER_ADDRESS`; IPv6 counted by /64)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded` + `Retry-After`: this instance is full; `ticket_store_unavailable`: a ticket cannot be checked", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    user: Option<AuthUser>,
    Query(q): Query<StreamQuery>,
) -> Result<Response, Error> {
    let resume = resume_token(&headers, q.last_event_id.as_deref())?;
    let holder = match (&q.ticket, user) {
        (Some(ticket), _) => Some(app.tickets.redeem(ticket).await?),
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
        .map_err(|_| Error::TooManyStreams(Limit::Instance))?;
    let address = limits::address_key(ip);
    // Accounts have their own limit; the per-address one is for anonymous streams, so people
    // behind one NAT who are logged in do not share it.
    let (account, address_slot) = if let Some(h) = holder {
        let slot = app
            .accounts
            .acquire(h.account, app.config.feed.max_per_account)
            .ok_or(Error::TooManyStreams(Limit::Account))?;
        (Some(slot), None)
    } else {
        let slot = app
            .addresses
            .acquire(address, app.config.feed.max_per_address)
            .ok_or(Error::TooManyStreams(Limit::Address))?;
        (None, Some(slot))
    };
    let resume = match resume {
        None => Resume::Fresh,
        Some(after) => {
            let who = holder.map_or(Resumer::Address(address), |h| Resumer::Account(h.account));
            gate(&app, after, who).await
        }
    };

    // Subscribe before anything else, so the live path holds everything from now on.
    let live = app.hub.subscribe(filter);
    app.metrics.opened();
    let expiry = holder.map(|h| expiry_instant(h.expires_at));
    let held = Held {
        app: app.clone(),
        permit,
        account,
        address: address_slot,
    };
    let pump = Pump::new(app.clone(), live, resume, expiry, held);
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}
