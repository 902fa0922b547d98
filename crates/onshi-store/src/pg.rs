//! The PostgreSQL backend: a connection pool for reads and admin work, COPY for bulk
//! loads, and a group-commit writer task that inserts history rows with one `UNNEST`
//! statement per group.

use crate::insurer::PgExec;
use crate::rows::{self, QualificationValues};
use crate::{
    BulkChunk, BulkJob, CardKey, CardQuery, CardRecord, ConsentRecord, CountedTable, Holder,
    HolderQuery, PopulationSlice, QualificationRecord, Result, StoreError, VerificationRecord,
    WriteOp,
};
use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::SinkExt;
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::model::{Facility, Insurer, Person};
use std::collections::HashMap;
use std::collections::HashSet;
use std::str::FromStr;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

/// Connections per pool (primary, and replica when there is one) unless
/// `ONSHI_PG_POOL_SIZE` says otherwise.
const DEFAULT_POOL_SIZE: usize = 16;

/// The pool size: `ONSHI_PG_POOL_SIZE` when it is a positive number, else
/// [`DEFAULT_POOL_SIZE`]. (Like vaultwarden's `DATABASE_MAX_CONNS`: the right figure
/// depends on the server's cores and on how many central processes share it.)
pub(crate) fn pool_size() -> usize {
    std::env::var("ONSHI_PG_POOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(DEFAULT_POOL_SIZE)
}
const MAX_GROUP: usize = 1024;

/// Planner settings sent at the start of every session of ours (before any `options` the
/// URL gives, so an operator's own value wins).
///
/// `random_page_cost = 1.1`: central's working set is meant to be in memory (or on SSD),
/// and the default 4.0 models a spinning disk. With it the planner prices an index descent
/// of the 292-row `insurer` table above a sequential scan of its three pages, so every check
/// by card data scanned and compared all 292 rows: 40 µs of the 108 µs the lookup took
/// (10,000,000 people, `pg_stat_statements`; docs/postgres-plans.md).
pub(crate) const SESSION_OPTIONS: &str = "-c random_page_cost=1.1";

/// `config` with [`SESSION_OPTIONS`] in front of its own options.
pub(crate) fn with_session_options(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    let options = match config.get_options() {
        Some(own) if !own.trim().is_empty() => format!("{SESSION_OPTIONS} {own}"),
        _ => SESSION_OPTIONS.to_string(),
    };
    config.options(&options);
    config
}

type WriteJob = (WriteOp, oneshot::Sender<Result<bool>>);

#[derive(Clone)]
pub(crate) struct PgStore {
    pool: Pool,
    writer: mpsc::UnboundedSender<WriteJob>,
    /// A streaming replica for the reads that may use one ([`PgStore::read`]).
    reads: Option<std::sync::Arc<crate::replica::ReadRouter>>,
    /// Checks by card data go through this queue when coalescing is on
    /// ([`crate::coalesce`]); `None` in the dispatcher's own handle.
    lookups: Option<crate::coalesce::Coalescer>,
}

const INSERT_VERIFICATIONS: &str = "INSERT INTO verification (request_id, facility_code, checked_at, confirmation_date, \
     reference_classification, insurer_number, symbol, number, branch, birthdate, arbitrary_file_identifier, \
     processing_status, error_code, validity, person_id, qualification_id, identity_method, card_serial, \
     card_profile, consents) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], $16::bigint[], \
     $17::text[], $18::text[], $19::text[], $20::text[])";

pub(crate) fn pool_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Pool(e.to_string())
}

