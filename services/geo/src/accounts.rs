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

use std::time::Duration;

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
pub async fn run(
    app: AppState,
    jetstream: async_nats::jetstream::Context,
    prefix: String,
    health: ConsumerHealth,
    shutdown: Shutdown,
) {
    let mut config = ConsumerConfig::new(
        &prefix,
        DURABLE,
        &[AccountUpdated::TYPE, AccountForgotten::TYPE],
    );
    // While a database outage pauses the consumer, readiness says so.
    config.health = health;
    loop {
        let handler = |envelope: Envelope| {
            let app = app.clone();
            async move { apply(&app, envelope).await }
        };
        match consumer::run(&jetstream, &config, shutdown.token(), handler).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, durable = DURABLE, "account consumer stopped; retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = shutdown.cancelled() => return,
        }
    }
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
    let before: Option<(i32, i64, bool)> = sqlx::query_as(
        "SELECT fuzz_radius_m, version, forgotten FROM geo.accounts WHERE id = $1 FOR UPDATE",
    )
    .bind(e.account_id)
    .fetch_optional(&mut *tx)
    .await?;
    if before
        .is_some_and(|(_, version, forgotten)| forgotten || version >= envelope.aggregate.version)
    {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO geo.accounts (id, fuzz_radius_m, ron, version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET fuzz_radius_m = EXCLUDED.fuzz_radius_m, ron = EXCLUDED.ron, \
             version = EXCLUDED.version \
         WHERE geo.accounts.version < EXCLUDED.version AND NOT geo.accounts.forgotten",
    )
    .bind(e.account_id)
    .bind(radius)
    .bind(e.ron)
    .bind(envelope.aggregate.version)
    .execute(&mut *tx)
    .await?;
    if before.map_or(0, |b| b.0) != radius {
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
        let owners = sqlx::query_scalar(
            "SELECT n.owner_id FROM geo.nodes n JOIN geo.accounts a ON a.id = n.owner_id \
             WHERE n.kind = 'home' AND a.fuzz_radius_m > 0",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        owners
    };
    let mut moved = 0;
    for owner in &owners {
        let mut tx = app.db.begin().await?;
        // The radius as it is now, under the lock a settings update takes too: one that arrived
        // since the list was read is not undone with the radius it replaced.
        let radius: Option<i32> = sqlx::query_scalar(
            "SELECT fuzz_radius_m FROM geo.accounts WHERE id = $1 AND NOT forgotten FOR UPDATE",
        )
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
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
    let homes: Vec<(Uuid, f64, f64)> = sqlx::query_as(
        "SELECT id, ST_Y(location), ST_X(location) FROM geo.nodes \
         WHERE owner_id = $1 AND kind = 'home' FOR UPDATE",
    )
    .bind(account)
    .fetch_all(&mut *conn)
    .await?;
    for (id, lat, lon) in homes {
        let public = nodes::homes::public_position(app, id, "home", radius, (lat, lon));
        let changes = nodes::store::Changes {
            location: Some(((lat, lon), public, nodes::routes::h3_of(public)?)),
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
    sqlx::query(
        "INSERT INTO geo.accounts (id, forgotten, ron, version) VALUES ($1, true, true, $2) \
         ON CONFLICT (id) DO UPDATE SET forgotten = true, fuzz_radius_m = 0, ron = true, \
             version = greatest(geo.accounts.version, EXCLUDED.version)",
    )
    .bind(e.account_id)
    .bind(envelope.aggregate.version)
    .execute(&mut *tx)
    .await?;
    let homes: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM geo.nodes WHERE owner_id = $1 AND kind = 'home' FOR UPDATE",
    )
    .bind(e.account_id)
    .fetch_all(&mut *tx)
    .await?;
    for id in homes {
        nodes::delete_with_edges(&mut tx, &app.outbox, id, None).await?;
    }
    let nodes = sqlx::query("UPDATE geo.nodes SET owner_id = NULL WHERE owner_id = $1")
        .bind(e.account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("UPDATE geo.edges SET owner_id = NULL WHERE owner_id = $1")
        .bind(e.account_id)
        .execute(&mut *tx)
        .await?;
    app.outbox.commit(tx).await?;
    tracing::info!(account_id = %e.account_id, reassigned_nodes = nodes, "forgotten account removed from the map");
    Ok(true)
}
