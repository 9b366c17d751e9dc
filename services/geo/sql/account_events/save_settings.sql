-- An older event never overwrites a newer one, and a forgotten account stays forgotten.
INSERT INTO geo.accounts (id, fuzz_radius_m, ron, version)
VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE
   SET fuzz_radius_m = EXCLUDED.fuzz_radius_m,
       ron = EXCLUDED.ron,
       version = EXCLUDED.version
 WHERE geo.accounts.version < EXCLUDED.version
   AND NOT geo.accounts.forgotten
