SELECT seq, hash
  FROM auth.audit_head
