-- Moves the member's read mark forward only (a late `read` frame cannot move it back).
UPDATE chat.members
   SET last_read_seq = greatest(last_read_seq, $3)
 WHERE conversation_id = $1
   AND account_id = $2
RETURNING last_read_seq
