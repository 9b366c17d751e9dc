-- Housekeeping erases sealed refresh successors once their grace window has passed; this index
-- keeps that a lookup of the few tokens still holding one rather than a scan of all of them.
CREATE INDEX refresh_tokens_sealed_idx ON auth.refresh_tokens (rotated_at)
    WHERE successor_sealed IS NOT NULL;
