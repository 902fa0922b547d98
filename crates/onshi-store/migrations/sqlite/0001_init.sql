-- Central schema, SQLite dialect. Dates are TEXT YYYYMMDD (the wire form, which sorts like
-- the date); instants are INTEGER microseconds since the Unix epoch.
CREATE TABLE insurer (
    number TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL
);

CREATE TABLE person (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_kana TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    sex TEXT NOT NULL,
    address TEXT NOT NULL,
    post_number TEXT NOT NULL
);

CREATE TABLE qualification (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES person(id),
    insurer_number TEXT NOT NULL REFERENCES insurer(number),
    symbol TEXT,
    symbol_norm TEXT NOT NULL,
    number TEXT NOT NULL,
    number_norm TEXT NOT NULL,
    branch INTEGER,
    personal_family TEXT NOT NULL,
    insured_name TEXT,
    card_classification TEXT NOT NULL,
    qualification_date TEXT NOT NULL,
    disqualification_date TEXT,
    reason_of_loss TEXT,
    successor_id INTEGER,
    certificate_issuance_date TEXT,
    card_valid_from TEXT,
    card_valid_to TEXT,
    income TEXT NOT NULL,
    has_specific INTEGER NOT NULL DEFAULT 0
);
-- The hot path: a check by card data looks up (insurer, number, symbol); 協会けんぽ numbers
-- are small integers repeated under every symbol, so the symbol must be in the key.
CREATE INDEX qualification_card ON qualification (insurer_number, number_norm, symbol_norm);
CREATE INDEX qualification_person ON qualification (person_id);
-- 個人単位被保険者番号 (insurer + symbol + number + branch) is unique.
CREATE UNIQUE INDEX qualification_individual ON qualification (insurer_number, symbol_norm, number_norm, COALESCE(branch, -1));

CREATE TABLE elderly_recipient (
    qualification_id INTEGER PRIMARY KEY REFERENCES qualification(id),
    certificate_date TEXT NOT NULL,
    valid_start TEXT NOT NULL,
    valid_end TEXT NOT NULL,
    contribution_ratio INTEGER NOT NULL
);

CREATE TABLE limit_certificate (
    qualification_id INTEGER PRIMARY KEY REFERENCES qualification(id),
    classification TEXT NOT NULL,
    flag TEXT NOT NULL,
    certificate_date TEXT NOT NULL,
    valid_start TEXT NOT NULL,
    valid_end TEXT,
    long_term_date TEXT
);

CREATE TABLE specific_disease (
    id INTEGER PRIMARY KEY,
    qualification_id INTEGER NOT NULL REFERENCES qualification(id),
    category TEXT NOT NULL,
    certificate_date TEXT NOT NULL,
    valid_start TEXT NOT NULL,
    valid_end TEXT,
    self_pay INTEGER NOT NULL
);
CREATE INDEX specific_disease_qualification ON specific_disease (qualification_id);

CREATE TABLE facility (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1
);

-- The verification history lives in its own file on SQLite: see 0001_init.history.sql.
