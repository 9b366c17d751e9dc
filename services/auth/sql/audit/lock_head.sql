-- The head's row lock serialises every writer, which keeps the chain linear.
SELECT seq, hash
  FROM auth.audit_head
   FOR UPDATE
