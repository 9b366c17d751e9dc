DELETE FROM chat.members WHERE conversation_id = $1 AND account_id = $2 RETURNING account_id
