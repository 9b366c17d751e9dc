SELECT owner_id, kind FROM geo.nodes WHERE id = $1
