-- Medical information (薬剤・診療・手術・特定健診) derived from claims and checkups. Every
-- view reads one person's rows over a date horizon (3 years of claims, 5 of checkups), so
-- each line table is indexed by (person_id, date); claims are reached by their id.
CREATE TABLE claim (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL,
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
    claim_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    dispensed_on TEXT NOT NULL,
    prescribed_on TEXT NOT NULL,
    drug_code TEXT NOT NULL,
    drug_name TEXT NOT NULL,
    ingredient TEXT NOT NULL,
    quantity REAL NOT NULL,
    unit TEXT NOT NULL,
    usage TEXT NOT NULL,
    days INTEGER NOT NULL,
    class TEXT NOT NULL
);
-- 薬剤情報: one person, dispensed since the horizon, newest first.
CREATE INDEX claim_drug_person_date ON claim_drug (person_id, dispensed_on);

CREATE TABLE claim_procedure (
    claim_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    performed_on TEXT NOT NULL,
    -- treatment | surgery
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    times INTEGER NOT NULL
);
-- 診療・手術情報: one person, performed since the horizon.
CREATE INDEX claim_procedure_person_date ON claim_procedure (person_id, performed_on);

CREATE TABLE claim_diagnosis (
    claim_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    started_on TEXT NOT NULL,
    outcome TEXT NOT NULL
);
-- 傷病名 of one person (filtered by the claim's month after the join).
CREATE INDEX claim_diagnosis_person ON claim_diagnosis (person_id, claim_id);

CREATE TABLE checkup (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL,
    examined_on TEXT NOT NULL,
    facility_code TEXT NOT NULL,
    facility_name TEXT NOT NULL
);
-- 特定健診情報: one person, examined since the horizon.
CREATE INDEX checkup_person_date ON checkup (person_id, examined_on);

CREATE TABLE checkup_value (
    checkup_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    item_code TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX checkup_value_person ON checkup_value (person_id, checkup_id);

-- Disaster declarations (災害時の特別措置). `areas` holds prefecture codes ("13") and
-- municipality codes ("13101"), comma-separated; the period is [starts_at, ends_at),
-- cut short by ended_at. A handful of rows: read whole.
CREATE TABLE disaster_declaration (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    areas TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    ended_at INTEGER,
    declared_at INTEGER NOT NULL
);

-- The municipality a facility is in, when the operator has recorded it (the prefecture
-- is the first two digits of the 医療機関コード).
CREATE TABLE facility_location (
    facility_code TEXT PRIMARY KEY,
    municipality TEXT NOT NULL
);

-- Disaster-time search by 氏名・生年月日・性別: the birth date narrows to a few dozen people.
CREATE INDEX person_birthdate ON person (birthdate, sex);
