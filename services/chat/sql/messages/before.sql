-- The room's messages before seq $2 (the newest when $2 is NULL), newest first; $3 rows.
SELECT id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
  FROM chat.messages
 WHERE conversation_id = $1
   AND ($2::bigint IS NULL OR seq < $2)
 ORDER BY seq DESC
 LIMIT $3
