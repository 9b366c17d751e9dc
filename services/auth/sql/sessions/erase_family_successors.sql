-- SKIP LOCKED: a row another request holds is left to it, so the two never wait on each other.
UPDATE auth.refresh_tokens
   SET successor_sealed = NULL,
       successor_nonce = NULL
 WHERE token_hash IN (
           SELECT token_hash
             FROM auth.refresh_tokens
            WHERE session_id = $1
              AND successor_sealed IS NOT NULL
              AND rotated_at < $2
              FOR UPDATE SKIP LOCKED
       )
