-- Published rows older than the retention window (the JetStream dedupe window), in chunks so a
-- large backlog never holds long locks.
DELETE FROM __SCHEMA__.outbox
WHERE seq IN (
    SELECT seq FROM __SCHEMA__.outbox
    WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)
    ORDER BY seq
    LIMIT 5000
)
