-- The node's current public position.
INSERT INTO geo.tile_changes (area) SELECT public_3857 FROM geo.nodes WHERE id = $1
