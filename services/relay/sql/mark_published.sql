-- Only after JetStream acknowledged them.
UPDATE __SCHEMA__.outbox
SET published_at = now(), attempts = attempts + 1, last_error = NULL
WHERE seq = ANY($1)
