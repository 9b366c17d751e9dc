-- Cheaper writes to geo.nodes, for the cluster counts (0003) in particular.
--
-- The cluster counts of a city's coarse H3 cells are rows every write in that city updates. Counted
-- when the node row is written, their locks were held across the rest of the transaction, client
-- round trips included (the outbox insert, then COMMIT), and writes to one area queued behind each
-- other: about 230 writes/s on the benchmark machine, with the CPU not busy. Counted at commit,
-- the locks are held only while the commit itself runs. Same function, same name.
DROP TRIGGER nodes_count_cells ON geo.nodes;
CREATE CONSTRAINT TRIGGER nodes_count_cells
    AFTER INSERT OR DELETE OR UPDATE OF public_location, h3 ON geo.nodes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION geo.nodes_count_cells();

-- The same function in PL/pgSQL: a SQL-language function that is not inlined is planned anew on
-- every call, and this one runs for every written node (a third of PostgreSQL's time per write in
-- `cargo xtask bench feed`); PL/pgSQL keeps its plans for the connection's lifetime.
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
    DELETE FROM geo.node_cells
    WHERE nodes <= 0 AND (res, cell) IN (SELECT r, geo.h3_parent(h, r) FROM generate_series(5, 9) AS r);
END
$$;
