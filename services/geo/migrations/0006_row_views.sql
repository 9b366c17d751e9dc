-- What the reads of nodes and edges return, named once: the queries in sql/ select from these
-- views. They carry public positions only: the one query that may show an owner their exact
-- position (sql/nodes/get.sql) reads it from geo.nodes itself, so no other query can pick it up.
CREATE VIEW geo.node_rows AS
SELECT n.id, n.owner_id, n.kind, n.title, n.description, n.tags,
       ST_Y(n.public_location) AS public_lat, ST_X(n.public_location) AS public_lon,
       n.public_location, n.h3, n.version, n.created_at, n.updated_at,
       (n.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron
  FROM geo.nodes n
  LEFT JOIN geo.accounts a ON a.id = n.owner_id;

-- An edge with its endpoints' public positions; `touches_home` keeps the drawer out of its events.
CREATE VIEW geo.edge_rows AS
SELECT e.id, e.from_node, e.to_node, e.kind, e.owner_id,
       (e.owner_id IS NULL OR coalesce(a.ron, false)) AS owner_ron,
       (f.kind = 'home' OR t.kind = 'home') AS touches_home,
       ST_Y(f.public_location) AS from_lat, ST_X(f.public_location) AS from_lon,
       ST_Y(t.public_location) AS to_lat, ST_X(t.public_location) AS to_lon,
       e.version, e.created_at
  FROM geo.edges e
  JOIN geo.nodes f ON f.id = e.from_node
  JOIN geo.nodes t ON t.id = e.to_node
  LEFT JOIN geo.accounts a ON a.id = e.owner_id;
