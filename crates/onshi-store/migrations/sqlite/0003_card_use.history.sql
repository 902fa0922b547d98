-- "Has this person used the physical card at this facility before?" (smartphone rule).
-- 0002 answered it with an index on verification (person_id, facility_code): every
-- history row then dirtied a random index page, which made each commit write several
-- pages and halved the check rate. A small table written only by successful physical
-- card checks answers it instead.
DROP INDEX history.verification_person_facility;
CREATE TABLE history.physical_card_use (
    person_id INTEGER NOT NULL,
    facility_code TEXT NOT NULL,
    first_used_at INTEGER NOT NULL,
    PRIMARY KEY (person_id, facility_code)
);
INSERT INTO history.physical_card_use (person_id, facility_code, first_used_at)
    SELECT person_id, facility_code, MIN(checked_at) FROM history.verification
    WHERE card_profile = 'card' AND processing_status = '1' AND person_id IS NOT NULL
    GROUP BY person_id, facility_code;
