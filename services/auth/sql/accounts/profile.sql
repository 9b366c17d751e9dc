SELECT display_name, ron, forgotten_at IS NOT NULL AS forgotten
  FROM auth.accounts
 WHERE id = $1
