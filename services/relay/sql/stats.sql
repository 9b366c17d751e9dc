SELECT count(*)::int8 AS pending,
       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest_age_seconds
FROM __SCHEMA__.outbox
WHERE published_at IS NULL
