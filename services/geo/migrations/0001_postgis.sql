-- PostGIS lives in `public`, shared by every service that needs it. Creating it needs a superuser
-- (or, on PostgreSQL 13+, a trusted-extension grant); production creates it in the database's init
-- script (infra/postgres) and this statement then does nothing.
CREATE EXTENSION IF NOT EXISTS postgis;
-- For the (resolution, position) index of the node clusters (a trusted extension from contrib).
CREATE EXTENSION IF NOT EXISTS btree_gist;
