-- The outbox insert as a function, for writers that record their event inside the statement that
-- makes the change (gewebe-geo's node insert: one statement instead of two on its busiest write),
-- so that writers need not name the outbox's columns (only this crate and the relay, which reads
-- them, do). Returns the row's `seq`.
CREATE FUNCTION __SCHEMA__.outbox_record(
    event_id uuid,
    event_type text,
    aggregate_type text,
    aggregate_id uuid,
    aggregate_version bigint,
    payload bytea
) RETURNS bigint
LANGUAGE sql
VOLATILE
AS $$
    INSERT INTO __SCHEMA__.outbox (id, event_type, aggregate_type, aggregate_id, aggregate_version, payload)
    VALUES (event_id, event_type, aggregate_type, aggregate_id, aggregate_version, payload)
    RETURNING seq
$$;
