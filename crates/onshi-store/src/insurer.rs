//! Insurer registrations: one transaction per batch chunk that reads what the rows
//! touch, lets the caller decide ([`Store::insurer_batch`]'s planner: pure code in
//! central), and writes the decision.
//!
//! The reads and writes are written once, over a small [`Exec`] trait with a SQLite and a
//! PostgreSQL implementation. On PostgreSQL the many small statements of a batch are
//! pipelined on one connection (sent without waiting for each answer), which is what
//! makes row-at-a-time statements fast enough there; on SQLite they are plain prepared
//! statements in one `BEGIN IMMEDIATE` transaction. PostgreSQL serialises insurer batches
//! with a transaction-level advisory lock, so two central processes never plan against
//! the same state.

use crate::rows::{self, QualificationValues, Row};
use crate::{QualificationRecord, Result, StoreError};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::model::{
    ElderlyRecipient, Insurer, LimitCertificate, Person, Qualification, SpecificDisease,
};
use onshi_core::registry::Identity;
use std::collections::{HashMap, HashSet};

/// (insurer, 記号, 番号) in their normalised forms: every branch under it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardPrefix {
    pub insurer_number: String,
    pub symbol_norm: String,
    pub number_norm: String,
}

/// What a batch chunk needs to read before its rows can be decided.
#[derive(Debug, Clone, Default)]
pub struct InsurerReads {
    pub insurer_numbers: Vec<String>,
    pub identities: Vec<Identity>,
    pub card_prefixes: Vec<CardPrefix>,
}

/// What the store read, inside the transaction that will write the decision.
#[derive(Debug, Clone, Default)]
pub struct InsurerSnapshot {
    pub insurers: HashMap<String, Insurer>,
    pub persons: HashMap<i64, Person>,
    /// Per identity (same index as [`InsurerReads::identities`]): registry persons that
    /// match it fully, or else the nearest ones (one item different), to name the items.
    pub candidates: Vec<Vec<i64>>,
    /// Qualifications under the card prefixes, and every qualification of every person
    /// involved (with specific diseases filled in).
    pub qualifications: HashMap<i64, QualificationRecord>,
    pub holds: Vec<Hold>,
    pub pending: Vec<PendingRegistration>,
    pub next_qualification_id: i64,
}

/// A registration kept suspended (閲覧停止): not linked to anyone, not a qualification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub insurer_number: String,
    pub symbol_norm: String,
    pub number_norm: String,
    pub branch: Option<u8>,
    /// As the insurer sent it (YYYYMMDD), for "pending" answers to checks by card data.
    pub birthdate: String,
    /// 漢字氏名 as the insurer sent it.
    pub name: String,
    /// The row as received (JSON object of its columns).
    pub registration: String,
    /// Registry items that differ, comma-separated (`name,address`), or `not_found`.
    pub differences: String,
    /// The nearest registry person, for the operator's investigation.
    pub candidate_person_id: Option<i64>,
    pub received_at: JstDateTime,
}

/// A 取得届 the insurer has received and not yet registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    pub insurer_number: String,
    pub person_id: i64,
    /// The card data the member will have, when already known ('' otherwise).
    pub symbol_norm: String,
    pub number_norm: String,
    pub branch: Option<u8>,
    pub received_date: Ymd,
    pub registered_at: JstDateTime,
}

/// Why a check found nothing although a registration is on its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInfo {
    pub insurer_number: String,
    /// 取得届 received on (none for a suspended registration).
    pub received_date: Option<Ymd>,
    /// A registration exists but is kept suspended until the insurer corrects it.
    pub suspended: bool,
}

/// A registration notice to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub person_id: i64,
    pub qualification_id: i64,
    pub insurer_number: String,
    /// `acquire` or `change`.
    pub kind: &'static str,
}

/// A registration notice as exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: i64,
    pub person_id: i64,
    pub qualification_id: i64,
    pub insurer_number: String,
    pub kind: String,
    pub created_at: JstDateTime,
    pub name: String,
    pub symbol: Option<String>,
    pub number: String,
    pub branch: Option<u8>,
    pub qualification_date: Ymd,
}

