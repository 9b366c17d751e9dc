UPDATE auth.signing_keys
   SET superseded_at = now()
 WHERE superseded_at IS NULL
