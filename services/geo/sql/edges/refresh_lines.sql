-- Redraws the lines of the edges at node $1 after it moved.
UPDATE geo.edges e
   SET line_3857 = ST_MakeLine(f.public_3857, t.public_3857)
  FROM geo.nodes f, geo.nodes t
 WHERE (e.from_node = $1 OR e.to_node = $1)
   AND f.id = e.from_node
   AND t.id = e.to_node
