UPDATE chat.messages
   SET body = $2, version = version + 1, edited_at = now()
 WHERE id = $1
RETURNING id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
