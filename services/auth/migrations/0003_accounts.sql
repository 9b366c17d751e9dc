-- Accounts. After a forget request the row stays as a pseudonymous tombstone: e-mail, name and
-- password hash are erased, the id remains so other services' references stay valid.
CREATE TABLE auth.accounts (
    id            uuid        PRIMARY KEY,
    -- Normalised (trimmed, domain lower-cased); NULL once forgotten.
    email         text        UNIQUE,
    -- PHC string: algorithm, parameters and salt travel with the hash, so parameters can be raised
    -- later and old hashes are upgraded at the next login.
    password_hash text,
    display_name  text,
    roles         text[]      NOT NULL DEFAULT ARRAY['user'],
    fuzz_radius_m integer     NOT NULL DEFAULT 0 CHECK (fuzz_radius_m BETWEEN 0 AND 5000),
    ron           boolean     NOT NULL DEFAULT false,
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    forgotten_at  timestamptz,
    CHECK (forgotten_at IS NOT NULL OR (email IS NOT NULL AND password_hash IS NOT NULL))
);
