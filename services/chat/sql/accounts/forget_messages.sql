-- A forgotten account's messages: in direct and group rooms they become tombstones; in node rooms
-- they stay, under the role-without-name placeholder (no author). Returns them as they are now, for
-- the rooms' open connections.
UPDATE chat.messages m
   SET body = CASE WHEN c.kind = 'node' THEN m.body END,
       deleted_at = CASE WHEN c.kind = 'node' THEN m.deleted_at ELSE coalesce(m.deleted_at, now()) END,
       author_id = NULL,
       version = m.version + 1
  FROM chat.conversations c
 WHERE c.id = m.conversation_id
   AND m.author_id = $1
RETURNING m.id, m.conversation_id, m.seq, m.author_id, m.body, m.version, m.created_at, m.edited_at,
          m.deleted_at
