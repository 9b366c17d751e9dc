//! Nodes: the contract, permissions, optimistic concurrency, and the three ways to query them.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{assert_problem, spawn};

#[tokio::test]
async fn create_read_update_delete_with_versions_and_events() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let (status, headers, node) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(json!({
                "kind": "place", "title": "  Gemeinschaftsgarten ", "description": "Obst und Gemüse",
                "tags": ["Garten", "garten", "Obst"], "location": {"lat": 52.52, "lon": 13.405}
            })),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{node}");
    let id = node["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/geo/nodes/{id}").as_str());
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(node["title"], "Gemeinschaftsgarten");
    assert_eq!(node["tags"], json!(["garten", "obst"]));
    assert_eq!(node["owner"], ada.id.to_string());
    assert_eq!(node["owner_ron"], false);
    assert_eq!(node["location"], json!({"lat": 52.52, "lon": 13.405}));
    assert!(node.get("public_location").is_none());
    let cell = node["h3"].as_str().unwrap();
    assert_eq!(cell.len(), 15);

    // Anyone may read it.
    let (status, read) = geo.get(&format!("/geo/nodes/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(read["title"], "Gemeinschaftsgarten");

    // A stale If-Match is refused; the right one applies.
    let path = format!("/geo/nodes/{id}");
    let (status, _, body) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": "Garten"})),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_problem(status, &body, 412, "version_mismatch");
    let (status, headers, updated) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": "Garten", "description": "", "location": {"lat": 52.53, "lon": 13.41}})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(headers["etag"], "\"2\"");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["location"], json!({"lat": 52.53, "lon": 13.41}));
    assert_eq!(updated["tags"], json!(["garten", "obst"]), "untouched");

    // Someone else may neither change nor delete it.
    let bob = geo.user().await;
    let (status, _, body) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&bob),
            Some(json!({"title": "Meins"})),
            &[],
        )
        .await;
    assert_problem(status, &body, 403, "forbidden");
    let (status, _, body) = geo.call(Method::DELETE, &path, Some(&bob), None, &[]).await;
    assert_problem(status, &body, 403, "forbidden");
    // Without a token: 401.
    let (status, _, body) = geo.call(Method::DELETE, &path, None, None, &[]).await;
    assert_problem(status, &body, 401, "unauthorized");

    let (status, _, _) = geo
        .call(
            Method::DELETE,
            &path,
            Some(&ada),
            None,
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = geo.get(&path, None).await;
    assert_problem(status, &body, 404, "not_found");

    // Each change is an event with the public position and the cell, in order of versions.
    let created = geo.outbox("node.created").await;
    let updated = geo.outbox("node.updated").await;
    let deleted = geo.outbox("node.deleted").await;
    assert_eq!((created.len(), updated.len(), deleted.len()), (1, 1, 1));
    assert_eq!(created[0]["aggregate"]["version"], 1);
    assert_eq!(created[0]["data"]["owner"], ada.id.to_string());
    assert_eq!(created[0]["location"], json!({"lat": 52.52, "lon": 13.405}));
    assert_eq!(created[0]["h3"], cell);
    assert_eq!(created[0]["visibility"], "public");
    assert_eq!(updated[0]["aggregate"]["version"], 2);
    assert_eq!(
        updated[0]["data"]["location"],
        json!({"lat": 52.53, "lon": 13.41})
    );
    assert_eq!(deleted[0]["aggregate"]["version"], 3);
    assert_eq!(deleted[0]["location"], json!({"lat": 52.53, "lon": 13.41}));
}

#[tokio::test]
async fn concurrent_patches_with_the_same_version_one_wins() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let node = geo.node(&ada, "idea", "Repair café", 48.137, 11.575).await;
    let path = format!("/geo/nodes/{}", node["id"].as_str().unwrap());
    for round in 0..5 {
        let version = format!("\"{}\"", round + 1);
        let if_match = [("if-match", version.as_str())];
        let a = geo.call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": format!("A{round}")})),
            &if_match,
        );
        let b = geo.call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": format!("B{round}")})),
            &if_match,
        );
        let ((sa, _, ba), (sb, _, bb)) = tokio::join!(a, b);
        let mut statuses = [sa.as_u16(), sb.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "{ba} {bb}");
    }
    let (_, node) = geo.get(&path, None).await;
    assert_eq!(node["version"], 6);
}

#[tokio::test]
async fn moderators_may_delete_and_one_home_per_person() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let moderator = geo.moderator().await;
    let node = geo.node(&ada, "resource", "Lastenrad", 50.11, 8.68).await;
    let path = format!("/geo/nodes/{}", node["id"].as_str().unwrap());
    let (status, _, _) = geo
        .call(Method::DELETE, &path, Some(&moderator), None, &[])
        .await;
    assert_eq!(status, 204);

    geo.node(&ada, "home", "Zuhause", 50.1, 8.6).await;
    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/nodes",
            Some(&ada),
            Some(json!({"kind": "home", "title": "Zweites Zuhause", "location": {"lat": 50.2, "lon": 8.7}})),
            &[],
        )
        .await;
    assert_problem(status, &body, 409, "home_exists");
}

