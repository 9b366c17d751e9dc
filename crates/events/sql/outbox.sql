-- The transactional outbox of one service, in that service's schema (__SCHEMA__ is replaced by
-- `gewebe_events::outbox::migrator`). Rows are written in the same transaction as the change they
-- describe and published by gewebe-relay.
CREATE TABLE __SCHEMA__.outbox (
    -- Insert order; the relay publishes in this order (per aggregate it is version order, because a
    -- writer reads version n before it writes n+1).
    seq               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                uuid        NOT NULL UNIQUE,
    event_type        text        NOT NULL,
    aggregate_type    text        NOT NULL,
    aggregate_id      uuid        NOT NULL,
    aggregate_version bigint      NOT NULL,
    -- The serialized envelope, published byte for byte.
    payload           bytea       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    published_at      timestamptz,
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text
);

CREATE INDEX outbox_pending_idx ON __SCHEMA__.outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at_idx ON __SCHEMA__.outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_created_at_idx ON __SCHEMA__.outbox (created_at);

-- Rows the relay could not publish (too large, not an envelope): kept for an operator, never retried
-- automatically. `runbooks/outbox-relay.md` says how to inspect and re-queue them.
CREATE TABLE __SCHEMA__.outbox_quarantine (
    seq               bigint      PRIMARY KEY,
    id                uuid        NOT NULL,
    event_type        text        NOT NULL,
    aggregate_type    text        NOT NULL,
    aggregate_id      uuid        NOT NULL,
    aggregate_version bigint      NOT NULL,
    payload           bytea       NOT NULL,
    created_at        timestamptz NOT NULL,
    reason            text        NOT NULL,
    quarantined_at    timestamptz NOT NULL DEFAULT now()
);

-- Wakes the relay at commit (NOTIFY is transactional); the payload names the schema.
CREATE FUNCTION __SCHEMA__.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gewebe_outbox', '__SCHEMA__');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON __SCHEMA__.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.outbox_notify();

-- Consumers in this service remember which events they have applied (see
-- `gewebe_events::consumer::first_time`), in the same transaction as the effect: replays and
-- redeliveries then take effect once.
CREATE TABLE __SCHEMA__.processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
