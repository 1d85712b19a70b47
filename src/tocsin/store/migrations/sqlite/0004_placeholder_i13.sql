-- Placeholder so this branch (issue 13) runs with migration 0006 before 0004 is merged.
-- DELETE this file when the real 0004 arrives (the runner wants 1..N without gaps).
SELECT 1;
