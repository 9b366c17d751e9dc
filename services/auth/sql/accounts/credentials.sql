SELECT id, password_hash, roles
  FROM auth.accounts
 WHERE email = $1
   AND forgotten_at IS NULL
