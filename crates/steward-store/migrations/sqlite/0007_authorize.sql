-- Tokens spent under a permit by allowed authorize decisions (SPEC §6.4 token budget).
-- Moved only by `Store::spend_tokens`, with a guarded increment that never passes the
-- budget; not part of the permit's optimistic `version`, so spending does not invalidate
-- the authorize cache's copy of the permit.
ALTER TABLE permits ADD COLUMN tokens_used INTEGER NOT NULL DEFAULT 0 CHECK (tokens_used >= 0);
