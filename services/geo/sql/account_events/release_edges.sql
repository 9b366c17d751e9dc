UPDATE geo.edges SET owner_id = NULL WHERE owner_id = $1
