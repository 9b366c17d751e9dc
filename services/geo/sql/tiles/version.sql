SELECT epoch, changes FROM geo.tile_version($1, $2, $3, $4)
