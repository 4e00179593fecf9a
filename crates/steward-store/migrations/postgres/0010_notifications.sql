-- Outbound webhooks (SPEC §11). Keep in step with ../sqlite/0010_notifications.sql.

-- A subscription. `secret` keys the HMAC signature of every delivery, so it has to be
-- stored as given (unlike API tokens); the API never returns it and nothing logs it.
-- `cursor_seq` is the last audit seq this subscription has fanned out into deliveries:
-- delivery follows the trail, so a workflow transaction never waits on HTTP.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL CHECK (url LIKE 'http://%' OR url LIKE 'https://%'),
    event_types JSONB NOT NULL CHECK (jsonb_typeof(event_types) = 'array'),
    format      TEXT NOT NULL CHECK (format IN ('json', 'slack')),
    secret      TEXT NOT NULL CHECK (length(secret) > 0),
    cursor_seq  BIGINT NOT NULL CHECK (cursor_seq >= 0),
    created_by  TEXT NOT NULL REFERENCES principals (id),
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);

-- One row per (subscription, matching audit event): the delivery log.
CREATE TABLE webhook_deliveries (
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
    seq              BIGINT NOT NULL CHECK (seq >= 1),
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts         BIGINT NOT NULL CHECK (attempts >= 0),
    -- When a pending delivery may be (re)claimed: its backoff, or the lease of the
    -- instance sending it.
    next_attempt_at  BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    PRIMARY KEY (webhook_id, seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
