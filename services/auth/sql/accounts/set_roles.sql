UPDATE auth.accounts
   SET roles = $2,
       version = version + 1
 WHERE id = $1
   AND forgotten_at IS NULL
RETURNING id, email, display_name, roles, fuzz_radius_m, ron, privacy_version, version, created_at
