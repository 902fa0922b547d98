-- The audit trail of medical-information views, disaster searches and staff logins.
-- Append-only: each row's `hash` is SHA-256 over the previous row's hash and the row's
-- canonical bytes (onshi-store `audit`), so `onshi audit verify` finds a changed, inserted
-- or deleted row; the triggers refuse UPDATE and DELETE through SQL.
CREATE TABLE history.audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    facility_code TEXT NOT NULL,
    account TEXT NOT NULL,
    person_id INTEGER,
    -- view | search | login
    kind TEXT NOT NULL,
    -- OQSCD036 code of a view (YZK, TKK, SRJ, SHJ), empty otherwise
    information TEXT NOT NULL,
    -- consent | disaster | patient, empty when refused or not a view
    basis TEXT NOT NULL,
    -- allowed | refused | ok | failed
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- The patient's 「閲覧履歴」: who looked at my data, newest first.
CREATE INDEX history.audit_log_person ON audit_log (person_id, at);
CREATE TRIGGER history.audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER history.audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- 同意済み患者一覧: a facility's consents still in their window, without scanning every
-- consent the facility ever received (the 0005 index leads with the person).
CREATE INDEX history.card_consent_facility_until ON card_consent (facility_code, available_until);
