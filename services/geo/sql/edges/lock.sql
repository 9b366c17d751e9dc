-- One edge, locked for a delete: its owner, its version and the version of the owner's settings.
SELECT e.owner_id, e.version, a.version
  FROM geo.edges e
  LEFT JOIN geo.accounts a ON a.id = e.owner_id
 WHERE e.id = $1
   FOR UPDATE OF e
