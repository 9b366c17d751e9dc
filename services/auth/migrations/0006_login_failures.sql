-- Failed logins, counted per account and window instead of one audit entry each: an attacker
-- rotating addresses could otherwise grow the (append-only, never pruned) audit log without bound.
-- Housekeeping turns every closed window into one `login.failed` audit entry with the counts and
-- deletes the row, so this table holds at most one row per account and open window.
CREATE TABLE auth.login_failures (
    -- The nil UUID stands for every unknown e-mail address together (no address is stored).
    account_id   uuid        NOT NULL,
    window_start timestamptz NOT NULL,
    -- Wrong passwords that were checked.
    failures     integer     NOT NULL DEFAULT 0,
    -- Pair locks started (attempts refused from then on are not counted anywhere).
    locks        integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, window_start)
);
CREATE INDEX login_failures_window_idx ON auth.login_failures (window_start);
