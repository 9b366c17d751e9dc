-- Public nodes within $3 metres of ($1 lat, $2 lon), nearest first, on the sphere. The geography
-- index both bounds the search (ST_DWithin) and yields rows in distance order (`<->`, a KNN scan),
-- so the query reads about `limit` rows however many lie in the radius. `distance_m` is the same
-- `<->` value the order and the cursor ($4 distance, $5 id) use, so pages join without gaps.
-- The point is written out where it is used (no CTE): a KNN scan needs it as a constant expression.
SELECT __COLUMNS__,
       (n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography) AS distance_m
FROM geo.nodes n
LEFT JOIN geo.accounts a ON a.id = n.owner_id
WHERE ST_DWithin(n.public_location::geography, ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, $3, false)
  AND ($4::float8 IS NULL
       OR ((n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography), n.id)
          > ($4::float8, $5::uuid))
ORDER BY n.public_location::geography <-> ST_SetSRID(ST_MakePoint($2, $1), 4326)::geography, n.id
LIMIT $6
