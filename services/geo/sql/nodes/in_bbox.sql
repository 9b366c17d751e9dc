-- Public nodes in the box ($1..$4: min lon, min lat, max lon, max lat), optionally of one kind ($5)
-- or with one tag ($6), by id after the cursor ($7); $8 rows.
SELECT id, owner_id, kind, title, description, tags,
       public_lat AS lat, public_lon AS lon,
       public_lat, public_lon, h3, version, created_at, updated_at, owner_ron
  FROM geo.node_rows
 WHERE public_location && ST_MakeEnvelope($1, $2, $3, $4, 4326)
   AND ($5::text IS NULL OR kind = $5)
   AND ($6::text IS NULL OR tags @> ARRAY[$6::text])
   AND ($7::uuid IS NULL OR id > $7)
 ORDER BY id
 LIMIT $8
