-- One node; $2 (the viewer, or NULL) sees the exact position of their own node.
SELECT id, owner_id, kind, title, description, tags,
       CASE WHEN owner_id = $2::uuid THEN exact_lat ELSE public_lat END AS lat,
       CASE WHEN owner_id = $2::uuid THEN exact_lon ELSE public_lon END AS lon,
       public_lat, public_lon, h3, version, created_at, updated_at, owner_ron
  FROM geo.node_rows
 WHERE id = $1
