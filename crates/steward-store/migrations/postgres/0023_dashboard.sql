-- Dashboard sign-in sessions (issue 11), PostgreSQL. Keep in step with
-- ../sqlite/0023_dashboard.sql.

-- One row per browser session. The session secret lives only in the person's cookie;
-- the row holds its SHA-256. A session is bound to the API token it was opened with:
-- it ends when that token is revoked or expires, or its principal is disabled (checked
-- on every request by joining tokens and principals), when it sat idle too long
-- (`last_seen_at`), at `expires_at` (absolute), or at sign-out (`ended_at`).
CREATE TABLE web_sessions (
    id_hash      BYTEA PRIMARY KEY CHECK (length(id_hash) = 32),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    token_id     TEXT NOT NULL REFERENCES tokens (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ended_at     BIGINT
);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
