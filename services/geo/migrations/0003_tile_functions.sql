-- Node clusters for low-zoom tiles: per H3 cell of resolutions 5 to 9, how many nodes have their
-- public position there and the sum of those positions (Web Mercator), so a cluster sits at its
-- nodes' mean position. A trigger keeps it exact with every write to geo.nodes, in the write's
-- transaction, so a low-zoom tile is as fresh as any other and costs one row per occupied cell
-- instead of one per node (75,000 nodes in a z10 tile over Berlin in the benchmark).
CREATE TABLE geo.node_cells (
    res      smallint NOT NULL,
    cell     bigint   NOT NULL,
    nodes    integer  NOT NULL,
    sum_x    float8   NOT NULL,
    sum_y    float8   NOT NULL,
    position geometry(Point, 3857) GENERATED ALWAYS AS (
        CASE WHEN nodes > 0 THEN ST_SetSRID(ST_MakePoint(sum_x / nodes, sum_y / nodes), 3857) END
    ) STORED,
    PRIMARY KEY (res, cell)
);
CREATE INDEX node_cells_position_gix ON geo.node_cells USING gist (res, position);

-- The parent of a resolution-15 H3 index at resolution r: the resolution field (bits 52-55) set to
-- r, the digits below r (3 bits each) set to 7, as the H3 index layout defines.
CREATE FUNCTION geo.h3_parent(h bigint, r integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (h & ~(15::bigint << 52)) | (r::bigint << 52) | ((1::bigint << (3 * (15 - r))) - 1)
$$;

-- Adds (delta 1) or removes (delta -1) a node at p with cell h. A cluster drawn in a low-zoom tile
-- sits at its mean position, which may lie in another tile than the node, so the clusters' old and
-- new positions go into the tile change log too: as one row whose area spans them all, counted only
-- by tiles below zoom 13 (the only ones that draw clusters), which keeps a write to one index entry.
CREATE FUNCTION geo.node_cells_add(h bigint, p geometry, delta integer) RETURNS void
LANGUAGE sql AS $$
    WITH cells AS (
        SELECT r, geo.h3_parent(h, r) AS cell FROM generate_series(5, 9) AS r
    ),
    before AS (
        SELECT nc.position FROM geo.node_cells nc JOIN cells ON nc.res = cells.r AND nc.cell = cells.cell
        WHERE nc.position IS NOT NULL
    ),
    changed AS (
        -- In resolution order, so writers lock cells in the same order.
        INSERT INTO geo.node_cells AS c (res, cell, nodes, sum_x, sum_y)
        SELECT r, cell, delta, delta * ST_X(p), delta * ST_Y(p) FROM cells ORDER BY r
        ON CONFLICT (res, cell) DO UPDATE
            SET nodes = c.nodes + EXCLUDED.nodes, sum_x = c.sum_x + EXCLUDED.sum_x, sum_y = c.sum_y + EXCLUDED.sum_y
        RETURNING position
    )
    INSERT INTO geo.tile_changes (area, below_zoom)
    SELECT ST_Collect(position), 13
    FROM (SELECT position FROM before UNION ALL SELECT position FROM changed WHERE position IS NOT NULL) AS moved
    HAVING count(*) > 0;
    DELETE FROM geo.node_cells
    WHERE nodes <= 0 AND (res, cell) IN (SELECT r, geo.h3_parent(h, r) FROM generate_series(5, 9) AS r);
$$;

CREATE FUNCTION geo.nodes_count_cells() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM geo.node_cells_add(OLD.h3, OLD.public_3857, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM geo.node_cells_add(NEW.h3, NEW.public_3857, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER nodes_count_cells AFTER INSERT OR DELETE OR UPDATE OF public_location, h3 ON geo.nodes
    FOR EACH ROW EXECUTE FUNCTION geo.nodes_count_cells();

-- The H3 resolution whose cells stand for nodes at zoom z (about the size of 1/64 of a tile).
CREATE FUNCTION geo.cluster_resolution(z integer) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN z <= 6 THEN 5 WHEN z = 7 THEN 6 WHEN z <= 9 THEN 7 WHEN z = 10 THEN 8 ELSE 9 END
$$;

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
           (SELECT count(*) FROM geo.tile_changes c
            WHERE c.area && buffered AND (c.below_zoom IS NULL OR z < c.below_zoom));
END
$$;

-- The tile (layers `nodes` and `edges`) and its ETag parts.
-- Below zoom `cluster_below` the `nodes` layer holds clusters: one point per occupied H3 cell of
-- geo.cluster_resolution(z), at its nodes' mean position, with `count` and `cell` (the H3 index, for
-- GET /geo/cells/{cell}/nodes). A map at city scale cannot show 75,000 symbols per tile, and
-- encoding them is nearly all of a dense tile's cost. Edges shorter than `grid` × the tile's width
-- are left out there: they would be drawn as a dot. From `cluster_below` on every node is a
-- feature, at most `max_features` per layer.
CREATE FUNCTION geo.tile(z integer, x integer, y integer, buffer float8, max_features bigint,
                         cluster_below integer, grid float8)
RETURNS TABLE (epoch bigint, changes bigint, tile bytea)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    env         geometry := ST_TileEnvelope(z, x, y);
    buffered    geometry := ST_TileEnvelope(z, x, y, margin => buffer);
    cell_size   float8   := (ST_XMax(env) - ST_XMin(env)) * grid;
    cluster_res integer  := geo.cluster_resolution(z);
    nodes_layer bytea;
    edges_layer bytea;
BEGIN
    IF z < cluster_below THEN
        SELECT ST_AsMVT(c.*, 'nodes', 4096, 'geom') INTO nodes_layer FROM (
            SELECT ST_AsMVTGeom(nc.position, env, 4096, 256, true) AS geom,
                   nc.nodes AS count, to_hex(nc.cell) AS cell
            FROM geo.node_cells nc
            WHERE nc.res = cluster_res AND nc.position && buffered
            LIMIT max_features
        ) c WHERE c.geom IS NOT NULL;
    ELSE
        SELECT ST_AsMVT(p.*, 'nodes', 4096, 'geom') INTO nodes_layer FROM (
            SELECT ST_AsMVTGeom(n.public_3857, env, 4096, 256, true) AS geom,
                   n.id::text AS id, n.kind, n.title
            FROM geo.nodes n
            WHERE n.public_3857 && buffered
            LIMIT max_features
        ) p WHERE p.geom IS NOT NULL;
    END IF;
    SELECT ST_AsMVT(l.*, 'edges', 4096, 'geom') INTO edges_layer FROM (
        SELECT ST_AsMVTGeom(e.line_3857, env, 4096, 256, true) AS geom,
               e.id::text AS id, e.kind, e.from_node::text AS from_node, e.to_node::text AS to_node
        FROM geo.edges e
        WHERE e.line_3857 && buffered
          AND (z >= cluster_below OR ST_Length(e.line_3857) >= cell_size)
        LIMIT max_features
    ) l WHERE l.geom IS NOT NULL;
    RETURN QUERY
    SELECT (SELECT f.epoch FROM geo.tile_floor f),
           (SELECT count(*) FROM geo.tile_changes c
            WHERE c.area && buffered AND (c.below_zoom IS NULL OR z < c.below_zoom)),
           coalesce(nodes_layer, ''::bytea) || coalesce(edges_layer, ''::bytea);
END
$$;
