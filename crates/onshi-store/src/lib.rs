//! Persistence for central: an embedded SQLite file by default, PostgreSQL when given a
//! `postgres://` URL.
//!
//! All SQL of the project lives in this crate. Both backends run the same statements
//! (written with `$N` placeholders, which SQLite also accepts when numbered in order of
//! first use) and map rows through one function per record ([`rows`]), so a query exists
//! once. Migrations are per backend (`migrations/sqlite`, `migrations/postgres`, same file
//! names), because DDL differs.
//!
//! The hot path is a check by card data: one indexed lookup and one history insert.
//! History inserts go through a group-commit writer (one per store): each caller waits
//! until the transaction holding its row has committed, so "recorded before answered"
//! holds, while many concurrent checks share one commit.

pub mod audit;
mod coalesce;
pub mod history;
pub mod insurer;
pub mod medical;
mod migrate;
mod pg;
pub mod replica;
pub mod rows;
pub mod scale;
pub(crate) mod sqlite;

use onshi_core::codes::QualificationValidity;
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::model::{
    ElderlyRecipient, Facility, Insurer, LimitCertificate, Person, Qualification, SpecificDisease,
};
use std::sync::Arc;

pub use audit::{AuditEntry, AuditRow, ChainProblem};
pub use history::{HistoryCursor, HistoryEntry, MAX_HISTORY_PAGE};
pub use medical::{
    CheckupRecord, ConsentedRow, DiagnosisRecord, DrugRecord, MedicalSlice, NewDisaster,
    ProcedureRecord,
};
pub use migrate::MIGRATION_NAMES;
pub use replica::{ReadRouting, ReadRoutingSnapshot, ReplicaOptions};
pub use sqlite::audit_path as sqlite_audit_path;
pub use sqlite::history_path as sqlite_history_path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(String),
    #[error("invalid database URL {0:?}: use a file path, sqlite://PATH or postgres://…")]
    Url(String),
    #[error("replica {0:?}: reading from a replica needs a PostgreSQL primary")]
    ReplicaWithoutPostgres(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("the history writer has stopped")]
    WriterGone,
    #[error("migration {name}: {reason}")]
    Migration { name: String, reason: String },
    #[error("background task failed: {0}")]
    Join(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What a check by card data searches for. `symbol_norm` and `number_norm` are
/// [`onshi_core::text::normalize_card_text`] keys; an absent symbol is the empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardQuery {
    pub insurer_number: String,
    pub symbol_norm: String,
    pub number_norm: String,
    pub branch: Option<u8>,
    pub birthdate: Ymd,
}

/// One qualification with everything a result message shows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualificationRecord {
    pub qualification: Qualification,
    pub person: Person,
    pub insurer: Insurer,
    pub elderly: Option<ElderlyRecipient>,
    pub limit: Option<LimitCertificate>,
    pub specific_diseases: Vec<SpecificDisease>,
}

/// One row of the verification history (資格確認履歴).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    pub request_id: String,
    pub facility_code: String,
    pub checked_at: JstDateTime,
    pub confirmation_date: Option<String>,
    pub reference_classification: String,
    pub insurer_number: Option<String>,
    pub symbol: Option<String>,
    pub number: Option<String>,
    pub branch: Option<String>,
    pub birthdate: Option<String>,
    pub arbitrary_file_identifier: Option<String>,
    /// OQSCD004: "1" answered, "2" refused with an error.
    pub processing_status: String,
    pub error_code: Option<String>,
    pub validity: Option<QualificationValidity>,
    pub person_id: Option<i64>,
    pub qualification_id: Option<i64>,
    /// Card checks: "face", "pin" or "visual" (目視).
    pub identity_method: Option<String>,
    /// Card checks: the serial and profile of the certificate used.
    pub card_serial: Option<String>,
    pub card_profile: Option<String>,
    /// Consents given with this check (comma-separated OQSCD036 codes): a card check's,
    /// or `GND` for a check by card data that carried 限度額 consent.
    pub consents: Option<String>,
}

