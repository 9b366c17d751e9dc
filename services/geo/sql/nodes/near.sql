-- Public nodes within $3 metres of ($1 lat, $2 lon), nearest first on the sphere, after the cursor
-- ($4 distance, $5 id); $6 rows; $7 the search radius in Mercator metres (see `nodes::store::near`).
-- The inner query is a nearest-first (KNN) scan of the 2-D Mercator index, the cheapest ordered scan
-- PostGIS has: it stops after the page and some headroom however many nodes lie in the radius.
-- Mercator stretches every distance around a point by nearly the same factor (1/cos(lat), varying by
-- well under 1 % across 50 km), so its order is the sphere's order except among candidates within
-- that margin of each other; the outer query re-ranks the candidates by their true distance on the
-- sphere and breaks ties by id, so pages join without gaps or repeats. The point is written out
-- where it is used: a KNN scan needs a constant expression, not a column of a CTE.
SELECT n.id, n.owner_id, n.kind, n.title, n.description, n.tags,
       n.public_lat AS lat, n.public_lon AS lon,
       n.public_lat, n.public_lon, n.h3, n.version, n.created_at, n.updated_at, n.owner_ron,
       k.d AS distance_m
FROM (
    SELECT n.id,
           ST_Distance(n.public_location::geography, ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, false) AS d
    FROM geo.nodes n
    WHERE ST_DWithin(n.public_3857,
                     ST_Transform(ST_SetSRID(ST_MakePoint($2, greatest(-85.0511, least(85.0511, $1))), 4326), 3857),
                     $7)
      AND ($4::float8 IS NULL
           OR ST_Distance(n.public_location::geography, ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, false)
              >= $4::float8)
    ORDER BY n.public_3857
             <-> ST_Transform(ST_SetSRID(ST_MakePoint($2, greatest(-85.0511, least(85.0511, $1))), 4326), 3857)
    LIMIT $6 + 64
) k
JOIN geo.node_rows n ON n.id = k.id
WHERE k.d <= $3
  AND ($4::float8 IS NULL OR (k.d, k.id) > ($4::float8, $5::uuid))
ORDER BY k.d, k.id
LIMIT $6
