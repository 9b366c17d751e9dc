-- The walk must see one snapshot: entries appended meanwhile are not seen, rather than looking
-- like a broken tail.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY
