-- Every edge at node $1, as it is before it goes (for the events), locked.
SELECT e.id, e.from_node, e.to_node, e.kind, e.owner_id,
       (e.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron,
       (f.kind = 'home' OR t.kind = 'home') AS touches_home,
       ST_Y(f.public_location) AS from_lat, ST_X(f.public_location) AS from_lon,
       ST_Y(t.public_location) AS to_lat, ST_X(t.public_location) AS to_lon,
       e.version, e.created_at
  FROM geo.edges e
  JOIN geo.nodes f ON f.id = e.from_node
  JOIN geo.nodes t ON t.id = e.to_node
  LEFT JOIN geo.accounts a ON a.id = e.owner_id
 WHERE e.from_node = $1 OR e.to_node = $1
 ORDER BY e.id
   FOR UPDATE OF e
