-- 0003 changes only the history file on SQLite (see 0003_card_use.history.sql).
SELECT 1;
