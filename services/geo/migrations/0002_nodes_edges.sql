-- What gewebe-geo knows about accounts, from auth's events (account.updated, account.forgotten):
-- only what the map needs. `version` is the account aggregate's version of the last applied event,
-- so an older, redelivered event never undoes a newer one.
CREATE TABLE geo.accounts (
    id            uuid    PRIMARY KEY,
    fuzz_radius_m integer NOT NULL DEFAULT 0 CHECK (fuzz_radius_m BETWEEN 0 AND 5000),
    ron           boolean NOT NULL DEFAULT false,
    forgotten     boolean NOT NULL DEFAULT false,
    version       bigint  NOT NULL
);

CREATE TABLE geo.nodes (
    id              uuid        PRIMARY KEY,
    -- NULL once the owner was forgotten: the node stays, shown with the role-without-name placeholder.
    owner_id        uuid,
    kind            text        NOT NULL CHECK (kind IN ('place', 'idea', 'resource', 'home')),
    title           text        NOT NULL,
    description     text,
    tags            text[]      NOT NULL DEFAULT '{}',
    -- Exactly where the owner put it. Only the owner ever sees it for a `home` node.
    location        geometry(Point, 4326) NOT NULL,
    -- What everyone else sees: equal to `location`, except for a `home` node whose owner set a fuzz
    -- radius (a keyed, deterministic point within that radius; see src/privacy.rs).
    public_location geometry(Point, 4326) NOT NULL,
    -- The public position in Web Mercator, for vector tiles and nearest-first scans without a
    -- transform per row. Mercator ends at ±85.0511°; nodes beyond are drawn at that edge.
    public_3857     geometry(Point, 3857) GENERATED ALWAYS AS (ST_Transform(ST_SetSRID(ST_MakePoint(
                        ST_X(public_location), greatest(-85.0511, least(85.0511, ST_Y(public_location)))), 4326), 3857)) STORED,
    -- The resolution-15 H3 cell of the public position; the cells of coarser resolutions that contain
    -- it are contiguous ranges of this column (see src/cells.rs).
    h3              bigint      NOT NULL,
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX nodes_public_gix ON geo.nodes USING gist (public_location);
-- Tiles, and radius queries (a 2-D nearest-first scan in Mercator, re-ranked on the sphere).
CREATE INDEX nodes_tile_gix ON geo.nodes USING gist (public_3857);
-- Radius queries where Mercator breaks down (near the poles, across the antimeridian): on the sphere.
CREATE INDEX nodes_public_geog_gix ON geo.nodes USING gist ((public_location::geography));
CREATE INDEX nodes_h3_idx ON geo.nodes (h3);
CREATE INDEX nodes_owner_idx ON geo.nodes (owner_id);
CREATE INDEX nodes_tags_gin ON geo.nodes USING gin (tags);
-- One `home` (the "Garnrolle") per person.
CREATE UNIQUE INDEX nodes_one_home_idx ON geo.nodes (owner_id) WHERE kind = 'home';

-- Edges ("Fäden") are directed. Deleting a node deletes its edges in the service (so each gets its
-- edge.deleted event); the foreign keys only guard against a bug doing it otherwise.
CREATE TABLE geo.edges (
    id         uuid        PRIMARY KEY,
    from_node  uuid        NOT NULL REFERENCES geo.nodes (id),
    to_node    uuid        NOT NULL REFERENCES geo.nodes (id),
    kind       text        NOT NULL CHECK (kind IN ('link', 'supports', 'needs', 'offers', 'part_of')),
    owner_id   uuid,
    -- Between the endpoints' public positions, kept current when an endpoint moves.
    line_3857  geometry(LineString, 3857) NOT NULL,
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT edges_not_to_itself CHECK (from_node <> to_node),
    CONSTRAINT edges_unique UNIQUE (from_node, to_node, kind)
);

CREATE INDEX edges_to_idx ON geo.edges (to_node);
CREATE INDEX edges_owner_idx ON geo.edges (owner_id);
CREATE INDEX edges_line_gix ON geo.edges USING gist (line_3857);

-- Every write records the area it changed (Web Mercator), in the write's transaction. A tile's ETag
-- is derived from the rows that touch it (src/tiles/store.rs), so a write makes exactly the affected
-- tiles fresh at commit, and an unchanged tile answers 304 without being rendered. Old rows are
-- folded into `tile_floor` by the pruning task.
CREATE TABLE geo.tile_changes (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    area       geometry(Geometry, 3857) NOT NULL,
    -- Set for changes only tiles below this zoom show (node clusters): tiles from it on ignore them.
    below_zoom smallint,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tile_changes_area_gix ON geo.tile_changes USING gist (area);
CREATE INDEX tile_changes_changed_at_idx ON geo.tile_changes (changed_at);

CREATE TABLE geo.tile_floor (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    -- Raised by every fold; part of every ETag, so no tile can answer 304 across a fold.
    epoch bigint  NOT NULL
);
INSERT INTO geo.tile_floor (one, epoch) VALUES (true, 0);
