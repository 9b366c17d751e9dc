-- gewebe-auth owns the `auth` schema (created by the migrator, which also keeps its bookkeeping
-- table there). Accounts, sessions and keys arrive with their features.
COMMENT ON SCHEMA auth IS 'gewebe-auth: accounts, sessions, signing keys, audit log';
