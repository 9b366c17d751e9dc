SELECT privacy_version
  FROM auth.accounts
 WHERE id = $1
