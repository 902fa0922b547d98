//! The embedded SQLite backend.
//!
//! Reads run on a small pool of connections, in place on the calling task: a point lookup
//! over a warm page cache takes microseconds, less than handing it to another thread would.
//! History rows are committed in groups on one write connection (WAL
//! with `synchronous=NORMAL`: a committed row survives a crash of the process; see the
//! README for the power-loss trade-off).
//!
//! The main file is memory-mapped: lookups then touch pages without a system call. The
//! history is a separate attached file, so its steady growth never forces the readers to
//! remap or to drop their caches.
//!
//! The audit chain has a third file of its own (`central-audit.sqlite`, attached as
//! `audit`): every medical view waits for its audit row's commit, and in the history
//! file that commit queued behind the verification writer and behind the checkpointer's
//! periodic RESTART (which holds the write lock through a copy and an fsync: 100 ms and
//! more on a busy disk). The audit file is only ever checkpointed PASSIVE (which never
//! blocks its writer), with a RESTART only when its WAL has grown past
//! [`AUDIT_WAL_RESTART_BYTES`]. Databases made before this (the audit table in the history
//! file) are moved over once when opened ([`ensure_audit_file`]).

use crate::insurer::SqliteExec;
use crate::rows::{self, QualificationValues};
use crate::{
    BulkChunk, BulkJob, CardKey, CardQuery, CardRecord, ConsentRecord, CountedTable, Holder,
    HolderQuery, PopulationSlice, QualificationRecord, Result, StoreError, VerificationRecord,
    WriteOp,
};
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::model::{Facility, Insurer, Person};
use rusqlite::{Connection, OpenFlags, params};
use std::collections::HashMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

const READERS: usize = 4;

type WriteJob = (WriteOp, oneshot::Sender<Result<bool>>);

#[derive(Clone)]
pub(crate) struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    admin: Mutex<Connection>,
    /// Appends to the audit chain (audit file) without ever running a checkpoint itself:
    /// the checkpointer thread keeps the audit WAL short with passive checkpoints.
    audit: Mutex<Connection>,
    writer: HistoryWriter,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The history file beside the main database: `central.sqlite` → `central-history.sqlite`.
pub fn history_path(main: &Path) -> PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = main
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    main.with_file_name(format!("{stem}-history{ext}"))
}

/// The audit file beside the main database: `central.sqlite` → `central-audit.sqlite`.
pub fn audit_path(main: &Path) -> PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = main
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    main.with_file_name(format!("{stem}-audit{ext}"))
}

/// An audit WAL longer than this is restarted (blocking the audit writer once); below it,
/// passive checkpoints only.
pub const AUDIT_WAL_RESTART_BYTES: u64 = 64 << 20;

const AUDIT_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit.audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    facility_code TEXT NOT NULL,
    account TEXT NOT NULL,
    person_id INTEGER,
    kind TEXT NOT NULL,
    information TEXT NOT NULL,
    basis TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit.audit_log_person ON audit_log (person_id, at);
CREATE TRIGGER IF NOT EXISTS audit.audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit.audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;";

/// Makes the audit file's table (same columns, index and append-only triggers as
/// migration 0006 made in the history file) and moves an existing chain over from the
/// history file: rows copied (in `seq` order, hashes unchanged), then the old table
/// dropped. Idempotent; a stop between the two steps is finished on the next open.
fn ensure_audit_file(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(AUDIT_SCHEMA)?;
    let old: i64 = conn.query_row(
        "SELECT COUNT(*) FROM history.sqlite_master WHERE type = 'table' AND name = 'audit_log'",
        [],
        |r| r.get(0),
    )?;
    if old == 0 {
        return Ok(());
    }
    let count = |conn: &Connection, schema: &str| -> Result<i64> {
        Ok(conn.query_row(
            &format!("SELECT COUNT(*) FROM {schema}.audit_log"),
            [],
            |r| r.get(0),
        )?)
    };
    if count(conn, "audit")? == 0 {
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO audit.audit_log SELECT seq, at, facility_code, account, person_id, kind, \
             information, basis, outcome, detail, prev_hash, hash FROM history.audit_log ORDER BY seq",
            [],
        )?;
        tx.commit()?;
    }
    if count(conn, "audit")? >= count(conn, "history")? {
        conn.execute_batch("DROP TABLE history.audit_log;")?;
    }
    Ok(())
}

