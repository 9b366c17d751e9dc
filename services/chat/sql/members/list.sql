SELECT account_id FROM chat.members WHERE conversation_id = $1 ORDER BY joined_at, account_id
