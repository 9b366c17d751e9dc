-- One relay publishes: whoever holds this session lock (it ends with the session).
SELECT pg_try_advisory_lock(hashtext('gewebe-relay'))
