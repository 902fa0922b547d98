-- Card checks in the history: how the person was identified and with which certificate.
ALTER TABLE history.verification ADD COLUMN identity_method TEXT;
ALTER TABLE history.verification ADD COLUMN card_serial TEXT;
ALTER TABLE history.verification ADD COLUMN card_profile TEXT;
-- Consents given at the reader with this check: comma-separated OQSCD036 codes.
ALTER TABLE history.verification ADD COLUMN consents TEXT;
-- "Has this person used the physical card at this facility before?" (smartphone rule)
CREATE INDEX history.verification_person_facility ON verification (person_id, facility_code);

-- Nonces consumed by card checks: a nonce is stateless until used (it carries its own
-- expiry and MAC), and its single use is this primary key.
CREATE TABLE history.used_nonce (
    nonce TEXT PRIMARY KEY,
    facility_code TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER NOT NULL
);

-- The secret that authenticates nonces, shared by every central process on this database.
CREATE TABLE history.central_secret (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
