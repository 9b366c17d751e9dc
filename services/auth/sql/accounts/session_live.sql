-- Share lock on the session: a logout running at the same moment is ordered before or after.
SELECT s.revoked_at IS NULL AND a.forgotten_at IS NULL
  FROM auth.sessions s
  JOIN auth.accounts a ON a.id = s.account_id
 WHERE s.id = $1
   AND s.account_id = $2
   FOR SHARE OF s
