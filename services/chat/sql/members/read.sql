-- Moves the member's read mark forward only (a late `read` frame cannot move it back), and never
-- past the room's newest seq; returns the mark and whether it moved.
WITH before AS (
    SELECT last_read_seq FROM chat.members WHERE conversation_id = $1 AND account_id = $2
)
UPDATE chat.members m
   SET last_read_seq = greatest(m.last_read_seq, least($3::bigint, c.last_seq))
  FROM chat.conversations c, before
 WHERE c.id = m.conversation_id
   AND m.conversation_id = $1
   AND m.account_id = $2
RETURNING m.last_read_seq, m.last_read_seq > before.last_read_seq AS moved
