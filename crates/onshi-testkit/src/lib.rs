//! Test kit: `spawn_app` starts a real central on a random port with its own database and
//! its own certificate authorities, loaded with a small synthetic population, and hands
//! back mTLS clients.
//!
//! The backend is SQLite (a temporary file) unless `ONSHI_TEST_BACKEND=postgres`, in which
//! case every app gets a fresh PostgreSQL database created on `ONSHI_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. CI runs
//! the whole suite once per backend.

pub mod browser;
pub mod pgcluster;

use anyhow::Context;
use onshi_central::client::{CentralClient, Connection};
use onshi_central::provision::{self, DataDir};
use onshi_central::{CentralConfig, RunningCentral};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::model::Facility;
use onshi_core::{Clock, FixedClock};
use onshi_pki::{CertAndKey, PkiLayout};
use onshi_store::Store;
use onshi_synth::Summary;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const SEED: u64 = 20261123;

/// 2026-11-23 10:00 JST: the tests' "now".
pub fn test_now() -> JstDateTime {
    JstDateTime::parse_wire("20261123100000").expect("valid test instant")
}

pub fn test_today() -> Ymd {
    test_now().date()
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub data: DataDir,
    pub store: Store,
    pub clock: Arc<FixedClock>,
    pub summary: Summary,
    pub facilities: Vec<Facility>,
    central: Option<RunningCentral>,
    pg: Option<PgDatabase>,
}

pub struct Options {
    pub people: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { people: 400 }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    try_spawn(opts, None).await.expect("spawn test app")
}

/// [`spawn_app_with`] on an explicit backend: a fresh database on the PostgreSQL server
/// of `pg_admin_url` (dropped afterwards), or SQLite when `None` (whatever the
/// environment says). For tools such as `onshi insurer bench`.
pub async fn spawn_app_on(opts: Options, pg_admin_url: Option<&str>) -> anyhow::Result<TestApp> {
    try_spawn(opts, Some(pg_admin_url)).await
}

/// Another central on a test app's data directory (certificates, card CA) with `store`,
/// e.g. the same database opened with a read replica.
pub async fn start_central_on(
    data: &DataDir,
    store: &Store,
    clock: &Arc<FixedClock>,
) -> anyhow::Result<RunningCentral> {
    start_central(data, store, clock).await
}

async fn start_central(
    data: &DataDir,
    store: &Store,
    clock: &Arc<FixedClock>,
) -> anyhow::Result<RunningCentral> {
    let config = central_config(data, store, clock, "127.0.0.1:0".parse()?)?;
    Ok(onshi_central::start(config).await?)
}

async fn try_spawn(opts: Options, backend: Option<Option<&str>>) -> anyhow::Result<TestApp> {
    let dir = tempfile::tempdir()?;
    let data = DataDir::new(dir.path());
    let facilities = provision::facilities(SEED);
    provision::ensure_pki(&data, &facilities)?;
    let TestDb { store, pg, .. } = match backend {
        None => open_db(&data.database()).await?,
        Some(pg) => open_db_on(&data.database(), pg).await?,
    };
    let summary =
        provision::load_population(&store, SEED, opts.people, test_today(), |_| {}).await?;
    let clock = Arc::new(FixedClock::new(test_now()));
    let central = start_central(&data, &store, &clock).await?;
    Ok(TestApp {
        addr: central.addr,
        dir,
        data,
        store,
        clock,
        summary,
        facilities,
        central: Some(central),
        pg,
    })
}

fn central_config(
    data: &DataDir,
    store: &Store,
    clock: &Arc<FixedClock>,
    listen: std::net::SocketAddr,
) -> anyhow::Result<CentralConfig> {
    let pki = data.pki();
    let tls =
        onshi_pki::server_config_mtls(&PkiLayout::read(&pki.server())?, &pki.client_ca_bundle()?)?;
    Ok(CentralConfig {
        listen,
        tls,
        store: store.clone(),
        clock: clock.clone() as Arc<dyn Clock>,
        limits: onshi_wire::Limits::default(),
        card_ca: Some(provision::ensure_card_ca(data)?),
        insurer_ca: Some(std::fs::read_to_string(pki.insurer_ca().0)?),
    })
}

impl TestApp {
    /// The database central uses: its PostgreSQL URL, or the SQLite file's path.
    pub fn database_url(&self) -> String {
        match &self.pg {
            Some(db) => db.url.clone(),
            None => self.data.database().to_string_lossy().into_owned(),
        }
    }

    /// The demo clinic (first facility).
    pub fn clinic(&self) -> &Facility {
        &self.facilities[0]
    }

