UPDATE auth.accounts
   SET password_hash = $2
 WHERE id = $1
   AND forgotten_at IS NULL
