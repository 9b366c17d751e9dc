SELECT id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
  FROM chat.messages
 WHERE id = $1
   FOR UPDATE
