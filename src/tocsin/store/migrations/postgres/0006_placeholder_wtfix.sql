-- Placeholder for the other helper's migration 0006 (branch followups only): the lead
-- deletes this file at merge.
SELECT 1;
