-- The node is gone: its room stays readable but takes nothing new.
UPDATE chat.conversations
   SET archived_at = now(), version = version + 1
 WHERE node_id = $1
   AND archived_at IS NULL
RETURNING id, version
