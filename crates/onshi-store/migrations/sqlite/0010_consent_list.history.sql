-- The consented-patient list walks a facility's consents newest first and stops at its
-- LIMIT (see migrations/postgres/0010_consent_list.sql for the measurement).
CREATE INDEX history.card_consent_facility_consented ON card_consent (facility_code, consented_at);
