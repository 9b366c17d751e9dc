-- The line is drawn between the endpoints' public positions; nothing is written when the same
-- edge (from, to, kind) exists.
INSERT INTO geo.edges (id, from_node, to_node, kind, owner_id, line_3857)
SELECT $1, $2, $3, $4, $5, ST_MakeLine(f.public_3857, t.public_3857)
  FROM geo.nodes f, geo.nodes t
 WHERE f.id = $2
   AND t.id = $3
ON CONFLICT ON CONSTRAINT edges_unique DO NOTHING
RETURNING id
