//! The events gewebe-chat writes to its outbox: ids and seqs only, never a body or a name (they
//! stay in chat's tables, where a forget can reach them). Node rooms belong to a place on the map,
//! so their room and message events are public; everything about direct and group rooms, and who
//! joins or leaves any room, is internal: the feed never shows it to anyone.

use gewebe_events::{Envelope, Event, Visibility};
use uuid::Uuid;

use crate::config::SERVICE;

/// An envelope about room `room` (of `kind`) at the room's event `version`.
pub fn envelope<E: Event>(
    room: Uuid,
    kind: &str,
    version: i64,
    event: &E,
) -> Result<Envelope, serde_json::Error> {
    let mut envelope = Envelope::new(SERVICE, room, version, event)?
        .with_current_trace(gewebe_platform::http::context::current_request_id());
    let about_members = E::TYPE.starts_with("member.");
    if kind == "node" && !about_members {
        envelope.visibility = Visibility::Public;
    }
    Ok(envelope)
}
