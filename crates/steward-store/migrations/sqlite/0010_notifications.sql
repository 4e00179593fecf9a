-- Outbound webhooks (SPEC §11). Keep in step with ../postgres/0010_notifications.sql.

-- A subscription. `secret` keys the HMAC signature of every delivery, so it has to be
-- stored as given (unlike API tokens); the API never returns it and nothing logs it.
-- `cursor_seq` is the last audit seq this subscription has fanned out into deliveries:
-- delivery follows the trail, so a workflow transaction never waits on HTTP.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    event_types TEXT NOT NULL
                CHECK (json_valid(event_types) AND json_type(event_types) = 'array'),
    format      TEXT NOT NULL CHECK (format IN ('json', 'slack')),
    secret      TEXT NOT NULL CHECK (length(secret) > 0),
    cursor_seq  INTEGER NOT NULL CHECK (cursor_seq >= 0),
    created_by  TEXT NOT NULL REFERENCES principals (id),
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
) STRICT;

-- One row per (subscription, matching audit event): the delivery log.
CREATE TABLE webhook_deliveries (
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    -- When a pending delivery may be (re)claimed: its backoff, or the lease of the
    -- instance sending it.
    next_attempt_at  INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    PRIMARY KEY (webhook_id, seq)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
