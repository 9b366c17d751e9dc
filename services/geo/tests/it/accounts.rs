//! Location privacy and the account events geo consumes from a real JetStream: the exact position
//! of a `home` node reaches its owner and nobody else — not a response, tile, event or log line.

use std::time::Duration;

use gewebe_events::{
    Envelope,
    types::{AccountForgotten, AccountUpdated},
};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Geo, User, tiles};

pub const EXACT: (f64, f64) = (52.512_345_6, 13.412_345_6);
pub const EXACT_TEXT: [&str; 2] = ["52.5123456", "13.4123456"];

pub async fn spawn_consuming() -> Geo {
    let geo = crate::spawn_with(|c| c.geo.consume_account_events = true).await;
    // The stream the relay provisions, under this test's prefix.
    let client = async_nats::connect(gewebe_testkit::TestEnv::from_env().nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: gewebe_events::subjects::stream(&geo.prefix),
        subjects: vec![gewebe_events::subjects::all_events(&geo.prefix)],
        duplicate_window: Duration::from_mins(2),
        ..Default::default()
    })
    .await
    .unwrap();
    geo
}

/// Publishes an event as the relay would (subject by type, `Nats-Msg-Id` = event id).
pub async fn publish(geo: &Geo, envelope: &Envelope) {
    let client = async_nats::connect(gewebe_testkit::TestEnv::from_env().nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", envelope.id.to_string().as_str());
    js.publish_with_headers(
        gewebe_events::subjects::event(&geo.prefix, &envelope.event_type),
        headers,
        envelope.to_vec().unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

pub fn updated(account: Uuid, version: i64, radius: u32, ron: bool) -> Envelope {
    Envelope::new(
        "gewebe-auth",
        account,
        version,
        &AccountUpdated {
            account_id: account,
            fuzz_radius_m: radius,
            ron,
        },
    )
    .unwrap()
}

/// Waits until `sql` (one bigint/boolean-free text column, or NULL) returns `want`.
pub async fn until(geo: &Geo, sql: &str, bind: Uuid, want: &str) {
    let mut conn = geo.pg().await;
    let mut last = None;
    for _ in 0..200 {
        last = sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(bind)
            .fetch_optional(&mut conn)
            .await
            .unwrap()
            .flatten();
        if last.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql}: wanted {want:?}, last saw {last:?}");
}

pub fn assert_no_exact(what: &str, text: &str) {
    for exact in EXACT_TEXT {
        assert!(
            !text.contains(exact),
            "{what} reveals the exact home position: {text}"
        );
    }
}

pub fn location(v: &Value) -> (f64, f64) {
    (v["lat"].as_f64().unwrap(), v["lon"].as_f64().unwrap())
}

pub async fn create_home(geo: &Geo, ada: &User) -> Value {
    geo.node(ada, "home", "Zuhause", EXACT.0, EXACT.1).await
}

#[tokio::test]
async fn the_exact_home_position_reaches_only_its_owner() {
    let geo = spawn_consuming().await;
    let ada = geo.user().await;
    let bob = geo.user().await;
    publish(&geo, &updated(ada.id, 2, 2000, false)).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "2000",
    )
    .await;

    let home = create_home(&geo, &ada).await;
    let id = home["id"].as_str().unwrap().to_owned();
    assert_eq!(
        location(&home["location"]),
        EXACT,
        "the owner sees where they put it"
    );
    let public = location(&home["public_location"]);
    let d = gewebe_geo::privacy::distance_m(EXACT, public);
    assert!((1000.0..=2000.0).contains(&d), "{d} m");
    // Deterministic: the same point every time, for everyone.
    let (_, as_bob) = geo.get(&format!("/geo/nodes/{id}"), Some(&bob)).await;
    let (_, anonymous) = geo.get(&format!("/geo/nodes/{id}"), None).await;
    assert_eq!(location(&as_bob["location"]), public);
    assert_eq!(location(&anonymous["location"]), public);
    assert!(as_bob.get("public_location").is_none());
    let (_, as_owner) = geo.get(&format!("/geo/nodes/{id}"), Some(&ada)).await;
    assert_eq!(location(&as_owner["location"]), EXACT);

    // Every public way in: lists, radius, cells, tiles.
    let mut seen = vec![as_bob.to_string(), anonymous.to_string()];
    for path in [
        "/geo/nodes?bbox=13.3,52.4,13.5,52.6".to_owned(),
        "/geo/nodes/near?lat=52.52&lon=13.40&radius_m=10000".to_owned(),
        format!("/geo/cells/{}/nodes", &home["h3"].as_str().unwrap()),
        format!(
            "/geo/cells/{}/nodes",
            h3o::CellIndex::try_from(
                u64::from_str_radix(home["h3"].as_str().unwrap(), 16).unwrap()
            )
            .unwrap()
            .parent(h3o::Resolution::Five)
            .unwrap()
        ),
    ] {
        let (status, page) = geo.get(&path, Some(&bob)).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert!(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["id"] == id.as_str()),
            "{path}"
        );
        seen.push(page.to_string());
    }
    for z in [10, 14, 18] {
        let (x, y) = tiles::tile_of(EXACT.0, EXACT.1, z);
        let (status, _, bytes) = tiles::fetch(&geo, z, x, y, None).await;
        assert_eq!(status, 200);
        for (props, coords) in tiles::decode(&bytes).get("nodes").into_iter().flatten() {
            let p = tiles::position_of(z, x, y, f64::from(coords[0].0), f64::from(coords[0].1));
            assert!(
                gewebe_geo::privacy::distance_m(EXACT, p) > 900.0,
                "tile z{z} shows {props:?} at {p:?}"
            );
        }
    }
    for text in &seen {
        assert_no_exact("a public answer", text);
    }
    let mut conn = geo.pg().await;
    let payloads: Vec<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM geo.outbox")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(!payloads.is_empty());
    for p in payloads {
        assert_no_exact("an event", &String::from_utf8_lossy(&p));
    }

    // A new radius moves the public point (a new, independent one), with an event and fresh tiles.
    let (z, (x, y)) = (10, tiles::tile_of(public.0, public.1, 10));
    let (_, tag, _) = tiles::fetch(&geo, z, x, y, None).await;
    publish(&geo, &updated(ada.id, 3, 500, false)).await;
    until(
        &geo,
        "SELECT version::text FROM geo.nodes WHERE id = $1",
        id.parse().unwrap(),
        "2",
    )
    .await;
    let (_, moved) = geo.get(&format!("/geo/nodes/{id}"), None).await;
    let public2 = location(&moved["location"]);
    let d2 = gewebe_geo::privacy::distance_m(EXACT, public2);
    assert!((250.0..=500.0).contains(&d2), "{d2} m");
    assert_eq!(tiles::fetch(&geo, z, x, y, tag.as_deref()).await.0, 200);
    let events = geo.outbox("node.updated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(location(&events[0]["data"]["location"]), public2);
    assert!(events[0].get("actor").is_none());

    let earlier = geo.node(&ada, "place", "Vorher", 52.5, 13.38).await;
    // An older event arriving late changes nothing; RoN hides the owner in public views.
    publish(&geo, &updated(ada.id, 2, 3000, false)).await;
    publish(&geo, &updated(ada.id, 4, 500, true)).await;
    until(
        &geo,
        "SELECT ron::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "true",
    )
    .await;
    let (_, hidden) = geo.get(&format!("/geo/nodes/{id}"), Some(&bob)).await;
    assert_eq!(hidden["owner"], Value::Null);
    assert_eq!(hidden["owner_ron"], true);
    assert_eq!(
        location(&hidden["location"]),
        public2,
        "the stale radius did not apply"
    );
    // A node created while RoN is on carries no owner in its event either; one created before it
    // named the owner (a home never does). Each outbox row is the envelope of its own id.
    let later = geo.node(&ada, "idea", "Später", 52.51, 13.39).await;
    let created = geo.outbox("node.created").await;
    let later_event = created
        .iter()
        .find(|e| e["aggregate"]["id"] == later["id"])
        .unwrap();
    assert_eq!(later_event["data"]["owner"], Value::Null);
    assert_eq!(later_event["data"]["title"], "Später");
    let named: Vec<&Value> = created
        .iter()
        .filter(|e| e["data"]["owner"] == ada.id.to_string())
        .collect();
    assert_eq!(named.len(), 1, "{created:?}");
    assert_eq!(named[0]["aggregate"]["id"], earlier["id"]);
    let rows: Vec<(uuid::Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, payload FROM geo.outbox WHERE event_type = 'node.created'")
            .fetch_all(&mut geo.pg().await)
            .await
            .unwrap();
    for (id, payload) in rows {
        let envelope: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(envelope["id"], id.to_string());
    }

    // Nothing a service logged during all this carries the exact position either.
    let logs = crate::logs();
    assert!(
        logs.contains("home node re-fuzzed"),
        "the scan reads the services' logs"
    );
    assert_no_exact("a log line", &logs);
}

#[tokio::test]
async fn forgetting_an_account_removes_its_home_and_orphans_the_rest_once() {
    let geo = spawn_consuming().await;
    let ada = geo.user().await;
    let bob = geo.user().await;
    let home = create_home(&geo, &ada).await;
    let place = geo.node(&ada, "place", "Adas Garten", 52.4, 13.3).await;
    let bobs = geo.node(&bob, "place", "Bobs Laden", 52.41, 13.31).await;
    let (status, _, edge) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&bob),
            Some(json!({"from_node": bobs["id"], "to_node": home["id"], "kind": "link"})),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, ada_edge) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(json!({"from_node": place["id"], "to_node": bobs["id"], "kind": "supports"})),
            &[],
        )
        .await;
    assert_eq!(status, 201);

    let forgotten = Envelope::new(
        "gewebe-auth",
        ada.id,
        9,
        &AccountForgotten { account_id: ada.id },
    )
    .unwrap();
    publish(&geo, &forgotten).await;
    until(
        &geo,
        "SELECT forgotten::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "true",
    )
    .await;

    let (status, _) = geo
        .get(
            &format!("/geo/nodes/{}", home["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 404, "the home node is gone");
    let (status, _) = geo
        .get(
            &format!("/geo/edges/{}", edge["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 404, "with its edges");
    let (_, kept) = geo
        .get(
            &format!("/geo/nodes/{}", place["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(kept["owner"], Value::Null);
    assert_eq!(kept["owner_ron"], true);
    let (_, kept_edge) = geo
        .get(
            &format!("/geo/edges/{}", ada_edge["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(kept_edge["owner"], Value::Null);
    let mut conn = geo.pg().await;
    let owned: i64 = sqlx::query_scalar("SELECT count(*) FROM geo.nodes WHERE owner_id = $1")
        .bind(ada.id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(owned, 0);
    assert_eq!(geo.outbox("node.deleted").await.len(), 1);
    assert_eq!(geo.outbox("edge.deleted").await.len(), 1);

    // A forgotten account's leftover token cannot place anything any more.
    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(json!({"kind": "place", "title": "x", "location": {"lat": 1.0, "lon": 1.0}})),
            &[],
        )
        .await;
    crate::assert_problem(status, &body, 403, "forbidden");

    // The same event again (a redelivery or a replay under a new message id) has no effect.
    let client = async_nats::connect(gewebe_testkit::TestEnv::from_env().nats_url)
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{}:replay", forgotten.id).as_str());
    js.publish_with_headers(
        gewebe_events::subjects::event(&geo.prefix, "account.forgotten"),
        headers,
        forgotten.to_vec().unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let skipped = gewebe_testkit::eventually(Duration::from_secs(10), || async {
        let metrics = geo.get_text("/metrics").await;
        metrics
            .lines()
            .any(|l| {
                l.starts_with("geo_account_events_total")
                    && l.contains("account.forgotten")
                    && l.contains("skipped")
                    && l.ends_with(" 1")
            })
            .then_some(())
    })
    .await;
    assert!(skipped.is_some(), "the replayed event was seen and skipped");
    assert_eq!(geo.outbox("node.deleted").await.len(), 1);
}

#[tokio::test]
async fn after_a_key_rotation_refuzz_gives_every_home_a_new_point() {
    let geo = spawn_consuming().await;
    let ada = geo.user().await;
    publish(&geo, &updated(ada.id, 2, 1000, false)).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "1000",
    )
    .await;
    let home = create_home(&geo, &ada).await;
    let before = location(&home["public_location"]);

    let mut config =
        crate::geo_config(&geo.db, &geo.prefix, geo.auth.url("/.well-known/jwks.json"));
    config.geo = gewebe_geo::config::GeoConfig::with_key([9; 32]);
    let rotated = gewebe_geo::state(config).await.unwrap();
    assert_eq!(
        gewebe_geo::account_events::refuzz_all(&rotated)
            .await
            .unwrap(),
        1
    );

    let (_, node) = geo
        .get(
            &format!("/geo/nodes/{}", home["id"].as_str().unwrap()),
            None,
        )
        .await;
    let after = location(&node["location"]);
    assert_ne!(after, before);
    let d = gewebe_geo::privacy::distance_m(EXACT, after);
    assert!((500.0..=1000.0).contains(&d), "{d} m");
    assert_eq!(node["version"], 2);
    assert_eq!(geo.outbox("node.updated").await.len(), 1);
}
