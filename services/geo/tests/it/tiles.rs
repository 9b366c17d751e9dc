//! Vector tiles: valid MVT with the expected features, fresh right after a write, 304 otherwise.

use std::collections::HashMap;

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::{Geo, assert_problem, spawn};

/// The slippy-map tile of a position at zoom `z`.
pub fn tile_of(lat: f64, lon: f64, z: u32) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let lat_r = lat.to_radians();
    let y =
        ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    (x as u32, y as u32)
}

/// The position of tile-local coordinates (0..4096) of tile z/x/y.
pub fn position_of(z: u32, x: u32, y: u32, px: f64, py: f64) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let fx = (f64::from(x) + px / 4096.0) / n;
    let fy = (f64::from(y) + py / 4096.0) / n;
    let lon = fx * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * fy))
        .sinh()
        .atan()
        .to_degrees();
    (lat, lon)
}

/// Layer name → features (properties as strings, and the points/lines' coordinates).
pub type Decoded = HashMap<String, Vec<(HashMap<String, String>, Vec<(f32, f32)>)>>;

pub fn decode(bytes: &[u8]) -> Decoded {
    let mut out = Decoded::new();
    if bytes.is_empty() {
        return out;
    }
    let reader = mvt_reader::Reader::new(bytes.to_vec()).expect("a valid MVT");
    for (i, name) in reader.get_layer_names().unwrap().into_iter().enumerate() {
        let features = reader.get_features(i).unwrap();
        let list = out.entry(name).or_default();
        for f in features {
            let props = f
                .properties
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        mvt_reader::feature::Value::String(s) => s,
                        other => format!("{other:?}"),
                    };
                    (k, s)
                })
                .collect();
            let coords = match f.geometry {
                geo_types::Geometry::Point(p) => vec![(p.x(), p.y())],
                geo_types::Geometry::MultiPoint(m) => m.iter().map(|p| (p.x(), p.y())).collect(),
                geo_types::Geometry::LineString(l) => l.coords().map(|c| (c.x, c.y)).collect(),
                geo_types::Geometry::MultiLineString(m) => m
                    .iter()
                    .flat_map(|l| l.coords().map(|c| (c.x, c.y)).collect::<Vec<_>>())
                    .collect(),
                other => panic!("unexpected geometry {other:?}"),
            };
            list.push((props, coords));
        }
    }
    out
}

pub async fn fetch(
    geo: &Geo,
    z: u32,
    x: u32,
    y: u32,
    etag: Option<&str>,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let mut req = geo
        .http
        .get(geo.url(&format!("/geo/tiles/{z}/{x}/{y}.mvt")));
    if let Some(t) = etag {
        req = req.header(header::IF_NONE_MATCH, t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    if status == 200 {
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "application/vnd.mapbox-vector-tile"
        );
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
    }
    let tag = resp
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, tag, resp.bytes().await.unwrap().to_vec())
}

