-- Serialises concurrent rotations (two instances starting at once) so one key stays current.
LOCK TABLE auth.signing_keys IN SHARE ROW EXCLUSIVE MODE
