-- The oldest pending rows, in insert order (per aggregate that is version order).
SELECT seq, id, event_type, aggregate_id, payload
FROM __SCHEMA__.outbox
WHERE published_at IS NULL
ORDER BY seq
LIMIT $1
