-- Records the forgotten account, and takes its id out of the rooms it made: a group's creator
-- becomes nobody, and a direct room's pair keeps its uniqueness with a random id in its place (the
-- forgotten account cannot be talked to again, so no new room of that pair can be asked for). One
-- UPDATE for both: a direct room the account made matches both, and two updates of one row in one
-- statement keep only one of them.
WITH recorded AS (
    INSERT INTO chat.forgotten_accounts (account_id) VALUES ($1) ON CONFLICT DO NOTHING
)
UPDATE chat.conversations
   SET creator_id = CASE WHEN creator_id = $1 THEN NULL ELSE creator_id END,
       direct_pair = CASE WHEN direct_pair @> ARRAY[$1]::uuid[]
                          THEN array_replace(direct_pair, $1, gen_random_uuid())
                          ELSE direct_pair END
 WHERE creator_id = $1
    OR direct_pair @> ARRAY[$1]::uuid[]
