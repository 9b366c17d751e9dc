//! What gewebe-geo does with auth's account events (consumer `geo-accounts`):
//! - `account.updated`: remember the fuzz radius and RoN flag; a new radius moves the public
//!   position of the account's `home` node (with a `node.updated` event and fresh tiles). The
//!   account's row is locked first, as home writes lock it (`nodes::homes::lock_settings`),
//!   so a home written concurrently is either seen and moved here, or written under these settings;
//!   the row's `version` is what home writes compare with their token's `pv`;
//! - `account.forgotten`: delete the account's `home` node and its edges (with their events), and
//!   hand its other nodes and edges to the role-without-name placeholder (owner NULL).
//!
//! Idempotent twice over: each event id is applied once (`processed_events`, in the same
//! transaction as the effect), and an `account.updated` older than what is stored is skipped, so a
//! redelivery that arrives after a newer event cannot undo it.

mod store;

use gewebe_events::{
    Envelope, Event,
    consumer::{self, ConsumerConfig, ConsumerHealth, HandlerError},
    types::{AccountForgotten, AccountUpdated},
};
use gewebe_platform::Shutdown;
use uuid::Uuid;

use crate::{AppState, SCHEMA, events, nodes};

pub const DURABLE: &str = "geo-accounts";

/// Consumes until shutdown; retries the setup while the stream does not exist yet (the relay
/// creates it) or NATS is away.
pub async fn run(app: AppState, health: ConsumerHealth, shutdown: Shutdown) {
    let mut config = ConsumerConfig::new(
        &app.nats.subject_prefix,
        DURABLE,
        &[AccountUpdated::TYPE, AccountForgotten::TYPE],
    );
    // While a database outage pauses the consumer, readiness says so.
    config.health = health;
    let handler = |envelope: Envelope| {
        let app = app.clone();
        async move { apply(&app, envelope).await }
    };
    consumer::run_until_shutdown(&app.nats.jetstream, &config, &shutdown, handler).await;
}

/// Applies one account event (others are ignored).
pub async fn apply(app: &AppState, envelope: Envelope) -> Result<(), HandlerError> {
    let event_type = envelope.event_type.clone();
    let result = match event_type.as_str() {
        AccountUpdated::TYPE => updated(app, &envelope, envelope.decode::<AccountUpdated>()?).await,
        AccountForgotten::TYPE => {
            forgotten(app, &envelope, envelope.decode::<AccountForgotten>()?).await
        }
        _ => return Ok(()),
    };
    match &result {
        Ok(true) => app.metrics.account_event(&event_type, "applied"),
        Ok(false) => app.metrics.account_event(&event_type, "skipped"),
        Err(_) => app.metrics.account_event(&event_type, "failed"),
    }
    result.map(|_| ())
}

/// `Ok(false)` when skipped (seen before, older than what is stored, or the account is forgotten).
async fn updated(
    app: &AppState,
    envelope: &Envelope,
    e: AccountUpdated,
) -> Result<bool, HandlerError> {
    let radius = i32::try_from(e.fuzz_radius_m.min(5000)).unwrap_or(5000);
    let mut tx = app.db.begin().await?;
    if !consumer::first_time(&mut tx, SCHEMA, DURABLE, envelope.id).await? {
        tx.commit().await?;
        return Ok(false);
    }
    let before = store::lock(&mut tx, e.account_id).await?;
    if before
        .as_ref()
        .is_some_and(|b| b.forgotten || b.version >= envelope.aggregate.version)
    {
        tx.commit().await?;
        return Ok(false);
    }
    let version = envelope.aggregate.version;
    store::save(&mut tx, e.account_id, radius, e.ron, version).await?;
    if before.map_or(0, |b| b.fuzz_radius_m) != radius {
        refuzz_home(app, &mut tx, e.account_id, radius).await?;
    }
    app.outbox.commit(tx).await?;
    Ok(true)
}

/// Recomputes the public position of every `home` node with the current key and radius (after a
/// key rotation: `gewebe-geo homes refuzz`). Returns how many moved. One transaction per account.
pub async fn refuzz_all(app: &AppState) -> Result<u64, HandlerError> {
    let owners: Vec<Uuid> = {
        let mut tx = app.db.begin().await?;
        let owners = store::fuzzed_home_owners(&mut tx).await?;
        tx.commit().await?;
        owners
    };
    let mut moved = 0;
    for owner in &owners {
        let mut tx = app.db.begin().await?;
        // The radius as it is now, under the lock a settings update takes too: one that arrived
        // since the list was read is not undone with the radius it replaced.
        let radius = store::lock_radius(&mut tx, *owner).await?;
        if let Some(radius) = radius.filter(|r| *r > 0) {
            refuzz_home(app, &mut tx, *owner, radius).await?;
            moved += 1;
        }
        app.outbox.commit(tx).await?;
    }
    Ok(moved)
}

/// Moves the public position of the account's `home` node to the point for `radius`.
async fn refuzz_home(
    app: &AppState,
    conn: &mut sqlx::PgConnection,
    account: Uuid,
    radius: i32,
) -> Result<(), HandlerError> {
    let homes = store::lock_homes(&mut *conn, account).await?;
    for (id, lat, lon) in homes {
        let public = nodes::position::public_position(app, id, "home", radius, (lat, lon));
        let changes = nodes::store::Changes {
            location: Some(((lat, lon), public, nodes::position::h3_of(public)?)),
            ..Default::default()
        };
        // Viewer nil: the returned row (used for the event) carries public positions only.
        let row = nodes::store::update(&mut *conn, id, &changes, Uuid::nil()).await?;
        app.outbox
            .record(&mut *conn, &events::node_updated(&row, None)?)
            .await?;
        tracing::info!(node_id = %id, "home node re-fuzzed after a radius change");
    }
    Ok(())
}

async fn forgotten(
    app: &AppState,
    envelope: &Envelope,
    e: AccountForgotten,
) -> Result<bool, HandlerError> {
    let mut tx = app.db.begin().await?;
    if !consumer::first_time(&mut tx, SCHEMA, DURABLE, envelope.id).await? {
        tx.commit().await?;
        return Ok(false);
    }
    store::mark_forgotten(&mut tx, e.account_id, envelope.aggregate.version).await?;
    for (id, ..) in store::lock_homes(&mut tx, e.account_id).await? {
        nodes::delete_with_edges(&mut tx, &app.outbox, id, None).await?;
    }
    let nodes = store::release_nodes_and_edges(&mut tx, e.account_id).await?;
    app.outbox.commit(tx).await?;
    tracing::info!(account_id = %e.account_id, reassigned_nodes = nodes, "forgotten account removed from the map");
    Ok(true)
}
