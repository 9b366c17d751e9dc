-- The next seq of the (locked) room and the message under it; the room's version and activity move
-- with it. Nothing when the author sent this client id before (the caller rolls back, so the seq
-- is not spent).
WITH room AS (
    UPDATE chat.conversations
       SET last_seq = last_seq + 1,
           version = version + 1,
           last_activity_at = now()
     WHERE id = $1
    RETURNING last_seq, version
), inserted AS (
    INSERT INTO chat.messages (id, conversation_id, seq, author_id, client_msg_id, body)
    SELECT $2, $1, room.last_seq, $3, $4, $5 FROM room
    ON CONFLICT (author_id, client_msg_id) DO NOTHING
    RETURNING id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
)
SELECT inserted.*, room.version AS room_version FROM inserted CROSS JOIN room
