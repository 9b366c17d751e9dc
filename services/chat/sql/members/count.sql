SELECT count(*) FROM chat.members WHERE conversation_id = $1
