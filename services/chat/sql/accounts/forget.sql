-- Records the forgotten account, and takes its id out of the rooms it made: a group's creator
-- becomes nobody, and a direct room's pair keeps its uniqueness with a random id in its place (the
-- forgotten account cannot be talked to again, so no new room of that pair can be asked for).
WITH recorded AS (
    INSERT INTO chat.forgotten_accounts (account_id) VALUES ($1) ON CONFLICT DO NOTHING
), creators AS (
    UPDATE chat.conversations SET creator_id = NULL WHERE creator_id = $1
)
UPDATE chat.conversations
   SET direct_pair = array_replace(direct_pair, $1, gen_random_uuid())
 WHERE direct_pair @> ARRAY[$1]::uuid[]