fn connect(path: &Path) -> Result<Connection> {
    // Each connection is used by one thread at a time (behind our own mutex, or owned by
    // the writer thread), so SQLite's per-connection mutex is not needed.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.execute(
        "ATTACH DATABASE $1 AS history",
        [history_path(path).to_string_lossy()],
    )?;
    conn.execute(
        "ATTACH DATABASE $1 AS audit",
        [audit_path(path).to_string_lossy()],
    )?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA history.journal_mode = WAL;
         PRAGMA audit.journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA history.synchronous = NORMAL;
         PRAGMA audit.synchronous = NORMAL;
         PRAGMA busy_timeout = 10000;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;
         PRAGMA main.mmap_size = 8589934592;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    for schema in ["main", "history"] {
        conn.execute_batch(&crate::migrate::create_table(schema))?;
    }
    for m in crate::migrate::SQLITE {
        let parts = [("main", Some(m.main)), ("history", m.history)];
        for (schema, sql) in parts {
            let Some(sql) = sql else { continue };
            let tx = conn.transaction()?;
            let done: i64 = tx.query_row(
                &format!("SELECT COUNT(*) FROM {schema}.schema_migrations WHERE name = $1"),
                [m.name],
                |r| r.get(0),
            )?;
            if done == 0 {
                tx.execute_batch(sql).map_err(|e| StoreError::Migration {
                    name: format!("{} ({schema})", m.name),
                    reason: e.to_string(),
                })?;
                tx.execute(
                    &format!(
                        "INSERT INTO {schema}.schema_migrations (name, applied_at) VALUES ($1, $2)"
                    ),
                    params![m.name, crate::migrate::now_micros()],
                )?;
            }
            tx.commit()?;
        }
    }
    Ok(())
}

