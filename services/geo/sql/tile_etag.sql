-- Just the ETag parts of a tile (see tile.sql): answers a revalidation without rendering.
WITH env AS (SELECT ST_TileEnvelope($1, $2, $3, margin => $4) AS buffered)
SELECT (SELECT epoch FROM geo.tile_floor) AS epoch,
       (SELECT count(*) FROM geo.tile_changes c, env WHERE c.area && env.buffered) AS changes
