-- Version 7 (issue 13, points 3-4): escalation of unacknowledged alarms.
-- A group's own escalation policy (JSON: categories, steps, reminders; inherited
-- down the tree), and the timers of each escalated alarm: scheduled rows, so they
-- survive restarts and each fires once (claimed in the transaction that enqueues
-- its emails).  PostgreSQL dialect.
CREATE TABLE escalation_policy (
    group_id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE escalation_timer (
    event_id TEXT NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('step', 'remind')),
    number INTEGER NOT NULL,
    due_at DOUBLE PRECISION NOT NULL,
    minutes INTEGER NOT NULL,
    user_ids TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    fired_at DOUBLE PRECISION,
    PRIMARY KEY (event_id, seq)
);

CREATE INDEX escalation_timer_due ON escalation_timer (due_at) WHERE state = 'pending';
