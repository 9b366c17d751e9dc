-- One statement: the entry and the head move together, or neither does.
WITH entry AS (
    INSERT INTO auth.audit_log (seq, at, kind, account_id, actor_id, data, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING seq
)
UPDATE auth.audit_head
   SET seq = (SELECT seq FROM entry),
       hash = $8
