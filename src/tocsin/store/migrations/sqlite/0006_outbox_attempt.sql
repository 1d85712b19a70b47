-- Each delivery attempt in the delivery log: one row per attempt (its number, time,
-- step, verdict, the server's answer, the failover link that carried it), written in the
-- same transaction as the delivery's outcome.  At most 20 rows per delivery are kept
-- (older ones go when a new failure is recorded); the rows go with their delivery.
-- SQLite dialect.
CREATE TABLE outbox_attempt (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES outbox_delivery (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    step TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    code INTEGER,
    answer TEXT NOT NULL DEFAULT '',
    link TEXT NOT NULL DEFAULT ''
);

CREATE INDEX outbox_attempt_delivery ON outbox_attempt (delivery_id, id);
