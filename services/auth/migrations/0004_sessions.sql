-- A session is a refresh-token family: every refresh rotates the token within it, and reuse of an
-- already-rotated token (outside the grace window) revokes the whole family.
CREATE TABLE auth.sessions (
    id             uuid        PRIMARY KEY,
    account_id     uuid        NOT NULL REFERENCES auth.accounts (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_account_idx ON auth.sessions (account_id) WHERE revoked_at IS NULL;

CREATE TABLE auth.refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash       bytea       PRIMARY KEY,
    session_id       uuid        NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
    issued_at        timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    rotated_at       timestamptz,
    -- The successor, sealed under the KEK, so a concurrent refresh from a second tab within the
    -- grace window gets the same successor; erased once the window has passed.
    successor_sealed bytea,
    successor_nonce  bytea
);
CREATE INDEX refresh_tokens_session_idx ON auth.refresh_tokens (session_id);
