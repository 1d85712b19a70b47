-- Version 1 of the relay's own tables: what every relay made before schema versions
-- were recorded (CREATE ... IF NOT EXISTS), so such a database is taken as version 1
-- as it stands.  PostgreSQL dialect.

CREATE TABLE IF NOT EXISTS relay_device (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    senders TEXT NOT NULL,
    max_size INTEGER NOT NULL,
    quota_per_hour INTEGER NOT NULL,
    burst INTEGER NOT NULL,
    bucket_tokens DOUBLE PRECISION NOT NULL,
    bucket_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS relay_submission (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    device_id BIGINT NOT NULL REFERENCES relay_device (id),
    email_id BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    idempotency_key TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (device_id, idempotency_key)
);
