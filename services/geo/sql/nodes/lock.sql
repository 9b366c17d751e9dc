-- What a write needs to know before changing a node, with the node's row locked.
SELECT n.owner_id, n.kind, n.version,
       ST_Y(n.location) AS lat, ST_X(n.location) AS lon,
       (n.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron,
       a.version AS owner_version
  FROM geo.nodes n
  LEFT JOIN geo.accounts a ON a.id = n.owner_id
 WHERE n.id = $1
   FOR UPDATE OF n
