SELECT kid, private_key_sealed, nonce, created_at
  FROM auth.signing_keys
 WHERE superseded_at IS NULL
