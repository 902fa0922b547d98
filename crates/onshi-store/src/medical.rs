//! Medical information, disaster declarations and the audit trail: SQL, row mapping and
//! both backends' implementations.
//!
//! Every view reads one person's lines since a horizon date through a `(person_id, date)`
//! index and joins each line's claim by primary key. Audit rows go through a group-commit
//! writer task: it appends everything queued in one transaction (reading the chain head
//! inside it) and answers each caller with its sequence number, so "recorded before
//! answered" holds while a burst of views shares one commit.

use crate::audit::{self, AuditEntry, AuditRow};
use crate::pg::{CopyBuf, PgStore, copy};
use crate::rows::{Cols, Row};
use crate::sqlite::SqliteStore;
use crate::{Backend, ConsentRecord, Result, Store, StoreError};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::medical::{
    Checkup, CheckupValue, Claim, Diagnosis, DisasterArea, DisasterDeclaration, DrugLine,
    ProcedureLine,
};
use onshi_core::model::Person;
use rusqlite::params;
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Medical records to load in one transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct MedicalSlice<'a> {
    pub claims: &'a [Claim],
    pub drugs: &'a [DrugLine],
    pub procedures: &'a [ProcedureLine],
    pub diagnoses: &'a [Diagnosis],
    pub checkups: &'a [Checkup],
    pub checkup_values: &'a [CheckupValue],
}

/// A drug line with its claim.
#[derive(Debug, Clone, PartialEq)]
pub struct DrugRecord {
    pub line: DrugLine,
    pub claim: Claim,
}

/// A procedure line with its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureRecord {
    pub line: ProcedureLine,
    pub claim: Claim,
}

/// A diagnosis with its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnosisRecord {
    pub diagnosis: Diagnosis,
    pub claim: Claim,
}

/// A checkup with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupRecord {
    pub checkup: Checkup,
    pub values: Vec<CheckupValue>,
}

/// A consent in its window, with the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentedRow {
    pub consent: ConsentRecord,
    pub person: Person,
}

/// A declaration to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDisaster {
    pub name: String,
    pub areas: Vec<DisasterArea>,
    pub starts_at: JstDateTime,
    pub ends_at: JstDateTime,
    pub declared_at: JstDateTime,
}

macro_rules! claim_columns {
    () => {
        "c.id, c.person_id, c.kind, c.month, c.facility_code, c.facility_name, c.prescriber_code, \
         c.prescriber_name, c.in_out"
    };
}

const INSERT_CLAIM: &str = "INSERT INTO claim (id, person_id, kind, month, facility_code, facility_name, \
     prescriber_code, prescriber_name, in_out) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const INSERT_DRUG: &str = "INSERT INTO claim_drug (claim_id, person_id, dispensed_on, prescribed_on, drug_code, \
     drug_name, ingredient, quantity, unit, usage, days, class) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
const INSERT_PROCEDURE: &str = "INSERT INTO claim_procedure (claim_id, person_id, performed_on, kind, code, name, times) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const INSERT_DIAGNOSIS: &str = "INSERT INTO claim_diagnosis (claim_id, person_id, code, name, started_on, outcome) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_CHECKUP: &str = "INSERT INTO checkup (id, person_id, examined_on, facility_code, facility_name) \
     VALUES ($1, $2, $3, $4, $5)";
const INSERT_CHECKUP_VALUE: &str = "INSERT INTO checkup_value (checkup_id, person_id, item_code, value) \
     VALUES ($1, $2, $3, $4)";

