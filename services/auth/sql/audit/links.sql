SELECT seq, at, kind, account_id, actor_id, data, prev_hash, hash
  FROM auth.audit_log
 WHERE seq >= $1
 ORDER BY seq
 LIMIT $2
