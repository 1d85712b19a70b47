-- Version 1: the schema every Tocsin release made before schema versions were
-- recorded (CREATE ... IF NOT EXISTS), so a database of such a release is taken as
-- version 1 as it stands.  PostgreSQL dialect.

CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox_email (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    content BYTEA NOT NULL,
    smtputf8 INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox_delivery (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_id BIGINT NOT NULL REFERENCES outbox_email (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead')),
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    last_step TEXT NOT NULL DEFAULT '',
    last_reason TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    last_code INTEGER,
    server_reply TEXT NOT NULL DEFAULT '',
    queued_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (email_id, recipient)
);

CREATE INDEX IF NOT EXISTS outbox_delivery_due
    ON outbox_delivery (priority, next_attempt_at, id)
    WHERE status IN ('queued', 'sending');

CREATE INDEX IF NOT EXISTS outbox_delivery_status
    ON outbox_delivery (status, updated_at);

CREATE INDEX IF NOT EXISTS outbox_email_message_id
    ON outbox_email (message_id);

CREATE TABLE IF NOT EXISTS outbox_tracking (
    delivery_id BIGINT PRIMARY KEY
        REFERENCES outbox_delivery (id) ON DELETE CASCADE,
    tracking_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'bounced', 'gave_up', 'unknown')),
    detail TEXT NOT NULL DEFAULT '',
    code INTEGER,
    checks INTEGER NOT NULL DEFAULT 0,
    checked_at DOUBLE PRECISION,
    next_check_at DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX IF NOT EXISTS outbox_tracking_due
    ON outbox_tracking (next_check_at) WHERE next_check_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS admin (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    created_at DOUBLE PRECISION NOT NULL,
    last_login_at DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS login_session (
    id_hash TEXT PRIMARY KEY,
    admin_id BIGINT NOT NULL REFERENCES admin (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS api_token (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS alarm_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT,
    policies TEXT NOT NULL DEFAULT '{}',
    position INTEGER NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS site_user (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    language TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    group_ids TEXT NOT NULL DEFAULT '',
    categories TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS site_version (
    id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);

INSERT INTO site_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS event (
    id TEXT PRIMARY KEY,
    client_event_id TEXT UNIQUE,
    fingerprint TEXT NOT NULL DEFAULT '',
    group_id TEXT NOT NULL,
    device TEXT NOT NULL,
    sensor TEXT NOT NULL,
    category TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    occurred_at DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION,
    unit TEXT NOT NULL DEFAULT '',
    threshold DOUBLE PRECISION,
    text TEXT NOT NULL DEFAULT '',
    clears TEXT,
    is_open INTEGER NOT NULL DEFAULT 0,
    received_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX IF NOT EXISTS event_received ON event (received_at, id);

CREATE INDEX IF NOT EXISTS event_open ON event
    (group_id, device, sensor, category, received_at) WHERE is_open = 1;

CREATE INDEX IF NOT EXISTS event_clears ON event (clears) WHERE clears IS NOT NULL;

CREATE TABLE IF NOT EXISTS notification (
    event_id TEXT NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    hour INTEGER NOT NULL,
    email_id TEXT NOT NULL DEFAULT '',
    outbox_id BIGINT,
    summary_id TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (event_id, user_id)
);

CREATE INDEX IF NOT EXISTS notification_held ON notification (user_id, hour)
    WHERE status = 'held';

CREATE TABLE IF NOT EXISTS hourly_count (
    group_id TEXT NOT NULL,
    category TEXT NOT NULL,
    hour INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (group_id, category, hour)
);