    pub fn server_ca_pem(&self) -> String {
        std::fs::read_to_string(self.data.pki().server_ca().0).expect("server CA")
    }

    /// The client certificate of a registered facility.
    pub fn facility_cert(&self, code: &MedicalInstitutionCode) -> CertAndKey {
        PkiLayout::read(&self.data.pki().facility(code)).expect("facility cert")
    }

    /// A client presenting `cert` (or none).
    pub fn client_with(&self, cert: Option<&CertAndKey>) -> CentralClient {
        let tls = onshi_pki::client_config(&self.server_ca_pem(), cert).expect("client TLS");
        CentralClient::new(self.addr, "localhost", tls).expect("client")
    }

    /// A connection as the demo clinic.
    pub async fn clinic_connection(&self) -> Connection {
        let cert = self.facility_cert(&self.clinic().code);
        self.client_with(Some(&cert))
            .connect()
            .await
            .expect("connect as clinic")
    }

    /// A connection as an insurer, with a certificate of this app's insurer CA (issued on
    /// first use; the insurer need not be registered).
    pub async fn insurer_connection(&self, number: &onshi_core::ids::InsurerNumber) -> Connection {
        let cert = self
            .data
            .pki()
            .ensure_insurer(number, "テスト保険者")
            .expect("insurer certificate");
        self.client_with(Some(&cert))
            .connect()
            .await
            .expect("connect as insurer")
    }

    /// A certificate for `code` issued by this app's facility CA (registered or not).
    pub fn issue_facility_cert(&self, code: &MedicalInstitutionCode) -> CertAndKey {
        let ca = PkiLayout::read(&self.data.pki().facility_ca()).expect("facility CA");
        onshi_pki::issue_facility_cert(&ca, code, "テスト医院").expect("issue")
    }

    /// The insurance-card data of the `nth` sample of `case` (several are kept per case),
    /// as a request's `QualificationConfirmSearchInfo`.
    pub fn search_info(&self, case: &str, nth: usize) -> onshi_wire::siquc01::SearchInfo {
        let s = self
            .summary
            .samples
            .iter()
            .filter(|s| s.case == case)
            .nth(nth)
            .unwrap_or_else(|| panic!("no sample {nth} of case {case}"));
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        onshi_wire::siquc01::SearchInfo {
            insurer_number: s.insurer_number.clone(),
            insured_card_symbol: opt(&s.symbol),
            insured_identification_number: s.number.clone(),
            insured_branch_number: opt(&s.branch),
            birthdate: s.birthdate.clone(),
            limit_application_certificate_related_cons_flg: Some("0".into()),
            arbitrary_identifier: None,
        }
    }

    /// An `OQSsiquc01req` of the demo clinic, today, for the first sample of `case`.
    pub fn check_request(&self, case: &str, afi: &str) -> onshi_wire::siquc01::Request {
        onshi_wire::siquc01::Request {
            header: onshi_wire::siquc01::RequestHeader {
                qualification_confirmation_date: test_today().to_wire(),
                medical_institution_code: self.clinic().code.as_str().into(),
                arbitrary_file_identifier: Some(afi.into()),
            },
            search: self.search_info(case, 0),
        }
    }

    pub fn sample(&self, case: &str) -> &onshi_synth::Sample {
        self.summary
            .samples
            .iter()
            .find(|s| s.case == case)
            .unwrap_or_else(|| panic!("no sample for case {case}"))
    }

