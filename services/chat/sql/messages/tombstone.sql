-- A deleted message keeps its place (seq) in the history, without its body.
UPDATE chat.messages
   SET body = NULL, version = version + 1, deleted_at = coalesce(deleted_at, now())
 WHERE id = $1
RETURNING id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
