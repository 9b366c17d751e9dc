-- Public nodes whose stored resolution-15 cell lies in [$1, $2] (one H3 cell of any resolution,
-- see `cells`), by id after the cursor ($3); $4 rows.
SELECT id, owner_id, kind, title, description, tags,
       public_lat AS lat, public_lon AS lon,
       public_lat, public_lon, h3, version, created_at, updated_at, owner_ron
  FROM geo.node_rows
 WHERE h3 BETWEEN $1 AND $2
   AND ($3::uuid IS NULL OR id > $3)
 ORDER BY id
 LIMIT $4
