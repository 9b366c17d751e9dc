-- The rooms the forgotten account leaves.
DELETE FROM chat.members WHERE account_id = $1 RETURNING conversation_id
