-- Placeholder so this branch (issue 13) runs with migration 0006 before 0005 is merged.
-- DELETE this file when the real 0005 arrives (the runner wants 1..N without gaps).
SELECT 1;
