-- The leader's one statement per batch: marks the rows JetStream acknowledged in the previous
-- batch ($1) and reads the oldest pending row of each aggregate (its head: no older pending row of
-- the same aggregate), oldest heads first. Both halves see the same snapshot, so the rows being
-- marked are excluded by seq, and the row after an acknowledged one is already its aggregate's head.
--
-- Heads rather than the oldest rows: an aggregate written hundreds of times a second (one node
-- PATCHed in a loop) would otherwise fill every batch with its own queue, of which only one row
-- may be sent per round, and starve every other aggregate's events behind it. The scan walks the
-- pending rows in seq order and stops after $2 heads; each row costs one probe of
-- outbox_pending_aggregate_idx, so a normal backlog (distinct aggregates) reads what it did before.
-- `queued_behind` (one more probe per returned row) tells the leader to read again at once.
WITH marked AS (
    UPDATE __SCHEMA__.outbox
    SET published_at = now(), attempts = attempts + 1, last_error = NULL
    WHERE seq = ANY($1)
)
SELECT o.seq, o.id, o.event_type, o.aggregate_id, o.payload,
       EXISTS (
           SELECT 1 FROM __SCHEMA__.outbox newer
           WHERE newer.aggregate_id = o.aggregate_id
             AND newer.published_at IS NULL
             AND newer.seq > o.seq
       ) AS queued_behind
FROM __SCHEMA__.outbox o
WHERE o.published_at IS NULL AND o.seq <> ALL($1)
  AND NOT EXISTS (
      SELECT 1 FROM __SCHEMA__.outbox older
      WHERE older.aggregate_id = o.aggregate_id
        AND older.published_at IS NULL
        AND older.seq < o.seq
        AND older.seq <> ALL($1)
  )
ORDER BY o.seq
LIMIT $2
