-- Retention (`onshi ops retention`): history and audit rows older than the kept months are
-- deleted; the audit chain then verifies from the last removed row, recorded here (its seq
-- and hash). The PostgreSQL side partitions both tables by month instead (0008 there).
CREATE TABLE history.audit_checkpoint (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    cutoff INTEGER NOT NULL,
    removed_rows INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