impl VerificationRecord {
    /// A row for one answer, with nothing known yet but who asked, when, and how
    /// (`reference_classification`, OQSCD002); the handler fills in the rest as it goes.
    pub fn new(
        request_id: &str,
        facility_code: &str,
        checked_at: JstDateTime,
        reference_classification: &str,
    ) -> Self {
        VerificationRecord {
            request_id: request_id.to_string(),
            facility_code: facility_code.to_string(),
            checked_at,
            confirmation_date: None,
            reference_classification: reference_classification.to_string(),
            insurer_number: None,
            symbol: None,
            number: None,
            branch: None,
            birthdate: None,
            arbitrary_file_identifier: None,
            processing_status: "1".to_string(),
            error_code: None,
            validity: None,
            person_id: None,
            qualification_id: None,
            identity_method: None,
            card_serial: None,
            card_profile: None,
            consents: None,
        }
    }
}

/// A user-authentication certificate of a My Number card (or smartphone) and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub serial: String,
    pub person_id: i64,
    /// `card`, `smartphone_android` or `smartphone_iphone`.
    pub profile: String,
    /// Last valid day (JST).
    pub not_after: Ymd,
    pub issued_at: JstDateTime,
    pub revoked_at: Option<JstDateTime>,
    /// 初回登録 (registration for insurance use); `None` while unregistered.
    pub registered_at: Option<JstDateTime>,
}

/// A consumed card-check nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedNonce {
    pub nonce: String,
    pub facility_code: String,
    pub expires_at: JstDateTime,
    pub used_at: JstDateTime,
}

/// What the group-commit writer does with one queued item. Items are moved into the
/// queue once and dropped after the commit; their size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum WriteOp {
    Verification(VerificationRecord),
    /// Consume the nonce; write `record` if it was fresh, `replay` if it was used before.
    CardCheck {
        nonce: UsedNonce,
        record: Box<VerificationRecord>,
        replay: Box<VerificationRecord>,
    },
}

/// A slice of the population to load in one transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct PopulationSlice<'a> {
    pub persons: &'a [Person],
    pub qualifications: &'a [Qualification],
    pub elderly: &'a [ElderlyRecipient],
    pub limit_certificates: &'a [LimitCertificate],
    pub specific_diseases: &'a [SpecificDisease],
}

/// Card data of an existing qualification, for load generators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKey {
    pub insurer_number: String,
    pub symbol: Option<String>,
    pub number: String,
    pub branch: Option<u8>,
    pub birthdate: String,
}

/// Consents given at the reader after one card check (`card_consent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The `x-request-id` of the card check the consents belong to.
    pub check_request_id: String,
    pub facility_code: String,
    pub person_id: i64,
    pub consented_at: JstDateTime,
    /// Medical information may be viewed until then (24 hours for outpatients).
    pub available_until: JstDateTime,
    /// OQSCD036 codes: YZK, TKK, SRJ, SHJ, TSR, GND.
    pub information: Vec<String>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(pg::PgStore),
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    audit: tokio::sync::mpsc::UnboundedSender<medical::AuditJob>,
    /// Writes submitted to the group-commit writer and not yet committed (a gauge for
    /// `/metrics`: a growing queue is the first sign of a slow disk or database).
    pending_writes: Arc<std::sync::atomic::AtomicI64>,
}

