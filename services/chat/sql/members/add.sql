-- Members not in the room yet; returns those added.
INSERT INTO chat.members (conversation_id, account_id)
SELECT $1, unnest($2::uuid[])
ON CONFLICT DO NOTHING
RETURNING account_id
