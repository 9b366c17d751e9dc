INSERT INTO geo.tile_changes (area) SELECT line_3857 FROM geo.edges WHERE id = $1
