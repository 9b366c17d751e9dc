SELECT id, kind, node_id, title, creator_id, last_seq, version, last_activity_at, archived_at,
       created_at
  FROM chat.conversations
 WHERE node_id = $1
