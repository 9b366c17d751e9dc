-- A superseded key stays published for the overlap, so tokens it signed still verify.
SELECT kid, public_key
  FROM auth.signing_keys
 WHERE superseded_at IS NULL
    OR superseded_at > now() - make_interval(secs => $1)
 ORDER BY created_at DESC