fn ids(tile: &Decoded, layer: &str) -> Vec<String> {
    let mut ids: Vec<String> = tile
        .get(layer)
        .map(|fs| fs.iter().map(|(p, _)| p["id"].clone()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn tiles_carry_nodes_and_edges_and_are_fresh_after_every_write() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let z = 14;
    let (lat, lon) = (51.3397, 12.3731);
    let (x, y) = tile_of(lat, lon, z);
    let a = geo.node(&ada, "place", "Leipzig A", lat, lon).await;
    let b = geo
        .node(&ada, "idea", "Leipzig B", lat + 0.001, lon + 0.001)
        .await;
    let (status, _, edge) = geo
        .call(
            Method::POST,
            "/geo/edges",
            Some(&ada),
            Some(json!({"from_node": a["id"], "to_node": b["id"], "kind": "link"})),
            &[],
        )
        .await;
    assert_eq!(status, 201);

    let (status, tag, bytes) = fetch(&geo, z, x, y, None).await;
    assert_eq!(status, 200);
    let tag = tag.expect("an ETag");
    assert!(tag.starts_with("W/\""), "{tag}");
    let tile = decode(&bytes);
    let mut want = vec![
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(ids(&tile, "nodes"), want);
    assert_eq!(
        ids(&tile, "edges"),
        vec![edge["id"].as_str().unwrap().to_owned()]
    );
    let (props, coords) = tile["nodes"]
        .iter()
        .find(|(p, _)| p["id"] == a["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(props["kind"], "place");
    assert_eq!(props["title"], "Leipzig A");
    // The point sits where the node is (within one tile unit).
    let (plat, plon) = position_of(z, x, y, f64::from(coords[0].0), f64::from(coords[0].1));
    assert!(
        (plat - lat).abs() < 0.0001 && (plon - lon).abs() < 0.0001,
        "{plat},{plon}"
    );

    // Nothing changed: 304, with no body, from the cheap path.
    let (status, same, body) = fetch(&geo, z, x, y, Some(&tag)).await;
    assert_eq!(status, 304);
    assert_eq!(same.as_deref(), Some(tag.as_str()));
    assert!(body.is_empty());

    // A write far away leaves this tile alone.
    geo.node(&ada, "place", "Dresden", 51.05, 13.74).await;
    assert_eq!(fetch(&geo, z, x, y, Some(&tag)).await.0, 304);

    // A write inside makes it fresh at once: new ETag, new content.
    let c = geo
        .node(&ada, "resource", "Leipzig C", lat - 0.001, lon - 0.001)
        .await;
    let (status, tag2, bytes) = fetch(&geo, z, x, y, Some(&tag)).await;
    assert_eq!(status, 200);
    let tag2 = tag2.unwrap();
    assert_ne!(tag2, tag);
    assert!(ids(&decode(&bytes), "nodes").contains(&c["id"].as_str().unwrap().to_owned()));

    // A title change, a move out, and a delete each show at once.
    let c_path = format!("/geo/nodes/{}", c["id"].as_str().unwrap());
    let (status, _, _) = geo
        .call(
            Method::PATCH,
            &c_path,
            Some(&ada),
            Some(json!({"title": "Umbenannt"})),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, tag3, bytes) = fetch(&geo, z, x, y, Some(&tag2)).await;
    assert_eq!(status, 200);
    let tile = decode(&bytes);
    assert!(tile["nodes"].iter().any(|(p, _)| p["title"] == "Umbenannt"));
    let (status, _, _) = geo
        .call(
            Method::PATCH,
            &c_path,
            Some(&ada),
            Some(json!({"location": {"lat": 10.0, "lon": 10.0}})),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (status, tag4, bytes) = fetch(&geo, z, x, y, tag3.as_deref()).await;
    assert_eq!(status, 200);
    assert!(!ids(&decode(&bytes), "nodes").contains(&c["id"].as_str().unwrap().to_owned()));
    let (status, _, _) = geo
        .call(
            Method::DELETE,
            &format!("/geo/nodes/{}", b["id"].as_str().unwrap()),
            Some(&ada),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (status, tag5, bytes) = fetch(&geo, z, x, y, tag4.as_deref()).await;
    assert_eq!(status, 200);
    let tile = decode(&bytes);
    assert_eq!(
        ids(&tile, "nodes"),
        vec![a["id"].as_str().unwrap().to_owned()]
    );
    assert!(
        ids(&tile, "edges").is_empty(),
        "the edge went with its node"
    );

    // The same tile rendered again (cache or not) is identical and carries the same ETag.
    let (status, tag6, again) = fetch(&geo, z, x, y, None).await;
    assert_eq!(status, 200);
    assert_eq!(tag6, tag5);
    assert_eq!(decode(&again), tile);

    // Folding the change log starts a new epoch: every tile revalidates once, none stays stale.
    let mut conn = geo.pg().await;
    sqlx::query("UPDATE geo.tile_changes SET changed_at = now() - interval '2 hours'")
        .execute(&mut conn)
        .await
        .unwrap();
    let folded = gewebe_geo::changes::fold(&mut conn, std::time::Duration::from_hours(1))
        .await
        .unwrap();
    assert!(folded > 0);
    let (status, tag7, _) = fetch(&geo, z, x, y, tag5.as_deref()).await;
    assert_eq!(status, 200);
    assert_ne!(tag7, tag5);
    assert_eq!(fetch(&geo, z, x, y, tag7.as_deref()).await.0, 304);
}

#[tokio::test]
async fn tiles_near_an_edge_see_writes_in_their_buffer_and_empty_tiles_are_valid() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let z = 12;
    let (x, y) = tile_of(40.0, -3.7, z);
    // A point just west of the tile's western edge, inside the 256/4096 buffer.
    let (lat, lon) = position_of(z, x, y, -100.0, 2048.0);
    let (status, tag, bytes) = fetch(&geo, z, x, y, None).await;
    assert_eq!(status, 200);
    assert!(decode(&bytes).values().all(Vec::is_empty));
    geo.node(&ada, "place", "am Rand", lat, lon).await;
    let (status, _, bytes) = fetch(&geo, z, x, y, tag.as_deref()).await;
    assert_eq!(status, 200, "the buffered neighbour tile changed too");
    assert_eq!(decode(&bytes)["nodes"].len(), 1);
}

#[tokio::test]
async fn below_zoom_13_nodes_are_clusters_per_h3_cell_kept_exact_by_every_write() {
    let geo = spawn().await;
    let ada = geo.user().await;
    let (lat, lon) = (45.4642, 9.19);
    let mut nodes = Vec::new();
    for i in 0..5 {
        let p = (lat + 0.0001 * f64::from(i), lon);
        let n = geo
            .node(&ada, "place", &format!("Mailand {i}"), p.0, p.1)
            .await;
        nodes.push((n["id"].as_str().unwrap().to_owned(), p));
    }
    let lonely = geo
        .node(&ada, "idea", "Allein", lat + 0.05, lon + 0.05)
        .await;
    nodes.push((
        lonely["id"].as_str().unwrap().to_owned(),
        (lat + 0.05, lon + 0.05),
    ));

    // What the tile must show: the nodes grouped by their resolution-8 cell (zoom 10).
    let expected = |nodes: &[(String, (f64, f64))]| {
        let mut by_cell = std::collections::BTreeMap::<String, u64>::new();
        for (_, (la, lo)) in nodes {
            let cell = h3o::LatLng::new(*la, *lo)
                .unwrap()
                .to_cell(h3o::Resolution::Eight);
            *by_cell.entry(cell.to_string()).or_default() += 1;
        }
        by_cell
            .into_iter()
            .map(|(c, n)| (c, format!("UInt({n})")))
            .collect::<Vec<_>>()
    };
    let clusters = |tile: &Decoded| {
        let mut v: Vec<(String, String)> = tile
            .get("nodes")
            .into_iter()
            .flatten()
            .map(|(p, _)| (p["cell"].clone(), p["count"].clone()))
            .collect();
        v.sort();
        v
    };
    let z = 10;
    let (x, y) = tile_of(lat, lon, z);
    let (status, tag, bytes) = fetch(&geo, z, x, y, None).await;
    assert_eq!(status, 200);
    assert_eq!(clusters(&decode(&bytes)), expected(&nodes));

    // Moving and deleting keep the counts exact, and the tile fresh.
    let (moved_id, _) = nodes.remove(0);
    let (status, _, _) = geo
        .call(
            Method::PATCH,
            &format!("/geo/nodes/{moved_id}"),
            Some(&ada),
            Some(json!({"location": {"lat": lat + 0.03, "lon": lon}})),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    nodes.push((moved_id, (lat + 0.03, lon)));
    let (deleted_id, _) = nodes.remove(0);
    let (status, _, _) = geo
        .call(
            Method::DELETE,
            &format!("/geo/nodes/{deleted_id}"),
            Some(&ada),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, bytes) = fetch(&geo, z, x, y, tag.as_deref()).await;
    assert_eq!(status, 200);
    assert_eq!(clusters(&decode(&bytes)), expected(&nodes));

    // The stored parents agree with h3o at every clustered resolution.
    let mut conn = geo.pg().await;
    let rows: Vec<(i16, i64, i32)> =
        sqlx::query_as("SELECT res, cell, nodes FROM geo.node_cells ORDER BY res, cell")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut want = Vec::new();
    for res in 5u8..=9 {
        let mut by_cell = std::collections::BTreeMap::<i64, i32>::new();
        for (_, (la, lo)) in &nodes {
            let cell = h3o::LatLng::new(*la, *lo)
                .unwrap()
                .to_cell(h3o::Resolution::try_from(res).unwrap());
            *by_cell.entry(u64::from(cell) as i64).or_default() += 1;
        }
        want.extend(by_cell.into_iter().map(|(c, n)| (i16::from(res), c, n)));
    }
    assert_eq!(rows, want);

    // At zoom 14 every node is its own feature again.
    let (x, y) = tile_of(lat, lon, 14);
    let (_, _, bytes) = fetch(&geo, 14, x, y, None).await;
    let tile = decode(&bytes);
    assert!(
        tile["nodes"]
            .iter()
            .all(|(p, _)| p.contains_key("id") && !p.contains_key("count"))
    );
}

#[tokio::test]
async fn bad_tile_addresses_are_400_and_tilejson_describes_the_layers() {
    let geo = spawn().await;
    for path in [
        "/geo/tiles/23/0/0.mvt",
        "/geo/tiles/2/4/0.mvt",
        "/geo/tiles/2/0/4.mvt",
        "/geo/tiles/a/0/0.mvt",
        "/geo/tiles/2/0/0.png",
        "/geo/tiles/-1/0/0.mvt",
    ] {
        let (status, body) = geo.get(path, None).await;
        assert_problem(status, &body, 400, "invalid_tile");
    }
    let (status, headers, doc) = geo
        .call(
            Method::GET,
            "/geo/tiles.json",
            None,
            None,
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert_eq!(doc["tilejson"], "3.0.0");
    let url = doc["tiles"][0].as_str().unwrap();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/geo/tiles/{z}/{x}/{y}.mvt"),
        "{url}"
    );
    let layers: Vec<&str> = doc["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(layers, ["nodes", "edges"]);
}
