//! Issue 13, items 3 and 7: geo never publishes a `home` under privacy settings it does not know,
//! a settings update racing a home write cannot leave the home exact, and a home's public events
//! name nobody.

use std::time::Duration;

use gewebe_events::Envelope;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Geo, User,
    accounts::{
        EXACT, assert_no_exact, create_home, location, publish, spawn_consuming, until, updated,
    },
    assert_problem,
};

fn home_body() -> Value {
    json!({"kind": "home", "title": "Zuhause", "location": {"lat": EXACT.0, "lon": EXACT.1}})
}

/// The payload auth wrote to its own outbox for `account_id`'s latest event of `event_type`: the
/// real event, delivered by hand because no relay runs in these tests.
async fn auth_event(geo: &Geo, event_type: &str, account_id: Uuid) -> Envelope {
    let payload: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM auth.outbox WHERE event_type = $1 AND aggregate_id = $2 \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(event_type)
    .bind(account_id)
    .fetch_one(&mut geo.pg().await)
    .await
    .unwrap();
    Envelope::from_slice(&payload).unwrap()
}

/// The owner changes their privacy settings in auth (`PATCH /auth/me`); returns the account.
async fn set_privacy(geo: &Geo, token: &str, body: Value) -> Value {
    let resp = geo
        .http
        .patch(geo.auth.url("/auth/me"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The outbox rows (payloads) of node events about `node`.
async fn node_events(geo: &Geo, node: &str) -> Vec<Value> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT payload FROM geo.outbox WHERE aggregate_id = $1::uuid ORDER BY seq",
    )
    .bind(node)
    .fetch_all(&mut geo.pg().await)
    .await
    .unwrap();
    rows.iter()
        .map(|p| serde_json::from_slice(p).unwrap())
        .collect()
}

#[tokio::test]
async fn a_home_waits_until_geo_knows_the_owners_latest_settings() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    // The owner chooses a radius in auth. Its `account.updated` sits in auth's outbox: no relay
    // runs here, as when the relay lags, NATS is down or the event is stuck.
    set_privacy(&geo, &a.token, json!({"privacy": {"fuzz_radius_m": 2000}})).await;
    let ada = User {
        id: a.id,
        token: gewebe_testkit::login(&geo.http, &geo.auth.url(""), &a.email, &a.password).await,
    };

    let (status, headers, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(home_body()),
            &[],
        )
        .await;
    assert_problem(status, &body, 409, "privacy_pending");
    assert_eq!(headers["retry-after"], "2");
    assert!(
        geo.outbox("node.created").await.is_empty(),
        "nothing was published"
    );
    let (_, page) = geo.get("/geo/nodes?bbox=13.3,52.4,13.5,52.6", None).await;
    assert_eq!(page["items"], json!([]));

    // The event arrives; the same request now succeeds, fuzzed by the radius the owner chose.
    publish(&geo, &auth_event(&geo, "account.updated", ada.id).await).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "2000",
    )
    .await;
    let home = create_home(&geo, &ada).await;
    let public = location(&home["public_location"]);
    let d = gewebe_geo::privacy::distance_m(EXACT, public);
    assert!((1000.0..=2000.0).contains(&d), "{d} m");
    let created = geo.outbox("node.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(location(&created[0]["data"]["location"]), public);
    assert_no_exact("node.created", &created[0].to_string());

    let metrics = geo.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("geo_writes_refused_total")
                && l.contains("privacy_pending")
                && l.ends_with(" 1")),
        "{metrics}"
    );
}

