-- Bulk checks (一括照会, OQSmuquc). A job is written before its ReceptionNumber is
-- answered, with the upload as received, so that a restarted central can resume it;
-- its units are written chunk by chunk together with their history rows, so a resumed
-- job carries on after the last committed chunk and no check is recorded twice.
CREATE TABLE history.bulk_job (
    reception_number TEXT PRIMARY KEY,
    facility_code TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    confirmation_date TEXT NOT NULL,
    arbitrary_file_identifier TEXT,
    -- processing | done | failed
    state TEXT NOT NULL,
    total INTEGER NOT NULL,
    normal INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    finished_at INTEGER,
    request BLOB NOT NULL
);
CREATE INDEX history.bulk_job_state ON bulk_job (state);

-- One patient's result (a BulkConfirmUnit in its JSON form), in upload order.
CREATE TABLE history.bulk_unit (
    reception_number TEXT NOT NULL,
    seq INTEGER NOT NULL,
    unit BLOB NOT NULL,
    PRIMARY KEY (reception_number, seq)
);
