-- The caller's rooms, most recent activity first, after the cursor ($2 time, $3 id); $4 rows.
SELECT c.id, c.kind, c.node_id, c.title, c.creator_id, c.last_seq, c.version, c.last_activity_at,
       c.archived_at, c.created_at
  FROM chat.members m
  JOIN chat.conversations c ON c.id = m.conversation_id
 WHERE m.account_id = $1
   AND ($2::timestamptz IS NULL OR (c.last_activity_at, c.id) < ($2::timestamptz, $3::uuid))
 ORDER BY c.last_activity_at DESC, c.id DESC
 LIMIT $4