const DRUGS: &str = concat!(
    "SELECT d.claim_id, d.person_id, d.dispensed_on, d.prescribed_on, d.drug_code, d.drug_name, \
     d.ingredient, d.quantity, d.unit, d.usage, d.days, d.class, ",
    claim_columns!(),
    " FROM claim_drug d JOIN claim c ON c.id = d.claim_id \
     WHERE d.person_id = $1 AND d.dispensed_on >= $2 \
     ORDER BY d.dispensed_on DESC, d.claim_id, d.drug_code"
);
const PROCEDURES: &str = concat!(
    "SELECT p.claim_id, p.person_id, p.performed_on, p.kind, p.code, p.name, p.times, ",
    claim_columns!(),
    " FROM claim_procedure p JOIN claim c ON c.id = p.claim_id \
     WHERE p.person_id = $1 AND p.performed_on >= $2 AND p.kind = $3 \
     ORDER BY p.performed_on DESC, p.claim_id, p.code"
);
const DIAGNOSES: &str = concat!(
    "SELECT g.claim_id, g.person_id, g.code, g.name, g.started_on, g.outcome, ",
    claim_columns!(),
    " FROM claim_diagnosis g JOIN claim c ON c.id = g.claim_id \
     WHERE g.person_id = $1 AND c.month >= $2 \
     ORDER BY c.month DESC, g.claim_id, g.code"
);
const NEXT_WITH_DRUGS: &str =
    "SELECT person_id FROM claim_drug WHERE person_id >= $1 ORDER BY person_id LIMIT 1";
const CHECKUPS: &str = "SELECT id, person_id, examined_on, facility_code, facility_name FROM checkup \
     WHERE person_id = $1 AND examined_on >= $2 ORDER BY examined_on DESC";
const CHECKUP_VALUES: &str = "SELECT v.checkup_id, v.person_id, v.item_code, v.value FROM checkup_value v \
     JOIN checkup k ON k.id = v.checkup_id WHERE v.person_id = $1 AND k.examined_on >= $2";

/// Every unexpired consent of a facility, newest first: the consented-patient list
/// (同意済み患者一覧) pages over these. Narrow rows through card_consent_facility_consented
/// (migration 0010), no join: the patients are read only for the page shown
/// ([`PERSONS_SQLITE`], [`PERSONS_PG`]).
const CONSENTS_VALID: &str = "SELECT check_request_id, facility_code, person_id, consented_at, available_until, information \
     FROM card_consent WHERE facility_code = $1 AND available_until > $2 AND consented_at <= $2 \
     ORDER BY consented_at DESC, check_request_id DESC";
const PERSONS_SQLITE: &str = "SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person \
     WHERE id IN (SELECT value FROM json_each($1))";
const PERSONS_PG: &str = "SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person \
     WHERE id = ANY($1::bigint[])";

const INSERT_DISASTER: &str = "INSERT INTO disaster_declaration (id, name, areas, starts_at, ends_at, ended_at, declared_at) \
     VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM disaster_declaration), $1, $2, $3, $4, NULL, $5) RETURNING id";
const DISASTERS: &str = "SELECT id, name, areas, starts_at, ends_at, ended_at, declared_at \
     FROM disaster_declaration ORDER BY id";
const ACTIVE_DISASTERS: &str = "SELECT id, name, areas, starts_at, ends_at, ended_at, declared_at \
     FROM disaster_declaration WHERE starts_at <= $1 AND ends_at > $1 AND (ended_at IS NULL OR ended_at > $1) \
     ORDER BY id";
const END_DISASTER: &str =
    "UPDATE disaster_declaration SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL";
const FACILITY_MUNICIPALITY: &str =
    "SELECT municipality FROM facility_location WHERE facility_code = $1";
const SET_FACILITY_MUNICIPALITY: &str = "INSERT INTO facility_location (facility_code, municipality) VALUES ($1, $2) \
     ON CONFLICT (facility_code) DO UPDATE SET municipality = excluded.municipality";
const PERSONS_BY_BIRTH: &str = "SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person \
     WHERE birthdate = $1 AND sex = $2 ORDER BY id LIMIT 500";

const AUDIT_COLUMNS: &str = "seq, at, facility_code, account, person_id, kind, information, basis, outcome, \
     detail, prev_hash, hash";
const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at, facility_code, account, person_id, kind, information, \
     basis, outcome, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

fn audit_page_sql() -> String {
    format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
}

fn audit_of_person_sql() -> String {
    format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE person_id = $1 ORDER BY at DESC, seq DESC LIMIT $2"
    )
}

fn claim_at<R: Row>(c: &Cols<'_, R>, at: usize) -> Result<Claim> {
    Ok(Claim {
        id: c.int(at)?,
        person_id: c.int(at + 1)?,
        kind: c.text(at + 2)?,
        month: c.text(at + 3)?,
        facility_code: c.text(at + 4)?,
        facility_name: c.text(at + 5)?,
        prescriber_code: c.opt_text(at + 6)?,
        prescriber_name: c.opt_text(at + 7)?,
        in_out: c.text(at + 8)?,
    })
}

