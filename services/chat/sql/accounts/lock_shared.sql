-- Holds the accounts (the caller and whoever it adds) against a forget until this transaction
-- ends: a forget takes the same key exclusively (`lock_forget`) before it removes memberships, so a
-- join or a room made meanwhile either commits first (and the forget removes it) or waits and then
-- sees the account forgotten. The statements after this one see what the forget committed; this
-- one's own snapshot predates the wait, so it checks nothing itself.
SELECT pg_advisory_xact_lock_shared(hashtextextended(a.id::text, 7215))
  FROM unnest($1::uuid[]) AS a (id)
