INSERT INTO auth.refresh_tokens (token_hash, session_id, expires_at)
VALUES ($1, $2, $3)