fn drug_record<R: Row>(row: &R) -> Result<DrugRecord> {
    let c = Cols { row };
    Ok(DrugRecord {
        line: DrugLine {
            claim_id: c.int(0)?,
            person_id: c.int(1)?,
            dispensed_on: c.ymd(2)?,
            prescribed_on: c.ymd(3)?,
            drug_code: c.text(4)?,
            drug_name: c.text(5)?,
            ingredient: c.text(6)?,
            quantity: row.real(7)?.unwrap_or(0.0),
            unit: c.text(8)?,
            usage: c.text(9)?,
            days: i32::try_from(c.int(10)?).unwrap_or(0),
            class: c.text(11)?,
        },
        claim: claim_at(&c, 12)?,
    })
}

fn procedure_record<R: Row>(row: &R) -> Result<ProcedureRecord> {
    let c = Cols { row };
    Ok(ProcedureRecord {
        line: ProcedureLine {
            claim_id: c.int(0)?,
            person_id: c.int(1)?,
            performed_on: c.ymd(2)?,
            kind: c.text(3)?,
            code: c.text(4)?,
            name: c.text(5)?,
            times: i32::try_from(c.int(6)?).unwrap_or(0),
        },
        claim: claim_at(&c, 7)?,
    })
}

fn diagnosis_record<R: Row>(row: &R) -> Result<DiagnosisRecord> {
    let c = Cols { row };
    Ok(DiagnosisRecord {
        diagnosis: Diagnosis {
            claim_id: c.int(0)?,
            person_id: c.int(1)?,
            code: c.text(2)?,
            name: c.text(3)?,
            started_on: c.ymd(4)?,
            outcome: c.text(5)?,
        },
        claim: claim_at(&c, 6)?,
    })
}

fn checkup<R: Row>(row: &R) -> Result<Checkup> {
    let c = Cols { row };
    Ok(Checkup {
        id: c.int(0)?,
        person_id: c.int(1)?,
        examined_on: c.ymd(2)?,
        facility_code: c.text(3)?,
        facility_name: c.text(4)?,
    })
}

fn checkup_value<R: Row>(row: &R) -> Result<CheckupValue> {
    let c = Cols { row };
    Ok(CheckupValue {
        checkup_id: c.int(0)?,
        person_id: c.int(1)?,
        item_code: c.text(2)?,
        value: c.text(3)?,
    })
}

fn consent_record<R: Row>(row: &R) -> Result<ConsentRecord> {
    let c = Cols { row };
    Ok(crate::rows::consent(
        c.text(0)?,
        c.text(1)?,
        c.int(2)?,
        c.int(3)?,
        c.int(4)?,
        c.text(5)?,
    ))
}

