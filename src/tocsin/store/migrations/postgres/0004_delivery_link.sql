-- Version 3: which link of the failover chain carried (or last tried) each delivery:
-- 'primary', 'backup-1', ...; '' for deliveries recorded before the chain existed.
-- postgres dialect (the same statement in both).
ALTER TABLE outbox_delivery ADD COLUMN link TEXT NOT NULL DEFAULT '';