    /// A software card (PIN 1234) for `person_id`, valid from a year before the test's
    /// "now" until `not_after` (JST date), registered for insurance use or not.
    pub async fn issue_card(
        &self,
        person_id: i64,
        profile: onshi_pki::CertProfile,
        not_after: onshi_core::Ymd,
        registered: bool,
    ) -> (std::path::PathBuf, onshi_store::CardRecord) {
        let now = time::OffsetDateTime::from_unix_timestamp(test_now().unix_micros() / 1_000_000)
            .expect("test instant");
        let path = self.dir.path().join("cards").join(format!(
            "{person_id}-{}-{}.card.json",
            profile.as_str(),
            DB_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let card = provision::NewCard {
            person_id,
            profile,
            pin: "1234".into(),
            not_before: now - time::Duration::days(400),
            not_after: onshi_pki::end_of_day_jst(not_after.0),
            registered,
            path: path.clone(),
        };
        let record = provision::issue_card(&self.data, &self.store, &card)
            .await
            .expect("issue card");
        (path, record)
    }

    /// The person of a sample case.
    pub async fn person_of(&self, case: &str) -> i64 {
        let s = self.sample(case).clone();
        let q = onshi_store::CardQuery {
            insurer_number: onshi_core::ids::InsurerNumber::parse(&s.insurer_number)
                .expect("insurer")
                .digits()
                .into(),
            symbol_norm: onshi_core::text::normalize_card_text(&s.symbol),
            number_norm: onshi_core::text::normalize_card_text(&s.number),
            branch: (!s.branch.is_empty()).then(|| s.branch.parse().expect("branch")),
            birthdate: onshi_core::Ymd::parse(&s.birthdate).expect("birthdate"),
        };
        self.store.find_by_card(&q).await.expect("lookup")[0]
            .person
            .id
    }

    /// Makes every later history write fail (renames the table away), to test that
    /// an answer that cannot be recorded is not sent.
    pub async fn break_history(&self) {
        const SQL: &str = "ALTER TABLE verification RENAME TO verification_unavailable";
        match &self.pg {
            Some(db) => {
                let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                client.batch_execute(SQL).await.expect("rename");
            }
            None => {
                let history = onshi_store::sqlite_history_path(&self.data.database());
                let conn = rusqlite::Connection::open(history).expect("open");
                conn.execute_batch(SQL).expect("rename");
            }
        }
    }

    /// Runs SQL behind central's back on the part of the database that holds the history
    /// and the audit trail (on SQLite the history file, with the audit file attached as
    /// `audit`: unqualified `audit_log` is the audit file's), as someone tampering would.
    pub async fn execute_history_sql(&self, sql: &str) -> anyhow::Result<()> {
        match &self.pg {
            Some(db) => {
                let (client, conn) =
                    tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client.batch_execute(sql).await?;
            }
            None => {
                let history = onshi_store::sqlite_history_path(&self.data.database());
                let conn = rusqlite::Connection::open(history)?;
                conn.execute(
                    "ATTACH DATABASE $1 AS audit",
                    [onshi_store::sqlite_audit_path(&self.data.database())
                        .to_string_lossy()
                        .into_owned()],
                )?;
                conn.execute_batch(sql)?;
            }
        }
        Ok(())
    }

    /// Starts central again on the same data directory and database (after
    /// [`TestApp::stop_central`]), as a restart would; the address changes.
    pub async fn start_central(&mut self) {
        let central = start_central(&self.data, &self.store, &self.clock)
            .await
            .expect("restart central");
        self.addr = central.addr;
        self.central = Some(central);
    }

    /// Stops central but keeps the data directory and database (central "down").
    pub async fn stop_central(&mut self) {
        if let Some(c) = self.central.take() {
            c.shutdown().await;
        }
    }

    /// Starts central again on the same address and database (after [`Self::stop_central`]).
    pub async fn restart_central(&mut self) {
        let mut tries = 0;
        let central = loop {
            let config = central_config(&self.data, &self.store, &self.clock, self.addr)
                .expect("central config");
            match onshi_central::start(config).await {
                Ok(c) => break c,
                // The port may linger for a moment after the shutdown.
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("restart central: {e}"),
            }
        };
        self.central = Some(central);
    }

    pub async fn stop(mut self) {
        if let Some(c) = self.central.take() {
            c.shutdown().await;
        }
    }
}

/// A database for one test: an SQLite file in a temp dir, or (with
/// `ONSHI_TEST_BACKEND=postgres`) a fresh PostgreSQL database dropped afterwards.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgDatabase>,
}

/// Whether this run tests PostgreSQL.
pub fn testing_postgres() -> bool {
    std::env::var("ONSHI_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// An empty, migrated database of the backend under test.
pub async fn test_db() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = open_db(&dir.path().join("test.sqlite"))
        .await
        .expect("test database");
    db._dir = Some(dir);
    db
}

async fn open_db(sqlite_path: &std::path::Path) -> anyhow::Result<TestDb> {
    let admin = std::env::var("ONSHI_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    open_db_on(sqlite_path, testing_postgres().then_some(admin.as_str())).await
}

async fn open_db_on(
    sqlite_path: &std::path::Path,
    pg_admin: Option<&str>,
) -> anyhow::Result<TestDb> {
    let (url, pg) = match pg_admin {
        Some(admin) => {
            let db = PgDatabase::create(admin).await?;
            (db.url.clone(), Some(db))
        }
        None => (sqlite_path.to_string_lossy().into_owned(), None),
    };
    let store = Store::open(&url)
        .await
        .with_context(|| format!("open {url}"))?;
    Ok(TestDb {
        store,
        url,
        _dir: None,
        pg,
    })
}

/// A throw-away PostgreSQL database, dropped when the value is.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl PgDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let admin_url = admin_url.to_string();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let name = format!(
            "onshi_test_{}_{}_{nanos}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connect to {admin_url}"))?;
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        Ok(PgDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime guarantee: use a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
