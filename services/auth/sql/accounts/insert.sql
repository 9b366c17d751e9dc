-- A taken e-mail address returns no row.
INSERT INTO auth.accounts (id, email, password_hash, display_name)
VALUES ($1, $2, $3, $4)
ON CONFLICT (email) DO NOTHING
RETURNING id, email, display_name, roles, fuzz_radius_m, ron, privacy_version, version, created_at
