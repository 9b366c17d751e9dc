-- The author's earlier message with this client id: a retried send returns it.
SELECT id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
  FROM chat.messages
 WHERE author_id = $1
   AND client_msg_id = $2
