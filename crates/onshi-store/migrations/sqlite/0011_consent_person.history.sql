-- A patient's valid consents at a facility, newest first (the consent check before every
-- medical view): see migrations/postgres/0011_consent_person.sql.
DROP INDEX IF EXISTS history.card_consent_facility_person;
CREATE INDEX history.card_consent_facility_person_time ON card_consent (facility_code, person_id, consented_at);
