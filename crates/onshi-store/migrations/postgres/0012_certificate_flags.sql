-- Whether a qualification has a 高齢受給者証 (has_elderly) or a 限度額適用認定証 (has_limit),
-- like has_specific for 特定疾病. Most people have neither, yet every check by card data
-- probed both primary keys for them: 6 of the lookup's 17 buffer hits on 10,000,000 people,
-- for nothing. The lookups join them only when the flag is set (the key is NULL otherwise,
-- and a btree scan with a NULL key ends before it reads a page). Set by the loaders and by
-- every insurer write that adds a certificate; certificates are never deleted.
ALTER TABLE qualification ADD COLUMN has_elderly BIGINT NOT NULL DEFAULT 0;
ALTER TABLE qualification ADD COLUMN has_limit BIGINT NOT NULL DEFAULT 0;
UPDATE qualification SET has_elderly = 1 WHERE id IN (SELECT qualification_id FROM elderly_recipient);
UPDATE qualification SET has_limit = 1 WHERE id IN (SELECT qualification_id FROM limit_certificate);
