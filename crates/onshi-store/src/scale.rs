//! National scale (issue 7): resumable bulk loads, monthly partitions of the verification
//! history and the audit trail (PostgreSQL), and retention on both backends.
//!
//! **Resumable loads.** A population is generated deterministically from its seed and
//! loaded in numbered chunks; each chunk's rows and its `load_chunk` row are committed in
//! one transaction ([`Store::load_chunk`] refuses a chunk already recorded), so a run that
//! is killed and started again skips what is committed and loads the rest exactly once.
//! On PostgreSQL the secondary indexes of the bulk tables can be dropped for the load
//! ([`Store::defer_load_indexes`]; their definitions are kept in `load_deferred_index`, so
//! a resumed run still re-creates them) and are built once at the end
//! ([`Store::finish_load`]).
//!
//! **Partitions.** `verification` and `audit_log` are partitioned by JST month on
//! PostgreSQL (migration 0008). [`Store::ensure_partitions`] makes the partitions of the
//! current month and the months ahead, and those of any month whose rows sit in the
//! default partition. SQLite keeps one table each.
//!
//! **Retention.** [`Store::retention`] removes the months before `now − keep`: detached (or
//! dropped) partitions on PostgreSQL, `DELETE` on SQLite. Before removing audit rows it
//! verifies the whole chain, and it records the last removed row (seq and hash) in
//! `audit_checkpoint` in the same transaction: `onshi audit verify` continues the chain
//! from there, so the rows kept still verify, and the removed months verify on their own
//! (a detached partition ends at the checkpoint's hash).

use crate::medical::MedicalSlice;
use crate::{Backend, CardRecord, PopulationSlice, Result, Store, StoreError, VerificationRecord};
use crate::{blocking, medical, pg, rows, sqlite};
use onshi_core::date::{JstDateTime, Ymd};
use rusqlite::{OptionalExtension, params};

/// The parameters of a bulk load, kept so that a resumed run can refuse other ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRun {
    pub seed: i64,
    pub people: i64,
    /// Free text describing the other options (medical, cards, history).
    pub options: String,
    pub finished: bool,
}

/// One chunk of a bulk load: everything committed together with its `load_chunk` row.
#[derive(Debug, Clone, Copy)]
pub struct LoadChunk<'a> {
    pub chunk: i64,
    pub population: PopulationSlice<'a>,
    pub medical: MedicalSlice<'a>,
    pub cards: &'a [CardRecord],
    /// History rows with their ids (fixed, so the rows are the same in every run).
    pub history: &'a [(i64, VerificationRecord)],
}

impl LoadChunk<'_> {
    /// Rows this chunk writes (all tables).
    pub fn rows(&self) -> i64 {
        let p = &self.population;
        let m = &self.medical;
        (p.persons.len()
            + p.qualifications.len()
            + p.elderly.len()
            + p.limit_certificates.len()
            + p.specific_diseases.len()
            + m.claims.len()
            + m.drugs.len()
            + m.procedures.len()
            + m.diagnoses.len()
            + m.checkups.len()
            + m.checkup_values.len()
            + self.cards.len()
            + self.history.len()) as i64
    }
}

/// What [`Store::retention`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Rows before this instant (the start of a JST month) were removed.
    pub cutoff: i64,
    /// PostgreSQL: the partitions detached (and dropped when asked).
    pub partitions: Vec<String>,
    pub verification_rows: i64,
    pub audit_rows: i64,
    /// The last removed audit row, where the chain now starts.
    pub checkpoint: Option<(i64, String)>,
}

/// Tables whose secondary indexes a PostgreSQL bulk load builds at the end.
const BULK_TABLES: &[&str] = &[
    "person",
    "qualification",
    "card_certificate",
    "specific_disease",
    "claim",
    "claim_drug",
    "claim_procedure",
    "claim_diagnosis",
    "checkup",
    "checkup_value",
];

/// The partitioned tables and their partition keys (PostgreSQL).
const PARTITIONED: &[(&str, &str)] = &[("verification", "checked_at"), ("audit_log", "at")];

/// The first instant of the JST month `months` after the month of `at` (negative: before).
pub fn month_start(at: JstDateTime, months: i32) -> JstDateTime {
    JstDateTime::start_of_day(at.date().first_day_of_month().add_months(months))
}

fn now_micros() -> i64 {
    crate::migrate::now_micros()
}

