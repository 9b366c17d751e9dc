-- The cluster counts (0003, 0004) looked for emptied cells after every change, although only a
-- removal (delta < 0) can empty one: a statement less for every new node. The rest of the body is
-- 0004's, unchanged (landed migrations are not edited).
CREATE OR REPLACE FUNCTION geo.node_cells_add(h bigint, p geometry, delta integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
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
    -- Only a removal can empty a cell.
    IF delta < 0 THEN
        DELETE FROM geo.node_cells
        WHERE nodes <= 0 AND (res, cell) IN (SELECT r, geo.h3_parent(h, r) FROM generate_series(5, 9) AS r);
    END IF;
END
$$;
