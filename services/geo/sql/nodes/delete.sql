-- The node's last public position, cell and version, for its `node.deleted` event.
DELETE FROM geo.nodes
 WHERE id = $1
RETURNING ST_Y(public_location), ST_X(public_location), h3, version