const INSERT_HISTORY_WITH_ID: &str = "INSERT OR IGNORE INTO verification (id, request_id, facility_code, checked_at, confirmation_date, \
     reference_classification, insurer_number, symbol, number, branch, birthdate, arbitrary_file_identifier, \
     processing_status, error_code, validity, person_id, qualification_id, identity_method, card_serial, card_profile, consents) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";

impl Store {
    /// The bulk load recorded in this database, if any.
    pub async fn load_run(&self) -> Result<Option<LoadRun>> {
        const SQL: &str = "SELECT seed, people, options, finished_at FROM load_run WHERE id = 1";
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || {
                    let conn = s.reader();
                    Ok(conn
                        .query_row(SQL, [], |r| {
                            Ok(LoadRun {
                                seed: r.get(0)?,
                                people: r.get(1)?,
                                options: r.get(2)?,
                                finished: r.get::<_, Option<i64>>(3)?.is_some(),
                            })
                        })
                        .optional()?)
                })
                .await
            }
            Backend::Postgres(p) => {
                let client = p.client().await?;
                let row = client.query_opt(SQL, &[]).await?;
                row.map(|r| -> Result<LoadRun> {
                    Ok(LoadRun {
                        seed: r.try_get(0)?,
                        people: r.try_get(1)?,
                        options: r.try_get(2)?,
                        finished: r.try_get::<_, Option<i64>>(3)?.is_some(),
                    })
                })
                .transpose()
            }
        }
    }

    /// Records the start of a bulk load (once per database).
    pub async fn begin_load_run(&self, run: &LoadRun) -> Result<()> {
        const SQL: &str = "INSERT INTO load_run (id, seed, people, options, started_at) VALUES (1, $1, $2, $3, $4)";
        let (seed, people, options, at) = (run.seed, run.people, run.options.clone(), now_micros());
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || {
                    s.admin().execute(SQL, params![seed, people, options, at])?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(p) => {
                p.client()
                    .await?
                    .execute(SQL, &[&seed, &people, &options, &at])
                    .await?;
                Ok(())
            }
        }
    }

    /// The chunks committed so far, ascending.
    pub async fn loaded_chunks(&self) -> Result<Vec<i64>> {
        const SQL: &str = "SELECT chunk FROM load_chunk ORDER BY chunk";
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || {
                    let conn = s.reader();
                    let mut stmt = conn.prepare(SQL)?;
                    let v = stmt
                        .query_map([], |r| r.get::<_, i64>(0))?
                        .collect::<rusqlite::Result<Vec<i64>>>()?;
                    Ok(v)
                })
                .await
            }
            Backend::Postgres(p) => {
                let rs = p.client().await?.query(SQL, &[]).await?;
                rs.iter()
                    .map(|r| r.try_get::<_, i64>(0).map_err(Into::into))
                    .collect()
            }
        }
    }

    /// Commits one chunk with its `load_chunk` row; false (and nothing written) when the
    /// chunk was committed before.
    pub async fn load_chunk(&self, c: LoadChunk<'_>) -> Result<bool> {
        let (chunk, persons, rows_n, at) = (
            c.chunk,
            c.population.persons.len() as i64,
            c.rows(),
            now_micros(),
        );
        match &self.backend {
            Backend::Sqlite(s) => {
                // The slices borrow the caller's data; as in `load_population`, a loader
                // blocks this task for one chunk's transaction.
                sqlite_load_chunk(s, &c, [chunk, persons, rows_n, at])
            }
            Backend::Postgres(p) => {
                let mut client = p.client().await?;
                let tx = client.transaction().await?;
                // A chunk lost in a crash is loaded again by the resumed run (its
                // load_chunk row is lost with it): no need to wait for the WAL flush.
                tx.batch_execute("SET LOCAL synchronous_commit = off")
                    .await?;
                if tx
                    .execute(LOAD_CHUNK_MARK, &[&chunk, &persons, &rows_n, &at])
                    .await?
                    == 0
                {
                    return Ok(false);
                }
                pg::copy_population(&tx, c.population).await?;
                medical::copy_medical(&tx, &c.medical).await?;
                let mut buf = pg::CopyBuf::default();
                for k in c.cards {
                    buf.text(&k.serial)
                        .int(k.person_id)
                        .text(&k.profile)
                        .text(&k.not_after.to_wire())
                        .int(k.issued_at.unix_micros())
                        .opt_int(k.revoked_at.map(JstDateTime::unix_micros))
                        .raw(
                            k.registered_at
                                .map(|t| t.unix_micros().to_string())
                                .as_deref(),
                            true,
                        );
                }
                pg::copy(
                    &tx,
                    "COPY card_certificate (serial, person_id, profile, not_after, issued_at, revoked_at, registered_at) FROM STDIN",
                    buf,
                )
                .await?;
                let mut buf = pg::CopyBuf::default();
                for (id, r) in c.history {
                    buf.int(*id)
                        .text(&r.request_id)
                        .text(&r.facility_code)
                        .int(r.checked_at.unix_micros())
                        .opt_text(r.confirmation_date.as_deref())
                        .text(&r.reference_classification)
                        .opt_text(r.insurer_number.as_deref())
                        .opt_text(r.symbol.as_deref())
                        .opt_text(r.number.as_deref())
                        .opt_text(r.branch.as_deref())
                        .opt_text(r.birthdate.as_deref())
                        .opt_text(r.arbitrary_file_identifier.as_deref())
                        .text(&r.processing_status)
                        .opt_text(r.error_code.as_deref())
                        .opt_text(r.validity.map(|v| v.code()))
                        .opt_int(r.person_id)
                        .opt_int(r.qualification_id)
                        .opt_text(r.identity_method.as_deref())
                        .opt_text(r.card_serial.as_deref())
                        .opt_text(r.card_profile.as_deref())
                        .last_text(r.consents.as_deref());
                }
                pg::copy(
                    &tx,
                    "COPY verification (id, request_id, facility_code, checked_at, confirmation_date, \
                     reference_classification, insurer_number, symbol, number, branch, birthdate, \
                     arbitrary_file_identifier, processing_status, error_code, validity, person_id, \
                     qualification_id, identity_method, card_serial, card_profile, consents) FROM STDIN",
                    buf,
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    }

    /// PostgreSQL: drops the secondary indexes of the bulk tables (primary keys stay, for
    /// the foreign keys), keeping their definitions for [`Store::finish_load`]. Returns
    /// their names. SQLite: nothing (its loads are fastest with the indexes in place).
    pub async fn defer_load_indexes(&self) -> Result<Vec<String>> {
        let Backend::Postgres(p) = &self.backend else {
            return Ok(Vec::new());
        };
        let tables: Vec<String> = BULK_TABLES.iter().map(|t| t.to_string()).collect();
        let mut client = p.client().await?;
        let tx = client.transaction().await?;
        let rs = tx
            .query(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i \
                 WHERE i.schemaname = 'public' AND i.tablename = ANY($1) \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
                 ORDER BY i.indexname",
                &[&tables],
            )
            .await?;
        let mut names = Vec::new();
        for r in &rs {
            let name: String = r.try_get(0)?;
            let def: String = r.try_get(1)?;
            tx.execute(
                "INSERT INTO load_deferred_index (name, definition) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &def],
            )
            .await?;
            tx.batch_execute(&format!("DROP INDEX \"{}\"", name.replace('"', "")))
                .await?;
            names.push(name);
        }
        tx.commit().await?;
        Ok(names)
    }

    /// Ends a bulk load: re-creates deferred indexes (PostgreSQL, returning each with the
    /// seconds it took), moves the history's id sequence past the loaded ids, refreshes the
    /// planner's statistics and marks the run finished.
    pub async fn finish_load(&self) -> Result<Vec<(String, f64)>> {
        const DONE: &str = "UPDATE load_run SET finished_at = $1 WHERE id = 1";
        let at = now_micros();
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || {
                    let conn = s.admin();
                    conn.execute_batch("ANALYZE main; PRAGMA optimize;")?;
                    crate::sqlite::forget_stat4_samples(&conn)?;
                    conn.execute(DONE, [at])?;
                    Ok(Vec::new())
                })
                .await
            }
            Backend::Postgres(p) => {
                let client = p.client().await?;
                client
                    .batch_execute("SET maintenance_work_mem = '1GB'")
                    .await?;
                let rs = client
                    .query(
                        "SELECT name, definition FROM load_deferred_index ORDER BY name",
                        &[],
                    )
                    .await?;
                let mut built = Vec::new();
                for r in &rs {
                    let name: String = r.try_get(0)?;
                    let def: String = r.try_get(1)?;
                    let started = std::time::Instant::now();
                    // Idempotent if a previous finish was cut short after this index.
                    let def = def.replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1);
                    let def = def.replacen(
                        "CREATE UNIQUE INDEX ",
                        "CREATE UNIQUE INDEX IF NOT EXISTS ",
                        1,
                    );
                    client.batch_execute(&def).await?;
                    client
                        .execute("DELETE FROM load_deferred_index WHERE name = $1", &[&name])
                        .await?;
                    built.push((name, started.elapsed().as_secs_f64()));
                }
                client
                    .batch_execute(
                        "RESET maintenance_work_mem; \
                         SELECT setval(pg_get_serial_sequence('verification', 'id'), \
                             COALESCE((SELECT max(id) FROM verification), 0) + 1, false)",
                    )
                    .await?;
                // Statistics for the planner, and the visibility map and hint bits set
                // once now instead of by the first readers (42 s at 10,000,000 people).
                client.batch_execute("VACUUM (ANALYZE)").await?;
                client.execute(DONE, &[&at]).await?;
                Ok(built)
            }
        }
    }

    /// PostgreSQL: makes the monthly partitions of `verification` and `audit_log` for the
    /// month of `at` and `months_ahead` months after it, and for every month that has rows
    /// in a default partition (moving them out). Returns the partitions made. SQLite:
    /// nothing to do.
    pub async fn ensure_partitions(
        &self,
        at: JstDateTime,
        months_ahead: u32,
    ) -> Result<Vec<String>> {
        let Backend::Postgres(p) = &self.backend else {
            return Ok(Vec::new());
        };
        let client = p.client().await?;
        let mut made = Vec::new();
        for (table, col) in PARTITIONED {
            let mut months: Vec<Ymd> = (0..=months_ahead as i32)
                .map(|m| at.date().first_day_of_month().add_months(m))
                .collect();
            let strays = client
                .query(
                    &format!(
                        "SELECT DISTINCT to_char(onshi_month_of({col}), 'YYYYMMDD') FROM {table}_default"
                    ),
                    &[],
                )
                .await?;
            for r in &strays {
                let s: String = r.try_get(0)?;
                months.push(Ymd::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
            for m in months {
                let made_one: bool = client
                    .query_one(
                        "SELECT onshi_ensure_month_partition($1, $2, $3::text::date)",
                        &[table, col, &m.to_iso()],
                    )
                    .await?
                    .try_get(0)?;
                if made_one {
                    made.push(format!("{table}_y{:04}m{:02}", m.year(), m.month()));
                }
            }
        }
        Ok(made)
    }

    /// The partitions of a partitioned table with their bounds, oldest first (PostgreSQL;
    /// `None` bounds for the default partition).
    pub async fn partitions(&self, table: &str) -> Result<Vec<(String, Option<(i64, i64)>)>> {
        let Backend::Postgres(p) = &self.backend else {
            return Ok(Vec::new());
        };
        let client = p.client().await?;
        partitions_of(&client, table).await
    }

    /// Row counts of the tables a bulk load writes (and `load_chunk`), in that order.
    pub async fn table_counts(&self) -> Result<Vec<(&'static str, i64)>> {
        const TABLES: &[&str] = &[
            "person",
            "qualification",
            "elderly_recipient",
            "limit_certificate",
            "specific_disease",
            "card_certificate",
            "verification",
            "claim",
            "claim_drug",
            "claim_procedure",
            "claim_diagnosis",
            "checkup",
            "checkup_value",
            "load_chunk",
        ];
        let mut out = Vec::new();
        for t in TABLES {
            let sql = format!("SELECT count(*) FROM {t}");
            let n = match &self.backend {
                Backend::Sqlite(s) => {
                    let s = s.clone();
                    blocking(move || Ok(s.reader().query_row(&sql, [], |r| r.get::<_, i64>(0))?))
                        .await?
                }
                Backend::Postgres(p) => p.client().await?.query_one(&sql, &[]).await?.try_get(0)?,
            };
            out.push((*t, n));
        }
        Ok(out)
    }

    /// PostgreSQL: rows per partition of `verification` or `audit_log` (partitions with
    /// rows only).
    pub async fn partition_counts(&self, table: &str) -> Result<Vec<(String, i64)>> {
        let Backend::Postgres(p) = &self.backend else {
            return Ok(Vec::new());
        };
        if !PARTITIONED.iter().any(|(t, _)| *t == table) {
            return Err(StoreError::Corrupt(format!("{table} is not partitioned")));
        }
        let rs = p
            .client()
            .await?
            .query(
                &format!(
                    "SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1 ORDER BY 1"
                ),
                &[],
            )
            .await?;
        rs.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The chain checkpoint left by the latest retention run: `(seq, hash)` of the last
    /// removed audit row.
    pub async fn audit_checkpoint(&self) -> Result<Option<(i64, String)>> {
        const SQL: &str = "SELECT seq, hash FROM audit_checkpoint ORDER BY seq DESC LIMIT 1";
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || {
                    Ok(s.reader()
                        .query_row(SQL, [], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?)
                })
                .await
            }
            Backend::Postgres(p) => {
                let client = p.client().await?;
                client
                    .query_opt(SQL, &[])
                    .await?
                    .map(|r| -> Result<(i64, String)> { Ok((r.try_get(0)?, r.try_get(1)?)) })
                    .transpose()
            }
        }
    }

    /// Removes the verification history and audit rows of the months before
    /// `month_start(now, -keep_months)`. PostgreSQL detaches those partitions (and drops
    /// them when `drop`); SQLite deletes the rows. The audit chain is verified first (a
    /// broken chain is refused: removing rows would hide where it broke) and the last
    /// removed row is recorded in `audit_checkpoint` in the same transaction.
    pub async fn retention(
        &self,
        now: JstDateTime,
        keep_months: u32,
        drop: bool,
    ) -> Result<RetentionReport> {
        let cutoff = month_start(now, -(keep_months as i32)).unix_micros();
        let (_, _, problem) = self.verify_audit(None).await?;
        if let Some(p) = problem {
            return Err(StoreError::Corrupt(format!(
                "the audit chain is broken ({p}); retention refused"
            )));
        }
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || sqlite_retention(&s, cutoff)).await
            }
            Backend::Postgres(p) => {
                // Rows waiting in a default partition get their month's partition first,
                // so that whole months are what is removed.
                self.ensure_partitions(now, 0).await?;
                let mut client = p.client().await?;
                let tx = client.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock(7164856)", &[])
                    .await?;
                let mut report = RetentionReport {
                    cutoff,
                    ..Default::default()
                };
                let head = tx
                    .query_opt(
                        "SELECT seq, hash FROM audit_log WHERE at < $1 ORDER BY seq DESC LIMIT 1",
                        &[&cutoff],
                    )
                    .await?
                    .map(|r| -> Result<(i64, String)> { Ok((r.try_get(0)?, r.try_get(1)?)) })
                    .transpose()?;
                for (table, _) in PARTITIONED {
                    for (name, bounds) in partitions_of(&tx, table).await? {
                        let Some((_, hi)) = bounds else { continue };
                        if hi > cutoff {
                            continue;
                        }
                        let n: i64 = tx
                            .query_one(&format!("SELECT count(*) FROM \"{name}\""), &[])
                            .await?
                            .try_get(0)?;
                        if *table == "audit_log" {
                            report.audit_rows += n;
                        } else {
                            report.verification_rows += n;
                        }
                        tx.batch_execute(&format!(
                            "ALTER TABLE {table} DETACH PARTITION \"{name}\""
                        ))
                        .await?;
                        if drop {
                            tx.batch_execute(&format!("DROP TABLE \"{name}\"")).await?;
                        }
                        report.partitions.push(name);
                    }
                }
                if report.audit_rows > 0
                    && let Some((seq, hash)) = head
                {
                    tx.execute(
                        "INSERT INTO audit_checkpoint (seq, hash, cutoff, removed_rows, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
                        &[&seq, &hash, &cutoff, &report.audit_rows, &now_micros()],
                    )
                    .await?;
                    report.checkpoint = Some((seq, hash));
                }
                tx.commit().await?;
                Ok(report)
            }
        }
    }
}

