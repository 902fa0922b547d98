-- 照会番号: a facility's own patient ID for a person, shown in that facility's check
-- results. One per person per facility; registering again replaces it.
CREATE TABLE reference_number (
    facility_code TEXT NOT NULL,
    person_id INTEGER NOT NULL REFERENCES person(id),
    reference_number TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (facility_code, person_id)
);
