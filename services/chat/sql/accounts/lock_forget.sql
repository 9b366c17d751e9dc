-- A forget holds its account exclusively until it commits (see `lock_shared`).
SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7215))
