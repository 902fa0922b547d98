-- "Has this person used the physical card at this facility before?" (smartphone rule):
-- a small table written only by successful physical card checks, instead of an index on
-- every history row (see the SQLite migration for why).
DROP INDEX verification_person_facility;
CREATE TABLE physical_card_use (
    person_id BIGINT NOT NULL,
    facility_code TEXT NOT NULL,
    first_used_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, facility_code)
);
INSERT INTO physical_card_use (person_id, facility_code, first_used_at)
    SELECT person_id, facility_code, MIN(checked_at) FROM verification
    WHERE card_profile = 'card' AND processing_status = '1' AND person_id IS NOT NULL
    GROUP BY person_id, facility_code;
