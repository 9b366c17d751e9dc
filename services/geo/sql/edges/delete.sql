DELETE FROM geo.edges WHERE id = $1
