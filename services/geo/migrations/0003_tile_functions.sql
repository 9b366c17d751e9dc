-- Vector tiles as PL/pgSQL functions: PL/pgSQL keeps the plans of its statements per server
-- connection, so a tile costs no planning after the first on each connection, while a plain
-- statement would be planned every time (behind PgBouncer nothing can stay prepared between
-- transactions). STABLE: every statement inside sees the caller's snapshot, so a tile and its ETag
-- parts always describe the same state.

-- The ETag parts of tile z/x/y: the change-log epoch and the number of logged changes touching the
-- tile with its buffer (a fraction of the tile's width).
CREATE FUNCTION geo.tile_version(z integer, x integer, y integer, buffer float8)
RETURNS TABLE (epoch bigint, changes bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    buffered geometry := ST_TileEnvelope(z, x, y, margin => buffer);
BEGIN
    RETURN QUERY
    SELECT (SELECT f.epoch FROM geo.tile_floor f),
           (SELECT count(*) FROM geo.tile_changes c WHERE c.area && buffered);
END
$$;

-- The tile (layers `nodes` and `edges`) and its ETag parts.
-- Below zoom `cluster_below` the `nodes` layer holds clusters: the nodes in each grid cell of
-- `grid` × the tile's width become one point at their centroid with `count` (and, for a single
-- node, its id, kind and title). A map at city scale cannot show 20,000 symbols per tile, and
-- encoding them is most of a dense tile's cost. Edges shorter than a grid cell are left out there:
-- they would be drawn as a dot. At `cluster_below` and above every node is a feature, at most
-- `max_features` per layer.
CREATE FUNCTION geo.tile(z integer, x integer, y integer, buffer float8, max_features bigint,
                         cluster_below integer, grid float8)
RETURNS TABLE (epoch bigint, changes bigint, tile bytea)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    env      geometry := ST_TileEnvelope(z, x, y);
    buffered geometry := ST_TileEnvelope(z, x, y, margin => buffer);
    cell     float8   := (ST_XMax(env) - ST_XMin(env)) * grid;
    nodes    bytea;
    edges    bytea;
BEGIN
    IF z < cluster_below THEN
        SELECT ST_AsMVT(c.*, 'nodes', 4096, 'geom') INTO nodes FROM (
            SELECT ST_AsMVTGeom(ST_Centroid(ST_Collect(n.public_3857)), env, 4096, 256, true) AS geom,
                   count(*)::integer AS count,
                   CASE WHEN count(*) = 1 THEN min(n.id::text) END AS id,
                   CASE WHEN count(*) = 1 THEN min(n.kind) END AS kind,
                   CASE WHEN count(*) = 1 THEN min(n.title) END AS title
            FROM geo.nodes n
            WHERE n.public_3857 && buffered
            GROUP BY ST_SnapToGrid(n.public_3857, cell)
        ) c WHERE c.geom IS NOT NULL;
    ELSE
        SELECT ST_AsMVT(p.*, 'nodes', 4096, 'geom') INTO nodes FROM (
            SELECT ST_AsMVTGeom(n.public_3857, env, 4096, 256, true) AS geom,
                   1 AS count, n.id::text AS id, n.kind, n.title
            FROM geo.nodes n
            WHERE n.public_3857 && buffered
            LIMIT max_features
        ) p WHERE p.geom IS NOT NULL;
    END IF;
    SELECT ST_AsMVT(l.*, 'edges', 4096, 'geom') INTO edges FROM (
        SELECT ST_AsMVTGeom(e.line_3857, env, 4096, 256, true) AS geom,
               e.id::text AS id, e.kind, e.from_node::text AS from_node, e.to_node::text AS to_node
        FROM geo.edges e
        WHERE e.line_3857 && buffered
          AND (z >= cluster_below OR ST_Length(e.line_3857) >= cell)
        LIMIT max_features
    ) l WHERE l.geom IS NOT NULL;
    RETURN QUERY
    SELECT (SELECT f.epoch FROM geo.tile_floor f),
           (SELECT count(*) FROM geo.tile_changes c WHERE c.area && buffered),
           coalesce(nodes, ''::bytea) || coalesce(edges, ''::bytea);
END
$$;
