-- The current lines of every edge at the node.
INSERT INTO geo.tile_changes (area)
SELECT line_3857 FROM geo.edges WHERE from_node = $1 OR to_node = $1
