UPDATE auth.sessions
   SET revoked_at = now(),
       revoked_reason = 'forget'
 WHERE account_id = $1
   AND revoked_at IS NULL
