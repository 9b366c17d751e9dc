//! Provisions the event stream idempotently with the seed's policy. An existing stream whose
//! settings differ is reported, never silently changed: changing retention or replicas is an
//! operator's decision (`runbooks/outbox-relay.md`).

use async_nats::jetstream::{
    self, ErrorCode,
    context::{CreateStreamErrorKind, GetStreamErrorKind},
    stream::{Config, DiscardPolicy, StorageType},
};
use gewebe_events::subjects;

use crate::config::StreamPolicy;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream {name} exists with different settings: {differences}")]
    Mismatch { name: String, differences: String },
    #[error("JetStream: {0}")]
    Nats(String),
}

pub fn desired(prefix: &str, policy: &StreamPolicy) -> Config {
    Config {
        name: subjects::stream(prefix),
        subjects: vec![subjects::all_events(prefix)],
        max_age: policy.max_age,
        max_bytes: policy.max_bytes,
        duplicate_window: policy.duplicate_window,
        max_message_size: policy.max_message_size,
        storage: StorageType::File,
        num_replicas: policy.replicas,
        discard: DiscardPolicy::Old,
        ..Default::default()
    }
}

fn dlq(prefix: &str, policy: &StreamPolicy) -> Config {
    Config {
        name: subjects::dlq_stream(prefix),
        subjects: vec![subjects::dlq(prefix, ">")],
        max_age: policy.max_age,
        storage: StorageType::File,
        num_replicas: policy.replicas,
        ..Default::default()
    }
}

/// The settings of `have` that differ from `want`, as `field: have != want` pairs.
pub fn differences(have: &Config, want: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |field: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{field}: {a} (want {b})"));
        }
    };
    check(
        "subjects",
        format!("{:?}", have.subjects),
        format!("{:?}", want.subjects),
    );
    check(
        "max_age",
        format!("{:?}", have.max_age),
        format!("{:?}", want.max_age),
    );
    check(
        "max_bytes",
        have.max_bytes.to_string(),
        want.max_bytes.to_string(),
    );
    check(
        "duplicate_window",
        format!("{:?}", have.duplicate_window),
        format!("{:?}", want.duplicate_window),
    );
    check(
        "max_message_size",
        have.max_message_size.to_string(),
        want.max_message_size.to_string(),
    );
    check(
        "storage",
        format!("{:?}", have.storage),
        format!("{:?}", want.storage),
    );
    check(
        "num_replicas",
        have.num_replicas.to_string(),
        want.num_replicas.to_string(),
    );
    out
}

/// Creates the event and DLQ streams, or checks that the existing ones match.
pub async fn provision(
    js: &jetstream::Context,
    prefix: &str,
    policy: &StreamPolicy,
) -> Result<(), StreamError> {
    ensure(js, desired(prefix, policy)).await?;
    ensure(js, dlq(prefix, policy)).await
}

async fn ensure(js: &jetstream::Context, want: Config) -> Result<(), StreamError> {
    for _ in 0..3 {
        match js.get_stream(&want.name).await {
            Ok(mut stream) => {
                let info = stream
                    .info()
                    .await
                    .map_err(|e| StreamError::Nats(e.to_string()))?;
                let diff = differences(&info.config, &want);
                return if diff.is_empty() {
                    Ok(())
                } else {
                    Err(StreamError::Mismatch {
                        name: want.name.clone(),
                        differences: diff.join("; "),
                    })
                };
            }
            Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(je) if je.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                match js.create_stream(want.clone()).await {
                    Ok(_) => {
                        tracing::info!(stream = %want.name, "created stream");
                        return Ok(());
                    }
                    // Another relay created it meanwhile: compare on the next round.
                    Err(e) if matches!(e.kind(), CreateStreamErrorKind::JetStream(je) if je.error_code() == ErrorCode::STREAM_NAME_EXIST) =>
                        {}
                    Err(e) => return Err(StreamError::Nats(e.to_string())),
                }
            }
            Err(e) => return Err(StreamError::Nats(e.to_string())),
        }
    }
    Err(StreamError::Nats(format!(
        "stream {} could neither be read nor created",
        want.name
    )))
}
