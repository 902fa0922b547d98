-- 0005 changes only the history file on SQLite (see 0005_consent.history.sql).
SELECT 1;