/// What the store's connections are doing, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Reader connections (SQLite) or pooled connections (PostgreSQL) that exist.
    pub size: usize,
    /// Of those, handed out right now (PostgreSQL; SQLite readers are not counted).
    pub in_use: usize,
    /// Requests waiting for a pooled connection (PostgreSQL).
    pub waiting: usize,
    /// Writes queued for the group-commit writer, not yet committed.
    pub pending_writes: i64,
    /// Lookup statements run for checks by card data, and the checks they answered
    /// (PostgreSQL with coalescing on; see the store's `coalesce` module). Their ratio is
    /// the mean batch.
    pub lookup_statements: u64,
    pub lookup_checks: u64,
    /// Of those statements, the batches that failed: each of their checks was then looked
    /// up alone (so one bad key costs the others nothing).
    pub lookup_failed_batches: u64,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`: a file path,
    /// `sqlite://PATH`, or `postgres://…` / `postgresql://…`.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, None).await
    }

    /// [`Store::open`], reading qualification data from a streaming replica of the
    /// PostgreSQL primary `url` while it is within `replica.max_staleness` (see
    /// [`replica`]). Starts even if the replica is unreachable.
    pub async fn open_with(url: &str, replica: Option<ReplicaOptions>) -> Result<Store> {
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if let Some(r) = &replica
            && !postgres
        {
            return Err(StoreError::ReplicaWithoutPostgres(r.url.clone()));
        }
        let backend = if postgres {
            Backend::Postgres(pg::PgStore::open(url, replica.as_ref()).await?)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() {
                return Err(StoreError::Url(url.to_string()));
            }
            let path = std::path::PathBuf::from(path);
            Backend::Sqlite(
                tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path))
                    .await
                    .map_err(|e| StoreError::Join(e.to_string()))??,
            )
        };
        // The audit group-commit writer serves PostgreSQL only; SQLite appends in place
        // (see `Store::record_audit`).
        let (audit, rx) = tokio::sync::mpsc::unbounded_channel();
        if let Backend::Postgres(p) = &backend {
            tokio::spawn(medical::audit_writer(p.clone(), rx));
        }
        Ok(Store {
            backend,
            audit,
            pending_writes: Arc::default(),
        })
    }

    pub fn pool_status(&self) -> PoolStatus {
        let pending_writes = self
            .pending_writes
            .load(std::sync::atomic::Ordering::Relaxed);
        match &self.backend {
            Backend::Sqlite(s) => PoolStatus {
                size: s.readers(),
                in_use: 0,
                waiting: 0,
                pending_writes,
                lookup_statements: 0,
                lookup_checks: 0,
                lookup_failed_batches: 0,
            },
            Backend::Postgres(p) => {
                let st = p.pool_status();
                let lookups = p.lookup_counts();
                PoolStatus {
                    size: st.size,
                    in_use: st.size.saturating_sub(st.available),
                    waiting: st.waiting,
                    pending_writes,
                    lookup_statements: lookups.statements,
                    lookup_checks: lookups.checks,
                    lookup_failed_batches: lookups.failed_batches,
                }
            }
        }
    }

    /// Where reads of qualification data went, when reading from a replica.
    pub fn read_routing(&self) -> Option<std::sync::Arc<ReadRouting>> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(p) => p.read_routing(),
        }
    }

    /// "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn upsert_insurers(&self, insurers: &[Insurer]) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, v) = (s.clone(), insurers.to_vec());
                blocking(move || s.upsert_insurers(&v)).await
            }
            Backend::Postgres(p) => p.upsert_insurers(insurers).await,
        }
    }

    pub async fn upsert_facilities(&self, facilities: &[Facility]) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, v) = (s.clone(), facilities.to_vec());
                blocking(move || s.upsert_facilities(&v)).await
            }
            Backend::Postgres(p) => p.upsert_facilities(facilities).await,
        }
    }

    /// Loads persons, qualifications and certificates in one transaction (bulk path:
    /// prepared inserts on SQLite, COPY on PostgreSQL).
    pub async fn load_population(&self, slice: PopulationSlice<'_>) -> Result<()> {
        match &self.backend {
            // The slice borrows the caller's data; loading runs before serving (or in a
            // tool), so blocking this task for one batch's transaction is acceptable.
            Backend::Sqlite(s) => s.load_population(slice),
            Backend::Postgres(p) => p.load_population(slice).await,
        }
    }

    pub async fn facility(&self, code: &MedicalInstitutionCode) -> Result<Option<Facility>> {
        match &self.backend {
            Backend::Sqlite(s) => s.facility(code),
            Backend::Postgres(p) => p.facility(code).await,
        }
    }

    pub async fn set_facility_enabled(
        &self,
        code: &MedicalInstitutionCode,
        enabled: bool,
    ) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.set_facility_enabled(code, enabled),
            Backend::Postgres(p) => p.set_facility_enabled(code, enabled).await,
        }
    }

    /// Every qualification matching card data, with person, insurer and certificates.
    pub async fn find_by_card(&self, q: &CardQuery) -> Result<Vec<QualificationRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => s.find_by_card(q),
            Backend::Postgres(p) => p.find_by_card(q).await,
        }
    }

    /// [`Store::find_by_card`] for many queries in one statement: one list per query, in
    /// query order.
    pub async fn find_by_cards(
        &self,
        queries: &[CardQuery],
    ) -> Result<Vec<Vec<QualificationRecord>>> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, v) = (s.clone(), queries.to_vec());
                blocking(move || s.find_by_cards(&v)).await
            }
            Backend::Postgres(p) => p.find_by_cards(queries).await,
        }
    }

    /// Everyone who holds or held a qualification under this card data (no birthdate).
    pub async fn holders(&self, q: &HolderQuery) -> Result<Vec<Holder>> {
        match &self.backend {
            Backend::Sqlite(s) => s.holders(q),
            Backend::Postgres(p) => p.holders(q).await,
        }
    }

    /// Whether `facility` has registered any 照会番号.
    pub async fn facility_uses_reference_numbers(
        &self,
        facility: &MedicalInstitutionCode,
    ) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.facility_uses_reference_numbers(facility.as_str()),
            Backend::Postgres(p) => p.facility_uses_reference_numbers(facility.as_str()).await,
        }
    }

    /// Registers a facility's 照会番号 for a person, replacing the one it had.
    pub async fn register_reference_number(
        &self,
        facility: &MedicalInstitutionCode,
        person_id: i64,
        reference_number: &str,
        at: JstDateTime,
    ) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.register_reference_number(facility.as_str(), person_id, reference_number, at)
            }
            Backend::Postgres(p) => {
                p.register_reference_number(facility.as_str(), person_id, reference_number, at)
                    .await
            }
        }
    }

    /// The facility's 照会番号 of these people (those that have one), by person id.
    pub async fn reference_numbers(
        &self,
        facility: &MedicalInstitutionCode,
        person_ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, String>> {
        if person_ids.is_empty() {
            return Ok(Default::default());
        }
        if let [one] = person_ids {
            let found = match &self.backend {
                Backend::Sqlite(s) => s.reference_number(facility.as_str(), *one)?,
                Backend::Postgres(p) => p.reference_number(facility.as_str(), *one).await?,
            };
            return Ok(found.map(|r| (*one, r)).into_iter().collect());
        }
        match &self.backend {
            Backend::Sqlite(s) => s.reference_numbers(facility.as_str(), person_ids),
            Backend::Postgres(p) => p.reference_numbers(facility.as_str(), person_ids).await,
        }
    }

    /// Stores a new bulk job with its upload; returns once committed.
    pub async fn create_bulk_job(&self, job: &BulkJob, request: &[u8]) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, j, r) = (s.clone(), job.clone(), request.to_vec());
                blocking(move || s.create_bulk_job(&j, &r)).await
            }
            Backend::Postgres(p) => p.create_bulk_job(job, request).await,
        }
    }

    pub async fn bulk_job(&self, reception_number: &str) -> Result<Option<BulkJob>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, r) = (s.clone(), reception_number.to_string());
                blocking(move || s.bulk_job(&r)).await
            }
            Backend::Postgres(p) => p.bulk_job(reception_number).await,
        }
    }

    /// The upload of a bulk job, as received.
    pub async fn bulk_request(&self, reception_number: &str) -> Result<Option<Vec<u8>>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, r) = (s.clone(), reception_number.to_string());
                blocking(move || s.bulk_request(&r)).await
            }
            Backend::Postgres(p) => p.bulk_request(reception_number).await,
        }
    }

    /// Reception numbers of the jobs still processing, oldest first.
    pub async fn unfinished_bulk_jobs(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.unfinished_bulk_jobs()).await
            }
            Backend::Postgres(p) => p.unfinished_bulk_jobs().await,
        }
    }

    /// How many units of a job are stored (the next unit's sequence number).
    pub async fn bulk_units_done(&self, reception_number: &str) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, r) = (s.clone(), reception_number.to_string());
                blocking(move || s.bulk_units_done(&r)).await
            }
            Backend::Postgres(p) => p.bulk_units_done(reception_number).await,
        }
    }

    /// Writes a chunk of results and its history rows in one transaction. Fails (and
    /// writes nothing) if any of its units is already stored.
    pub async fn write_bulk_chunk(&self, chunk: BulkChunk) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.write_bulk_chunk(&chunk)).await
            }
            Backend::Postgres(p) => p.write_bulk_chunk(&chunk).await,
        }
    }

    /// Marks a job that cannot be completed as failed.
    pub async fn fail_bulk_job(
        &self,
        reception_number: &str,
        error_code: &str,
        at: JstDateTime,
    ) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, r, c) = (
                    s.clone(),
                    reception_number.to_string(),
                    error_code.to_string(),
                );
                blocking(move || s.fail_bulk_job(&r, &c, at)).await
            }
            Backend::Postgres(p) => p.fail_bulk_job(reception_number, error_code, at).await,
        }
    }

    /// The stored units of a job, in upload order.
    pub async fn bulk_units(&self, reception_number: &str) -> Result<Vec<Vec<u8>>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, r) = (s.clone(), reception_number.to_string());
                blocking(move || s.bulk_units(&r)).await
            }
            Backend::Postgres(p) => p.bulk_units(reception_number).await,
        }
    }

    async fn submit(&self, op: WriteOp) -> Result<bool> {
        use std::sync::atomic::Ordering::Relaxed;
        self.pending_writes.fetch_add(1, Relaxed);
        let out = match &self.backend {
            Backend::Sqlite(s) => s.submit(op).await,
            Backend::Postgres(p) => p.submit(op).await,
        };
        self.pending_writes.fetch_sub(1, Relaxed);
        out
    }

    /// Writes one history row and returns once it is committed.
    pub async fn record_verification(&self, rec: VerificationRecord) -> Result<()> {
        self.submit(WriteOp::Verification(rec)).await.map(|_| ())
    }

    /// Consumes a card-check nonce and records the check in one commit. Returns `true`
    /// when the nonce was fresh (and `record` was written), `false` when it had been used
    /// already (and `replay`, the refusal, was written instead).
    pub async fn record_card_check(
        &self,
        nonce: UsedNonce,
        record: VerificationRecord,
        replay: VerificationRecord,
    ) -> Result<bool> {
        self.submit(WriteOp::CardCheck {
            nonce,
            record: Box::new(record),
            replay: Box::new(replay),
        })
        .await
    }

    pub async fn insert_cards(&self, cards: &[CardRecord]) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, v) = (s.clone(), cards.to_vec());
                blocking(move || s.insert_cards(&v)).await
            }
            Backend::Postgres(p) => p.insert_cards(cards).await,
        }
    }

    pub async fn card(&self, serial: &str) -> Result<Option<CardRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => s.card(serial),
            Backend::Postgres(p) => p.card(serial).await,
        }
    }

    /// Every certificate a person has had, oldest first.
    pub async fn cards_of_person(&self, person_id: i64) -> Result<Vec<CardRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => s.cards_of_person(person_id),
            Backend::Postgres(p) => p.cards_of_person(person_id).await,
        }
    }

    pub async fn list_cards(&self, limit: i64) -> Result<Vec<CardRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.list_cards(limit)).await
            }
            Backend::Postgres(p) => p.list_cards(limit).await,
        }
    }

    /// Serials of revoked certificates (for the CRL).
    pub async fn revoked_cards(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.revoked_cards()).await
            }
            Backend::Postgres(p) => p.revoked_cards().await,
        }
    }

    /// 初回登録: marks the card registered for insurance use; false if unknown or already.
    pub async fn register_card(&self, serial: &str, at: JstDateTime) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.register_card(serial, at),
            Backend::Postgres(p) => p.register_card(serial, at).await,
        }
    }

    /// Records the consents of one check. `false` if that check's consents were given
    /// already (they are given once; the first answer stands).
    pub async fn record_consent(&self, c: &ConsentRecord) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.record_consent(c),
            Backend::Postgres(p) => p.record_consent(c).await,
        }
    }

    /// The consents of `person_id` at `facility` that allow viewing at `at`, newest first.
    pub async fn valid_consents(
        &self,
        facility: &MedicalInstitutionCode,
        person_id: i64,
        at: JstDateTime,
    ) -> Result<Vec<ConsentRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => s.valid_consents(facility, person_id, at),
            Backend::Postgres(p) => p.valid_consents(facility, person_id, at).await,
        }
    }

    pub async fn revoke_card(&self, serial: &str, at: JstDateTime) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.revoke_card(serial, at),
            Backend::Postgres(p) => p.revoke_card(serial, at).await,
        }
    }

    pub async fn set_smartphone_enabled(
        &self,
        code: &MedicalInstitutionCode,
        enabled: bool,
    ) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.set_smartphone_enabled(code, enabled),
            Backend::Postgres(p) => p.set_smartphone_enabled(code, enabled).await,
        }
    }

    pub async fn person(&self, id: i64) -> Result<Option<Person>> {
        match &self.backend {
            Backend::Sqlite(s) => s.person(id),
            Backend::Postgres(p) => p.person(id).await,
        }
    }

    /// Every qualification of a person (the card-check lookup).
    pub async fn find_by_person(&self, person_id: i64) -> Result<Vec<QualificationRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => s.find_by_person(person_id),
            Backend::Postgres(p) => p.find_by_person(person_id).await,
        }
    }

    /// Whether the person has been checked with a physical card at this facility.
    pub async fn used_physical_card_at(
        &self,
        person_id: i64,
        facility: &MedicalInstitutionCode,
    ) -> Result<bool> {
        match &self.backend {
            Backend::Sqlite(s) => s.used_physical_card_at(person_id, facility.as_str()),
            Backend::Postgres(p) => p.used_physical_card_at(person_id, facility.as_str()).await,
        }
    }

    /// The named secret shared by all central processes on this database; `fresh` is
    /// stored if there is none yet (first writer wins).
    pub async fn secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, n) = (s.clone(), name.to_string());
                blocking(move || s.secret(&n, fresh)).await
            }
            Backend::Postgres(p) => p.secret(name, fresh).await,
        }
    }

    /// History of one facility between two instants (inclusive start, exclusive end),
    /// newest first.
    pub async fn verifications(
        &self,
        facility: &MedicalInstitutionCode,
        from: JstDateTime,
        to: JstDateTime,
        limit: i64,
    ) -> Result<Vec<VerificationRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (s, f) = (s.clone(), facility.clone());
                blocking(move || s.verifications(&f, from, to, limit)).await
            }
            Backend::Postgres(p) => p.verifications(facility, from, to, limit).await,
        }
    }

    pub async fn count(&self, table: CountedTable) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.count(table)).await
            }
            Backend::Postgres(p) => p.count(table).await,
        }
    }

    /// One chunk of an insurer batch in one transaction: reads what `reads` names, hands
    /// it to `plan` (which decides every row) and writes what `plan` returns. Insurer
    /// batches are serialised (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so
    /// the plan is made against the state it is written to.
    pub async fn insurer_batch<R: Send + 'static>(
        &self,
        reads: insurer::InsurerReads,
        plan: impl FnOnce(insurer::InsurerSnapshot) -> (insurer::InsurerWrites, R) + Send + 'static,
    ) -> Result<R> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.insurer_batch(&reads, plan)).await
            }
            Backend::Postgres(p) => p.insurer_batch(&reads, plan).await,
        }
    }

    /// A pending or suspended registration under this card data (checks that found nothing).
    pub async fn pending_by_card(&self, q: &CardQuery) -> Result<Option<insurer::PendingInfo>> {
        match &self.backend {
            Backend::Sqlite(s) => s.pending_by_card(q),
            Backend::Postgres(p) => p.pending_by_card(q).await,
        }
    }

    /// A pending 取得届 of this person (card checks that found nothing).
    pub async fn pending_by_person(&self, person_id: i64) -> Result<Option<insurer::PendingInfo>> {
        match &self.backend {
            Backend::Sqlite(s) => s.pending_by_person(person_id),
            Backend::Postgres(p) => p.pending_by_person(person_id).await,
        }
    }

    /// Registrations kept suspended (閲覧停止), of one insurer or all, oldest first.
    pub async fn suspended_registrations(
        &self,
        insurer: Option<&str>,
    ) -> Result<Vec<insurer::Hold>> {
        match &self.backend {
            Backend::Sqlite(s) => s.suspended(insurer),
            Backend::Postgres(p) => p.suspended(insurer).await,
        }
    }

    /// Registration notices after id `after_id`, of one insurer or all, at most `limit`.
    pub async fn registration_notices(
        &self,
        after_id: i64,
        insurer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<insurer::NoticeRow>> {
        match &self.backend {
            Backend::Sqlite(s) => s.notices(after_id, insurer, limit),
            Backend::Postgres(p) => p.notices(after_id, insurer, limit).await,
        }
    }

    /// The registration notices of one person (the patient's view).
    pub async fn notices_of_person(&self, person_id: i64) -> Result<Vec<insurer::NoticeRow>> {
        match &self.backend {
            Backend::Sqlite(s) => s.notices_of_person(person_id),
            Backend::Postgres(p) => p.notices_of_person(person_id).await,
        }
    }

    /// Up to `n` card keys of current qualifications, spread over the table.
    pub async fn sample_card_keys(&self, n: i64) -> Result<Vec<CardKey>> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.sample_card_keys(n)).await
            }
            Backend::Postgres(p) => p.sample_card_keys(n).await,
        }
    }
}

