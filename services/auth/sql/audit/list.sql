SELECT seq, at, kind, account_id, actor_id, data, hash
  FROM auth.audit_log
 WHERE ($1::uuid IS NULL OR account_id = $1)
   AND ($2::bigint IS NULL OR seq < $2)
 ORDER BY seq DESC
 LIMIT $3
