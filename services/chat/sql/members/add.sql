-- Members not in the room yet, and never a forgotten account; returns those added.
INSERT INTO chat.members (conversation_id, account_id)
SELECT $1, a.id
  FROM unnest($2::uuid[]) AS a (id)
 WHERE NOT EXISTS (SELECT 1 FROM chat.forgotten_accounts f WHERE f.account_id = a.id)
ON CONFLICT DO NOTHING
RETURNING account_id