impl PgStore {
    pub(crate) async fn open(
        url: &str,
        replica: Option<&crate::replica::ReplicaOptions>,
    ) -> Result<Self> {
        let config = with_session_options(
            tokio_postgres::Config::from_str(url).map_err(|_| StoreError::Url(url.into()))?,
        );
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size())
            .build()
            .map_err(pool_err)?;
        {
            let mut client = pool.get().await.map_err(pool_err)?;
            migrate(&mut client).await?;
        }
        let reads = match replica {
            Some(r) => Some(crate::replica::ReadRouter::start(&config, r)?),
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(config, rx));
        let mut store = PgStore {
            pool,
            writer: tx,
            reads,
            lookups: None,
        };
        let slots = crate::coalesce::in_flight();
        if slots > 0 {
            store.lookups = Some(crate::coalesce::Coalescer::start(store.clone(), slots));
        }
        Ok(store)
    }

    /// The coalescer's counters (all 0 when coalescing is off).
    pub(crate) fn lookup_counts(&self) -> crate::coalesce::LookupTally {
        self.lookups
            .as_ref()
            .map_or_else(Default::default, |c| c.counts())
    }

    pub(crate) fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Runs a read of qualification data on the replica when it is within its bound on
    /// staleness, else (or if it fails there) on the primary.
    /// (The connection is handed over by value: a closure over a borrowed one would make
    /// the callers' futures not provably `Send`.)
    async fn read<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: Fn(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        if let Some(router) = &self.reads
            && let Some(v) = router.try_read(&read).await
        {
            return Ok(v);
        }
        read(self.client().await?).await
    }

    pub(crate) fn read_routing(&self) -> Option<std::sync::Arc<crate::replica::ReadRouting>> {
        self.reads.as_ref().map(|r| r.routing.clone())
    }

    pub(crate) async fn upsert_insurers(&self, insurers: &[Insurer]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx.prepare_cached(rows::UPSERT_INSURER).await?;
        for i in insurers {
            tx.execute(&stmt, &[&i.number.digits(), &i.name, &i.kind.code()])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn upsert_facilities(&self, facilities: &[Facility]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx.prepare_cached(rows::UPSERT_FACILITY).await?;
        for f in facilities {
            tx.execute(
                &stmt,
                &[
                    &f.code.as_str(),
                    &f.name,
                    &i64::from(f.enabled),
                    &i64::from(f.smartphone_enabled),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn load_population(&self, s: PopulationSlice<'_>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        copy_population(&tx, s).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// COPY of a population slice, inside the caller's transaction.
pub(crate) async fn copy_population(
    tx: &deadpool_postgres::Transaction<'_>,
    s: PopulationSlice<'_>,
) -> Result<()> {
    let with_specific: HashSet<i64> = s
        .specific_diseases
        .iter()
        .map(|d| d.qualification_id)
        .collect();
    let with_elderly: HashSet<i64> = s.elderly.iter().map(|e| e.qualification_id).collect();
    let with_limit: HashSet<i64> = s
        .limit_certificates
        .iter()
        .map(|l| l.qualification_id)
        .collect();

    let mut buf = CopyBuf::default();
    for p in s.persons {
        buf.int(p.id)
            .text(&p.name)
            .text(&p.name_kana)
            .text(&p.birthdate.to_wire())
            .text(p.sex.code())
            .text(&p.address)
            .last_text(Some(&p.post_number));
    }
    copy(
        tx,
        "COPY person (id, name, name_kana, birthdate, sex, address, post_number) FROM STDIN",
        buf,
    )
    .await?;

    let mut buf = CopyBuf::default();
    for q in s.qualifications {
        let v = QualificationValues::new(q, with_specific.contains(&q.id));
        buf.int(v.id)
            .int(v.person_id)
            .text(&v.insurer_number)
            .opt_text(v.symbol.as_deref())
            .text(&v.symbol_norm)
            .text(&v.number)
            .text(&v.number_norm)
            .opt_int(v.branch)
            .text(v.personal_family)
            .opt_text(v.insured_name.as_deref())
            .text(v.card_classification)
            .text(&v.qualification_date)
            .opt_text(v.disqualification_date.as_deref())
            .opt_text(v.reason_of_loss)
            .opt_int(v.successor_id)
            .opt_text(v.certificate_issuance_date.as_deref())
            .opt_text(v.card_valid_from.as_deref())
            .opt_text(v.card_valid_to.as_deref())
            .text(v.income)
            .int(v.has_specific)
            .int(i64::from(with_elderly.contains(&q.id)))
            .last_int(i64::from(with_limit.contains(&q.id)));
    }
    copy(
            tx,
            "COPY qualification (id, person_id, insurer_number, symbol, symbol_norm, number, number_norm, branch, \
             personal_family, insured_name, card_classification, qualification_date, disqualification_date, \
             reason_of_loss, successor_id, certificate_issuance_date, card_valid_from, card_valid_to, income, \
             has_specific, has_elderly, has_limit) FROM STDIN",
            buf,
        )
        .await?;

    let mut buf = CopyBuf::default();
    for e in s.elderly {
        buf.int(e.qualification_id)
            .text(&e.certificate_date.to_wire())
            .text(&e.valid_start.to_wire())
            .text(&e.valid_end.to_wire())
            .last_int(i64::from(e.contribution_ratio));
    }
    copy(tx, "COPY elderly_recipient (qualification_id, certificate_date, valid_start, valid_end, contribution_ratio) FROM STDIN", buf).await?;

    let mut buf = CopyBuf::default();
    for l in s.limit_certificates {
        buf.int(l.qualification_id)
            .text(l.classification.code())
            .text(l.flag.code())
            .text(&l.certificate_date.to_wire())
            .text(&l.valid_start.to_wire())
            .opt_text(rows::opt_ymd_text(l.valid_end).as_deref())
            .last_text(rows::opt_ymd_text(l.long_term_date).as_deref());
    }
    copy(tx, "COPY limit_certificate (qualification_id, classification, flag, certificate_date, valid_start, valid_end, long_term_date) FROM STDIN", buf).await?;

    let mut buf = CopyBuf::default();
    for d in s.specific_diseases {
        buf.int(d.qualification_id)
            .text(d.category.code())
            .text(&d.certificate_date.to_wire())
            .text(&d.valid_start.to_wire())
            .opt_text(rows::opt_ymd_text(d.valid_end).as_deref())
            .last_int(i64::from(d.self_pay));
    }
    copy(tx, "COPY specific_disease (qualification_id, category, certificate_date, valid_start, valid_end, self_pay) FROM STDIN", buf).await?;
    Ok(())
}

impl PgStore {
    pub(crate) async fn facility(&self, code: &MedicalInstitutionCode) -> Result<Option<Facility>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(rows::FACILITY).await?;
        client
            .query_opt(&stmt, &[&code.as_str()])
            .await?
            .map(|r| rows::facility(&r))
            .transpose()
    }

    pub(crate) async fn set_facility_enabled(
        &self,
        code: &MedicalInstitutionCode,
        enabled: bool,
    ) -> Result<bool> {
        let client = self.client().await?;
        let n = client
            .execute(
                rows::SET_FACILITY_ENABLED,
                &[&i64::from(enabled), &code.as_str()],
            )
            .await?;
        Ok(n > 0)
    }

    /// One check's lookup: through the coalescer when there is one.
    pub(crate) async fn find_by_card(&self, q: &CardQuery) -> Result<Vec<QualificationRecord>> {
        match &self.lookups {
            Some(c) => c.find(q).await,
            None => self.find_by_card_alone(q).await,
        }
    }

    /// One check's lookup in a statement of its own.
    pub(crate) async fn find_by_card_alone(
        &self,
        q: &CardQuery,
    ) -> Result<Vec<QualificationRecord>> {
        self.read(|client| async move { Self::find_by_card_on(&client, q).await })
            .await
    }

    async fn find_by_card_on(
        client: &deadpool_postgres::Object,
        q: &CardQuery,
    ) -> Result<Vec<QualificationRecord>> {
        let stmt = client.prepare_cached(rows::FIND_BY_CARD).await?;
        let birthdate = q.birthdate.to_wire();
        let has_branch = i64::from(q.branch.is_some());
        let branch = q.branch.map(i64::from).unwrap_or(-1);
        let found = client
            .query(
                &stmt,
                &[
                    &q.insurer_number,
                    &q.number_norm,
                    &q.symbol_norm,
                    &birthdate,
                    &has_branch,
                    &branch,
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(found.len());
        for r in &found {
            let (mut rec, has_specific) = rows::qualification_record(r)?;
            if has_specific {
                let stmt = client.prepare_cached(rows::SPECIFIC_FOR).await?;
                for r in client.query(&stmt, &[&rec.qualification.id]).await? {
                    rec.specific_diseases.push(rows::specific_disease(&r)?);
                }
            }
            out.push(rec);
        }
        Ok(out)
    }

    pub(crate) async fn submit(&self, op: WriteOp) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send((op, tx))
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    pub(crate) async fn query_all<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        map: fn(&tokio_postgres::Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await?;
        client.query(&stmt, params).await?.iter().map(map).collect()
    }

    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await?;
        Ok(client.execute(&stmt, params).await?)
    }

    pub(crate) async fn insert_cards(&self, cards: &[CardRecord]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx.prepare_cached(rows::INSERT_CARD).await?;
        for c in cards {
            tx.execute(
                &stmt,
                &[
                    &c.serial,
                    &c.person_id,
                    &c.profile,
                    &c.not_after.to_wire(),
                    &c.issued_at.unix_micros(),
                    &c.revoked_at.map(JstDateTime::unix_micros),
                    &c.registered_at.map(JstDateTime::unix_micros),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn card(&self, serial: &str) -> Result<Option<CardRecord>> {
        Ok(self
            .query_all(rows::CARD_BY_SERIAL, &[&serial], rows::card)
            .await?
            .pop())
    }

    pub(crate) async fn cards_of_person(&self, person_id: i64) -> Result<Vec<CardRecord>> {
        self.query_all(rows::CARDS_OF_PERSON, &[&person_id], rows::card)
            .await
    }

    pub(crate) async fn list_cards(&self, limit: i64) -> Result<Vec<CardRecord>> {
        self.query_all(rows::LIST_CARDS, &[&limit], rows::card)
            .await
    }

    pub(crate) async fn revoked_cards(&self) -> Result<Vec<String>> {
        self.query_all(rows::REVOKED_CARDS, &[], |r| Ok(r.try_get::<_, String>(0)?))
            .await
    }

    pub(crate) async fn register_card(&self, serial: &str, at: JstDateTime) -> Result<bool> {
        Ok(self
            .execute(rows::REGISTER_CARD, &[&at.unix_micros(), &serial])
            .await?
            > 0)
    }

    pub(crate) async fn record_consent(&self, c: &ConsentRecord) -> Result<bool> {
        let n = self
            .execute(
                rows::INSERT_CONSENT,
                &[
                    &c.check_request_id,
                    &c.facility_code,
                    &c.person_id,
                    &c.consented_at.unix_micros(),
                    &c.available_until.unix_micros(),
                    &rows::consent_information(c),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn valid_consents(
        &self,
        facility: &MedicalInstitutionCode,
        person_id: i64,
        at: JstDateTime,
    ) -> Result<Vec<ConsentRecord>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(rows::VALID_CONSENTS).await?;
        let found = client
            .query(&stmt, &[&facility.as_str(), &person_id, &at.unix_micros()])
            .await?;
        Ok(found
            .into_iter()
            .map(|r| rows::consent(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect())
    }

    pub(crate) async fn revoke_card(&self, serial: &str, at: JstDateTime) -> Result<bool> {
        Ok(self
            .execute(rows::REVOKE_CARD, &[&at.unix_micros(), &serial])
            .await?
            > 0)
    }

    pub(crate) async fn set_smartphone_enabled(
        &self,
        code: &MedicalInstitutionCode,
        enabled: bool,
    ) -> Result<bool> {
        let n = self
            .execute(
                rows::SET_SMARTPHONE_ENABLED,
                &[&i64::from(enabled), &code.as_str()],
            )
            .await?;
        Ok(n > 0)
    }

    pub(crate) async fn person(&self, id: i64) -> Result<Option<Person>> {
        Ok(self
            .query_all(rows::PERSON, &[&id], rows::person)
            .await?
            .pop())
    }

    pub(crate) async fn find_by_person(&self, person_id: i64) -> Result<Vec<QualificationRecord>> {
        self.read(|client| async move {
            let stmt = client.prepare_cached(rows::FIND_BY_PERSON).await?;
            let found = client.query(&stmt, &[&person_id]).await?;
            let mut out = Vec::with_capacity(found.len());
            for r in &found {
                let (mut rec, has_specific) = rows::qualification_record(r)?;
                if has_specific {
                    let stmt = client.prepare_cached(rows::SPECIFIC_FOR).await?;
                    for r in client.query(&stmt, &[&rec.qualification.id]).await? {
                        rec.specific_diseases.push(rows::specific_disease(&r)?);
                    }
                }
                out.push(rec);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn used_physical_card_at(
        &self,
        person_id: i64,
        facility: &str,
    ) -> Result<bool> {
        let n = self
            .query_all(rows::USED_PHYSICAL_CARD_AT, &[&person_id, &facility], |r| {
                Ok(r.try_get::<_, i64>(0)?)
            })
            .await?;
        Ok(n.first().copied().unwrap_or(0) > 0)
    }

    pub(crate) async fn secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>> {
        self.execute(rows::INSERT_SECRET, &[&name, &fresh]).await?;
        let v = self
            .query_all(rows::SECRET, &[&name], |r| Ok(r.try_get::<_, Vec<u8>>(0)?))
            .await?;
        v.into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("secret vanished".into()))
    }

    pub(crate) async fn verifications(
        &self,
        facility: &MedicalInstitutionCode,
        from: JstDateTime,
        to: JstDateTime,
        limit: i64,
    ) -> Result<Vec<VerificationRecord>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(rows::VERIFICATIONS).await?;
        let rs = client
            .query(
                &stmt,
                &[
                    &facility.as_str(),
                    &from.unix_micros(),
                    &to.unix_micros(),
                    &limit,
                ],
            )
            .await?;
        rs.iter().map(rows::verification).collect()
    }

    pub(crate) async fn find_by_cards(
        &self,
        queries: &[CardQuery],
    ) -> Result<Vec<Vec<QualificationRecord>>> {
        self.read(|client| async move { Self::find_by_cards_on(&client, queries).await })
            .await
    }

    async fn find_by_cards_on(
        client: &deadpool_postgres::Object,
        queries: &[CardQuery],
    ) -> Result<Vec<Vec<QualificationRecord>>> {
        let stmt = client.prepare_cached(rows::FIND_BY_CARDS_PG).await?;
        let index: Vec<i64> = (0..queries.len() as i64).collect();
        let ins: Vec<&str> = queries.iter().map(|q| q.insurer_number.as_str()).collect();
        let num: Vec<&str> = queries.iter().map(|q| q.number_norm.as_str()).collect();
        let sym: Vec<&str> = queries.iter().map(|q| q.symbol_norm.as_str()).collect();
        let bd: Vec<String> = queries.iter().map(|q| q.birthdate.to_wire()).collect();
        let br: Vec<Option<i64>> = queries.iter().map(|q| q.branch.map(i64::from)).collect();
        let found = client
            .query(&stmt, &[&index, &ins, &num, &sym, &bd, &br])
            .await?;
        let mut out: Vec<Vec<QualificationRecord>> = vec![Vec::new(); queries.len()];
        let mut with_specific = Vec::new();
        for r in &found {
            let i: i64 = r.try_get(rows::FIND_BY_CARDS_KEY_COLUMN)?;
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
        if !with_specific.is_empty() {
            let stmt = client.prepare_cached(rows::SPECIFIC_FOR_MANY_PG).await?;
            let mut by_qualification: HashMap<i64, Vec<_>> = HashMap::new();
            for r in client.query(&stmt, &[&with_specific]).await? {
                let d = rows::specific_disease(&r)?;
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

    pub(crate) async fn holders(&self, q: &HolderQuery) -> Result<Vec<Holder>> {
        let has_branch = i64::from(q.branch.is_some());
        let branch = q.branch.map(i64::from).unwrap_or(-1);
        self.query_all(
            rows::HOLDERS,
            &[
                &q.insurer_number,
                &q.number_norm,
                &q.symbol_norm,
                &has_branch,
                &branch,
            ],
            rows::holder,
        )
        .await
    }

    pub(crate) async fn register_reference_number(
        &self,
        facility: &str,
        person_id: i64,
        reference_number: &str,
        at: JstDateTime,
    ) -> Result<()> {
        self.execute(
            rows::UPSERT_REFERENCE_NUMBER,
            &[&facility, &person_id, &reference_number, &at.unix_micros()],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn facility_uses_reference_numbers(&self, facility: &str) -> Result<bool> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(rows::FACILITY_USES_REFERENCE_NUMBERS)
            .await?;
        Ok(client.query_one(&stmt, &[&facility]).await?.get(0))
    }

    pub(crate) async fn reference_number(
        &self,
        facility: &str,
        person_id: i64,
    ) -> Result<Option<String>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(rows::REFERENCE_NUMBER).await?;
        Ok(client
            .query_opt(&stmt, &[&facility, &person_id])
            .await?
            .map(|r| r.get(0)))
    }

    pub(crate) async fn reference_numbers(
        &self,
        facility: &str,
        person_ids: &[i64],
    ) -> Result<HashMap<i64, String>> {
        let ids = person_ids.to_vec();
        let found = self
            .query_all(rows::REFERENCE_NUMBERS_PG, &[&facility, &ids], |r| {
                Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?))
            })
            .await?;
        Ok(found.into_iter().collect())
    }

    pub(crate) async fn create_bulk_job(&self, j: &BulkJob, request: &[u8]) -> Result<()> {
        self.execute(
            rows::INSERT_BULK_JOB,
            &[
                &j.reception_number,
                &j.facility_code,
                &j.received_at.unix_micros(),
                &j.confirmation_date,
                &j.arbitrary_file_identifier,
                &j.state.code(),
                &j.total,
                &j.normal,
                &j.errors,
                &j.error_code,
                &j.finished_at.map(JstDateTime::unix_micros),
                &request,
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn bulk_job(&self, reception_number: &str) -> Result<Option<BulkJob>> {
        Ok(self
            .query_all(rows::BULK_JOB, &[&reception_number], rows::bulk_job)
            .await?
            .pop())
    }

    pub(crate) async fn bulk_request(&self, reception_number: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .query_all(rows::BULK_REQUEST, &[&reception_number], |r| {
                Ok(r.try_get::<_, Vec<u8>>(0)?)
            })
            .await?
            .pop())
    }

    pub(crate) async fn unfinished_bulk_jobs(&self) -> Result<Vec<String>> {
        self.query_all(rows::UNFINISHED_BULK_JOBS, &[], |r| {
            Ok(r.try_get::<_, String>(0)?)
        })
        .await
    }

    pub(crate) async fn bulk_units_done(&self, reception_number: &str) -> Result<i64> {
        let n = self
            .query_all(rows::BULK_UNITS_DONE, &[&reception_number], |r| {
                Ok(r.try_get::<_, i64>(0)?)
            })
            .await?;
        Ok(n.first().copied().unwrap_or(0))
    }

    pub(crate) async fn bulk_units(&self, reception_number: &str) -> Result<Vec<Vec<u8>>> {
        self.query_all(rows::BULK_UNITS, &[&reception_number], |r| {
            Ok(r.try_get::<_, Vec<u8>>(0)?)
        })
        .await
    }

    pub(crate) async fn write_bulk_chunk(&self, c: &BulkChunk) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let seqs: Vec<i64> = (0..c.units.len() as i64).map(|n| c.first_seq + n).collect();
        let units: Vec<&[u8]> = c.units.iter().map(Vec::as_slice).collect();
        tx.execute(
            rows::INSERT_BULK_UNITS_PG,
            &[&c.reception_number, &seqs, &units],
        )
        .await?;
        let records: Vec<&VerificationRecord> = c.records.iter().collect();
        insert_verifications(&tx, INSERT_VERIFICATIONS, &records).await?;
        let advanced = tx
            .execute(
                rows::ADVANCE_BULK_JOB,
                &[
                    &c.normal,
                    &c.errors,
                    &i64::from(c.finished_at.is_some()),
                    &c.finished_at.map(JstDateTime::unix_micros),
                    &c.reception_number,
                ],
            )
            .await?;
        if advanced != 1 {
            return Err(StoreError::Corrupt(format!(
                "bulk job {} is not processing",
                c.reception_number
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn fail_bulk_job(
        &self,
        reception_number: &str,
        error_code: &str,
        at: JstDateTime,
    ) -> Result<()> {
        self.execute(
            rows::FAIL_BULK_JOB,
            &[&error_code, &at.unix_micros(), &reception_number],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn count(&self, table: CountedTable) -> Result<i64> {
        let client = self.client().await?;
        Ok(client.query_one(table.sql(), &[]).await?.try_get(0)?)
    }

    pub(crate) async fn sample_card_keys(&self, n: i64) -> Result<Vec<CardKey>> {
        let total = self.count(CountedTable::Qualification).await?;
        let step = (total / n.max(1)).max(1);
        let client = self.client().await?;
        let rs = client.query(rows::SAMPLE_CARD_KEYS, &[&step, &n]).await?;
        rs.iter().map(rows::card_key).collect()
    }
}

/// Serialises insurer batches across central processes (any constant will do; this one
/// is only used here).
const INSURER_BATCH_LOCK: &str = "SELECT pg_advisory_xact_lock(70070007)";

impl PgStore {
    pub(crate) async fn insurer_batch<R>(
        &self,
        reads: &crate::insurer::InsurerReads,
        plan: impl FnOnce(crate::insurer::InsurerSnapshot) -> (crate::insurer::InsurerWrites, R),
    ) -> Result<R> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(INSURER_BATCH_LOCK).await?;
        let out = {
            let mut e = PgExec { tx: &tx };
            crate::insurer::run(&mut e, reads, plan).await?
        };
        tx.commit().await?;
        Ok(out)
    }

    pub(crate) async fn pending_by_card(
        &self,
        q: &CardQuery,
    ) -> Result<Option<crate::insurer::PendingInfo>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        crate::insurer::pending_by_card(&mut PgExec { tx: &tx }, q).await
    }

    pub(crate) async fn pending_by_person(
        &self,
        person_id: i64,
    ) -> Result<Option<crate::insurer::PendingInfo>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        crate::insurer::pending_by_person(&mut PgExec { tx: &tx }, person_id).await
    }

    pub(crate) async fn suspended(
        &self,
        insurer: Option<&str>,
    ) -> Result<Vec<crate::insurer::Hold>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        crate::insurer::suspended(&mut PgExec { tx: &tx }, insurer).await
    }

    pub(crate) async fn notices(
        &self,
        after_id: i64,
        insurer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<crate::insurer::NoticeRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        crate::insurer::notices(&mut PgExec { tx: &tx }, after_id, insurer, limit).await
    }

    pub(crate) async fn notices_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<crate::insurer::NoticeRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        crate::insurer::notices_of_person(&mut PgExec { tx: &tx }, person_id).await
    }
}

async fn migrate(client: &mut deadpool_postgres::Object) -> Result<()> {
    let tx = client.transaction().await?;
    // Several central processes may start at once: one migrates, the others wait.
    tx.execute("SELECT pg_advisory_xact_lock(7164853)", &[])
        .await?;
    tx.batch_execute(&crate::migrate::create_table("public"))
        .await?;
    for (name, sql) in crate::migrate::POSTGRES {
        let done: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM schema_migrations WHERE name = $1",
                &[name],
            )
            .await?
            .try_get(0)?;
        if done == 0 {
            tx.batch_execute(sql)
                .await
                .map_err(|e| StoreError::Migration {
                    name: (*name).to_string(),
                    reason: e.to_string(),
                })?;
            tx.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                &[name, &crate::migrate::now_micros()],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Rows in PostgreSQL's COPY text format.
#[derive(Default)]
pub(crate) struct CopyBuf {
    out: String,
}

impl CopyBuf {
    pub(crate) fn raw(&mut self, v: Option<&str>, last: bool) -> &mut Self {
        match v {
            None => self.out.push_str("\\N"),
            Some(v) => {
                for ch in v.chars() {
                    match ch {
                        '\\' => self.out.push_str("\\\\"),
                        '\t' => self.out.push_str("\\t"),
                        '\n' => self.out.push_str("\\n"),
                        '\r' => self.out.push_str("\\r"),
                        c => self.out.push(c),
                    }
                }
            }
        }
        self.out.push(if last { '\n' } else { '\t' });
        self
    }
    pub(crate) fn text(&mut self, v: &str) -> &mut Self {
        self.raw(Some(v), false)
    }
    pub(crate) fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        self.raw(v, false)
    }
    pub(crate) fn last_text(&mut self, v: Option<&str>) -> &mut Self {
        self.raw(v, true)
    }
    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.raw(Some(&v.to_string()), false)
    }
    pub(crate) fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        self.raw(v.map(|v| v.to_string()).as_deref(), false)
    }
    pub(crate) fn last_int(&mut self, v: i64) -> &mut Self {
        self.raw(Some(&v.to_string()), true)
    }
}

pub(crate) async fn copy(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    buf: CopyBuf,
) -> Result<()> {
    if buf.out.is_empty() {
        return Ok(());
    }
    let sink = tx.copy_in::<_, Bytes>(sql).await?;
    futures_util::pin_mut!(sink);
    sink.send(Bytes::from(buf.out)).await?;
    sink.finish().await?;
    Ok(())
}

async fn writer(config: tokio_postgres::Config, mut rx: mpsc::UnboundedReceiver<WriteJob>) {
    let mut client: Option<(tokio_postgres::Client, WriterStatements)> = None;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if client.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            client = match connect_writer(&config).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "history writer cannot connect");
                    None
                }
            };
        }
        let result = match &mut client {
            Some((c, stmts)) => write_group(c, stmts, &group).await,
            None => Err(StoreError::WriterGone),
        };
        for (i, (_, reply)) in group.into_iter().enumerate() {
            let r = match &result {
                Ok(outcomes) => Ok(outcomes.get(i).copied().unwrap_or(false)),
                Err(e) => Err(StoreError::Pool(format!("history not recorded: {e}"))),
            };
            let _ = reply.send(r);
        }
    }
}

/// The writer's statements, prepared once per connection (a statement given as text is
/// parsed and planned again on every call, one more round trip each).
struct WriterStatements {
    verifications: tokio_postgres::Statement,
    nonces: tokio_postgres::Statement,
    card_uses: tokio_postgres::Statement,
}

async fn connect_writer(
    config: &tokio_postgres::Config,
) -> Result<(tokio_postgres::Client, WriterStatements)> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "history writer connection ended");
        }
    });
    let stmts = WriterStatements {
        verifications: client.prepare(INSERT_VERIFICATIONS).await?,
        nonces: client.prepare(INSERT_USED_NONCES).await?,
        card_uses: client.prepare(INSERT_CARD_USES).await?,
    };
    Ok((client, stmts))
}

/// Nonces of a group consumed with one statement: the ones it inserted come back.
const INSERT_USED_NONCES: &str = "INSERT INTO used_nonce (nonce, facility_code, expires_at, used_at) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[]) \
     ON CONFLICT (nonce) DO NOTHING RETURNING nonce";

/// Physical-card uses of a group's fresh card checks, one statement.
const INSERT_CARD_USES: &str = "INSERT INTO physical_card_use (person_id, facility_code, first_used_at) \
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[]) \
     ON CONFLICT (person_id, facility_code) DO NOTHING";

/// One group commit: every card check's nonce in one statement, their physical-card uses
/// in another, then every history row in one more. (Two statements per card check, one
/// after the other on the one writer connection, capped checks by card signature at a
/// few hundred a second on a busy machine: each waited a round trip.)
async fn write_group(
    client: &mut tokio_postgres::Client,
    stmts: &WriterStatements,
    group: &[WriteJob],
) -> Result<Vec<bool>> {
    let tx = client.transaction().await?;
    let nonces: Vec<&crate::UsedNonce> = group
        .iter()
        .filter_map(|(op, _)| match op {
            WriteOp::CardCheck { nonce, .. } => Some(nonce),
            WriteOp::Verification(_) => None,
        })
        .collect();
    let mut inserted: HashSet<String> = HashSet::new();
    if !nonces.is_empty() {
        let values: Vec<&str> = nonces.iter().map(|n| n.nonce.as_str()).collect();
        let facilities: Vec<&str> = nonces.iter().map(|n| n.facility_code.as_str()).collect();
        let expires: Vec<i64> = nonces.iter().map(|n| n.expires_at.unix_micros()).collect();
        let used: Vec<i64> = nonces.iter().map(|n| n.used_at.unix_micros()).collect();
        for row in tx
            .query(&stmts.nonces, &[&values, &facilities, &expires, &used])
            .await?
        {
            inserted.insert(row.try_get(0)?);
        }
    }
    let mut outcomes = Vec::with_capacity(group.len());
    let mut records: Vec<&VerificationRecord> = Vec::with_capacity(group.len());
    let (mut persons, mut facilities, mut ats) = (Vec::new(), Vec::new(), Vec::new());
    for (op, _) in group {
        match op {
            WriteOp::Verification(r) => {
                outcomes.push(true);
                records.push(r);
            }
            WriteOp::CardCheck {
                nonce,
                record,
                replay,
            } => {
                // The first check in the group with a nonce the statement inserted is the
                // fresh one; any later one with the same nonce is a replay.
                let fresh = inserted.remove(&nonce.nonce);
                if fresh && let Some((person, facility, at)) = rows::physical_card_use(record) {
                    persons.push(person);
                    facilities.push(facility);
                    ats.push(at);
                }
                outcomes.push(fresh);
                records.push(if fresh { &**record } else { &**replay });
            }
        }
    }
    if !persons.is_empty() {
        tx.execute(&stmts.card_uses, &[&persons, &facilities, &ats])
            .await?;
    }
    insert_verifications(&tx, &stmts.verifications, &records).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// Inserts history rows with one `UNNEST` statement ([`INSERT_VERIFICATIONS`]).
async fn insert_verifications<T>(
    tx: &tokio_postgres::Transaction<'_>,
    stmt: &T,
    records: &[&VerificationRecord],
) -> Result<()>
where
    T: ?Sized + tokio_postgres::ToStatement,
{
    if records.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&VerificationRecord) -> Option<String>| -> Vec<Option<String>> {
        records.iter().map(|r| f(r)).collect()
    };
    let request_id = col(|r| Some(r.request_id.clone()));
    let facility = col(|r| Some(r.facility_code.clone()));
    let checked_at: Vec<i64> = records.iter().map(|r| r.checked_at.unix_micros()).collect();
    let confirmation_date = col(|r| r.confirmation_date.clone());
    let reference = col(|r| Some(r.reference_classification.clone()));
    let insurer = col(|r| r.insurer_number.clone());
    let symbol = col(|r| r.symbol.clone());
    let number = col(|r| r.number.clone());
    let branch = col(|r| r.branch.clone());
    let birthdate = col(|r| r.birthdate.clone());
    let afi = col(|r| r.arbitrary_file_identifier.clone());
    let status = col(|r| Some(r.processing_status.clone()));
    let error_code = col(|r| r.error_code.clone());
    let validity = col(|r| r.validity.map(|v| v.code().to_string()));
    let person: Vec<Option<i64>> = records.iter().map(|r| r.person_id).collect();
    let qual: Vec<Option<i64>> = records.iter().map(|r| r.qualification_id).collect();
    let method = col(|r| r.identity_method.clone());
    let serial = col(|r| r.card_serial.clone());
    let profile = col(|r| r.card_profile.clone());
    let consents = col(|r| r.consents.clone());
    tx.execute(
        stmt,
        &[
            &request_id,
            &facility,
            &checked_at,
            &confirmation_date,
            &reference,
            &insurer,
            &symbol,
            &number,
            &branch,
            &birthdate,
            &afi,
            &status,
            &error_code,
            &validity,
            &person,
            &qual,
            &method,
            &serial,
            &profile,
            &consents,
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod session_option_tests {
    use super::*;

    #[test]
    fn our_planner_settings_come_first_and_the_urls_own_options_win() {
        let plain = with_session_options(
            tokio_postgres::Config::from_str("postgres://u@localhost/db").expect("url"),
        );
        assert_eq!(plain.get_options(), Some(SESSION_OPTIONS));
        let own = with_session_options(
            tokio_postgres::Config::from_str(
                "postgres://u@localhost/db?options=-c%20random_page_cost%3D2",
            )
            .expect("url with options"),
        );
        assert_eq!(
            own.get_options(),
            Some("-c random_page_cost=1.1 -c random_page_cost=2")
        );
    }
}