/// The likeliest first home: sign up, choose a radius, place the home — all with the token from
/// before the radius. The token's `pv` is older than the settings; geo asks auth which are current.
#[tokio::test]
async fn a_home_placed_with_a_token_from_before_the_settings_change_waits_for_them() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    let ada = User {
        id: a.id,
        token: a.token.clone(),
    };
    let me = set_privacy(&geo, &a.token, json!({"privacy": {"fuzz_radius_m": 2000}})).await;
    assert!(me["privacy"]["version"].as_i64().unwrap() > 0, "{me}");

    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(home_body()),
            &[],
        )
        .await;
    assert_problem(status, &body, 409, "privacy_pending");
    assert!(geo.outbox("node.created").await.is_empty());

    publish(&geo, &auth_event(&geo, "account.updated", ada.id).await).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "2000",
    )
    .await;
    // The same old token now places it, fuzzed by the radius chosen after the token was issued.
    let home = create_home(&geo, &ada).await;
    let d = gewebe_geo::privacy::distance_m(EXACT, location(&home["public_location"]));
    assert!((1000.0..=2000.0).contains(&d), "{d} m");
}

/// Auth cannot confirm the settings: the home is not placed (503), nothing is published.
#[tokio::test]
async fn a_home_is_not_placed_while_auth_cannot_confirm_the_settings() {
    let geo = crate::spawn_with(|c| {
        c.geo.auth_url = Some("http://127.0.0.1:1".to_owned());
    })
    .await;
    let ada = geo.user().await;
    let (status, headers, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(home_body()),
            &[],
        )
        .await;
    assert_problem(status, &body, 503, "auth_unavailable");
    assert!(headers.contains_key("retry-after"));
    assert!(geo.outbox("node.created").await.is_empty());
    // Other kinds do not ask.
    let (status, _, _) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(
                json!({"kind": "place", "title": "Platz", "location": {"lat": 52.5, "lon": 13.4}}),
            ),
            &[],
        )
        .await;
    assert_eq!(status, 201);
}

/// How many backends of this test's database (other than `except`) wait for a lock while running a
/// statement that contains `fragment`.
async fn waiting_on(geo: &Geo, fragment: &str, except: i32) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1 \
           AND strpos(query, $2) > 0",
    )
    .bind(except)
    .bind(fragment)
    .fetch_one(&mut geo.pg().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_settings_update_racing_a_home_write_cannot_leave_the_home_exact() {
    use sqlx::Connection;
    let geo = spawn_consuming().await;
    let ada = geo.user().await;

    // Hold the home write at its insert: an uncommitted home of the same owner takes the one-home
    // slot, so the write waits for this transaction — after it read (old code) or locked (new
    // code) the owner's settings.
    let mut blocker = geo.pg().await;
    let blocker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut blocker)
        .await
        .unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO geo.nodes (id, owner_id, kind, title, location, public_location, h3) \
         VALUES ($1, $2, 'home', 'blocker', ST_SetSRID(ST_MakePoint(0, 0), 4326), \
                 ST_SetSRID(ST_MakePoint(0, 0), 4326), 0)",
    )
    .bind(Uuid::now_v7())
    .bind(ada.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    let write = tokio::spawn({
        let (http, url, token) = (geo.http.clone(), geo.url("/geo/nodes"), ada.token.clone());
        async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .json(&home_body())
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    });
    let held = gewebe_testkit::eventually(Duration::from_secs(10), || async {
        (waiting_on(&geo, "INSERT INTO geo.nodes", blocker_pid).await > 0).then_some(())
    })
    .await;
    assert!(held.is_some(), "the home write waits at its insert");

    // Meanwhile the owner's new radius arrives. Either it is applied at once (and finds no home to
    // move), or the consumer waits too, for the home write's lock.
    publish(&geo, &updated(ada.id, 2, 2000, false)).await;
    let settled = gewebe_testkit::eventually(Duration::from_secs(10), || async {
        let radius: Option<i32> =
            sqlx::query_scalar("SELECT fuzz_radius_m FROM geo.accounts WHERE id = $1")
                .bind(ada.id)
                .fetch_optional(&mut geo.pg().await)
                .await
                .unwrap();
        (radius == Some(2000) || waiting_on(&geo, "", blocker_pid).await >= 2).then_some(())
    })
    .await;
    assert!(settled.is_some(), "the update was applied or is waiting");

    tx.rollback().await.unwrap();
    let (status, home) = write.await.unwrap();
    assert_eq!(status, 201, "{home}");
    let path = format!("/geo/nodes/{}", home["id"].as_str().unwrap());
    let fuzzed = gewebe_testkit::eventually(Duration::from_secs(10), || async {
        let (_, node) = geo.get(&path, None).await;
        let d = gewebe_geo::privacy::distance_m(EXACT, location(&node["location"]));
        (1000.0..=2000.0).contains(&d).then_some(d)
    })
    .await;
    assert!(
        fuzzed.is_some(),
        "the home stays at its exact position after the new radius was applied"
    );
}

