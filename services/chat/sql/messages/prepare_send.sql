-- What a send decides on, in one statement: the room, locked (a send takes its seq under this lock,
-- so seqs are gapless and commit in order), whether the author is a member, and the author's
-- earlier message with this client id (a retry), if any.
SELECT c.id, c.kind, c.last_seq, c.version, c.archived_at,
       EXISTS (SELECT 1 FROM chat.members m
                WHERE m.conversation_id = c.id AND m.account_id = $2) AS is_member,
       (SELECT e.id FROM chat.messages e
         WHERE e.author_id = $2 AND e.client_msg_id = $3) AS earlier
  FROM chat.conversations c
 WHERE c.id = $1
   FOR UPDATE