/// What a 照会番号 registration searches for: card data without a birthdate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderQuery {
    pub insurer_number: String,
    pub symbol_norm: String,
    pub number_norm: String,
    pub branch: Option<u8>,
}

/// A person holding (or having held) a qualification under some card data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub person_id: i64,
    pub qualification_date: Ymd,
    pub disqualification_date: Option<Ymd>,
}

/// Where a bulk check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkState {
    Processing,
    Done,
    Failed,
}

impl BulkState {
    pub fn code(self) -> &'static str {
        match self {
            BulkState::Processing => "processing",
            BulkState::Done => "done",
            BulkState::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<BulkState> {
        match code {
            "processing" => Some(BulkState::Processing),
            "done" => Some(BulkState::Done),
            "failed" => Some(BulkState::Failed),
            _ => None,
        }
    }
}

/// A bulk check (一括照会) as stored. The upload itself is stored beside it
/// ([`Store::create_bulk_job`], [`Store::bulk_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkJob {
    pub reception_number: String,
    pub facility_code: String,
    pub received_at: JstDateTime,
    pub confirmation_date: String,
    pub arbitrary_file_identifier: Option<String>,
    pub state: BulkState,
    /// Patients in the upload.
    pub total: i64,
    /// Units answered with ProcessingResultStatus 1 / 2 so far.
    pub normal: i64,
    pub errors: i64,
    /// Why the job failed (state `Failed`).
    pub error_code: Option<String>,
    pub finished_at: Option<JstDateTime>,
}

/// The next results of a bulk check, written in one transaction: units `first_seq..`
/// (stored unit bodies), their history rows, and the counts; `finished_at` closes the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkChunk {
    pub reception_number: String,
    pub first_seq: i64,
    pub units: Vec<Vec<u8>>,
    pub records: Vec<VerificationRecord>,
    pub normal: i64,
    pub errors: i64,
    pub finished_at: Option<JstDateTime>,
}

/// Tables whose size is reported by `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountedTable {
    Person,
    Qualification,
    Verification,
}

impl CountedTable {
    fn sql(self) -> &'static str {
        match self {
            CountedTable::Person => "SELECT COUNT(*) FROM person",
            CountedTable::Qualification => "SELECT COUNT(*) FROM qualification",
            CountedTable::Verification => "SELECT COUNT(*) FROM verification",
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
}