#[tokio::test]
async fn a_homes_public_events_name_nobody() {
    let geo = spawn_consuming().await;
    let ada = geo.user().await;
    let bob = geo.user().await;
    publish(&geo, &updated(ada.id, 2, 1000, false)).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "1000",
    )
    .await;
    let home = create_home(&geo, &ada).await;
    let id = home["id"].as_str().unwrap().to_owned();
    let place = geo.node(&ada, "place", "Adas Garten", 52.4, 13.3).await;
    let bobs = geo.node(&bob, "place", "Bobs Laden", 52.41, 13.31).await;
    let (status, _, _) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(json!({"from_node": home["id"], "to_node": bobs["id"], "kind": "link"})),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let path = format!("/geo/nodes/{id}");
    let (status, _, moved) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": "Daheim", "location": {"lat": EXACT.0 + 0.001, "lon": EXACT.1}})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    // A moderator may retitle a home, but not move it: nobody but its owner knows where it is.
    let moderator = geo.moderator().await;
    let (status, _, body) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&moderator),
            Some(json!({"location": {"lat": 1.0, "lon": 1.0}})),
            &[],
        )
        .await;
    assert_problem(status, &body, 403, "forbidden");
    let (status, _, body) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&moderator),
            Some(json!({"title": "Zuhause"})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = geo.call(Method::DELETE, &path, Some(&ada), None, &[]).await;
    assert_eq!(status, 204);

    let events = node_events(&geo, &id).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "node.created",
            "node.updated",
            "node.updated",
            "node.deleted"
        ]
    );
    let ada_text = ada.id.to_string();
    for e in &events {
        assert_eq!(e["visibility"], "public");
        assert!(e.get("actor").is_none(), "{e}");
        assert!(e["data"].get("owner").is_none_or(Value::is_null), "{e}");
        assert!(!e.to_string().contains(&ada_text), "{e}");
        assert_no_exact("a home's event", &e.to_string());
    }
    assert_eq!(
        location(&events[0]["data"]["location"]),
        location(&home["public_location"])
    );
    assert_eq!(
        location(&events[1]["data"]["location"]),
        location(&moved["public_location"])
    );
    // The edge from the home names nobody either, drawn or deleted with the home.
    for event_type in ["edge.created", "edge.deleted"] {
        let edge_events = geo.outbox(event_type).await;
        assert_eq!(edge_events.len(), 1, "{event_type}");
        assert!(edge_events[0].get("actor").is_none(), "{}", edge_events[0]);
    }

    // Other nodes still say whose they are (the owner did not ask for role-without-name).
    let place_events = node_events(&geo, place["id"].as_str().unwrap()).await;
    assert_eq!(place_events[0]["data"]["owner"], ada_text.as_str());
    assert_eq!(place_events[0]["actor"], ada_text.as_str());
}

/// The `pv` claim of an access token.
fn pv(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["pv"].as_i64()
}