/// Nodes on a line of longitudes at one latitude, far from every other test's nodes.
async fn row_of_nodes(geo: &crate::Geo, user: &crate::User, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let kind = if i % 2 == 0 { "place" } else { "idea" };
        let (status, _, node) = geo
            .call(
                Method::POST,
                "/geo/nodes",
                Some(user),
                Some(json!({
                    "kind": kind, "title": format!("n{i}"), "tags": if i % 3 == 0 { json!(["drei"]) } else { json!([]) },
                    "location": {"lat": -33.9, "lon": 18.40 + 0.001 * i as f64}
                })),
                &[],
            )
            .await;
        assert_eq!(status, 201, "{node}");
        ids.push(node["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn all_pages(geo: &crate::Geo, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = first.to_owned();
    loop {
        let (status, page) = geo.get(&url, None).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{first}&cursor={c}"),
            None => return items,
        }
    }
}

#[tokio::test]
async fn bbox_lists_page_through_every_node_once_and_filter() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let ids = row_of_nodes(&geo, &ada, 9).await;
    geo.node(&ada, "place", "elsewhere", -34.5, 18.4).await;

    let bbox = "18.39,-33.95,18.42,-33.85";
    let items = all_pages(&geo, &format!("/geo/nodes?bbox={bbox}&limit=2")).await;
    let seen: Vec<&str> = items.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        seen,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "oldest first, each once"
    );

    let places = all_pages(&geo, &format!("/geo/nodes?bbox={bbox}&kind=place&limit=3")).await;
    assert_eq!(places.len(), 5);
    assert!(places.iter().all(|n| n["kind"] == "place"));
    let tagged = all_pages(&geo, &format!("/geo/nodes?bbox={bbox}&tag=DREI")).await;
    assert_eq!(tagged.len(), 3);
}

#[tokio::test]
async fn near_orders_by_distance_pages_and_respects_the_radius() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let ids = row_of_nodes(&geo, &ada, 8).await;
    // From the west end, nearest first is creation order; 0.001° of longitude here is about 92 m.
    let first = "/geo/nodes/near?lat=-33.9&lon=18.3995&radius_m=550&limit=3";
    let items = all_pages(&geo, first).await;
    let seen: Vec<&str> = items.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        seen,
        ids[..6].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let distances: Vec<f64> = items
        .iter()
        .map(|n| n["distance_m"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    assert!((distances[0] - 46.2).abs() < 1.0, "{distances:?}");
    assert!(distances.iter().all(|d| *d <= 550.0));
}

#[tokio::test]
async fn cells_of_any_resolution_find_their_nodes() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let node = geo.node(&ada, "place", "Zelle", 47.3769, 8.5417).await;
    let other = geo.node(&ada, "place", "Nachbar", 47.3769, 8.60).await;
    let cell: h3o::CellIndex = node["h3"].as_str().unwrap().parse().unwrap();
    for res in [0u8, 5, 9, 12, 15] {
        let parent = cell
            .parent(h3o::Resolution::try_from(res).unwrap())
            .unwrap();
        let items = all_pages(&geo, &format!("/geo/cells/{parent}/nodes?limit=1")).await;
        let ids: HashSet<&str> = items.iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert!(ids.contains(node["id"].as_str().unwrap()), "res {res}");
        if res >= 9 {
            assert!(!ids.contains(other["id"].as_str().unwrap()), "res {res}");
        }
    }
}

#[tokio::test]
async fn nodes_at_the_poles_and_the_antimeridian_are_ordinary_nodes() {
    let geo = spawn().await;
    let ada = geo.user().await;
    for (lat, lon) in [(90.0, 0.0), (-90.0, 180.0), (89.9999, -180.0), (0.0, 180.0)] {
        let node = geo.node(&ada, "place", "Rand der Welt", lat, lon).await;
        assert_eq!(node["location"], json!({"lat": lat, "lon": lon}));
    }
    let (status, page) = geo
        .get("/geo/nodes/near?lat=89.999&lon=0&radius_m=1000", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    // Across the antimeridian: 0.01° of longitude at the equator is about 1.1 km.
    let (status, page) = geo
        .get("/geo/nodes/near?lat=0&lon=-179.995&radius_m=1000", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let (status, _, _) = geo
        .call(Method::GET, "/geo/tiles/3/0/0.mvt", None, None, &[])
        .await;
    assert_eq!(status, 200);
}
