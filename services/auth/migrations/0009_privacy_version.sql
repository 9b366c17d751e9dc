-- The version of an account's privacy settings (fuzz radius, role-without-name), carried in access
-- tokens as `pv`: the aggregate version of the `account.updated` event that last changed them, 0
-- while they are the defaults. gewebe-geo refuses to write a `home` node until it has applied that
-- event, so a home is never published under settings geo does not know yet. `accounts.version`
-- cannot serve: role changes bump it without any event geo receives.
ALTER TABLE auth.accounts ADD COLUMN privacy_version bigint NOT NULL DEFAULT 0;
-- Accounts that changed their settings before this column existed: geo has applied an
-- `account.updated` for them (version >= 1), unless one is still in flight during the upgrade.
UPDATE auth.accounts SET privacy_version = 1 WHERE fuzz_radius_m <> 0 OR ron;
