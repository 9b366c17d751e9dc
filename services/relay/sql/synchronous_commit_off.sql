-- The leader's marks need not wait for the WAL flush: a mark lost in a crash only republishes rows
-- that JetStream then drops as duplicates. Only the leader's own session is affected.
SET synchronous_commit = off
