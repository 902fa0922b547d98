-- Medical information (薬剤・診療・手術・特定健診) derived from claims and checkups. Every
-- view reads one person's rows over a date horizon (3 years of claims, 5 of checkups), so
-- each line table is indexed by (person_id, date); claims are reached by their id.
CREATE TABLE claim (
    id BIGINT PRIMARY KEY,
    person_id BIGINT NOT NULL,
    -- 1 医科, 3 歯科, 4 調剤
    kind TEXT NOT NULL,
    -- 診療(調剤)年月 YYYYMM
    month TEXT NOT NULL,
    facility_code TEXT NOT NULL,
    facility_name TEXT NOT NULL,
    prescriber_code TEXT,
    prescriber_name TEXT,
    -- 1 入院, 2 入院外
    in_out TEXT NOT NULL
);

CREATE TABLE claim_drug (
    claim_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    dispensed_on TEXT NOT NULL,
    prescribed_on TEXT NOT NULL,
    drug_code TEXT NOT NULL,
    drug_name TEXT NOT NULL,
    ingredient TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    usage TEXT NOT NULL,
    days BIGINT NOT NULL,
    class TEXT NOT NULL
);
-- 薬剤情報: one person, dispensed since the horizon, newest first.
CREATE INDEX claim_drug_person_date ON claim_drug (person_id, dispensed_on);

CREATE TABLE claim_procedure (
    claim_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    performed_on TEXT NOT NULL,
    -- treatment | surgery
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    times BIGINT NOT NULL
);
-- 診療・手術情報: one person, performed since the horizon.
CREATE INDEX claim_procedure_person_date ON claim_procedure (person_id, performed_on);

CREATE TABLE claim_diagnosis (
    claim_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    started_on TEXT NOT NULL,
    outcome TEXT NOT NULL
);
-- 傷病名 of one person (filtered by the claim's month after the join).
CREATE INDEX claim_diagnosis_person ON claim_diagnosis (person_id, claim_id);

CREATE TABLE checkup (
    id BIGINT PRIMARY KEY,
    person_id BIGINT NOT NULL,
    examined_on TEXT NOT NULL,
    facility_code TEXT NOT NULL,
    facility_name TEXT NOT NULL
);
-- 特定健診情報: one person, examined since the horizon.
CREATE INDEX checkup_person_date ON checkup (person_id, examined_on);

CREATE TABLE checkup_value (
    checkup_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    item_code TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX checkup_value_person ON checkup_value (person_id, checkup_id);

-- Disaster declarations (災害時の特別措置). `areas` holds prefecture codes ("13") and
-- municipality codes ("13101"), comma-separated; the period is [starts_at, ends_at),
-- cut short by ended_at. A handful of rows: read whole.
CREATE TABLE disaster_declaration (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    areas TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    ended_at BIGINT,
    declared_at BIGINT NOT NULL
);

-- The municipality a facility is in, when the operator has recorded it (the prefecture
-- is the first two digits of the 医療機関コード).
CREATE TABLE facility_location (
    facility_code TEXT PRIMARY KEY,
    municipality TEXT NOT NULL
);

-- Disaster-time search by 氏名・生年月日・性別: the birth date narrows to a few dozen people.
CREATE INDEX person_birthdate ON person (birthdate, sex);
-- The audit trail of medical-information views, disaster searches and staff logins.
-- Append-only: each row's `hash` is SHA-256 over the previous row's hash and the row's
-- canonical bytes (onshi-store `audit`), so `onshi audit verify` finds a changed, inserted
-- or deleted row; the trigger refuses UPDATE and DELETE through SQL.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    facility_code TEXT NOT NULL,
    account TEXT NOT NULL,
    person_id BIGINT,
    kind TEXT NOT NULL,
    information TEXT NOT NULL,
    basis TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_person ON audit_log (person_id, at);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- 同意済み患者一覧: a facility's consents still in their window.
CREATE INDEX card_consent_facility_until ON card_consent (facility_code, available_until);
