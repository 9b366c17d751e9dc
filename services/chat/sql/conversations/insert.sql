-- A new room; nothing when the node already has one, or the pair already talks ($3, $4 unique).
INSERT INTO chat.conversations (id, kind, node_id, direct_pair, title, creator_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING id, kind, node_id, title, creator_id, last_seq, version, last_activity_at, archived_at,
          created_at
