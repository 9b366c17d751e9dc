-- Sealed successors of a revoked session are no longer needed by anyone.
UPDATE auth.refresh_tokens
   SET successor_sealed = NULL,
       successor_nonce = NULL
 WHERE session_id = $1
