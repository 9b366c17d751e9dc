-- The room's messages after seq $2, oldest first; $3 rows.
SELECT id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
  FROM chat.messages
 WHERE conversation_id = $1
   AND seq > $2
 ORDER BY seq
 LIMIT $3