/// The counts of one batch, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchLog {
    pub insurer_number: String,
    pub format: String,
    pub rows: i64,
    pub applied: i64,
    pub unchanged: i64,
    pub suspended: i64,
    pub refused: i64,
}

/// Key of a hold (insurer, 記号, 番号, 枝番).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HoldKey {
    pub insurer_number: String,
    pub symbol_norm: String,
    pub number_norm: String,
    pub branch: Option<u8>,
}

/// What a batch chunk writes, all in its one transaction.
#[derive(Debug, Clone, Default)]
pub struct InsurerWrites {
    pub at: Option<JstDateTime>,
    pub insert_qualifications: Vec<Qualification>,
    pub update_qualifications: Vec<Qualification>,
    /// Qualifications (written above) that have specific diseases.
    pub has_specific: HashSet<i64>,
    pub elderly: Vec<ElderlyRecipient>,
    pub limits: Vec<LimitCertificate>,
    pub insert_specific: Vec<SpecificDisease>,
    pub update_specific: Vec<SpecificDisease>,
    pub delete_holds: Vec<HoldKey>,
    pub insert_holds: Vec<Hold>,
    pub upsert_pending: Vec<PendingRegistration>,
    pub delete_pending: Vec<(String, i64)>,
    pub notices: Vec<NewNotice>,
    pub batch: Option<BatchLog>,
}

/// A statement parameter either backend can bind.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

fn t(s: &str) -> Param {
    Param::Text(s.to_string())
}
fn ot(s: Option<&str>) -> Param {
    s.map_or(Param::NullText, t)
}
fn i(v: i64) -> Param {
    Param::Int(v)
}
fn oi(v: Option<i64>) -> Param {
    v.map_or(Param::NullInt, Param::Int)
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{Null, ToSqlOutput};
        Ok(match self {
            Param::Int(v) => ToSqlOutput::from(*v),
            Param::Text(s) => ToSqlOutput::from(s.as_str()),
            Param::NullInt | Param::NullText => ToSqlOutput::from(Null),
        })
    }
}

impl tokio_postgres::types::ToSql for Param {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            Param::Int(v) => v.to_sql_checked(ty, out),
            Param::Text(s) => s.to_sql_checked(ty, out),
            Param::NullInt => None::<i64>.to_sql_checked(ty, out),
            Param::NullText => None::<String>.to_sql_checked(ty, out),
        }
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <i64 as tokio_postgres::types::ToSql>::accepts(ty)
            || <String as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A row of either backend.
pub(crate) enum RowRef<'a, 'b> {
    Sqlite(&'a rusqlite::Row<'b>),
    Pg(&'a tokio_postgres::Row),
}

impl Row for RowRef<'_, '_> {
    fn text(&self, i: usize) -> Result<Option<String>> {
        match self {
            RowRef::Sqlite(r) => r.text(i),
            RowRef::Pg(r) => r.text(i),
        }
    }
    fn int(&self, i: usize) -> Result<Option<i64>> {
        match self {
            RowRef::Sqlite(r) => r.int(i),
            RowRef::Pg(r) => r.int(i),
        }
    }
    fn real(&self, i: usize) -> Result<Option<f64>> {
        match self {
            RowRef::Sqlite(r) => r.real(i),
            RowRef::Pg(r) => r.real(i),
        }
    }
}

pub(crate) type MapRow<T> = fn(&RowRef<'_, '_>) -> Result<T>;

/// Running statements inside an open transaction.
pub(crate) trait Exec {
    /// One statement once per parameter list; one result list per parameter list.
    async fn query_each<T: Send>(
        &mut self,
        sql: &'static str,
        params: Vec<Vec<Param>>,
        map: MapRow<T>,
    ) -> Result<Vec<Vec<T>>>;

