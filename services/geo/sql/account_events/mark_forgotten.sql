-- Forgotten for good: no radius, role without name, and a version no later event can undercut.
INSERT INTO geo.accounts (id, forgotten, ron, version)
VALUES ($1, true, true, $2)
ON CONFLICT (id) DO UPDATE
   SET forgotten = true,
       fuzz_radius_m = 0,
       ron = true,
       version = greatest(geo.accounts.version, EXCLUDED.version)