fn disaster<R: Row>(row: &R) -> Result<DisasterDeclaration> {
    let c = Cols { row };
    let areas = c
        .text(2)?
        .split(',')
        .filter(|a| !a.is_empty())
        .map(|a| DisasterArea::parse(a).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    Ok(DisasterDeclaration {
        id: c.int(0)?,
        name: c.text(1)?,
        areas,
        starts_at: JstDateTime::from_unix_micros(c.int(3)?),
        ends_at: JstDateTime::from_unix_micros(c.int(4)?),
        ended_at: row.int(5)?.map(JstDateTime::from_unix_micros),
        declared_at: JstDateTime::from_unix_micros(c.int(6)?),
    })
}

fn audit_row<R: Row>(row: &R) -> Result<AuditRow> {
    let c = Cols { row };
    Ok(AuditRow {
        seq: c.int(0)?,
        entry: AuditEntry {
            at: JstDateTime::from_unix_micros(c.int(1)?),
            facility_code: c.text(2)?,
            account: c.text(3)?,
            person_id: row.int(4)?,
            kind: c.text(5)?,
            information: c.text(6)?,
            basis: c.text(7)?,
            outcome: c.text(8)?,
            detail: c.text(9)?,
        },
        prev_hash: c.text(10)?,
        hash: c.text(11)?,
    })
}

fn first_i64<R: Row>(row: &R) -> Result<i64> {
    Cols { row }.int(0)
}

fn first_text<R: Row>(row: &R) -> Result<String> {
    Cols { row }.text(0)
}

fn areas_text(areas: &[DisasterArea]) -> String {
    areas
        .iter()
        .map(DisasterArea::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn head_of(found: Option<(i64, String)>) -> (i64, String) {
    found.unwrap_or_else(|| (0, audit::GENESIS_HASH.to_string()))
}

// ---------------------------------------------------------------------------------------
// SQLite

impl SqliteStore {
    pub(crate) fn load_medical(&self, s: &MedicalSlice<'_>) -> Result<()> {
        let mut conn = self.admin();
        let tx = conn.transaction()?;
        insert_medical(&tx, s)?;
        tx.commit()?;
        Ok(())
    }
}

/// The rows of a medical slice, inside the caller's transaction (SQLite).
pub(crate) fn insert_medical(tx: &rusqlite::Transaction<'_>, s: &MedicalSlice<'_>) -> Result<()> {
    {
        let mut stmt = tx.prepare_cached(INSERT_CLAIM)?;
        for c in s.claims {
            stmt.execute(params![
                c.id,
                c.person_id,
                c.kind,
                c.month,
                c.facility_code,
                c.facility_name,
                c.prescriber_code,
                c.prescriber_name,
                c.in_out
            ])?;
        }
        let mut stmt = tx.prepare_cached(INSERT_DRUG)?;
        for d in s.drugs {
            stmt.execute(params![
                d.claim_id,
                d.person_id,
                d.dispensed_on.to_wire(),
                d.prescribed_on.to_wire(),
                d.drug_code,
                d.drug_name,
                d.ingredient,
                d.quantity,
                d.unit,
                d.usage,
                d.days,
                d.class
            ])?;
        }
        let mut stmt = tx.prepare_cached(INSERT_PROCEDURE)?;
        for p in s.procedures {
            stmt.execute(params![
                p.claim_id,
                p.person_id,
                p.performed_on.to_wire(),
                p.kind,
                p.code,
                p.name,
                p.times
            ])?;
        }
        let mut stmt = tx.prepare_cached(INSERT_DIAGNOSIS)?;
        for g in s.diagnoses {
            stmt.execute(params![
                g.claim_id,
                g.person_id,
                g.code,
                g.name,
                g.started_on.to_wire(),
                g.outcome
            ])?;
        }
        let mut stmt = tx.prepare_cached(INSERT_CHECKUP)?;
        for k in s.checkups {
            stmt.execute(params![
                k.id,
                k.person_id,
                k.examined_on.to_wire(),
                k.facility_code,
                k.facility_name
            ])?;
        }
        let mut stmt = tx.prepare_cached(INSERT_CHECKUP_VALUE)?;
        for v in s.checkup_values {
            stmt.execute(params![v.checkup_id, v.person_id, v.item_code, v.value])?;
        }
    }
    Ok(())
}

impl SqliteStore {
    fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<i64>> {
        let mut conn = self.audit_connection();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let rows = {
            let head = {
                let mut stmt = tx.prepare_cached(AUDIT_HEAD)?;
                let mut rs = stmt.query([])?;
                match rs.next()? {
                    Some(r) => Some((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                    None => None,
                }
            };
            let rows = audit::link(head_of(head), entries);
            let mut stmt = tx.prepare_cached(INSERT_AUDIT)?;
            for r in &rows {
                let e = &r.entry;
                stmt.execute(params![
                    r.seq,
                    e.at.unix_micros(),
                    e.facility_code,
                    e.account,
                    e.person_id,
                    e.kind,
                    e.information,
                    e.basis,
                    e.outcome,
                    e.detail,
                    r.prev_hash,
                    r.hash
                ])?;
            }
            rows
        };
        tx.commit()?;
        Ok(rows.iter().map(|r| r.seq).collect())
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

impl PgStore {
    pub(crate) async fn load_medical(&self, s: &MedicalSlice<'_>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        copy_medical(&tx, s).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// COPY of a medical slice, inside the caller's transaction (PostgreSQL).
pub(crate) async fn copy_medical(
    tx: &deadpool_postgres::Transaction<'_>,
    s: &MedicalSlice<'_>,
) -> Result<()> {
    let mut buf = CopyBuf::default();
    for c in s.claims {
        buf.int(c.id)
            .int(c.person_id)
            .text(&c.kind)
            .text(&c.month)
            .text(&c.facility_code)
            .text(&c.facility_name)
            .opt_text(c.prescriber_code.as_deref())
            .opt_text(c.prescriber_name.as_deref())
            .last_text(Some(&c.in_out));
    }
    copy(tx, "COPY claim (id, person_id, kind, month, facility_code, facility_name, prescriber_code, prescriber_name, in_out) FROM STDIN", buf).await?;
    let mut buf = CopyBuf::default();
    for d in s.drugs {
        buf.int(d.claim_id)
            .int(d.person_id)
            .text(&d.dispensed_on.to_wire())
            .text(&d.prescribed_on.to_wire())
            .text(&d.drug_code)
            .text(&d.drug_name)
            .text(&d.ingredient)
            .text(&d.quantity.to_string())
            .text(&d.unit)
            .text(&d.usage)
            .int(i64::from(d.days))
            .last_text(Some(&d.class));
    }
    copy(tx, "COPY claim_drug (claim_id, person_id, dispensed_on, prescribed_on, drug_code, drug_name, ingredient, quantity, unit, usage, days, class) FROM STDIN", buf).await?;
    let mut buf = CopyBuf::default();
    for p in s.procedures {
        buf.int(p.claim_id)
            .int(p.person_id)
            .text(&p.performed_on.to_wire())
            .text(&p.kind)
            .text(&p.code)
            .text(&p.name)
            .last_int(i64::from(p.times));
    }
    copy(tx, "COPY claim_procedure (claim_id, person_id, performed_on, kind, code, name, times) FROM STDIN", buf).await?;
    let mut buf = CopyBuf::default();
    for g in s.diagnoses {
        buf.int(g.claim_id)
            .int(g.person_id)
            .text(&g.code)
            .text(&g.name)
            .text(&g.started_on.to_wire())
            .last_text(Some(&g.outcome));
    }
    copy(
        tx,
        "COPY claim_diagnosis (claim_id, person_id, code, name, started_on, outcome) FROM STDIN",
        buf,
    )
    .await?;
    let mut buf = CopyBuf::default();
    for k in s.checkups {
        buf.int(k.id)
            .int(k.person_id)
            .text(&k.examined_on.to_wire())
            .text(&k.facility_code)
            .last_text(Some(&k.facility_name));
    }
    copy(
        tx,
        "COPY checkup (id, person_id, examined_on, facility_code, facility_name) FROM STDIN",
        buf,
    )
    .await?;
    let mut buf = CopyBuf::default();
    for v in s.checkup_values {
        buf.int(v.checkup_id)
            .int(v.person_id)
            .text(&v.item_code)
            .last_text(Some(&v.value));
    }
    copy(
        tx,
        "COPY checkup_value (checkup_id, person_id, item_code, value) FROM STDIN",
        buf,
    )
    .await?;
    Ok(())
}

impl PgStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<Vec<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Any number of central processes append to one chain: one at a time.
        let lock = tx
            .prepare_cached("SELECT pg_advisory_xact_lock(7164855)")
            .await?;
        tx.execute(&lock, &[]).await?;
        let head_stmt = tx.prepare_cached(AUDIT_HEAD).await?;
        let head = tx
            .query_opt(&head_stmt, &[])
            .await?
            .map(|r| -> Result<(i64, String)> { Ok((r.try_get(0)?, r.try_get(1)?)) })
            .transpose()?;
        let rows = audit::link(head_of(head), entries);
        let stmt = tx.prepare_cached(INSERT_AUDIT).await?;
        for r in &rows {
            let e = &r.entry;
            tx.execute(
                &stmt,
                &[
                    &r.seq,
                    &e.at.unix_micros(),
                    &e.facility_code,
                    &e.account,
                    &e.person_id,
                    &e.kind,
                    &e.information,
                    &e.basis,
                    &e.outcome,
                    &e.detail,
                    &r.prev_hash,
                    &r.hash,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.iter().map(|r| r.seq).collect())
    }
}

// ---------------------------------------------------------------------------------------
// The audit group commit: one writer task per store takes whatever is queued, appends it
// in one transaction and answers each caller. A caller waits for at most the commit in
// progress and its own.

pub(crate) type AuditJob = (AuditEntry, oneshot::Sender<Result<i64>>);

const MAX_AUDIT_GROUP: usize = 1024;

pub(crate) async fn audit_writer(
    pg: PgStore,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<AuditJob>,
) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_AUDIT_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (entries, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let result = pg.append_audit(&entries).await;
        for (i, reply) in replies.into_iter().enumerate() {
            let _ = reply.send(appended(&result, i));
        }
    }
}

/// The sequence number of the `i`-th row of an append, or why it has none.
fn appended(result: &Result<Vec<i64>>, i: usize) -> Result<i64> {
    match result {
        Ok(seqs) => seqs
            .get(i)
            .copied()
            .ok_or_else(|| StoreError::Corrupt("audit row not appended".into())),
        Err(e) => Err(StoreError::Corrupt(format!("audit not recorded: {e}"))),
    }
}

// ---------------------------------------------------------------------------------------
// The public face.

macro_rules! dispatch_read {
    ($self:ident, $sql:expr, [$($p:expr),*], $map:expr) => {
        match &$self.backend {
            Backend::Sqlite(s) => s.query_all($sql, params![$($p),*], |r| $map(r)),
            Backend::Postgres(p) => p.query_all($sql, &[$(&$p),*], $map).await,
        }
    };
}

impl Store {
    /// Loads claims and checkups in one transaction (prepared inserts on SQLite, COPY on
    /// PostgreSQL).
    pub async fn load_medical(&self, slice: MedicalSlice<'_>) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => s.load_medical(&slice),
            Backend::Postgres(p) => p.load_medical(&slice).await,
        }
    }

    /// Drug lines of a person dispensed on or after `since`, newest first.
    pub async fn drugs(&self, person_id: i64, since: Ymd) -> Result<Vec<DrugRecord>> {
        let since = since.to_wire();
        dispatch_read!(self, DRUGS, [person_id, since], drug_record)
    }

    /// The first person at or after `from` (by id) who has any drug line: lets a caller
    /// find people with histories spread over the table with one index seek each, however
    /// sparse the histories are.
    pub async fn next_person_with_drugs(&self, from: i64) -> Result<Option<i64>> {
        let found: Vec<i64> = dispatch_read!(self, NEXT_WITH_DRUGS, [from], first_i64)?;
        Ok(found.into_iter().next())
    }

    /// Procedures (`treatment` or `surgery`) of a person on or after `since`, newest first.
    pub async fn procedures(
        &self,
        person_id: i64,
        since: Ymd,
        kind: &str,
    ) -> Result<Vec<ProcedureRecord>> {
        let since = since.to_wire();
        let kind = kind.to_string();
        dispatch_read!(self, PROCEDURES, [person_id, since, kind], procedure_record)
    }

    /// Diagnoses on claims of months from `since`'s month, newest first.
    pub async fn diagnoses(&self, person_id: i64, since: Ymd) -> Result<Vec<DiagnosisRecord>> {
        let month = format!("{:04}{:02}", since.year(), since.month());
        dispatch_read!(self, DIAGNOSES, [person_id, month], diagnosis_record)
    }

    /// Checkups of a person on or after `since`, newest first, with their values.
    pub async fn checkups(&self, person_id: i64, since: Ymd) -> Result<Vec<CheckupRecord>> {
        let since = since.to_wire();
        let found: Vec<Checkup> =
            dispatch_read!(self, CHECKUPS, [person_id, since.clone()], checkup)?;
        let values: Vec<CheckupValue> =
            dispatch_read!(self, CHECKUP_VALUES, [person_id, since], checkup_value)?;
        Ok(found
            .into_iter()
            .map(|k| {
                let values = values
                    .iter()
                    .filter(|v| v.checkup_id == k.id)
                    .cloned()
                    .collect();
                CheckupRecord { checkup: k, values }
            })
            .collect())
    }

    /// One page of the facility's consents whose window contains `at`: up to `limit` people,
    /// ordered by their newest such consent (newest first), each with every such consent of
    /// theirs (newest first), so a person is on exactly one page. `before` is the
    /// (consented_at, check_request_id) of the newest consent of the previous page's last
    /// person; `None` for the first page. The flag says whether more people follow.
    ///
    /// The facility's unexpired consents are read whole (narrow rows, no join; at most a
    /// day's worth) and paged here; only the page's patients are read from `person`.
    pub async fn consented(
        &self,
        facility: &MedicalInstitutionCode,
        at: JstDateTime,
        before: Option<(JstDateTime, String)>,
        limit: usize,
    ) -> Result<(Vec<ConsentedRow>, bool)> {
        let code = facility.as_str().to_string();
        let at = at.unix_micros();
        let consents: Vec<ConsentRecord> =
            dispatch_read!(self, CONSENTS_VALID, [code, at], consent_record)?;
        let mut order: Vec<i64> = Vec::new();
        let mut by_person: HashMap<i64, Vec<ConsentRecord>> = HashMap::new();
        for c in consents {
            by_person
                .entry(c.person_id)
                .or_insert_with(|| {
                    order.push(c.person_id);
                    Vec::new()
                })
                .push(c);
        }
        let after_cursor = |newest: &ConsentRecord| match &before {
            None => true,
            Some((t, id)) => (newest.consented_at, &newest.check_request_id) < (*t, id),
        };
        let mut page: Vec<i64> = order
            .into_iter()
            .filter(|p| by_person[p].first().is_some_and(after_cursor))
            .take(limit.saturating_add(1))
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        if page.is_empty() {
            return Ok((Vec::new(), false));
        }
        let people: Vec<Person> = match &self.backend {
            Backend::Sqlite(s) => {
                let ids = crate::rows::ids_json(&page);
                s.query_all(PERSONS_SQLITE, params![ids], |r| crate::rows::person(r))?
            }
            Backend::Postgres(p) => {
                p.query_all(PERSONS_PG, &[&page], crate::rows::person)
                    .await?
            }
        };
        let mut people: HashMap<i64, Person> = people.into_iter().map(|p| (p.id, p)).collect();
        let mut out = Vec::new();
        for id in page {
            // A consent whose patient is gone (never in practice) is left out, not an error.
            let Some(person) = people.remove(&id) else {
                continue;
            };
            for consent in by_person.remove(&id).unwrap_or_default() {
                out.push(ConsentedRow {
                    consent,
                    person: person.clone(),
                });
            }
        }
        Ok((out, more))
    }

    /// Stores a declaration; returns its id.
    pub async fn declare_disaster(&self, d: &NewDisaster) -> Result<i64> {
        let areas = areas_text(&d.areas);
        let ids: Vec<i64> = match &self.backend {
            Backend::Sqlite(s) => {
                let conn = s.admin();
                let mut stmt = conn.prepare_cached(INSERT_DISASTER)?;
                let mut rs = stmt.query(params![
                    d.name,
                    areas,
                    d.starts_at.unix_micros(),
                    d.ends_at.unix_micros(),
                    d.declared_at.unix_micros()
                ])?;
                let mut out = Vec::new();
                while let Some(r) = rs.next()? {
                    out.push(r.get::<_, i64>(0)?);
                }
                out
            }
            Backend::Postgres(p) => {
                p.query_all(
                    INSERT_DISASTER,
                    &[
                        &d.name,
                        &areas,
                        &d.starts_at.unix_micros(),
                        &d.ends_at.unix_micros(),
                        &d.declared_at.unix_micros(),
                    ],
                    |r| Ok(r.try_get::<_, i64>(0)?),
                )
                .await?
            }
        };
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Corrupt("declaration not stored".into()))
    }

    /// Every declaration, oldest first.
    pub async fn disasters(&self) -> Result<Vec<DisasterDeclaration>> {
        match &self.backend {
            Backend::Sqlite(s) => s.query_all(DISASTERS, [], |r| disaster(r)),
            Backend::Postgres(p) => p.query_all(DISASTERS, &[], disaster).await,
        }
    }

    /// Declarations in force at `at`.
    pub async fn active_disasters(&self, at: JstDateTime) -> Result<Vec<DisasterDeclaration>> {
        let at = at.unix_micros();
        dispatch_read!(self, ACTIVE_DISASTERS, [at], disaster)
    }

    /// Ends a declaration early; false if unknown or ended already.
    pub async fn end_disaster(&self, id: i64, at: JstDateTime) -> Result<bool> {
        let n = match &self.backend {
            Backend::Sqlite(s) => {
                s.execute_admin(END_DISASTER, params![at.unix_micros(), id])? as u64
            }
            Backend::Postgres(p) => p.execute(END_DISASTER, &[&at.unix_micros(), &id]).await?,
        };
        Ok(n > 0)
    }

    /// The recorded municipality of a facility.
    pub async fn facility_municipality(
        &self,
        facility: &MedicalInstitutionCode,
    ) -> Result<Option<String>> {
        let code = facility.as_str().to_string();
        let found: Vec<String> = dispatch_read!(self, FACILITY_MUNICIPALITY, [code], first_text)?;
        Ok(found.into_iter().next())
    }

    pub async fn set_facility_municipality(
        &self,
        facility: &MedicalInstitutionCode,
        municipality: &str,
    ) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.execute_admin(
                    SET_FACILITY_MUNICIPALITY,
                    params![facility.as_str(), municipality],
                )?;
            }
            Backend::Postgres(p) => {
                p.execute(
                    SET_FACILITY_MUNICIPALITY,
                    &[&facility.as_str(), &municipality],
                )
                .await?;
            }
        }
        Ok(())
    }

    /// People born on `birthdate` with `sex` (disaster-time search), at most 500.
    pub async fn persons_by_birth(
        &self,
        birthdate: Ymd,
        sex: onshi_core::codes::Sex,
    ) -> Result<Vec<Person>> {
        let b = birthdate.to_wire();
        let s = sex.code().to_string();
        dispatch_read!(self, PERSONS_BY_BIRTH, [b, s], crate::rows::person)
    }

    /// Appends one audit row and returns its sequence number once it is committed.
    ///
    /// On SQLite the row is appended in place, on the calling task: the audit file's commit
    /// is a WAL append without fsync (`synchronous=NORMAL`, no auto-checkpoint), tens of
    /// microseconds, while handing it to the writer task and being woken again cost a full
    /// turn of a saturated runtime's queues (the 薬剤閲覧's 632 ms p99 at 100 sessions,
    /// session 3). On PostgreSQL the writer task commits whatever is queued in one
    /// transaction (group commit: each commit there waits for a WAL flush).
    pub async fn record_audit(&self, entry: AuditEntry) -> Result<i64> {
        if let Backend::Sqlite(s) = &self.backend {
            return appended(&s.append_audit(std::slice::from_ref(&entry)), 0);
        }
        let (tx, rx) = oneshot::channel();
        self.audit
            .send((entry, tx))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Audit rows after `after_seq`, in chain order (for verification).
    pub async fn audit_page(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let sql = audit_page_sql();
        dispatch_read!(self, &sql, [after_seq, limit], audit_row)
    }

    /// A patient's audit rows, newest first (「閲覧履歴」).
    pub async fn audit_of_person(&self, person_id: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let sql = audit_of_person_sql();
        dispatch_read!(self, &sql, [person_id, limit], audit_row)
    }

    /// Walks the whole chain; `anchor` is a head kept from an earlier run.
    pub async fn verify_audit(
        &self,
        anchor: Option<(i64, String)>,
    ) -> Result<(i64, String, Option<audit::ChainProblem>)> {
        let mut v = match anchor {
            Some((seq, hash)) => audit::ChainVerifier::with_anchor(seq, &hash),
            None => audit::ChainVerifier::default(),
        };
        // After retention the chain starts at its checkpoint (the last removed row).
        let checkpoint = self.audit_checkpoint().await?;
        let mut after = 0;
        if let Some((seq, hash)) = checkpoint {
            v = v.continuing_from(seq, &hash);
            after = seq;
        }
        loop {
            let page = self.audit_page(after, 10_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            if !v.feed(&page) {
                break;
            }
        }
        Ok(v.finish())
    }
}
