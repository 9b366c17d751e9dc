-- The row stays as a pseudonymous tombstone: other services' references to the id stay valid.
UPDATE auth.accounts
   SET email = NULL,
       display_name = NULL,
       password_hash = NULL,
       forgotten_at = now(),
       version = version + 1
 WHERE id = $1
   AND forgotten_at IS NULL
RETURNING version
