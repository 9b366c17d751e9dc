-- An account geo has not heard of yet gets its row with the defaults at version 0, so that a home
-- write has a row to lock (a refused write rolls it back with everything else).
INSERT INTO geo.accounts (id, version) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING
