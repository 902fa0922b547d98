-- Consents given at the reader after a card check (the kiosk asks for them once central
-- has answered, because the 特定健診 screen depends on the patient's age). One row per
-- check: a check's consents are given once. `information` holds the OQSCD036 codes
-- (YZK, TKK, SRJ, SHJ, TSR, GND) comma-separated; medical information may be viewed by
-- the facility until `available_until` (24 hours for outpatients).
CREATE TABLE card_consent (
    check_request_id TEXT PRIMARY KEY,
    facility_code TEXT NOT NULL,
    person_id BIGINT NOT NULL,
    consented_at BIGINT NOT NULL,
    available_until BIGINT NOT NULL,
    information TEXT NOT NULL
);
CREATE INDEX card_consent_facility_person
    ON card_consent (facility_code, person_id, available_until);
