-- Folds changes older than $1 seconds into a new epoch, in one statement, so that an ETag never
-- repeats for different content; returns how many rows were folded.
WITH old AS (
    DELETE FROM geo.tile_changes
     WHERE changed_at < now() - make_interval(secs => $1)
    RETURNING 1
), n AS (
    SELECT count(*) AS c FROM old
), bump AS (
    UPDATE geo.tile_floor SET epoch = epoch + 1 WHERE (SELECT c FROM n) > 0 RETURNING 1
)
SELECT c FROM n
