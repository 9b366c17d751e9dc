-- Applies the fields given (NULL keeps one; $3 says whether $4 replaces the description) and bumps
-- the version. The row returned shows $11 (the viewer) the exact position of their own node.
WITH n AS (
    UPDATE geo.nodes
       SET title = coalesce($2, title),
           description = CASE WHEN $3 THEN $4 ELSE description END,
           tags = coalesce($5, tags),
           location = coalesce(ST_SetSRID(ST_MakePoint($7, $6), 4326), location),
           public_location = coalesce(ST_SetSRID(ST_MakePoint($9, $8), 4326), public_location),
           h3 = coalesce($10, h3),
           version = version + 1,
           updated_at = now()
     WHERE id = $1
    RETURNING *
)
SELECT n.id, n.owner_id, n.kind, n.title, n.description, n.tags,
       ST_Y(CASE WHEN n.owner_id = $11::uuid THEN n.location ELSE n.public_location END) AS lat,
       ST_X(CASE WHEN n.owner_id = $11::uuid THEN n.location ELSE n.public_location END) AS lon,
       ST_Y(n.public_location) AS public_lat, ST_X(n.public_location) AS public_lon,
       n.h3, n.version, n.created_at, n.updated_at,
       (n.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron
  FROM n
  LEFT JOIN geo.accounts a ON a.id = n.owner_id
