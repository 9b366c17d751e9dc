SELECT epoch, changes, tile FROM geo.tile($1, $2, $3, $4, $5, $6, $7)
