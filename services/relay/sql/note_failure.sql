UPDATE __SCHEMA__.outbox
SET attempts = attempts + 1, last_error = $2
WHERE seq = ANY($1) AND published_at IS NULL