    async fn execute_each(&mut self, sql: &'static str, params: Vec<Vec<Param>>) -> Result<()>;
}

pub(crate) struct SqliteExec<'c> {
    pub(crate) conn: &'c rusqlite::Connection,
}

impl Exec for SqliteExec<'_> {
    async fn query_each<T: Send>(
        &mut self,
        sql: &'static str,
        params: Vec<Vec<Param>>,
        map: MapRow<T>,
    ) -> Result<Vec<Vec<T>>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut out = Vec::with_capacity(params.len());
        for p in params {
            let mut rs = stmt.query(rusqlite::params_from_iter(p.iter()))?;
            let mut found = Vec::new();
            while let Some(r) = rs.next()? {
                found.push(map(&RowRef::Sqlite(r))?);
            }
            out.push(found);
        }
        Ok(out)
    }

    async fn execute_each(&mut self, sql: &'static str, params: Vec<Vec<Param>>) -> Result<()> {
        if params.is_empty() {
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(sql)?;
        for p in params {
            stmt.execute(rusqlite::params_from_iter(p.iter()))?;
        }
        Ok(())
    }
}

/// How many statements PostgreSQL gets ahead of their answers.
const PIPELINE: usize = 512;

pub(crate) struct PgExec<'t, 'c> {
    pub(crate) tx: &'t deadpool_postgres::Transaction<'c>,
}

