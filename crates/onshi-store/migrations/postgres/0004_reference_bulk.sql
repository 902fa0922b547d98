-- 照会番号 and bulk checks; see the SQLite migration for the notes.
CREATE TABLE reference_number (
    facility_code TEXT NOT NULL,
    person_id BIGINT NOT NULL REFERENCES person(id),
    reference_number TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (facility_code, person_id)
);

CREATE TABLE bulk_job (
    reception_number TEXT PRIMARY KEY,
    facility_code TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    confirmation_date TEXT NOT NULL,
    arbitrary_file_identifier TEXT,
    state TEXT NOT NULL,
    total BIGINT NOT NULL,
    normal BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    error_code TEXT,
    finished_at BIGINT,
    request BYTEA NOT NULL
);
CREATE INDEX bulk_job_state ON bulk_job (state);

CREATE TABLE bulk_unit (
    reception_number TEXT NOT NULL,
    seq BIGINT NOT NULL,
    unit BYTEA NOT NULL,
    PRIMARY KEY (reception_number, seq)
);
