INSERT INTO auth.signing_keys (kid, public_key, private_key_sealed, nonce)
VALUES ($1, $2, $3, $4)
