-- Version 1 of the relay's own tables: what every relay made before schema versions
-- were recorded (CREATE ... IF NOT EXISTS), so such a database is taken as version 1
-- as it stands.  SQLite dialect.

CREATE TABLE IF NOT EXISTS relay_device (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    senders TEXT NOT NULL,
    max_size INTEGER NOT NULL,
    quota_per_hour INTEGER NOT NULL,
    burst INTEGER NOT NULL,
    bucket_tokens REAL NOT NULL,
    bucket_at REAL NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL,
    revoked_at REAL
);

CREATE TABLE IF NOT EXISTS relay_submission (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    device_id INTEGER NOT NULL REFERENCES relay_device (id),
    email_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    idempotency_key TEXT,
    created_at REAL NOT NULL,
    UNIQUE (device_id, idempotency_key)
);
