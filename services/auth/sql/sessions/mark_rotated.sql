UPDATE auth.refresh_tokens
   SET rotated_at = now(),
       successor_sealed = $2,
       successor_nonce = $3
 WHERE token_hash = $1