const LOAD_CHUNK_MARK: &str = "INSERT INTO load_chunk (chunk, persons, rows, loaded_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (chunk) DO NOTHING";

fn sqlite_load_chunk(s: &sqlite::SqliteStore, c: &LoadChunk<'_>, mark: [i64; 4]) -> Result<bool> {
    let [chunk, persons, rows_n, at] = mark;
    let mut conn = s.admin();
    let tx = conn.transaction()?;
    if tx.execute(LOAD_CHUNK_MARK, params![chunk, persons, rows_n, at])? == 0 {
        return Ok(false);
    }
    sqlite::insert_population(&tx, c.population)?;
    medical::insert_medical(&tx, &c.medical)?;
    {
        let mut stmt = tx.prepare_cached(rows::INSERT_CARD)?;
        for k in c.cards {
            stmt.execute(params![
                k.serial,
                k.person_id,
                k.profile,
                k.not_after.to_wire(),
                k.issued_at.unix_micros(),
                k.revoked_at.map(JstDateTime::unix_micros),
                k.registered_at.map(JstDateTime::unix_micros)
            ])?;
        }
        // The history is in its own file: not atomic with the main file's
        // commit, so these rows carry fixed ids and are inserted OR IGNORE
        // (a rerun of a chunk whose history was committed adds nothing).
        let mut stmt = tx.prepare_cached(INSERT_HISTORY_WITH_ID)?;
        for (id, r) in c.history {
            stmt.execute(params![
                id,
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
        }
    }
    tx.commit()?;
    Ok(true)
}

async fn partitions_of<C: deadpool_postgres::GenericClient>(
    client: &C,
    table: &str,
) -> Result<Vec<(String, Option<(i64, i64)>)>> {
    let rs = client
        .query(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::text::regclass \
             ORDER BY c.relname",
            &[&table],
        )
        .await?;
    let mut out = Vec::new();
    for r in &rs {
        let name: String = r.try_get(0)?;
        let bound: String = r.try_get(1)?;
        out.push((name, parse_range_bound(&bound)));
    }
    out.sort_by_key(|(_, b)| b.map(|(lo, _)| lo).unwrap_or(i64::MAX));
    Ok(out)
}

/// `FOR VALUES FROM ('1') TO ('2')` → `(1, 2)`; `DEFAULT` → `None`.
fn parse_range_bound(s: &str) -> Option<(i64, i64)> {
    let num = |part: &str| -> Option<i64> {
        let digits: String = part
            .chars()
            .skip_while(|c| !c.is_ascii_digit() && *c != '-')
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    };
    let from = s.find("FROM (")?;
    let to = s.find(" TO (")?;
    Some((num(&s[from + 6..to])?, num(&s[to + 5..])?))
}

fn sqlite_retention(s: &sqlite::SqliteStore, cutoff: i64) -> Result<RetentionReport> {
    let mut conn = s.admin();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut report = RetentionReport {
        cutoff,
        ..Default::default()
    };
    report.verification_rows =
        tx.execute("DELETE FROM verification WHERE checked_at < $1", [cutoff])? as i64;
    let head: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log WHERE at < $1)",
            [cutoff],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((seq, hash)) = head {
        // The chain is cut at a row, not at an instant: everything up to the last row
        // before the cutoff goes, so the kept rows are exactly the chain after it. The
        // append-only trigger is lifted for this one statement, in this transaction.
        // Whichever attached file holds the audit trail.
        let schemas: Vec<String> = {
            let mut stmt = tx.prepare("SELECT name FROM pragma_database_list")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut found = None;
        for schema in schemas {
            let sql: Option<String> = tx
                .query_row(
                    &format!(
                        "SELECT sql FROM \"{schema}\".sqlite_master WHERE type = 'trigger' AND name = 'audit_log_no_delete'"
                    ),
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(sql) = sql {
                found = Some((schema, sql));
                break;
            }
        }
        let (schema, trigger_sql) = found.ok_or_else(|| {
            StoreError::Corrupt("the audit trail's append-only trigger is missing".into())
        })?;
        tx.execute_batch(&format!("DROP TRIGGER \"{schema}\".audit_log_no_delete"))?;
        report.audit_rows = tx.execute("DELETE FROM audit_log WHERE seq <= $1", [seq])? as i64;
        // sqlite_master keeps the statement without its schema qualifier; an unqualified
        // trigger would be made in (and look for its table in) `main`.
        let rest = trigger_sql
            .trim_start()
            .strip_prefix("CREATE TRIGGER ")
            .ok_or_else(|| StoreError::Corrupt(format!("unexpected trigger: {trigger_sql}")))?;
        let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let recreate = if rest[..name_end].contains('.') {
            trigger_sql.clone()
        } else {
            format!("CREATE TRIGGER \"{schema}\".{rest}")
        };
        tx.execute_batch(&recreate)?;
        tx.execute(
            "INSERT OR IGNORE INTO audit_checkpoint (seq, hash, cutoff, removed_rows, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            params![seq, hash, cutoff, report.audit_rows, now_micros()],
        )?;
        report.checkpoint = Some((seq, hash));
    }
    tx.commit()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn range_bounds_parse() {
        assert_eq!(
            super::parse_range_bound(
                "FOR VALUES FROM ('1698764400000000') TO ('1701356400000000')"
            ),
            Some((1698764400000000, 1701356400000000))
        );
        assert_eq!(super::parse_range_bound("DEFAULT"), None);
    }
}
