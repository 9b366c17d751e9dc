-- One node; $2 (the viewer, or NULL) sees the exact position of their own node, read from
-- geo.nodes: the view carries public positions only.
SELECT r.id, r.owner_id, r.kind, r.title, r.description, r.tags,
       CASE WHEN r.owner_id = $2::uuid THEN ST_Y(n.location) ELSE r.public_lat END AS lat,
       CASE WHEN r.owner_id = $2::uuid THEN ST_X(n.location) ELSE r.public_lon END AS lon,
       r.public_lat, r.public_lon, r.h3, r.version, r.created_at, r.updated_at, r.owner_ron
  FROM geo.node_rows r
  JOIN geo.nodes n ON n.id = r.id
 WHERE r.id = $1
