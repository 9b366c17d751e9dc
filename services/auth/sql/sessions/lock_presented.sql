-- Row lock: two concurrent refreshes of one token serialise here, so the second sees the rotation
-- of the first and gets the same successor.
SELECT r.session_id, s.account_id, a.roles, r.expires_at, r.rotated_at, r.successor_sealed,
       r.successor_nonce, (s.revoked_at IS NOT NULL OR a.forgotten_at IS NOT NULL) AS revoked
  FROM auth.refresh_tokens r
  JOIN auth.sessions s ON s.id = r.session_id
  JOIN auth.accounts a ON a.id = s.account_id
 WHERE r.token_hash = $1
   FOR UPDATE OF r
