-- A batch at a time (each call must fit the statement timeout); SKIP LOCKED leaves rows that a
-- refresh holds to it.
UPDATE auth.refresh_tokens
   SET successor_sealed = NULL,
       successor_nonce = NULL
 WHERE token_hash IN (
           SELECT token_hash
             FROM auth.refresh_tokens
            WHERE successor_sealed IS NOT NULL
              AND rotated_at < $1
            LIMIT $2
              FOR UPDATE SKIP LOCKED
       )
