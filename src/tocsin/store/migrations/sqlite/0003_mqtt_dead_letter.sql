-- Version 4: MQTT messages that could not become an event (not JSON, a missing or bad
-- field, too large), kept for the page and the CLI: the topic, why, and the start of the
-- payload.  Few rows, pruned by age and count (tocsin.intake.mqtt.store).
-- SQLite dialect.
CREATE TABLE mqtt_dead_letter (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL,
    excerpt TEXT NOT NULL DEFAULT ''
);
