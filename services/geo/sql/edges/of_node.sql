-- The edges at node $1 (either end), by id after the cursor ($2); $3 rows.
SELECT id, from_node, to_node, kind, owner_id, owner_ron, touches_home,
       from_lat, from_lon, to_lat, to_lon, version, created_at
  FROM geo.edge_rows
 WHERE (from_node = $1 OR to_node = $1)
   AND ($2::uuid IS NULL OR id > $2)
 ORDER BY id
 LIMIT $3
