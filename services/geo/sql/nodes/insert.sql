-- A new node, its tile change and its `node.created` event in one statement (two statements, four
-- round trips through PgBouncer, less on the busiest write). Nothing is written when the owner
-- already has a `home`, was forgotten, or has privacy settings newer than geo knows ($15, the token's
-- `pv`); `store::refusal` then says which. The event is rendered twice ($13 with the owner, $14
-- without); the owner's role-without-name setting, read here, picks one. It is recorded through the
-- events crate's own statement (`outbox_record`, outbox migration 4).
WITH n AS (
    INSERT INTO geo.nodes (id, owner_id, kind, title, description, tags, location, public_location, h3)
    SELECT $1, $2, $3, $4, $5, $6,
           ST_SetSRID(ST_MakePoint($8, $7), 4326),
           ST_SetSRID(ST_MakePoint($10, $9), 4326),
           $11
     WHERE NOT EXISTS (SELECT 1 FROM geo.accounts WHERE id = $2 AND (forgotten OR version < $15))
       AND ($15 = 0 OR EXISTS (SELECT 1 FROM geo.accounts WHERE id = $2))
    ON CONFLICT (owner_id) WHERE kind = 'home' DO NOTHING
    RETURNING *
), changed AS (
    INSERT INTO geo.tile_changes (area) SELECT public_3857 FROM n
), shown AS (
    -- The owner sees the exact position of the node they placed.
    SELECT n.id, n.owner_id, n.kind, n.title, n.description, n.tags,
           ST_Y(n.location) AS lat, ST_X(n.location) AS lon,
           ST_Y(n.public_location) AS public_lat, ST_X(n.public_location) AS public_lon,
           n.h3, n.version, n.created_at, n.updated_at,
           (n.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron
      FROM n
      LEFT JOIN geo.accounts a ON a.id = n.owner_id
), recorded AS (
    SELECT geo.outbox_record($12::uuid, 'node.created', 'node', id, version,
                             CASE WHEN owner_ron THEN $14::bytea ELSE $13::bytea END) AS seq
      FROM shown
)
-- Joined with `recorded` so that the event is written: a CTE nothing reads is never run.
SELECT shown.* FROM shown CROSS JOIN recorded
