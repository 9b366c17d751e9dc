-- The true positions of an account's home nodes, locked for the move.
SELECT id, ST_Y(location), ST_X(location)
  FROM geo.nodes
 WHERE owner_id = $1
   AND kind = 'home'
   FOR UPDATE
