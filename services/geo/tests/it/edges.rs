//! Edges: the contract, its refusals, and deleting a node with its edges.

use reqwest::Method;
use serde_json::json;

use crate::{assert_problem, spawn};

#[tokio::test]
async fn edges_connect_nodes_and_go_with_them() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let bob = geo.user().await;
    let a = geo.node(&ada, "place", "A", 53.55, 9.99).await;
    let b = geo.node(&bob, "resource", "B", 53.56, 10.0).await;
    let c = geo.node(&bob, "idea", "C", 53.57, 10.01).await;
    let (a, b, c) = (
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
        c["id"].as_str().unwrap().to_owned(),
    );
    let edge =
        |from: &str, to: &str, kind: &str| json!({"from_node": from, "to_node": to, "kind": kind});

    let (status, headers, ab) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(edge(&a, &b, "supports")),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{ab}");
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/geo/edges/")
    );
    assert_eq!(ab["from_location"], json!({"lat": 53.55, "lon": 9.99}));
    assert_eq!(ab["owner"], ada.id.to_string());

    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(edge(&a, &b, "supports")),
            &[],
        )
        .await;
    assert_problem(status, &body, 409, "duplicate_edge");
    // Another kind, or the other direction, is another edge.
    let (status, _, _) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(edge(&a, &b, "needs")),
            &[],
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, bc) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&bob),
            Some(edge(&b, &c, "link")),
            &[],
        )
        .await;
    assert_eq!(status, 201);

    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(edge(&a, &a, "link")),
            &[],
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["code"], "same_node");
    let missing = uuid::Uuid::now_v7().to_string();
    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(edge(&a, &missing, "link")),
            &[],
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "to_node");
    assert_eq!(body["errors"][0]["code"], "unknown_node");
    let (status, _, body) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(edge(&a, &c, "loves")),
            &[],
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");

    let (status, page) = geo.get(&format!("/geo/edges?node_id={b}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    // Only its owner (or a moderator) deletes an edge.
    let bc_path = format!("/geo/edges/{}", bc["id"].as_str().unwrap());
    let (status, _, body) = geo
        .call(Method::DELETE, &bc_path, Some(&ada), None, &[])
        .await;
    assert_problem(status, &body, 403, "forbidden");
    let (status, _, _) = geo
        .call(Method::DELETE, &bc_path, Some(&bob), None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, body) = geo.get(&bc_path, None).await;
    assert_problem(status, &body, 404, "not_found");

    // Deleting B takes both A→B edges with it, each with its event.
    let (status, _, _) = geo
        .call(
            Method::DELETE,
            &format!("/geo/nodes/{b}"),
            Some(&bob),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (_, page) = geo.get(&format!("/geo/edges?node_id={a}"), None).await;
    assert_eq!(page["items"], json!([]));
    let deleted = geo.outbox("edge.deleted").await;
    assert_eq!(deleted.len(), 3);
    assert!(
        deleted
            .iter()
            .all(|e| e["data"]["from_location"]["lat"].is_f64())
    );
    assert_eq!(geo.outbox("edge.created").await.len(), 3);
    let node_deleted = geo.outbox("node.deleted").await;
    assert_eq!(node_deleted.len(), 1);
}
