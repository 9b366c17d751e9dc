-- Public nodes within $3 metres of ($1 lat, $2 lon), nearest first, on the sphere, after the cursor
-- ($4 distance, $5 id). The inner query is a KNN scan of the geography index: it reads rows in
-- distance order and stops after the page (plus headroom for rows at exactly the same distance),
-- however many lie in the radius; the outer one breaks ties by id, so pages join without gaps or
-- repeats. `distance_m` is the `<->` value both use. The point is written out where it is used: a
-- KNN scan needs it as a constant expression, not a column of a CTE.
SELECT __COLUMNS__, k.d AS distance_m
FROM (
    SELECT n.id, (n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography) AS d
    FROM geo.nodes n
    WHERE ST_DWithin(n.public_location::geography, ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, $3, false)
      AND ($4::float8 IS NULL
           OR (n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography) >= $4::float8)
    ORDER BY n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography
    LIMIT $6 + 64
) k
JOIN geo.nodes n ON n.id = k.id
LEFT JOIN geo.accounts a ON a.id = n.owner_id
WHERE $4::float8 IS NULL OR (k.d, k.id) > ($4::float8, $5::uuid)
ORDER BY k.d, k.id
LIMIT $6
