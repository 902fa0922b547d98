-- The consented-patient list (同意済み患者一覧: a facility's unexpired consents, newest
-- first, LIMIT) read every unexpired consent of the facility through
-- card_consent_facility_person and sorted them: 800 consents, 4,000 buffer hits and 4-7 ms
-- per page on the 10,000,000-person database, growing with every consent. Walking this
-- index backwards stops after the page (about 300 buffer hits for 100 rows).
CREATE INDEX card_consent_facility_consented ON card_consent (facility_code, consented_at);
