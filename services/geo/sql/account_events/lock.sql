-- The account's stored settings, locked: home writes take the same lock (nodes::homes).
SELECT fuzz_radius_m, version, forgotten
  FROM geo.accounts
 WHERE id = $1
   FOR UPDATE
