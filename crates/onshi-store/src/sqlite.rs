//! The embedded SQLite backend.
//!
//! Reads run on a small pool of connections, in place on the calling task: a point lookup
//! over a warm page cache takes microseconds, less than handing it to another thread would.
//! One writer thread owns the write connection and commits history rows in groups (WAL
//! with `synchronous=NORMAL`: a committed row survives a crash of the process; see the
//! README for the power-loss trade-off).

use crate::rows::{self, QualificationValues};
use crate::{
    CardKey, CardQuery, CountedTable, PopulationSlice, QualificationRecord, Result, StoreError,
    VerificationRecord,
};
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::model::{Facility, Insurer};
use rusqlite::{Connection, params};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use tokio::sync::oneshot;

const READERS: usize = 4;
const MAX_GROUP: usize = 1024;

type WriteJob = (VerificationRecord, oneshot::Sender<Result<()>>);

#[derive(Clone)]
pub(crate) struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    admin: Mutex<Connection>,
    writer: mpsc::Sender<WriteJob>,
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 10000;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -65536;
         PRAGMA mmap_size = 1073741824;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(crate::migrate::CREATE_TABLE)?;
    for (name, sql) in crate::migrate::SQLITE {
        let tx = conn.transaction()?;
        let done: i64 = tx.query_row(
            "SELECT COUNT(*) FROM schema_migrations WHERE name = $1",
            [name],
            |r| r.get(0),
        )?;
        if done == 0 {
            tx.execute_batch(sql).map_err(|e| StoreError::Migration {
                name: (*name).to_string(),
                reason: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                params![name, crate::migrate::now_micros()],
            )?;
        }
        tx.commit()?;
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
        let readers = (0..READERS)
            .map(|_| connect(path).map(Mutex::new))
            .collect::<Result<_>>()?;
        let writer = spawn_writer(path.to_path_buf())?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                readers,
                next: AtomicUsize::new(0),
                admin: Mutex::new(admin),
                writer,
            }),
        })
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.inner.readers.len();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(guard) = self.inner.readers[(start + i) % n].try_lock() {
                return guard;
            }
        }
        lock(&self.inner.readers[start % n])
    }

    fn admin(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.admin)
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
                stmt.execute(params![f.code.as_str(), f.name, i64::from(f.enabled)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn load_population(&self, s: PopulationSlice<'_>) -> Result<()> {
        let with_specific: HashSet<i64> = s
            .specific_diseases
            .iter()
            .map(|d| d.qualification_id)
            .collect();
        let mut conn = self.admin();
        let tx = conn.transaction()?;
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
            for e in s.elderly {
                stmt.execute(params![
                    e.qualification_id,
                    e.certificate_date.to_wire(),
                    e.valid_start.to_wire(),
                    e.valid_end.to_wire(),
                    i64::from(e.contribution_ratio)
                ])?;
            }
            let mut stmt = tx.prepare_cached(rows::INSERT_LIMIT)?;
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
        tx.commit()?;
        Ok(())
    }

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

    pub(crate) async fn record_verification(&self, rec: VerificationRecord) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer
            .send((rec, tx))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves it usable (rusqlite rolls back on drop).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spawn_writer(path: PathBuf) -> Result<mpsc::Sender<WriteJob>> {
    let mut conn = connect(&path)?;
    let (tx, rx) = mpsc::channel::<WriteJob>();
    std::thread::Builder::new()
        .name("onshi-sqlite-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                let result = write_group(&mut conn, &group);
                for (_, reply) in group {
                    let r = match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(StoreError::Corrupt(format!("history not recorded: {e}"))),
                    };
                    let _ = reply.send(r);
                }
            }
        })
        .map_err(|e| StoreError::Join(e.to_string()))?;
    Ok(tx)
}

fn write_group(conn: &mut Connection, group: &[WriteJob]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(rows::INSERT_VERIFICATION)?;
        for (r, _) in group {
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
                r.qualification_id
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
