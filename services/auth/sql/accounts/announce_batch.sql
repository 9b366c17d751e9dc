-- Accounts whose settings are not the defaults, in id order for keyset paging.
SELECT id, fuzz_radius_m, ron, version
  FROM auth.accounts
 WHERE privacy_version > 0
   AND forgotten_at IS NULL
   AND id > $1
 ORDER BY id
 LIMIT $2
