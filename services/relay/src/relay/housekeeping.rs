//! Housekeeping, on a timer: prune published rows past retention, refresh the pending gauges.

use super::{Relay, RelayError};
use crate::metrics::RelayMetrics;

impl Relay {
    /// Deletes published rows older than the retention window.
    pub async fn prune(&self) -> Result<u64, RelayError> {
        let mut total = 0;
        for schema in &self.schemas {
            loop {
                let mut tx = self.db.begin().await?;
                let n = schema
                    .prune(&mut tx, self.config.retention.as_secs_f64())
                    .await?;
                tx.commit().await?;
                total += n;
                if n < 5000 {
                    break;
                }
            }
        }
        self.metrics.pruned.inc_by(total);
        Ok(total)
    }

    /// Refreshes the pending gauges; returns (schema, pending, oldest age in seconds).
    pub async fn stats(&self) -> Result<Vec<(String, i64, f64)>, RelayError> {
        let mut out = Vec::new();
        for schema in &self.schemas {
            let mut tx = self.db.begin().await?;
            let (pending, age) = schema.stats(&mut tx).await?;
            tx.commit().await?;
            let label = RelayMetrics::label(&schema.schema);
            self.metrics.pending.get_or_create(&label).set(pending);
            self.metrics
                .oldest_pending_age
                .get_or_create(&label)
                .set(age);
            out.push((schema.schema.clone(), pending, age));
        }
        Ok(out)
    }
}
