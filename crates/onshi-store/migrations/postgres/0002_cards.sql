-- My Number card user-authentication certificates and their link to a person (history:
-- renewal and re-issue add rows). See the SQLite migration for the column notes.
CREATE TABLE card_certificate (
    serial TEXT PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES person(id),
    profile TEXT NOT NULL,
    not_after TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    registered_at BIGINT
);
CREATE INDEX card_certificate_person ON card_certificate (person_id);

ALTER TABLE facility ADD COLUMN smartphone_enabled BIGINT NOT NULL DEFAULT 0;

ALTER TABLE verification ADD COLUMN identity_method TEXT;
ALTER TABLE verification ADD COLUMN card_serial TEXT;
ALTER TABLE verification ADD COLUMN card_profile TEXT;
ALTER TABLE verification ADD COLUMN consents TEXT;
CREATE INDEX verification_person_facility ON verification (person_id, facility_code);

CREATE TABLE used_nonce (
    nonce TEXT PRIMARY KEY,
    facility_code TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NOT NULL
);

CREATE TABLE central_secret (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
