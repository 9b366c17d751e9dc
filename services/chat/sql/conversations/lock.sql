-- The room, locked: sends take their seq under this lock, so seqs are gapless and commit in order.
SELECT id, kind, node_id, title, creator_id, last_seq, version, last_activity_at, archived_at,
       created_at
  FROM chat.conversations
 WHERE id = $1
   FOR UPDATE
