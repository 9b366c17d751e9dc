-- The security audit log: append-only, hash-chained. Each entry carries the SHA-256 of the previous
-- one (see src/audit/chain.rs for the exact bytes), so altering or removing a row breaks the chain
-- at that row; `gewebe-auth audit verify` reports the first broken link. No PII: ids and codes only.
CREATE TABLE auth.audit_log (
    -- Gapless: assigned from audit_head under its row lock, never from a sequence (which skips
    -- numbers on rollback and would make a removed row indistinguishable from a rolled-back one).
    seq        bigint      PRIMARY KEY,
    at         timestamptz NOT NULL,
    kind       text        NOT NULL,
    -- The account the entry is about (NULL: an unknown e-mail address, a key rotation).
    account_id uuid,
    -- Who caused it, when that is someone else (an admin changing roles).
    actor_id   uuid,
    data       jsonb       NOT NULL DEFAULT '{}',
    prev_hash  bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea       NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_account_idx ON auth.audit_log (account_id, seq);

-- The chain's head: the last seq and hash. Its row lock serialises writers, which keeps the chain
-- linear; writers take it as the last statement of their transaction so it is held briefly.
CREATE TABLE auth.audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint  NOT NULL,
    hash      bytea   NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO auth.audit_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only for everyone but a superuser who disables the trigger (and then `audit verify`
-- still finds the change).
CREATE FUNCTION auth.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auth.audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON auth.audit_log
    FOR EACH ROW EXECUTE FUNCTION auth.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON auth.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION auth.audit_log_append_only();
