-- Version 2: every test email run (settings page, API, CLI), for the delivery log.
-- Never a password or token: the outcome, the failing step and the server's words.
-- SQLite dialect.
CREATE TABLE test_email (
    id INTEGER PRIMARY KEY,
    sent_at REAL NOT NULL,
    recipient TEXT NOT NULL,
    settings TEXT NOT NULL CHECK (settings IN ('saved', 'typed')),
    ok INTEGER NOT NULL,
    step TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
