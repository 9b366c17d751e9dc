SELECT id, from_node, to_node, kind, owner_id, owner_ron, touches_home,
       from_lat, from_lon, to_lat, to_lon, version, created_at
  FROM geo.edge_rows
 WHERE id = $1
