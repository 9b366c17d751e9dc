//! What the feed knows of one event: enough to filter it per connection, and its public projection
//! rendered once for every connection that gets it.

use gewebe_events::{Envelope, Visibility};
use h3o::{CellIndex, LatLng, Resolution};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct FeedEvent {
    /// The JetStream stream sequence: the resume token (`id:` of the SSE event).
    pub seq: u64,
    pub event_type: String,
    pub topic: &'static str,
    pub visibility: Visibility,
    /// For private events, the one account that may see it.
    pub account: Option<Uuid>,
    /// Where it is on the map (an edge has both ends), with their resolution-15 cells.
    pub points: Vec<((f64, f64), Option<CellIndex>)>,
    pub occurred_at: OffsetDateTime,
    /// The public projection as JSON, the SSE `data:`.
    pub data: String,
    /// The whole SSE event (`id:`, `event:`, `data:`), rendered once and shared by every stream
    /// that sends it.
    pub frame: bytes::Bytes,
    /// `account.forgotten` (internal, never sent): the account whose streams end now.
    pub forgotten: Option<Uuid>,
    /// The accounts it is about: the actor, the owner (`data.owner`) and the account of an
    /// `account.*` event. None of them may be forgotten for the public to get it.
    pub people: [Option<Uuid>; 3],
}

/// The topic a client subscribes to for an event type (`node.created` → `nodes`).
pub fn topic_of(event_type: &str) -> Option<&'static str> {
    match event_type.split('.').next()? {
        "node" => Some("nodes"),
        "edge" => Some("edges"),
        "account" => Some("account"),
        "conversation" | "message" => Some("conversations"),
        _ => None,
    }
}

pub const TOPICS: [&str; 4] = ["nodes", "edges", "conversations", "account"];

fn point(v: &Value) -> Option<(f64, f64)> {
    Some((v.get("lat")?.as_f64()?, v.get("lon")?.as_f64()?))
}

impl FeedEvent {
    /// `None` for what clients never see: internal events, unknown topics, and anything that is not
    /// an envelope (those are the relay's and the DLQ's business).
    pub fn from_message(seq: u64, payload: &[u8]) -> Option<Self> {
        let e = Envelope::from_slice(payload).ok()?;
        if e.event_type == "account.forgotten" {
            // Not for any client; it ends the forgotten account's own streams (runbooks/forget.md).
            return Some(Self {
                seq,
                event_type: e.event_type,
                topic: "account",
                visibility: Visibility::Internal,
                account: None,
                points: Vec::new(),
                occurred_at: e.occurred_at,
                data: String::new(),
                frame: bytes::Bytes::new(),
                forgotten: Some(e.aggregate.id),
                people: [None; 3],
            });
        }
        // The type becomes an SSE field: it must be a plain token (the outbox only writes those).
        if e.visibility == Visibility::Internal
            || !gewebe_events::subjects::valid_event_type(&e.event_type)
        {
            return None;
        }
        let topic = topic_of(&e.event_type)?;
        let account = match e.visibility {
            Visibility::Private if e.aggregate.kind == "account" => Some(e.aggregate.id),
            Visibility::Private => e.actor,
            _ => None,
        };
        let people = [
            e.actor,
            e.data
                .get("owner")
                .and_then(Value::as_str)
                .and_then(|o| o.parse().ok()),
            (e.aggregate.kind == "account").then_some(e.aggregate.id),
        ];
        let mut points = Vec::new();
        if let Some(l) = e.location {
            let cell =
                e.h3.as_deref()
                    .and_then(|h| h.parse::<CellIndex>().ok())
                    .or_else(|| cell_of(l.lat, l.lon));
            points.push(((l.lat, l.lon), cell));
        }
        // Edges carry both ends; a map showing either end shows the edge.
        if let Some(p) = e.data.get("to_location").and_then(point) {
            points.push((p, cell_of(p.0, p.1)));
        }
        // A home never names its owner in public, whatever the event says: the stream still holds
        // events geo wrote with one (and would for 30 days), and the owner is the person living
        // there. The filter above has read it already.
        let mut data = e.data;
        if topic == "nodes"
            && data.get("kind").and_then(Value::as_str) == Some("home")
            && let Some(fields) = data.as_object_mut()
        {
            fields.remove("owner");
        }
        // The public projection: no actor (role-without-name hides who did it), no trace or
        // correlation ids (internal).
        let mut projection = json!({
            "id": e.id,
            "type": e.event_type,
            "schema_version": e.schema_version,
            "aggregate": e.aggregate,
            "occurred_at": e.occurred_at.format(&time::format_description::well_known::Rfc3339).ok(),
            "data": data,
        });
        if let Some(l) = e.location {
            projection["location"] = json!(l);
        }
        if let Some(h) = &e.h3 {
            projection["h3"] = json!(h);
        }
        // serde_json escapes every newline inside strings, so the JSON is one `data:` line.
        let data = projection.to_string();
        let frame = bytes::Bytes::from(format!(
            "id: {seq}\nevent: {}\ndata: {data}\n\n",
            e.event_type
        ));
        Some(Self {
            seq,
            topic,
            visibility: e.visibility,
            account,
            points,
            occurred_at: e.occurred_at,
            data,
            frame,
            event_type: e.event_type,
            forgotten: None,
            people,
        })
    }
}

fn cell_of(lat: f64, lon: f64) -> Option<CellIndex> {
    LatLng::new(lat, lon)
        .ok()
        .map(|ll| ll.to_cell(Resolution::Fifteen))
}
