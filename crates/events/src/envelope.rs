//! The envelope every event travels in (JSON).

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use time::OffsetDateTime;
use uuid::Uuid;

/// Who may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone, e.g. a node on the map.
    Public,
    /// Only the account in `aggregate` (or `actor`), e.g. its own settings.
    Private,
    /// Services only; never delivered to clients.
    Internal,
}

/// The thing the event is about; `version` orders its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Uuid,
    pub version: i64,
}

/// WGS84; for map events, always the public position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// The versioned envelope. Unknown fields are tolerated (serde ignores them), so producers can add
/// fields before consumers know them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7; also the JetStream `Nats-Msg-Id`, so a republish is dropped as a duplicate.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    /// The service that wrote it, e.g. `gewebe-geo`.
    pub source: String,
    pub aggregate: Aggregate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// W3C trace context of the write, so a trace continues into every consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h3: Option<String>,
    pub data: serde_json::Value,
}

/// A typed event: its wire name, the schema version this code reads and writes, and its aggregate.
pub trait Event: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const SCHEMA_VERSION: u32;
    const AGGREGATE: &'static str;
    const VISIBILITY: Visibility;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON or not an envelope: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("expected event type {expected}, got {got}")]
    WrongType { expected: &'static str, got: String },
    #[error("{event_type} has schema_version {got}; this build reads up to {supported}")]
    UnknownSchemaVersion {
        event_type: String,
        got: u32,
        supported: u32,
    },
}

impl Envelope {
    /// A new envelope for `event` about aggregate `id` at `version`.
    pub fn new<E: Event>(
        source: &str,
        id: Uuid,
        version: i64,
        event: &E,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: E::TYPE.to_owned(),
            schema_version: E::SCHEMA_VERSION,
            source: source.to_owned(),
            aggregate: Aggregate {
                kind: E::AGGREGATE.to_owned(),
                id,
                version,
            },
            actor: None,
            correlation_id: None,
            traceparent: None,
            occurred_at: OffsetDateTime::now_utc(),
            visibility: E::VISIBILITY,
            location: None,
            h3: None,
            data: serde_json::to_value(event)?,
        })
    }

    pub fn with_actor(mut self, actor: Uuid) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn with_location(mut self, location: Location, h3: Option<String>) -> Self {
        self.location = Some(location);
        self.h3 = h3;
        self
    }

    /// Records the current span's trace (when OpenTelemetry is on) and the request id as the
    /// correlation id, so consumers continue the writer's trace.
    pub fn with_current_trace(self, correlation_id: Option<String>) -> Self {
        let traceparent = crate::trace::current_traceparent();
        self.with_trace(traceparent, correlation_id)
    }

    pub fn with_trace(
        mut self,
        traceparent: Option<String>,
        correlation_id: Option<String>,
    ) -> Self {
        self.traceparent = traceparent;
        self.correlation_id = correlation_id;
        self
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The typed payload. A newer `schema_version` than this build knows is reported, not guessed at.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        if self.event_type != E::TYPE {
            return Err(DecodeError::WrongType {
                expected: E::TYPE,
                got: self.event_type.clone(),
            });
        }
        if self.schema_version > E::SCHEMA_VERSION || self.schema_version == 0 {
            return Err(DecodeError::UnknownSchemaVersion {
                event_type: self.event_type.clone(),
                got: self.schema_version,
                supported: E::SCHEMA_VERSION,
            });
        }
        Ok(serde_json::from_value(self.data.clone())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NodeDeleted;

    #[test]
    fn round_trips_and_tolerates_unknown_fields() {
        let node = Uuid::now_v7();
        let env = Envelope::new("gewebe-geo", node, 3, &NodeDeleted { node_id: node }).unwrap();
        let mut json: serde_json::Value = serde_json::to_value(&env).unwrap();
        json["added_later"] = serde_json::json!({"x": 1});
        json["data"]["also_new"] = serde_json::json!(true);
        let back = Envelope::from_slice(json.to_string().as_bytes()).unwrap();
        assert_eq!(back.id, env.id);
        assert_eq!(back.aggregate.version, 3);
        assert_eq!(back.decode::<NodeDeleted>().unwrap().node_id, node);
    }

    #[test]
    fn unknown_schema_version_and_wrong_type_are_reported() {
        let node = Uuid::now_v7();
        let mut env = Envelope::new("gewebe-geo", node, 1, &NodeDeleted { node_id: node }).unwrap();
        env.schema_version = 99;
        assert!(matches!(
            env.decode::<NodeDeleted>(),
            Err(DecodeError::UnknownSchemaVersion {
                got: 99,
                supported: 1,
                ..
            })
        ));
        env.event_type = "node.created".into();
        assert!(matches!(
            env.decode::<NodeDeleted>(),
            Err(DecodeError::WrongType { .. })
        ));
        assert!(matches!(
            Envelope::from_slice(b"{\"id\":1}"),
            Err(DecodeError::Malformed(_))
        ));
    }
}
