-- Which of the endpoints exist, locked against a concurrent delete until the edge is written.
SELECT id FROM geo.nodes WHERE id = ANY($1) FOR SHARE
