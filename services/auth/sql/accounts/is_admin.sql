SELECT 'admin' = ANY(roles)
  FROM auth.accounts
 WHERE id = $1
   AND forgotten_at IS NULL
