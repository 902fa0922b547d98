-- My Number card user-authentication certificates (利用者証明用電子証明書) and their link to
-- a person. A certificate is identified by its serial; renewal and re-issue add a row, so
-- the table is the history of a person's certificates.
CREATE TABLE card_certificate (
    serial TEXT PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES person(id),
    -- card | smartphone_android | smartphone_iphone
    profile TEXT NOT NULL,
    -- last valid day (JST), YYYYMMDD
    not_after TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    revoked_at INTEGER,
    -- 初回登録 (健康保険証利用登録); NULL while the card is not registered for insurance use
    registered_at INTEGER
);
CREATE INDEX card_certificate_person ON card_certificate (person_id);

-- 「スマホによる本人確認」, off unless the facility turns it on.
ALTER TABLE facility ADD COLUMN smartphone_enabled INTEGER NOT NULL DEFAULT 0;