#[tokio::test]
async fn the_token_names_the_version_of_the_last_privacy_event_and_nothing_else() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    let auth_url = geo.auth.url("");
    let login = || gewebe_testkit::login(&geo.http, &auth_url, &a.email, &a.password);
    assert_eq!(pv(&a.token), Some(0), "the defaults, unchanged");
    let patch = |body: Value| {
        geo.http
            .patch(geo.auth.url("/auth/me"))
            .bearer_auth(&a.token)
            .json(&body)
            .send()
    };

    // A new name is an account event too, but changes nothing geo applies.
    assert_eq!(
        patch(json!({"display_name": "Ada"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(pv(&login().await), Some(0));
    assert_eq!(
        patch(json!({"privacy": {"fuzz_radius_m": 800}}))
            .await
            .unwrap()
            .status(),
        200
    );
    let privacy_event = auth_event(&geo, "account.updated", a.id).await;
    assert_eq!(pv(&login().await), Some(privacy_event.aggregate.version));

    // A role change moves the account's version without any event geo receives: the token's
    // version must not follow it, or the owner's home writes would wait for good.
    let mut conn = geo.pg().await;
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    gewebe_auth::admin::change_roles(&mut tx, a.id, &["user".into(), "moderator".into()], None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let account_version: i64 =
        sqlx::query_scalar("SELECT version FROM auth.accounts WHERE id = $1")
            .bind(a.id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let ada = User {
        id: a.id,
        token: login().await,
    };
    assert!(account_version > privacy_event.aggregate.version);
    assert_eq!(pv(&ada.token), Some(privacy_event.aggregate.version));

    publish(&geo, &privacy_event).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "800",
    )
    .await;
    let home = create_home(&geo, &ada).await;
    let d = gewebe_geo::privacy::distance_m(EXACT, location(&home["public_location"]));
    assert!((400.0..=800.0).contains(&d), "{d} m");
}

#[tokio::test]
async fn a_node_waits_until_geo_knows_its_owner_chose_role_without_name() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    set_privacy(&geo, &a.token, json!({"privacy": {"ron": true}})).await;
    let ada = User {
        id: a.id,
        token: gewebe_testkit::login(&geo.http, &geo.auth.url(""), &a.email, &a.password).await,
    };
    let place =
        json!({"kind": "place", "title": "Werkstatt", "location": {"lat": 47.0, "lon": 8.0}});
    let (status, headers, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(place.clone()),
            &[],
        )
        .await;
    assert_problem(status, &body, 409, "privacy_pending");
    assert_eq!(headers["retry-after"], "2");
    assert!(geo.outbox("node.created").await.is_empty());

    publish(&geo, &auth_event(&geo, "account.updated", ada.id).await).await;
    until(
        &geo,
        "SELECT ron::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "true",
    )
    .await;
    let (status, _, node) = geo
        .call(Method::POST, "/geo/nodes", Some(&ada), Some(place), &[])
        .await;
    assert_eq!(status, 201, "{node}");
    assert_eq!(node["owner"], Value::Null);
    let created = geo.outbox("node.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["owner"], Value::Null);
    assert!(created[0].get("actor").is_none(), "{}", created[0]);
    assert!(!created[0].to_string().contains(&ada.id.to_string()));
}

#[tokio::test]
async fn changes_wait_until_geo_knows_their_author_chose_role_without_name() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    let before = User {
        id: a.id,
        token: a.token.clone(),
    };
    let place = geo.node(&before, "place", "Werkstatt", 47.0, 8.0).await;
    let other = geo.node(&before, "idea", "Idee", 47.01, 8.01).await;
    let path = format!("/geo/nodes/{}", place["id"].as_str().unwrap());
    set_privacy(&geo, &a.token, json!({"privacy": {"ron": true}})).await;
    let ada = User {
        id: a.id,
        token: gewebe_testkit::login(&geo.http, &geo.auth.url(""), &a.email, &a.password).await,
    };

    // Each of these events would name Ada as their actor.
    let edge = json!({"from_node": place["id"], "to_node": other["id"], "kind": "link"});
    for (method, path, body) in [
        (Method::PATCH, path.as_str(), Some(json!({"title": "Neu"}))),
        (Method::DELETE, path.as_str(), None),
        (Method::POST, "/geo/edges", Some(edge.clone())),
    ] {
        let (status, _, body) = geo.call(method.clone(), path, Some(&ada), body, &[]).await;
        assert_problem(status, &body, 409, "privacy_pending");
    }
    let mut conn = geo.pg().await;
    let written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM geo.outbox WHERE event_type IN ('node.updated', 'node.deleted', 'edge.created')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(written, 0);

    publish(&geo, &auth_event(&geo, "account.updated", ada.id).await).await;
    until(
        &geo,
        "SELECT ron::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "true",
    )
    .await;
    let (status, _, body) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": "Neu"})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = geo
        .call(Method::POST, "/geo/edges", Some(&ada), Some(edge), &[])
        .await;
    assert_eq!(status, 201, "{body}");
    for event_type in ["node.updated", "edge.created"] {
        let events = geo.outbox(event_type).await;
        assert_eq!(events.len(), 1, "{event_type}");
        assert!(events[0].get("actor").is_none(), "{}", events[0]);
    }
}

#[tokio::test]
async fn a_token_without_the_privacy_version_is_sent_to_refresh_for_a_home() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    // A token as an auth before `pv` signed them, with auth's own current key.
    let keys = gewebe_auth::config::KeysConfig::from_env(&gewebe_platform::Env::from_pairs([(
        "AUTH_KEK",
        crate::KEK,
    )]))
    .unwrap();
    let db = gewebe_platform::db::Db::connect_lazy(
        &gewebe_platform::db::DbConfig::new(&geo.db.pooled_url, &geo.db.direct_url),
        "legacy-token",
    )
    .unwrap();
    let store = gewebe_auth::keys::KeyStore::new(db, keys.kek, keys.rotate_after, keys.overlap);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let legacy = User {
        id: a.id,
        token: store
            .sign(&gewebe_platform::auth::Claims {
                sub: a.id,
                sid: None,
                roles: vec![gewebe_platform::auth::Role::User],
                iat: now,
                exp: now + 600,
                iss: "gewebe-auth".into(),
                aud: "gewebe".into(),
                pv: None,
            })
            .await
            .unwrap(),
    };
    assert_eq!(pv(&legacy.token), None);

    let (status, headers, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&legacy),
            Some(home_body()),
            &[],
        )
        .await;
    assert_problem(status, &body, 401, "invalid_token");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert!(geo.outbox("node.created").await.is_empty());
    // Other writes go on as before the claim existed.
    geo.node(&legacy, "place", "Alt", 47.0, 8.0).await;
}

/// A home placed before the owner chose a radius whose event never reached geo (dead-lettered by
/// an older build) stays exact until `gewebe-auth accounts announce-privacy` repeats the settings.
#[tokio::test]
async fn announcing_privacy_again_repairs_a_home_whose_settings_event_was_lost() {
    let geo = spawn_consuming().await;
    let a = gewebe_testkit::account(&geo.http, &geo.auth.url("")).await;
    let ada = User {
        id: a.id,
        token: a.token.clone(),
    };
    let home = create_home(&geo, &ada).await;
    let id = home["id"].as_str().unwrap().to_owned();
    let (_, public) = geo.get(&format!("/geo/nodes/{id}"), None).await;
    assert_eq!(
        location(&public["location"]),
        EXACT,
        "radius 0 then: {public}"
    );
    set_privacy(&geo, &a.token, json!({"privacy": {"fuzz_radius_m": 2000}})).await;
    // Its account.updated is lost: nothing delivers it.

    let db = gewebe_platform::db::Db::connect_lazy(
        &gewebe_platform::db::DbConfig::new(&geo.db.pooled_url, &geo.db.direct_url),
        "announce-test",
    )
    .unwrap();
    let outbox = gewebe_events::outbox::Outbox::new("auth", db.pool().clone()).unwrap();
    let announced = gewebe_auth::accounts::announce_privacy(&db, &outbox)
        .await
        .unwrap();
    assert_eq!(
        announced, 1,
        "only the account whose settings are not the defaults"
    );
    publish(&geo, &auth_event(&geo, "account.updated", ada.id).await).await;
    until(
        &geo,
        "SELECT fuzz_radius_m::text FROM geo.accounts WHERE id = $1",
        ada.id,
        "2000",
    )
    .await;
    let (_, moved) = geo.get(&format!("/geo/nodes/{id}"), None).await;
    let d = gewebe_geo::privacy::distance_m(EXACT, location(&moved["location"]));
    assert!((1000.0..=2000.0).contains(&d), "{d} m: {moved}");
}
