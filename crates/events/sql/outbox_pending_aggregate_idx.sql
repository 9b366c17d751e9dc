-- The relay reads the oldest pending row of each aggregate (services/relay/sql/claim.sql): this
-- index answers "is there an older pending row of this aggregate?" with one probe.
CREATE INDEX outbox_pending_aggregate_idx ON __SCHEMA__.outbox (aggregate_id, seq)
    WHERE published_at IS NULL;
