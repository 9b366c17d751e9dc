-- Published rows since a point in time, in order, paged by seq. Pending rows are left to the relay
-- loop, so a replay running beside it never sends a row the loop is sending too.
SELECT seq, id, event_type, aggregate_id, payload
FROM __SCHEMA__.outbox
WHERE published_at IS NOT NULL AND created_at >= $1 AND seq > $2
ORDER BY seq
LIMIT $3
