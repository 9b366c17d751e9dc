-- The leader's one statement per batch: marks the rows JetStream acknowledged in the previous
-- batch ($1) and reads the oldest pending rows after them, in insert order (per aggregate that is
-- version order). Both halves see the same snapshot, so the rows being marked are excluded by seq.
WITH marked AS (
    UPDATE __SCHEMA__.outbox
    SET published_at = now(), attempts = attempts + 1, last_error = NULL
    WHERE seq = ANY($1)
)
SELECT seq, id, event_type, aggregate_id, payload
FROM __SCHEMA__.outbox
WHERE published_at IS NULL AND seq <> ALL($1)
ORDER BY seq
LIMIT $2
