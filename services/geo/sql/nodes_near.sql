-- Public nodes within $3 metres of ($1 lat, $2 lon), nearest first, on the sphere. The geography
-- index both bounds the search (ST_DWithin) and yields rows in distance order (`<->`, a KNN scan),
-- so the query reads about `limit` rows however many lie in the radius. `distance_m` is the same
-- `<->` value the order and the cursor ($4 distance, $5 id) use, so pages join without gaps.
WITH p AS (SELECT ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography AS g)
SELECT __COLUMNS__, (n.public_location::geography <-> p.g) AS distance_m
FROM geo.nodes n
CROSS JOIN p
LEFT JOIN geo.accounts a ON a.id = n.owner_id
WHERE ST_DWithin(n.public_location::geography, p.g, $3, false)
  AND ($4::float8 IS NULL OR ((n.public_location::geography <-> p.g), n.id) > ($4::float8, $5::uuid))
ORDER BY n.public_location::geography <-> p.g, n.id
LIMIT $6
