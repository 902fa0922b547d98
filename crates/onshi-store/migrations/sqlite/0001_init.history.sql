-- The part of 0001 that lives in the history file on SQLite (attached as `history`,
-- central.sqlite -> central-history.sqlite). Tracked in history.schema_migrations, so a
-- fresh history file (first run, or the old one archived away) gets its tables again.
-- Every answer given to a facility, written before the answer is sent. On SQLite the
-- history lives in its own file, attached to every connection as `history`: thousands of
-- commits a second there leave the page caches of the qualification data warm (SQLite
-- drops a connection's whole cache when its database file changes).
CREATE TABLE history.verification (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    facility_code TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    confirmation_date TEXT,
    reference_classification TEXT NOT NULL,
    insurer_number TEXT,
    symbol TEXT,
    number TEXT,
    branch TEXT,
    birthdate TEXT,
    arbitrary_file_identifier TEXT,
    processing_status TEXT NOT NULL,
    error_code TEXT,
    validity TEXT,
    person_id INTEGER,
    qualification_id INTEGER
);
CREATE INDEX history.verification_facility_time ON verification (facility_code, checked_at);
