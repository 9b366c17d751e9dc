SELECT EXISTS (SELECT 1 FROM chat.members WHERE conversation_id = $1 AND account_id = $2)
