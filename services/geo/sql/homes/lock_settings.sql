-- The owner's settings, locked until the transaction ends: the account consumer takes the same
-- lock before it re-fuzzes a home, so a home write and a settings update serialise.
SELECT fuzz_radius_m, forgotten, version
  FROM geo.accounts
 WHERE id = $1
   FOR UPDATE
