//! Bad input gets a clear problem+json with a stable code: never a 500, never a write.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{assert_problem, spawn};

#[tokio::test]
async fn bad_node_bodies_are_422_with_the_field() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let ok = json!({"kind": "place", "title": "ok", "location": {"lat": 1.0, "lon": 2.0}});
    let with = |patch: Value| {
        let mut v = ok.clone();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases = [
        (with(json!({"kind": "castle"})), "kind"),
        (with(json!({"title": ""})), "title"),
        (with(json!({"title": "x".repeat(201)})), "title"),
        (with(json!({"title": "a\u{0000}b"})), "title"),
        (
            with(json!({"description": "d".repeat(5001)})),
            "description",
        ),
        (
            with(json!({"tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()})),
            "tags",
        ),
        (with(json!({"tags": ["x".repeat(41)]})), "tags[0]"),
        (
            with(json!({"location": {"lat": 90.5, "lon": 0.0}})),
            "location.lat",
        ),
        (
            with(json!({"location": {"lat": 0.0, "lon": -180.01}})),
            "location.lon",
        ),
    ];
    for (body, field) in cases {
        let (status, _, problem) = geo
            .call(Method::POST, "/geo/nodes", Some(&ada), Some(body), &[])
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    // Wrong types, missing and unknown fields are 422 too; broken JSON is 400; no JSON is 415.
    for body in [
        json!({"kind": "place", "title": 5, "location": {"lat": 1, "lon": 2}}),
        json!({"kind": "place", "title": "t"}),
        json!({"kind": "place", "title": "t", "location": {"lat": "1", "lon": 2}}),
        with(json!({"owner_id": ada.id})),
    ] {
        let (status, _, problem) = geo
            .call(Method::POST, "/geo/nodes", Some(&ada), Some(body), &[])
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
    }
    let raw = |body: &'static str, content_type: &'static str| {
        geo.http
            .post(geo.url("/geo/nodes"))
            .bearer_auth(&ada.token)
            .header("content-type", content_type)
            .body(body)
    };
    let resp = raw("{\"kind\": ", "application/json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = raw("kind=place", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let big = "x".repeat(10 * 1024 * 1024);
    let resp = geo
        .http
        .post(geo.url("/geo/nodes"))
        .bearer_auth(&ada.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // SQL and HTML in text fields are just text.
    let node = geo
        .node(
            &ada,
            "idea",
            "'); DROP TABLE geo.nodes; -- <script>alert(1)</script>",
            1.0,
            1.0,
        )
        .await;
    assert_eq!(
        node["title"],
        "'); DROP TABLE geo.nodes; -- <script>alert(1)</script>"
    );
    // An empty PATCH says what it needs.
    let path = format!("/geo/nodes/{}", node["id"].as_str().unwrap());
    let (status, _, problem) = geo
        .call(Method::PATCH, &path, Some(&ada), Some(json!({})), &[])
        .await;
    assert_problem(status, &problem, 422, "validation_failed");
    let (status, _, problem) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"kind": "home"})),
            &[],
        )
        .await;
    assert_problem(status, &problem, 422, "validation_failed");
    let (status, _, problem) = geo
        .call(
            Method::PATCH,
            &path,
            Some(&ada),
            Some(json!({"title": "t"})),
            &[("if-match", "*")],
        )
        .await;
    assert_problem(status, &problem, 400, "invalid_if_match");

    let mut conn = geo.pg().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM geo.nodes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 1, "no refused request wrote anything");
}

#[tokio::test]
async fn bad_queries_are_400_with_stable_codes() {
    let geo = spawn().await;
    let cases = [
        ("/geo/nodes", "invalid_query"),
        ("/geo/nodes?bbox=1,2,3", "invalid_bbox"),
        ("/geo/nodes?bbox=a,b,c,d", "invalid_bbox"),
        ("/geo/nodes?bbox=3,2,1,4", "invalid_bbox"),
        ("/geo/nodes?bbox=0,0,20,20", "invalid_bbox"),
        ("/geo/nodes?bbox=-200,0,1,1", "invalid_bbox"),
        ("/geo/nodes?bbox=0,0,1,1&limit=0", "invalid_limit"),
        ("/geo/nodes?bbox=0,0,1,1&limit=501", "invalid_limit"),
        ("/geo/nodes?bbox=0,0,1,1&limit=x", "invalid_query"),
        ("/geo/nodes?bbox=0,0,1,1&kind=castle", "invalid_kind"),
        ("/geo/nodes?bbox=0,0,1,1&cursor=garbage", "invalid_cursor"),
        ("/geo/nodes/near?lat=1&lon=1", "invalid_query"),
        (
            "/geo/nodes/near?lat=91&lon=1&radius_m=10",
            "invalid_position",
        ),
        ("/geo/nodes/near?lat=1&lon=1&radius_m=0", "invalid_radius"),
        (
            "/geo/nodes/near?lat=1&lon=1&radius_m=50001",
            "invalid_radius",
        ),
        ("/geo/nodes/near?lat=1&lon=1&radius_m=NaN", "invalid_radius"),
        (
            "/geo/nodes/near?lat=1&lon=1&radius_m=10&cursor=Zm9v",
            "invalid_cursor",
        ),
        ("/geo/cells/zzz/nodes", "invalid_cell"),
        ("/geo/cells/8f2830828052d25/nodes?limit=-1", "invalid_limit"),
        ("/geo/nodes/not-a-uuid", "invalid_path"),
        ("/geo/edges?node_id=nope", "invalid_query"),
        ("/geo/edges", "invalid_query"),
    ];
    for (path, code) in cases {
        let (status, body) = geo.get(path, None).await;
        assert_problem(status, &body, 400, code);
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    // A cursor of another list is refused as well.
    let ada = geo.user().await;
    for i in 0..3 {
        geo.node(
            &ada,
            "place",
            &format!("p{i}"),
            5.0,
            5.0 + f64::from(i) * 0.001,
        )
        .await;
    }
    let (_, page) = geo.get("/geo/nodes?bbox=4,4,6,6&limit=1", None).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, body) = geo
        .get(
            &format!("/geo/nodes/near?lat=5&lon=5&radius_m=1000&cursor={cursor}"),
            None,
        )
        .await;
    assert_problem(status, &body, 400, "invalid_cursor");
    // And a token that is not one is 401, not a silent public view.
    let (status, _, body) = geo
        .call(
            Method::GET,
            "/geo/nodes/01890a5d-ac96-774b-bcce-b302099a8057",
            None,
            None,
            &[("authorization", "Bearer nope")],
        )
        .await;
    assert_problem(status, &body, 401, "invalid_token");
}
