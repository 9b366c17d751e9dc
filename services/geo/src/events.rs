//! The events gewebe-geo writes to its outbox, built from rows as the public sees them: public
//! positions only; no owner id and no actor when the owner uses role-without-name or the node is a
//! `home`.

use gewebe_events::{
    Envelope, Location,
    types::{EdgeCreated, EdgeDeleted, NodeCreated, NodeDeleted, NodeUpdated},
};
use uuid::Uuid;

use crate::{
    cells,
    config::SERVICE,
    edges::store::EdgeRow,
    nodes::store::{Created, NewNode, NodeRow},
};

fn cell_text(h3: i64) -> String {
    cells::from_db(h3)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn public(row: &NodeRow) -> Location {
    Location {
        lat: row.public_lat,
        lon: row.public_lon,
    }
}

fn traced(envelope: Envelope, actor: Option<Uuid>) -> Envelope {
    let envelope =
        envelope.with_current_trace(gewebe_platform::http::context::current_request_id());
    match actor {
        Some(a) => envelope.with_actor(a),
        None => envelope,
    }
}

/// `node.created` for a node about to be inserted, rendered twice under one event id: with its
/// owner, and without (role-without-name: no owner, no actor). The insert statement stores the one
/// the owner's setting asks for, which it reads itself: the event costs no statement of its own. A
/// `home` is always rendered without: its event must not tie a person to where they live, in a
/// stream that keeps it for 30 days and replays it to anyone.
pub fn node_created(n: &NewNode<'_>, actor: Uuid) -> Result<Created, serde_json::Error> {
    let h3 = cell_text(n.h3);
    let location = Location {
        lat: n.public_location.0,
        lon: n.public_location.1,
    };
    let event = NodeCreated {
        node_id: n.id,
        kind: n.kind.to_owned(),
        title: n.title.to_owned(),
        location,
        h3: h3.clone(),
        owner: None,
    };
    // A new node is version 1 (the column's default).
    let mut envelope = traced(
        Envelope::new(SERVICE, n.id, 1, &event)?.with_location(location, Some(h3)),
        None,
    );
    let without_owner = envelope.to_vec()?;
    if n.kind == "home" {
        return Ok(Created {
            id: envelope.id,
            with_owner: without_owner.clone(),
            without_owner,
        });
    }
    envelope.data["owner"] = serde_json::json!(n.owner_id);
    envelope.actor = Some(actor);
    Ok(Created {
        id: envelope.id,
        with_owner: envelope.to_vec()?,
        without_owner,
    })
}

/// Whether events about this node may name who acted: not for a `home`, and not when its owner uses
/// role-without-name (the actor would name them in their place).
pub fn names_actor(kind: &str, owner_ron: bool) -> bool {
    kind != "home" && !owner_ron
}

/// `actor` is `None` when the change came from an event (a new fuzz radius), not from a person.
pub fn node_updated(row: &NodeRow, actor: Option<Uuid>) -> Result<Envelope, serde_json::Error> {
    let h3 = cell_text(row.h3);
    let event = NodeUpdated {
        node_id: row.id,
        kind: row.kind.clone(),
        title: row.title.clone(),
        location: public(row),
        h3: h3.clone(),
    };
    Ok(traced(
        Envelope::new(SERVICE, row.id, row.version, &event)?.with_location(public(row), Some(h3)),
        actor.filter(|_| names_actor(&row.kind, row.owner_ron)),
    ))
}

/// The node's last public position and version, as `nodes::store::delete` returned them.
pub fn node_deleted(
    id: Uuid,
    (lat, lon, h3, version): (f64, f64, i64, i64),
    actor: Option<Uuid>,
) -> Result<Envelope, serde_json::Error> {
    // A deletion is the aggregate's next version, so consumers that compare versions accept it.
    Ok(traced(
        Envelope::new(SERVICE, id, version + 1, &NodeDeleted { node_id: id })?
            .with_location(Location { lat, lon }, Some(cell_text(h3))),
        actor,
    ))
}

fn endpoints(row: &EdgeRow) -> (Location, Location) {
    (
        Location {
            lat: row.from_lat,
            lon: row.from_lon,
        },
        Location {
            lat: row.to_lat,
            lon: row.to_lon,
        },
    )
}

pub fn edge_created(row: &EdgeRow, actor: Uuid) -> Result<Envelope, serde_json::Error> {
    let (from, to) = endpoints(row);
    let event = EdgeCreated {
        edge_id: row.id,
        from_node: row.from_node,
        to_node: row.to_node,
        kind: row.kind.clone(),
        from_location: from,
        to_location: to,
    };
    Ok(traced(
        Envelope::new(SERVICE, row.id, row.version, &event)?.with_location(from, None),
        Some(actor).filter(|_| !row.owner_ron && !row.touches_home),
    ))
}

pub fn edge_deleted(row: &EdgeRow, actor: Option<Uuid>) -> Result<Envelope, serde_json::Error> {
    let (from, to) = endpoints(row);
    let event = EdgeDeleted {
        edge_id: row.id,
        from_node: row.from_node,
        to_node: row.to_node,
        from_location: from,
        to_location: to,
    };
    Ok(traced(
        Envelope::new(SERVICE, row.id, row.version + 1, &event)?.with_location(from, None),
        actor.filter(|_| !row.owner_ron && !row.touches_home),
    ))
}
