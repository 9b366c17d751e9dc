-- One row per account and window ($2 seconds, aligned to the epoch); the nil account id stands for
-- every unknown e-mail address. $2 is cast to what the code binds (f64): left to itself,
-- PostgreSQL would infer numeric from extract().
INSERT INTO auth.login_failures (account_id, window_start, failures, locks)
VALUES ($1, to_timestamp(floor(extract(epoch FROM now()) / $2::double precision) * $2), $3, $4)
ON CONFLICT (account_id, window_start) DO UPDATE
   SET failures = auth.login_failures.failures + EXCLUDED.failures,
       locks = auth.login_failures.locks + EXCLUDED.locks
