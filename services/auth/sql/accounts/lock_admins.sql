-- In id order, so two admin requests at once queue instead of deadlocking.
SELECT id
  FROM auth.accounts
 WHERE 'admin' = ANY(roles)
   AND forgotten_at IS NULL
 ORDER BY id
   FOR UPDATE