fn pg_refs(p: &[Param]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    p.iter()
        .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

impl Exec for PgExec<'_, '_> {
    async fn query_each<T: Send>(
        &mut self,
        sql: &'static str,
        params: Vec<Vec<Param>>,
        map: MapRow<T>,
    ) -> Result<Vec<Vec<T>>> {
        use futures_util::{StreamExt, TryStreamExt};
        if params.is_empty() {
            return Ok(Vec::new());
        }
        let stmt = self.tx.prepare_cached(sql).await?;
        let tx = self.tx;
        let results: Vec<Vec<tokio_postgres::Row>> = futures_util::stream::iter(params)
            .map(|p| {
                let stmt = stmt.clone();
                async move { tx.query(&stmt, &pg_refs(&p)).await }
            })
            .buffered(PIPELINE)
            .try_collect()
            .await?;
        results
            .iter()
            .map(|rs| rs.iter().map(|r| map(&RowRef::Pg(r))).collect())
            .collect()
    }

    async fn execute_each(&mut self, sql: &'static str, params: Vec<Vec<Param>>) -> Result<()> {
        use futures_util::{StreamExt, TryStreamExt};
        if params.is_empty() {
            return Ok(());
        }
        let stmt = self.tx.prepare_cached(sql).await?;
        let tx = self.tx;
        futures_util::stream::iter(params)
            .map(|p| {
                let stmt = stmt.clone();
                async move { tx.execute(&stmt, &pg_refs(&p)).await }
            })
            .buffered(PIPELINE)
            .try_collect::<Vec<u64>>()
            .await?;
        Ok(())
    }
}

fn dedup<T: Clone + Eq + std::hash::Hash>(v: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    v.into_iter().filter(|x| seen.insert(x.clone())).collect()
}

pub(crate) async fn read_snapshot<E: Exec>(e: &mut E, r: &InsurerReads) -> Result<InsurerSnapshot> {
    let mut snap = InsurerSnapshot::default();
    let numbers = dedup(r.insurer_numbers.iter().cloned());
    for found in e
        .query_each(
            rows::INSURER_BY_NUMBER,
            numbers.iter().map(|n| vec![t(n)]).collect(),
            |row| rows::insurer(row),
        )
        .await?
    {
        for ins in found {
            snap.insurers.insert(ins.number.digits().to_string(), ins);
        }
    }

    // The registry: an exact lookup, then the nearest persons for claims without a match.
    let exact = e
        .query_each(
            rows::PERSONS_BY_NAME_BIRTH,
            r.identities
                .iter()
                .map(|c| vec![t(&c.name), t(&c.birthdate.to_wire())])
                .collect(),
            |row| rows::person(row),
        )
        .await?;
    let mut near = Vec::new();
    for (n, (claim, found)) in r.identities.iter().zip(exact).enumerate() {
        let full: Vec<i64> = found
            .iter()
            .filter(|p| claim.differences(p).is_empty())
            .map(|p| p.id)
            .collect();
        if full.is_empty() {
            near.push(n);
        }
        snap.candidates.push(if full.is_empty() {
            found.iter().map(|p| p.id).collect()
        } else {
            full
        });
        for p in found {
            snap.persons.insert(p.id, p);
        }
    }
    if !near.is_empty() {
        let by_kana = e
            .query_each(
                rows::PERSONS_BY_KANA_BIRTH,
                near.iter()
                    .map(|&n| {
                        let c = &r.identities[n];
                        vec![t(&c.name_kana), t(&c.birthdate.to_wire())]
                    })
                    .collect(),
                |row| rows::person(row),
            )
            .await?;
        let by_names = e
            .query_each(
                rows::PERSONS_BY_NAME_KANA,
                near.iter()
                    .map(|&n| {
                        let c = &r.identities[n];
                        vec![t(&c.name), t(&c.name_kana)]
                    })
                    .collect(),
                |row| rows::person(row),
            )
            .await?;
        for ((&n, a), b) in near.iter().zip(by_kana).zip(by_names) {
            for p in a.into_iter().chain(b) {
                if let Some(slot) = snap.candidates.get_mut(n)
                    && !slot.contains(&p.id)
                {
                    slot.push(p.id);
                }
                snap.persons.insert(p.id, p);
            }
        }
    }

    let prefixes = dedup(r.card_prefixes.iter().cloned());
    let mut with_specific = Vec::new();
    let mut add = |snap: &mut InsurerSnapshot, found: Vec<(QualificationRecord, bool)>| {
        for (rec, has_specific) in found {
            if has_specific && !snap.qualifications.contains_key(&rec.qualification.id) {
                with_specific.push(rec.qualification.id);
            }
            snap.qualifications.insert(rec.qualification.id, rec);
        }
    };
    let prefix_params: Vec<Vec<Param>> = prefixes
        .iter()
        .map(|p| vec![t(&p.insurer_number), t(&p.number_norm), t(&p.symbol_norm)])
        .collect();
    for found in e
        .query_each(
            rows::QUALIFICATIONS_BY_PREFIX,
            prefix_params.clone(),
            |row| rows::qualification_record(row),
        )
        .await?
    {
        add(&mut snap, found);
    }
    let person_ids = dedup(
        snap.persons
            .keys()
            .copied()
            .chain(snap.qualifications.values().map(|q| q.person.id)),
    );
    for found in e
        .query_each(
            rows::FIND_BY_PERSON,
            person_ids.iter().map(|&id| vec![i(id)]).collect(),
            |row| rows::qualification_record(row),
        )
        .await?
    {
        add(&mut snap, found);
    }
    for found in e
        .query_each(
            rows::SPECIFIC_FOR,
            with_specific.iter().map(|&id| vec![i(id)]).collect(),
            |row| rows::specific_disease(row),
        )
        .await?
    {
        for d in found {
            if let Some(q) = snap.qualifications.get_mut(&d.qualification_id) {
                q.specific_diseases.push(d);
            }
        }
    }
    for found in e
        .query_each(rows::HOLDS_BY_PREFIX, prefix_params, |row| rows::hold(row))
        .await?
    {
        snap.holds.extend(found);
    }
    for found in e
        .query_each(
            rows::PENDING_OF_PERSON,
            person_ids.iter().map(|&id| vec![i(id)]).collect(),
            |row| rows::pending(row),
        )
        .await?
    {
        snap.pending.extend(found);
    }
    snap.next_qualification_id = e
        .query_each(rows::NEXT_QUALIFICATION_ID, vec![vec![]], |row| {
            row.int(0)?
                .ok_or_else(|| StoreError::Corrupt("no next qualification id".into()))
        })
        .await?
        .into_iter()
        .flatten()
        .next()
        .unwrap_or(1);
    Ok(snap)
}

fn qualification_params(q: &Qualification, has_specific: bool) -> Vec<Param> {
    let v = QualificationValues::new(q, has_specific);
    vec![
        i(v.id),
        i(v.person_id),
        t(&v.insurer_number),
        ot(v.symbol.as_deref()),
        t(&v.symbol_norm),
        t(&v.number),
        t(&v.number_norm),
        oi(v.branch),
        t(v.personal_family),
        ot(v.insured_name.as_deref()),
        t(v.card_classification),
        t(&v.qualification_date),
        ot(v.disqualification_date.as_deref()),
        ot(v.reason_of_loss),
        oi(v.successor_id),
        ot(v.certificate_issuance_date.as_deref()),
        ot(v.card_valid_from.as_deref()),
        ot(v.card_valid_to.as_deref()),
        t(v.income),
        i(v.has_specific),
    ]
}

pub(crate) async fn write<E: Exec>(e: &mut E, w: &InsurerWrites) -> Result<()> {
    let at = w.at.map(JstDateTime::unix_micros).unwrap_or(0);
    e.execute_each(
        rows::DELETE_HOLD,
        w.delete_holds
            .iter()
            .map(|k| {
                vec![
                    t(&k.insurer_number),
                    t(&k.symbol_norm),
                    t(&k.number_norm),
                    i(k.branch.map_or(-1, i64::from)),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::INSERT_QUALIFICATION,
        w.insert_qualifications
            .iter()
            .map(|q| qualification_params(q, w.has_specific.contains(&q.id)))
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::UPDATE_QUALIFICATION,
        w.update_qualifications
            .iter()
            .map(|q| {
                // Same values as the insert, id moved to the end.
                let mut p = qualification_params(q, w.has_specific.contains(&q.id));
                let id = p.remove(0);
                p.remove(0); // person_id is never changed
                p.remove(0); // nor the insurer
                p.push(id);
                p
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::UPSERT_ELDERLY,
        w.elderly
            .iter()
            .map(|x| {
                vec![
                    i(x.qualification_id),
                    t(&x.certificate_date.to_wire()),
                    t(&x.valid_start.to_wire()),
                    t(&x.valid_end.to_wire()),
                    i(i64::from(x.contribution_ratio)),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::FLAG_ELDERLY,
        w.elderly
            .iter()
            .map(|x| vec![i(x.qualification_id)])
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::UPSERT_LIMIT,
        w.limits
            .iter()
            .map(|l| {
                vec![
                    i(l.qualification_id),
                    t(l.classification.code()),
                    t(l.flag.code()),
                    t(&l.certificate_date.to_wire()),
                    t(&l.valid_start.to_wire()),
                    ot(rows::opt_ymd_text(l.valid_end).as_deref()),
                    ot(rows::opt_ymd_text(l.long_term_date).as_deref()),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::FLAG_LIMIT,
        w.limits
            .iter()
            .map(|l| vec![i(l.qualification_id)])
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::INSERT_SPECIFIC,
        w.insert_specific
            .iter()
            .map(|d| {
                vec![
                    i(d.qualification_id),
                    t(d.category.code()),
                    t(&d.certificate_date.to_wire()),
                    t(&d.valid_start.to_wire()),
                    ot(rows::opt_ymd_text(d.valid_end).as_deref()),
                    i(i64::from(d.self_pay)),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::UPDATE_SPECIFIC,
        w.update_specific
            .iter()
            .map(|d| {
                vec![
                    t(&d.certificate_date.to_wire()),
                    ot(rows::opt_ymd_text(d.valid_end).as_deref()),
                    i(i64::from(d.self_pay)),
                    i(d.qualification_id),
                    t(d.category.code()),
                    t(&d.valid_start.to_wire()),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::INSERT_HOLD,
        w.insert_holds
            .iter()
            .map(|h| {
                vec![
                    t(&h.insurer_number),
                    t(&h.symbol_norm),
                    t(&h.number_norm),
                    oi(h.branch.map(i64::from)),
                    t(&h.birthdate),
                    t(&h.name),
                    t(&h.registration),
                    t(&h.differences),
                    oi(h.candidate_person_id),
                    i(h.received_at.unix_micros()),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::DELETE_PENDING,
        w.delete_pending
            .iter()
            .map(|(ins, person)| vec![t(ins), i(*person)])
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::UPSERT_PENDING,
        w.upsert_pending
            .iter()
            .map(|p| {
                vec![
                    t(&p.insurer_number),
                    i(p.person_id),
                    t(&p.symbol_norm),
                    t(&p.number_norm),
                    oi(p.branch.map(i64::from)),
                    t(&p.received_date.to_wire()),
                    i(p.registered_at.unix_micros()),
                ]
            })
            .collect(),
    )
    .await?;
    e.execute_each(
        rows::INSERT_NOTICE,
        w.notices
            .iter()
            .map(|n| {
                vec![
                    i(n.person_id),
                    i(n.qualification_id),
                    t(&n.insurer_number),
                    t(n.kind),
                    i(at),
                ]
            })
            .collect(),
    )
    .await?;
    if let Some(b) = &w.batch {
        e.execute_each(
            rows::INSERT_INSURER_BATCH,
            vec![vec![
                t(&b.insurer_number),
                i(at),
                t(&b.format),
                i(b.rows),
                i(b.applied),
                i(b.unchanged),
                i(b.suspended),
                i(b.refused),
            ]],
        )
        .await?;
    }
    Ok(())
}

/// Reads, plans and writes one chunk.
pub(crate) async fn run<E: Exec, R>(
    e: &mut E,
    reads: &InsurerReads,
    plan: impl FnOnce(InsurerSnapshot) -> (InsurerWrites, R),
) -> Result<R> {
    let snapshot = read_snapshot(e, reads).await?;
    let (writes, out) = plan(snapshot);
    write(e, &writes).await?;
    Ok(out)
}

pub(crate) async fn pending_by_card<E: Exec>(
    e: &mut E,
    q: &crate::CardQuery,
) -> Result<Option<PendingInfo>> {
    Ok(e.query_each(
        rows::PENDING_BY_CARD,
        vec![vec![
            t(&q.insurer_number),
            t(&q.number_norm),
            t(&q.symbol_norm),
            t(&q.birthdate.to_wire()),
        ]],
        |row| rows::pending_info(row),
    )
    .await?
    .into_iter()
    .flatten()
    .next())
}

pub(crate) async fn pending_by_person<E: Exec>(
    e: &mut E,
    person_id: i64,
) -> Result<Option<PendingInfo>> {
    Ok(
        e.query_each(rows::PENDING_BY_PERSON, vec![vec![i(person_id)]], |row| {
            rows::pending_info(row)
        })
        .await?
        .into_iter()
        .flatten()
        .next(),
    )
}

pub(crate) async fn suspended<E: Exec>(e: &mut E, insurer: Option<&str>) -> Result<Vec<Hold>> {
    Ok(e.query_each(
        rows::SUSPENDED,
        vec![vec![t(insurer.unwrap_or(""))]],
        |row| rows::hold(row),
    )
    .await?
    .into_iter()
    .flatten()
    .collect())
}

pub(crate) async fn notices<E: Exec>(
    e: &mut E,
    after_id: i64,
    insurer: Option<&str>,
    limit: i64,
) -> Result<Vec<NoticeRow>> {
    Ok(e.query_each(
        rows::NOTICES,
        vec![vec![i(after_id), t(insurer.unwrap_or("")), i(limit)]],
        |row| rows::notice(row),
    )
    .await?
    .into_iter()
    .flatten()
    .collect())
}

pub(crate) async fn notices_of_person<E: Exec>(
    e: &mut E,
    person_id: i64,
) -> Result<Vec<NoticeRow>> {
    Ok(
        e.query_each(rows::NOTICES_OF_PERSON, vec![vec![i(person_id)]], |row| {
            rows::notice(row)
        })
        .await?
        .into_iter()
        .flatten()
        .collect(),
    )
}
