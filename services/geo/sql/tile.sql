-- One vector tile and its ETag parts, in one statement so both come from the same snapshot.
-- $1 z, $2 x, $3 y, $4 buffer as a fraction of the tile (256/4096), $5 most features per layer.
-- Rows are selected with the buffered envelope, exactly the area ST_AsMVTGeom keeps, and the change
-- count uses that same envelope: a write near a tile's edge refreshes both neighbours.
WITH env AS (
    SELECT ST_TileEnvelope($1, $2, $3) AS tile,
           ST_TileEnvelope($1, $2, $3, margin => $4) AS buffered
),
nodes AS (
    SELECT ST_AsMVTGeom(n.public_3857, env.tile, 4096, 256, true) AS geom,
           n.id::text AS id, n.kind, n.title
    FROM geo.nodes n, env
    WHERE n.public_3857 && env.buffered
    LIMIT $5
),
edges AS (
    SELECT ST_AsMVTGeom(e.line_3857, env.tile, 4096, 256, true) AS geom,
           e.id::text AS id, e.kind, e.from_node::text AS from_node, e.to_node::text AS to_node
    FROM geo.edges e, env
    WHERE e.line_3857 && env.buffered
    LIMIT $5
)
SELECT (SELECT epoch FROM geo.tile_floor) AS epoch,
       (SELECT count(*) FROM geo.tile_changes c, env WHERE c.area && env.buffered) AS changes,
       coalesce((SELECT ST_AsMVT(nodes.*, 'nodes', 4096, 'geom') FROM nodes WHERE geom IS NOT NULL), ''::bytea)
         || coalesce((SELECT ST_AsMVT(edges.*, 'edges', 4096, 'geom') FROM edges WHERE geom IS NOT NULL), ''::bytea)
         AS tile
