SELECT s.id, s.account_id
  FROM auth.refresh_tokens r
  JOIN auth.sessions s ON s.id = r.session_id
 WHERE r.token_hash = $1
   AND s.revoked_at IS NULL
