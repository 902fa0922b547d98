-- Insurer registrations (issue 6): registry lookups for linkage checks, registrations
-- kept suspended (閲覧停止) because they do not match the registry, pending 取得届,
-- registration notices and a log of insurer batches.

-- Every registration must match the resident registry on all items; these find the
-- registry person (exact name + birthdate) or the nearest one when one item differs.
CREATE INDEX person_name_birth ON person (name, birthdate);
CREATE INDEX person_kana_birth ON person (name_kana, birthdate);
CREATE INDEX person_name_kana ON person (name, name_kana);

-- A registration that did not match the registry and that the insurer asked to keep.
-- It is linked to nobody and is not a qualification: no check or view can show it. It
-- holds its 個人単位被保険者番号 until corrected (re-sent matching) or replaced.
CREATE TABLE registration_hold (
    insurer_number TEXT NOT NULL,
    symbol_norm TEXT NOT NULL,
    number_norm TEXT NOT NULL,
    branch INTEGER,
    birthdate TEXT NOT NULL,
    name TEXT NOT NULL,
    registration TEXT NOT NULL,
    differences TEXT NOT NULL,
    candidate_person_id INTEGER,
    received_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX registration_hold_key ON registration_hold (insurer_number, symbol_norm, number_norm, COALESCE(branch, -1));
CREATE INDEX registration_hold_card ON registration_hold (insurer_number, number_norm, symbol_norm);

-- 取得届 received by the insurer, data not registered yet: a check that finds nothing
-- for this person (or card data) says so.
CREATE TABLE registration_pending (
    insurer_number TEXT NOT NULL,
    person_id INTEGER NOT NULL REFERENCES person(id),
    symbol_norm TEXT NOT NULL,
    number_norm TEXT NOT NULL,
    branch INTEGER,
    received_date TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (insurer_number, person_id)
);
CREATE INDEX registration_pending_person ON registration_pending (person_id);
CREATE INDEX registration_pending_card ON registration_pending (insurer_number, number_norm, symbol_norm);

-- One notice per completed registration (登録完了のお知らせ), for the insured person.
CREATE TABLE registration_notice (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES person(id),
    qualification_id INTEGER NOT NULL REFERENCES qualification(id),
    insurer_number TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX registration_notice_person ON registration_notice (person_id);

CREATE TABLE insurer_batch (
    id INTEGER PRIMARY KEY,
    insurer_number TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    format TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    suspended INTEGER NOT NULL,
    refused INTEGER NOT NULL
);
