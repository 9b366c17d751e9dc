-- Moves one row that can never be published out of the way of the rows behind it.
WITH moved AS (
    DELETE FROM __SCHEMA__.outbox WHERE seq = $1 AND published_at IS NULL
    RETURNING seq, id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, created_at
)
INSERT INTO __SCHEMA__.outbox_quarantine
    (seq, id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, created_at, reason)
SELECT seq, id, event_type, aggregate_type, aggregate_id, aggregate_version, payload, created_at, $2
FROM moved
