SELECT id, email, display_name, roles, fuzz_radius_m, ron, privacy_version, version, created_at
  FROM auth.accounts
 WHERE id = $1
   AND forgotten_at IS NULL
