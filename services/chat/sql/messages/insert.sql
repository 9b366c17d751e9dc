-- The next seq of the (locked) room, the message under it and its `message.created` event, in one
-- statement; the room's version and activity move with it. The event ($6–$9) was rendered for the
-- seq and version the locked room gives next; the caller checks that these are the ones written.
-- It is recorded through the events crate's own statement (`outbox_record`, outbox migration 4).
-- Nothing when the author sent this client id before, or is no longer a member (the caller rolls
-- back, so the seq is not spent, and finds out which).
WITH room AS (
    UPDATE chat.conversations
       SET last_seq = last_seq + 1,
           version = version + 1,
           last_activity_at = now()
     WHERE id = $1
       -- Again here, not only in `prepare_send`: a send that waited there for the room's lock
       -- read membership as of before the wait, so a removal or forget that held the lock would
       -- go unseen. This statement starts after the lock is ours and sees them.
       AND EXISTS (SELECT 1 FROM chat.members WHERE conversation_id = $1 AND account_id = $3)
       AND NOT EXISTS (SELECT 1 FROM chat.forgotten_accounts WHERE account_id = $3)
    RETURNING last_seq, version
), inserted AS (
    INSERT INTO chat.messages (id, conversation_id, seq, author_id, client_msg_id, body)
    SELECT $2, $1, room.last_seq, $3, $4, $5 FROM room
    ON CONFLICT (author_id, client_msg_id) DO NOTHING
    RETURNING id, conversation_id, seq, author_id, body, version, created_at, edited_at, deleted_at
), recorded AS (
    SELECT chat.outbox_record($6, $7, $8, $1, room.version, $9) AS outbox_seq
      FROM inserted CROSS JOIN room
)
-- Joined with `recorded` so that the event is written: a CTE nothing reads is never run.
SELECT inserted.*, room.version AS room_version FROM inserted CROSS JOIN room CROSS JOIN recorded
