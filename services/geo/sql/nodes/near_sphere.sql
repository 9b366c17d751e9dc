-- Like near.sql, for circles Mercator cannot handle (near a pole, across the antimeridian):
-- a nearest-first scan of the geography index, exact on the sphere but about five times slower.
-- ($7 is unused here; it keeps both queries' parameters the same.)
SELECT n.id, n.owner_id, n.kind, n.title, n.description, n.tags,
       n.public_lat AS lat, n.public_lon AS lon,
       n.public_lat, n.public_lon, n.h3, n.version, n.created_at, n.updated_at, n.owner_ron,
       k.d AS distance_m
FROM (
    SELECT n.id, (n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography) AS d
    FROM geo.nodes n
    WHERE ST_DWithin(n.public_location::geography, ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, $3, false)
      AND ($4::float8 IS NULL
           OR (n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography) >= $4::float8)
      AND $7::float8 IS NOT NULL
    ORDER BY n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography
    LIMIT $6 + 64
) k
JOIN geo.node_rows n ON n.id = k.id
WHERE $4::float8 IS NULL OR (k.d, k.id) > ($4::float8, $5::uuid)
ORDER BY k.d, k.id
LIMIT $6
