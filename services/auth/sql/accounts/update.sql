-- NULL keeps a field. privacy_version is what geo waits for (migration 0009): it moves only when a
-- privacy setting is sent.
UPDATE auth.accounts
   SET display_name = COALESCE($2, display_name),
       fuzz_radius_m = COALESCE($3, fuzz_radius_m),
       ron = COALESCE($4, ron),
       version = version + 1,
       privacy_version = CASE WHEN $3::integer IS NULL AND $4::boolean IS NULL
                              THEN privacy_version
                              ELSE version + 1
                         END
 WHERE id = $1
   AND forgotten_at IS NULL
   AND ($5::bigint IS NULL OR version = $5)
RETURNING id, email, display_name, roles, fuzz_radius_m, ron, privacy_version, version, created_at
