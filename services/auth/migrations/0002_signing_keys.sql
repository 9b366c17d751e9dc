-- Ed25519 keys that sign access tokens. The private half is sealed with AES-256-GCM under the
-- key-encryption key from the environment (AUTH_KEK); the database never holds it in the clear.
CREATE TABLE auth.signing_keys (
    -- RFC 7638 thumbprint of the public JWK.
    kid                text        PRIMARY KEY,
    public_key         bytea       NOT NULL CHECK (length(public_key) = 32),
    -- AES-256-GCM(KEK, seed, aad = kid): ciphertext followed by the 16-byte tag.
    private_key_sealed bytea       NOT NULL,
    nonce              bytea       NOT NULL CHECK (length(nonce) = 12),
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Set when a newer key became current; the key stays in the JWKS for the overlap after that.
    superseded_at      timestamptz
);

-- Exactly one current key at a time.
CREATE UNIQUE INDEX signing_keys_one_current ON auth.signing_keys ((true)) WHERE superseded_at IS NULL;
