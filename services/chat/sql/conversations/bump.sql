-- Every event about the room takes the next version (its outbox aggregate version).
UPDATE chat.conversations SET version = version + 1 WHERE id = $1 RETURNING version
