-- The radius as it is now, under the lock a settings update takes too.
SELECT fuzz_radius_m
  FROM geo.accounts
 WHERE id = $1
   AND NOT forgotten
   FOR UPDATE
