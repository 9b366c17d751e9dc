-- Nodes stay on the map; their owner becomes the role-without-name placeholder.
UPDATE geo.nodes SET owner_id = NULL WHERE owner_id = $1
