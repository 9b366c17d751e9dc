DELETE FROM geo.edges WHERE from_node = $1 OR to_node = $1
