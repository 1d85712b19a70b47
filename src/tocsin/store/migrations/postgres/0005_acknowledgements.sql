-- Version 6 (issue 13): acknowledging alarms.  One acknowledgement per event (who,
-- when, which way: the email link, the web page, the REST API, the CLI), and the
-- digests of used acknowledgement links, which make each link single-use.
-- PostgreSQL dialect.
CREATE TABLE event_ack (
    event_id TEXT PRIMARY KEY REFERENCES event (id) ON DELETE CASCADE,
    acked_by TEXT NOT NULL,
    acked_at DOUBLE PRECISION NOT NULL,
    via TEXT NOT NULL CHECK (via IN ('link', 'web', 'api', 'cli')),
    user_id TEXT
);

CREATE TABLE ack_token_used (
    digest TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    used_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX ack_token_used_expiry ON ack_token_used (expires_at);
