-- Version 8 (issue 13, points 1 and 4): each user's quiet hours (JSON list of
-- windows: days, start, end in the user's time zone; '[]' none), and a group's
-- choice whether warnings carry an acknowledge link too (NULL: inherit from the
-- parent group; at the root, no).  PostgreSQL dialect.
ALTER TABLE site_user ADD COLUMN quiet_hours TEXT NOT NULL DEFAULT '[]';

ALTER TABLE alarm_group ADD COLUMN ack_warnings INTEGER;