/// Deletes the STAT4 samples that `ANALYZE` leaves (the table statistics of `sqlite_stat1`
/// stay). With samples, SQLite re-prepares a statement at its first step after any new
/// binding of a parameter compared with an indexed column, in case the value changes the
/// best plan: every check by card data parsed and planned its lookup again (session 4,
/// `perf`: `sqlite3Reprepare` under `find_by_card`; 1M people: 13,900 checks/s with the
/// samples, 34,000/s without). Our hot statements have one right plan whatever the value.
/// Done when the store opens (databases loaded before this) and after every load's ANALYZE.
pub(crate) fn forget_stat4_samples(conn: &Connection) -> Result<()> {
    let has: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = 'sqlite_stat4')",
        [],
        |r| r.get(0),
    )?;
    if has {
        conn.execute_batch("DELETE FROM main.sqlite_stat4;")?;
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Url(format!("{}: {e}", parent.display())))?;
        }
        let mut admin = connect(path)?;
        migrate(&mut admin)?;
        ensure_audit_file(&mut admin)?;
        forget_stat4_samples(&admin)?;
        let readers = (0..READERS)
            .map(|_| connect(path).map(Mutex::new))
            .collect::<Result<_>>()?;
        let writer = HistoryWriter::open(path)?;
        let audit = connect(path)?;
        audit.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        // Wait for the audit file's write lock (held by another central process, or by a
        // rare RESTART of a long WAL) in short steps: SQLite's default busy handler sleeps
        // up to 100 ms at a time, which every view waiting behind this append would pay.
        audit.busy_handler(Some(|n: i32| {
            std::thread::sleep(std::time::Duration::from_micros(250));
            n < 40_000
        }))?;
        let stop = Arc::new(AtomicBool::new(false));
        spawn_checkpointer(path.to_path_buf(), stop.clone())?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                readers,
                next: AtomicUsize::new(0),
                admin: Mutex::new(admin),
                audit: Mutex::new(audit),
                writer,
                stop,
            }),
        })
    }

    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.inner.readers.len();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(guard) = self.inner.readers[(start + i) % n].try_lock() {
                return guard;
            }
        }
        lock(&self.inner.readers[start % n])
    }

    pub(crate) fn readers(&self) -> usize {
        self.inner.readers.len()
    }

    pub(crate) fn admin(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.admin)
    }

    pub(crate) fn audit_connection(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.audit)
    }

    pub(crate) fn upsert_insurers(&self, insurers: &[Insurer]) -> Result<()> {
        let mut conn = self.admin();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(rows::UPSERT_INSURER)?;
            for i in insurers {
                stmt.execute(params![i.number.digits(), i.name, i.kind.code()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn upsert_facilities(&self, facilities: &[Facility]) -> Result<()> {
        let mut conn = self.admin();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(rows::UPSERT_FACILITY)?;
            for f in facilities {
                stmt.execute(params![
                    f.code.as_str(),
                    f.name,
                    i64::from(f.enabled),
                    i64::from(f.smartphone_enabled)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn load_population(&self, s: PopulationSlice<'_>) -> Result<()> {
        let mut conn = self.admin();
        let tx = conn.transaction()?;
        insert_population(&tx, s)?;
        tx.commit()?;
        Ok(())
    }
}

/// The rows of a population slice, inside the caller's transaction.
pub(crate) fn insert_population(
    tx: &rusqlite::Transaction<'_>,
    s: PopulationSlice<'_>,
) -> Result<()> {
    let with_specific: HashSet<i64> = s
        .specific_diseases
        .iter()
        .map(|d| d.qualification_id)
        .collect();
    {
        let mut stmt = tx.prepare_cached(rows::INSERT_PERSON)?;
        for p in s.persons {
            stmt.execute(params![
                p.id,
                p.name,
                p.name_kana,
                p.birthdate.to_wire(),
                p.sex.code(),
                p.address,
                p.post_number
            ])?;
        }
        let mut stmt = tx.prepare_cached(rows::INSERT_QUALIFICATION)?;
        for q in s.qualifications {
            let v = QualificationValues::new(q, with_specific.contains(&q.id));
            stmt.execute(params![
                v.id,
                v.person_id,
                v.insurer_number,
                v.symbol,
                v.symbol_norm,
                v.number,
                v.number_norm,
                v.branch,
                v.personal_family,
                v.insured_name,
                v.card_classification,
                v.qualification_date,
                v.disqualification_date,
                v.reason_of_loss,
                v.successor_id,
                v.certificate_issuance_date,
                v.card_valid_from,
                v.card_valid_to,
                v.income,
                v.has_specific
            ])?;
        }
        let mut stmt = tx.prepare_cached(rows::INSERT_ELDERLY)?;
        let mut flag = tx.prepare_cached(rows::FLAG_ELDERLY)?;
        for e in s.elderly {
            stmt.execute(params![
                e.qualification_id,
                e.certificate_date.to_wire(),
                e.valid_start.to_wire(),
                e.valid_end.to_wire(),
                i64::from(e.contribution_ratio)
            ])?;
            flag.execute([e.qualification_id])?;
        }
        let mut stmt = tx.prepare_cached(rows::INSERT_LIMIT)?;
        let mut flag = tx.prepare_cached(rows::FLAG_LIMIT)?;
        for l in s.limit_certificates {
            stmt.execute(params![
                l.qualification_id,
                l.classification.code(),
                l.flag.code(),
                l.certificate_date.to_wire(),
                l.valid_start.to_wire(),
                rows::opt_ymd_text(l.valid_end),
                rows::opt_ymd_text(l.long_term_date)
            ])?;
            flag.execute([l.qualification_id])?;
        }
        let mut stmt = tx.prepare_cached(rows::INSERT_SPECIFIC)?;
        for d in s.specific_diseases {
            stmt.execute(params![
                d.qualification_id,
                d.category.code(),
                d.certificate_date.to_wire(),
                d.valid_start.to_wire(),
                rows::opt_ymd_text(d.valid_end),
                i64::from(d.self_pay)
            ])?;
        }
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) fn facility(&self, code: &MedicalInstitutionCode) -> Result<Option<Facility>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(rows::FACILITY)?;
        let mut rs = stmt.query([code.as_str()])?;
        match rs.next()? {
            Some(r) => Ok(Some(rows::facility(r)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn set_facility_enabled(
        &self,
        code: &MedicalInstitutionCode,
        enabled: bool,
    ) -> Result<bool> {
        let conn = self.admin();
        let n = conn.execute(
            rows::SET_FACILITY_ENABLED,
            params![i64::from(enabled), code.as_str()],
        )?;
        Ok(n > 0)
    }

    pub(crate) fn find_by_card(&self, q: &CardQuery) -> Result<Vec<QualificationRecord>> {
        let conn = self.reader();
        let mut found = Vec::new();
        {
            let mut stmt = conn.prepare_cached(rows::FIND_BY_CARD)?;
            let mut rs = stmt.query(params![
                q.insurer_number,
                q.number_norm,
                q.symbol_norm,
                q.birthdate.to_wire(),
                i64::from(q.branch.is_some()),
                q.branch.map(i64::from).unwrap_or(-1)
            ])?;
            while let Some(r) = rs.next()? {
                found.push(rows::qualification_record(r)?);
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for (mut rec, has_specific) in found {
            if has_specific {
                let mut stmt = conn.prepare_cached(rows::SPECIFIC_FOR)?;
                let mut rs = stmt.query([rec.qualification.id])?;
                while let Some(r) = rs.next()? {
                    rec.specific_diseases.push(rows::specific_disease(r)?);
                }
            }
            out.push(rec);
        }
        Ok(out)
    }

    pub(crate) async fn submit(&self, op: WriteOp) -> Result<bool> {
        self.inner.writer.submit(op).await
    }

    pub(crate) fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rs = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rs.next()? {
            out.push(map(r)?);
        }
        Ok(out)
    }

    pub(crate) fn execute_admin(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        Ok(self.admin().execute(sql, params)?)
    }

    pub(crate) fn insert_cards(&self, cards: &[CardRecord]) -> Result<()> {
        let mut conn = self.admin();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(rows::INSERT_CARD)?;
            for c in cards {
                stmt.execute(params![
                    c.serial,
                    c.person_id,
                    c.profile,
                    c.not_after.to_wire(),
                    c.issued_at.unix_micros(),
                    c.revoked_at.map(JstDateTime::unix_micros),
                    c.registered_at.map(JstDateTime::unix_micros)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn card(&self, serial: &str) -> Result<Option<CardRecord>> {
        Ok(self
            .query_all(rows::CARD_BY_SERIAL, [serial], |r| rows::card(r))?
            .pop())
    }

    pub(crate) fn cards_of_person(&self, person_id: i64) -> Result<Vec<CardRecord>> {
        self.query_all(rows::CARDS_OF_PERSON, [person_id], |r| rows::card(r))
    }

    pub(crate) fn list_cards(&self, limit: i64) -> Result<Vec<CardRecord>> {
        self.query_all(rows::LIST_CARDS, [limit], |r| rows::card(r))
    }

    pub(crate) fn revoked_cards(&self) -> Result<Vec<String>> {
        self.query_all(rows::REVOKED_CARDS, [], |r| Ok(r.get::<_, String>(0)?))
    }

    pub(crate) fn register_card(&self, serial: &str, at: JstDateTime) -> Result<bool> {
        Ok(self.execute_admin(rows::REGISTER_CARD, params![at.unix_micros(), serial])? > 0)
    }

    pub(crate) fn record_consent(&self, c: &ConsentRecord) -> Result<bool> {
        let n = self.execute_admin(
            rows::INSERT_CONSENT,
            params![
                c.check_request_id,
                c.facility_code,
                c.person_id,
                c.consented_at.unix_micros(),
                c.available_until.unix_micros(),
                rows::consent_information(c)
            ],
        )?;
        Ok(n == 1)
    }

    pub(crate) fn valid_consents(
        &self,
        facility: &MedicalInstitutionCode,
        person_id: i64,
        at: JstDateTime,
    ) -> Result<Vec<ConsentRecord>> {
        self.query_all(
            rows::VALID_CONSENTS,
            params![facility.as_str(), person_id, at.unix_micros()],
            |r| {
                Ok(rows::consent(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
    }

    pub(crate) fn revoke_card(&self, serial: &str, at: JstDateTime) -> Result<bool> {
        Ok(self.execute_admin(rows::REVOKE_CARD, params![at.unix_micros(), serial])? > 0)
    }

    pub(crate) fn set_smartphone_enabled(
        &self,
        code: &MedicalInstitutionCode,
        enabled: bool,
    ) -> Result<bool> {
        let n = self.execute_admin(
            rows::SET_SMARTPHONE_ENABLED,
            params![i64::from(enabled), code.as_str()],
        )?;
        Ok(n > 0)
    }

    pub(crate) fn person(&self, id: i64) -> Result<Option<Person>> {
        Ok(self
            .query_all(rows::PERSON, [id], |r| rows::person(r))?
            .pop())
    }

    pub(crate) fn find_by_person(&self, person_id: i64) -> Result<Vec<QualificationRecord>> {
        let found = self.query_all(rows::FIND_BY_PERSON, [person_id], |r| {
            rows::qualification_record(r)
        })?;
        let mut out = Vec::with_capacity(found.len());
        for (mut rec, has_specific) in found {
            if has_specific {
                rec.specific_diseases =
                    self.query_all(rows::SPECIFIC_FOR, [rec.qualification.id], |r| {
                        rows::specific_disease(r)
                    })?;
            }
            out.push(rec);
        }
        Ok(out)
    }

    pub(crate) fn used_physical_card_at(&self, person_id: i64, facility: &str) -> Result<bool> {
        let n = self.query_all(
            rows::USED_PHYSICAL_CARD_AT,
            params![person_id, facility],
            |r| Ok(r.get::<_, i64>(0)?),
        )?;
        Ok(n.first().copied().unwrap_or(0) > 0)
    }

    pub(crate) fn secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>> {
        self.execute_admin(rows::INSERT_SECRET, params![name, fresh])?;
        let v = self.query_all(rows::SECRET, [name], |r| Ok(r.get::<_, Vec<u8>>(0)?))?;
        v.into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("secret vanished".into()))
    }

    pub(crate) fn verifications(
        &self,
        facility: &MedicalInstitutionCode,
        from: JstDateTime,
        to: JstDateTime,
        limit: i64,
    ) -> Result<Vec<VerificationRecord>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(rows::VERIFICATIONS)?;
        let mut rs = stmt.query(params![
            facility.as_str(),
            from.unix_micros(),
            to.unix_micros(),
            limit
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rs.next()? {
            out.push(rows::verification(r)?);
        }
        Ok(out)
    }

    pub(crate) fn find_by_cards(
        &self,
        queries: &[CardQuery],
    ) -> Result<Vec<Vec<QualificationRecord>>> {
        let keys = rows::card_queries_json(queries);
        let mut out: Vec<Vec<QualificationRecord>> = vec![Vec::new(); queries.len()];
        let mut with_specific = Vec::new();
        let conn = self.reader();
        {
            let mut stmt = conn.prepare_cached(rows::FIND_BY_CARDS_SQLITE)?;
            let mut rs = stmt.query([keys])?;
            while let Some(r) = rs.next()? {
                let i = r.get::<_, i64>(rows::FIND_BY_CARDS_KEY_COLUMN)?;
                let (rec, has_specific) = rows::qualification_record(r)?;
                let slot = usize::try_from(i)
                    .ok()
                    .and_then(|i| out.get_mut(i))
                    .ok_or_else(|| StoreError::Corrupt(format!("bulk lookup key {i}")))?;
                if has_specific {
                    with_specific.push(rec.qualification.id);
                }
                slot.push(rec);
            }
        }
        if !with_specific.is_empty() {
            let mut by_qualification: HashMap<i64, Vec<_>> = HashMap::new();
            let mut stmt = conn.prepare_cached(rows::SPECIFIC_FOR_MANY_SQLITE)?;
            let mut rs = stmt.query([rows::ids_json(&with_specific)])?;
            while let Some(r) = rs.next()? {
                let d = rows::specific_disease(r)?;
                by_qualification
                    .entry(d.qualification_id)
                    .or_default()
                    .push(d);
            }
            for rec in out.iter_mut().flatten() {
                if let Some(d) = by_qualification.get(&rec.qualification.id) {
                    rec.specific_diseases = d.clone();
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn holders(&self, q: &HolderQuery) -> Result<Vec<Holder>> {
        self.query_all(
            rows::HOLDERS,
            params![
                q.insurer_number,
                q.number_norm,
                q.symbol_norm,
                i64::from(q.branch.is_some()),
                q.branch.map(i64::from).unwrap_or(-1)
            ],
            |r| rows::holder(r),
        )
    }

    pub(crate) fn register_reference_number(
        &self,
        facility: &str,
        person_id: i64,
        reference_number: &str,
        at: JstDateTime,
    ) -> Result<()> {
        self.execute_admin(
            rows::UPSERT_REFERENCE_NUMBER,
            params![facility, person_id, reference_number, at.unix_micros()],
        )?;
        Ok(())
    }

    pub(crate) fn facility_uses_reference_numbers(&self, facility: &str) -> Result<bool> {
        Ok(self
            .query_all(
                rows::FACILITY_USES_REFERENCE_NUMBERS,
                params![facility],
                |r| Ok(r.get::<_, i64>(0)? != 0),
            )?
            .pop()
            .unwrap_or(false))
    }

    pub(crate) fn reference_number(
        &self,
        facility: &str,
        person_id: i64,
    ) -> Result<Option<String>> {
        Ok(self
            .query_all(rows::REFERENCE_NUMBER, params![facility, person_id], |r| {
                Ok(r.get::<_, String>(0)?)
            })?
            .pop())
    }

    pub(crate) fn reference_numbers(
        &self,
        facility: &str,
        person_ids: &[i64],
    ) -> Result<HashMap<i64, String>> {
        let found = self.query_all(
            rows::REFERENCE_NUMBERS_SQLITE,
            params![facility, rows::ids_json(person_ids)],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        Ok(found.into_iter().collect())
    }

    pub(crate) fn create_bulk_job(&self, j: &BulkJob, request: &[u8]) -> Result<()> {
        self.execute_admin(
            rows::INSERT_BULK_JOB,
            params![
                j.reception_number,
                j.facility_code,
                j.received_at.unix_micros(),
                j.confirmation_date,
                j.arbitrary_file_identifier,
                j.state.code(),
                j.total,
                j.normal,
                j.errors,
                j.error_code,
                j.finished_at.map(JstDateTime::unix_micros),
                request
            ],
        )?;
        Ok(())
    }

    pub(crate) fn bulk_job(&self, reception_number: &str) -> Result<Option<BulkJob>> {
        Ok(self
            .query_all(rows::BULK_JOB, [reception_number], |r| rows::bulk_job(r))?
            .pop())
    }

    pub(crate) fn bulk_request(&self, reception_number: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .query_all(rows::BULK_REQUEST, [reception_number], |r| {
                Ok(r.get::<_, Vec<u8>>(0)?)
            })?
            .pop())
    }

    pub(crate) fn unfinished_bulk_jobs(&self) -> Result<Vec<String>> {
        self.query_all(rows::UNFINISHED_BULK_JOBS, [], |r| {
            Ok(r.get::<_, String>(0)?)
        })
    }

    pub(crate) fn bulk_units_done(&self, reception_number: &str) -> Result<i64> {
        Ok(self
            .reader()
            .query_row(rows::BULK_UNITS_DONE, [reception_number], |r| r.get(0))?)
    }

    pub(crate) fn bulk_units(&self, reception_number: &str) -> Result<Vec<Vec<u8>>> {
        self.query_all(rows::BULK_UNITS, [reception_number], |r| {
            Ok(r.get::<_, Vec<u8>>(0)?)
        })
    }

    pub(crate) fn write_bulk_chunk(&self, c: &BulkChunk) -> Result<()> {
        let mut conn = self.admin();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(rows::INSERT_BULK_UNIT)?;
            for (n, unit) in c.units.iter().enumerate() {
                let seq = c.first_seq + n as i64;
                stmt.execute(params![c.reception_number, seq, unit])?;
            }
            let mut stmt = tx.prepare_cached(rows::INSERT_VERIFICATION)?;
            for r in &c.records {
                insert_verification(&mut stmt, r)?;
            }
            let advanced = tx.prepare_cached(rows::ADVANCE_BULK_JOB)?.execute(params![
                c.normal,
                c.errors,
                i64::from(c.finished_at.is_some()),
                c.finished_at.map(JstDateTime::unix_micros),
                c.reception_number
            ])?;
            if advanced != 1 {
                return Err(StoreError::Corrupt(format!(
                    "bulk job {} is not processing",
                    c.reception_number
                )));
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn fail_bulk_job(
        &self,
        reception_number: &str,
        error_code: &str,
        at: JstDateTime,
    ) -> Result<()> {
        self.execute_admin(
            rows::FAIL_BULK_JOB,
            params![error_code, at.unix_micros(), reception_number],
        )?;
        Ok(())
    }

    pub(crate) fn count(&self, table: CountedTable) -> Result<i64> {
        Ok(self.reader().query_row(table.sql(), [], |r| r.get(0))?)
    }

    pub(crate) fn sample_card_keys(&self, n: i64) -> Result<Vec<CardKey>> {
        let total = self.count(CountedTable::Qualification)?;
        let step = (total / n.max(1)).max(1);
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(rows::SAMPLE_CARD_KEYS)?;
        let mut rs = stmt.query(params![step, n])?;
        let mut out = Vec::new();
        while let Some(r) = rs.next()? {
            out.push(rows::card_key(r)?);
        }
        Ok(out)
    }
}

impl SqliteStore {
    pub(crate) fn insurer_batch<R>(
        &self,
        reads: &crate::insurer::InsurerReads,
        plan: impl FnOnce(crate::insurer::InsurerSnapshot) -> (crate::insurer::InsurerWrites, R),
    ) -> Result<R> {
        let mut conn = self.admin();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = {
            let mut e = SqliteExec { conn: &tx };
            ready(crate::insurer::run(&mut e, reads, plan))?
        };
        tx.commit()?;
        Ok(out)
    }

    pub(crate) fn pending_by_card(
        &self,
        q: &CardQuery,
    ) -> Result<Option<crate::insurer::PendingInfo>> {
        let conn = self.reader();
        ready(crate::insurer::pending_by_card(
            &mut SqliteExec { conn: &conn },
            q,
        ))
    }

    pub(crate) fn pending_by_person(
        &self,
        person_id: i64,
    ) -> Result<Option<crate::insurer::PendingInfo>> {
        let conn = self.reader();
        ready(crate::insurer::pending_by_person(
            &mut SqliteExec { conn: &conn },
            person_id,
        ))
    }

    pub(crate) fn suspended(&self, insurer: Option<&str>) -> Result<Vec<crate::insurer::Hold>> {
        let conn = self.reader();
        ready(crate::insurer::suspended(
            &mut SqliteExec { conn: &conn },
            insurer,
        ))
    }

    pub(crate) fn notices(
        &self,
        after_id: i64,
        insurer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::insurer::NoticeRow>> {
        let conn = self.reader();
        ready(crate::insurer::notices(
            &mut SqliteExec { conn: &conn },
            after_id,
            insurer,
            limit,
        ))
    }

    pub(crate) fn notices_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<crate::insurer::NoticeRow>> {
        let conn = self.reader();
        ready(crate::insurer::notices_of_person(
            &mut SqliteExec { conn: &conn },
            person_id,
        ))
    }
}

/// SQLite statements never wait: their futures complete on the first poll.
fn ready<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    use futures_util::FutureExt;
    f.now_or_never().unwrap_or_else(|| {
        Err(StoreError::Corrupt(
            "an SQLite statement did not complete".into(),
        ))
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves it usable (rusqlite rolls back on drop).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Group commit without a writer thread: the first caller that finds no commit in
/// progress becomes the leader and commits everything queued (its own row included),
/// again and again until the queue is empty; the others only wait for their reply. A
/// check never waits for a thread to wake up, and a burst shares one commit.
///
/// Checkpoints of the history WAL run on a background thread, so a leader never pays
/// for one (the write connection has auto-checkpointing off).
struct HistoryWriter {
    queue: Mutex<Queue>,
    conn: Mutex<Connection>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<WriteJob>,
    committing: bool,
}

impl HistoryWriter {
    fn open(path: &Path) -> Result<Self> {
        let conn = connect(path)?;
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        Ok(HistoryWriter {
            queue: Mutex::new(Queue::default()),
            conn: Mutex::new(conn),
        })
    }

    async fn submit(&self, op: WriteOp) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut q = lock(&self.queue);
            q.jobs.push((op, tx));
            !std::mem::replace(&mut q.committing, true)
        };
        if lead {
            // Let the requests already read on this thread queue their rows first, so
            // that one commit carries them all.
            tokio::task::yield_now().await;
            loop {
                let group = {
                    let mut q = lock(&self.queue);
                    if q.jobs.is_empty() {
                        q.committing = false;
                        break;
                    }
                    std::mem::take(&mut q.jobs)
                };
                let result = write_group(&mut lock(&self.conn), &group);
                for (i, (_, reply)) in group.into_iter().enumerate() {
                    let r = match &result {
                        Ok(outcomes) => Ok(outcomes.get(i).copied().unwrap_or(false)),
                        Err(e) => Err(StoreError::Corrupt(format!("history not recorded: {e}"))),
                    };
                    let _ = reply.send(r);
                }
            }
        }
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Keeps the history WAL short without stalling the writers. Ten times a second a
/// PASSIVE checkpoint copies (and syncs) what it can while commits go on; every two
/// seconds a RESTART lets the log start again from the top. A passive checkpoint alone
/// never catches up under a steady stream of commits, so the WAL would grow without
/// bound; a RESTART alone holds commits back for a whole copy and sync (tens of
/// milliseconds here), but after the passive passes it has almost nothing left to do.
///
/// The main file is written rarely (registrations, settings), but while its WAL holds any
/// frames, even checkpointed ones, every page a check reads is first looked up in the
/// WAL's hash (`walFindFrame`: about 2.5% of central's CPU after the migrations of a
/// start). So it is truncated at start and, when it holds frames, every 5 seconds.
///
/// Only when it holds frames: a TRUNCATE checkpoint restarts the WAL header (new salt)
/// even when the WAL is already empty, and every reader that then begins a transaction
/// sees a changed WAL, drops its page cache and unmaps the whole memory-mapped database
/// (`sqlite3PagerSharedLock` → `munmap`), then faults its pages back in one by one. Done
/// unconditionally every 5 s this cost about a tenth of a check's CPU.
fn spawn_checkpointer(path: PathBuf, stop: Arc<AtomicBool>) -> Result<()> {
    let conn = connect(&path)?;
    let audit_wal = {
        let mut p = audit_path(&path).into_os_string();
        p.push("-wal");
        PathBuf::from(p)
    };
    let wal = {
        let mut p = path.clone().into_os_string();
        p.push("-wal");
        PathBuf::from(p)
    };
    let truncate_main = move |conn: &Connection| {
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() == 0) {
            return;
        }
        if let Err(e) = conn.execute_batch("PRAGMA main.wal_checkpoint(TRUNCATE);") {
            tracing::debug!(error = %e, "main checkpoint skipped");
        }
    };
    truncate_main(&conn);
    std::thread::Builder::new()
        .name("onshi-sqlite-checkpoint".into())
        .spawn(move || {
            let mut tick = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if tick.is_multiple_of(50) {
                    truncate_main(&conn);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                tick += 1;
                let mode = if tick.is_multiple_of(20) {
                    "RESTART"
                } else {
                    "PASSIVE"
                };
                let started = std::time::Instant::now();
                if let Err(e) =
                    conn.execute_batch(&format!("PRAGMA history.wal_checkpoint({mode});"))
                {
                    tracing::warn!(error = %e, "history checkpoint failed");
                }
                slow_checkpoint("history", mode, started);
                // The audit WAL: passive (never in the audit writer's way); the writer's
                // next transaction starts the log again once everything is copied. Only a
                // WAL that still grows past the bound is restarted.
                let long = std::fs::metadata(&audit_wal)
                    .map(|m| m.len() > AUDIT_WAL_RESTART_BYTES)
                    .unwrap_or(false);
                let mode = if long { "RESTART" } else { "PASSIVE" };
                let started = std::time::Instant::now();
                if let Err(e) = conn.execute_batch(&format!("PRAGMA audit.wal_checkpoint({mode});"))
                {
                    tracing::warn!(error = %e, "audit checkpoint failed");
                }
                slow_checkpoint("audit", mode, started);
            }
        })
        .map_err(|e| StoreError::Join(e.to_string()))?;
    Ok(())
}

/// A checkpoint that took long enough to be felt: a RESTART holds the file's writers back
/// while it copies, syncs and waits for old readers, so every answer waiting for its
/// history row waits with it.
fn slow_checkpoint(file: &str, mode: &str, started: std::time::Instant) {
    let ms = started.elapsed().as_millis();
    if ms >= 50 {
        tracing::warn!(file, mode, ms, "slow SQLite checkpoint");
    }
}

fn write_group(conn: &mut Connection, group: &[WriteJob]) -> Result<Vec<bool>> {
    let tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut stmt = tx.prepare_cached(rows::INSERT_VERIFICATION)?;
        let mut nonce_stmt = tx.prepare_cached(rows::INSERT_USED_NONCE)?;
        for (op, _) in group {
            let (r, outcome) = match op {
                WriteOp::Verification(r) => (r, true),
                WriteOp::CardCheck {
                    nonce,
                    record,
                    replay,
                } => {
                    let fresh = nonce_stmt.execute(params![
                        nonce.nonce,
                        nonce.facility_code,
                        nonce.expires_at.unix_micros(),
                        nonce.used_at.unix_micros()
                    ])? == 1;
                    if fresh {
                        if let Some((person, facility, at)) = rows::physical_card_use(record) {
                            tx.prepare_cached(rows::INSERT_CARD_USE)?
                                .execute(params![person, facility, at])?;
                        }
                        (&**record, true)
                    } else {
                        (&**replay, false)
                    }
                }
            };
            outcomes.push(outcome);
            insert_verification(&mut stmt, r)?;
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

fn insert_verification(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &VerificationRecord,
) -> Result<()> {
    stmt.execute(params![
        r.request_id,
        r.facility_code,
        r.checked_at.unix_micros(),
        r.confirmation_date,
        r.reference_classification,
        r.insurer_number,
        r.symbol,
        r.number,
        r.branch,
        r.birthdate,
        r.arbitrary_file_identifier,
        r.processing_status,
        r.error_code,
        r.validity.map(|v| v.code()),
        r.person_id,
        r.qualification_id,
        r.identity_method,
        r.card_serial,
        r.card_profile,
        r.consents
    ])?;
    Ok(())
}
