//! The `onshi` binary: one command per job (demo, central, synth, card, check, bench).

mod bench;
mod card;

/// mimalloc instead of glibc's malloc: a check allocates and frees many small buffers
/// (XML, TLS records, rows) across threads; glibc spent about 14% of central's CPU in
/// malloc/free/consolidation under load (perf, docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod check;
mod demo_cards;
mod insurer;
mod ops;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use onshi_central::provision::{self, DataDir};
use onshi_central::{CentralConfig, RunningCentral};
use onshi_core::{Clock, SystemClock};
use onshi_pki::PkiLayout;
use onshi_store::{CountedTable, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "onshi",
    version,
    about = "オンライン資格確認 — an open implementation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make (first run) or reuse a demo data directory and start central on it.
    Demo {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Central listens on 127.0.0.1:PORT.
        #[arg(long, default_value_t = 8443)]
        port: u16,
        /// Size of the synthetic population made on first run.
        #[arg(long, default_value_t = 10_000)]
        people: usize,
        #[arg(long, default_value_t = 20261123)]
        seed: u64,
    },
    /// The central verification service.
    Central {
        #[command(subcommand)]
        command: CentralCommand,
    },
    /// Generate a synthetic population into a database (SQLite path or postgres:// URL).
    Synth {
        /// Data directory (certificates and samples.json are written there).
        #[arg(long)]
        data: PathBuf,
        /// Database; default DATA/central.sqlite.
        #[arg(long, env = "ONSHI_DATABASE_URL")]
        database: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        people: usize,
        #[arg(long, default_value_t = 20261123)]
        seed: u64,
        /// Leave out the medical histories (claims, drugs, checkups: about 140 rows a
        /// person): a qualification-only database for the check benchmarks.
        #[arg(long)]
        no_medical: bool,
        /// Medical histories for every Nth person only (10,000,000 people with histories
        /// would be 1.4 billion rows).
        #[arg(long, conflicts_with = "no_medical")]
        medical_every: Option<u64>,
        /// Leave out the synthetic card-certificate rows (about 80% of the people).
        #[arg(long)]
        no_cards: bool,
        /// Leave out the synthetic verification history (every 5th person, last 90 days).
        #[arg(long)]
        no_history: bool,
        /// PostgreSQL: keep the secondary indexes during the load (default: drop them and
        /// build them at the end).
        #[arg(long)]
        keep_indexes: bool,
    },
    /// Software My Number cards: issue, list, revoke, sign.
    Card(card::CardArgs),
    /// Check one person against a running central, as the demo clinic: by insurance-card
    /// data, or with a card file the way the kiosk does (PIN, face or 目視).
    Check(check::CheckArgs),
    /// Load-test a running central (see docs/performance.md).
    Bench(bench::BenchArgs),
    /// A demo insurer: send registration files (acquire, change, lose, …), benchmark.
    Insurer(insurer::InsurerArgs),
    /// Operator commands: disaster declarations, facility locations, suspended insurer
    /// registrations, registration notices.
    Ops(ops::OpsArgs),
    /// The audit trail of medical-information views and staff logins.
    Audit(ops::AuditArgs),
    /// The facility terminal (資格確認端末).
    Terminal {
        #[command(subcommand)]
        command: TerminalCommand,
    },
}

#[derive(Subcommand)]
enum TerminalCommand {
    /// Run the file interface: answer request files dropped into OQS/req in OQS/res.
    Files {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Folder holding req/, res/ and face/ (default DATA/oqs).
        #[arg(long)]
        oqs: Option<PathBuf>,
        /// Facility whose certificate is used (default: the demo clinic).
        #[arg(long)]
        facility: Option<String>,
        /// Central's address (default: the one a running central wrote to DATA/central.addr).
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Milliseconds a request file must stay unchanged before it is read.
        #[arg(long, default_value_t = 300)]
        settle_ms: u64,
    },
    /// The facility agent: kiosk page (face-auth card reader), staff switches and the file
    /// interface, on 127.0.0.1:PORT; the only thing that talks to central.
    Serve {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Pages on 127.0.0.1:PORT.
        #[arg(long, default_value_t = 8444)]
        port: u16,
        /// Facility whose certificate is used (default: the demo clinic).
        #[arg(long)]
        facility: Option<String>,
        /// Central's address (default: the one a running central wrote to DATA/central.addr).
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Folder holding req/, res/ and face/ (default DATA/oqs).
        #[arg(long)]
        oqs: Option<PathBuf>,
        /// Software cards the kiosk offers to place (default DATA/cards).
        #[arg(long)]
        wallet: Option<PathBuf>,
    },
    /// Creates a staff account of the terminal's screens (or resets its role and
    /// password); the password comes from --password or the first line of stdin.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    Add {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Facility whose terminal holds the account (default: the demo clinic).
        #[arg(long)]
        facility: Option<String>,
        /// Login ID (A–Z, a–z, 0–9, '-', '_', '.').
        #[arg(long)]
        id: String,
        /// general (一般), medical (医療情報閲覧) or admin.
        #[arg(long)]
        role: String,
        /// Default: read from stdin.
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Subcommand)]
enum CentralCommand {
    /// Serve the facility API over mutual TLS.
    Serve {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Database; default DATA/central.sqlite.
        #[arg(long, env = "ONSHI_DATABASE_URL")]
        database: Option<String>,
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Also serve `/metrics` (Prometheus) and `/health` over plain HTTP here, for
        /// the operator's network (over mTLS they are on the main port too).
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// A streaming replica of the PostgreSQL `--database` (postgres://…, same
        /// database name): qualification lookups read from it while its measured lag
        /// is within --max-staleness-ms, else from the primary (docs/scale-out.md).
        #[arg(long, env = "ONSHI_REPLICA_URL", requires = "database")]
        replica: Option<String>,
        /// The bound on the replica's staleness, milliseconds.
        #[arg(long, default_value_t = 500, requires = "replica")]
        max_staleness_ms: u64,
    },
}

/// Logs on stderr. `ONSHI_LOG` filters (default `info`; the per-request access log is
/// the target `onshi::access`, off unless named, e.g. `ONSHI_LOG=info,onshi::access=info`);
/// `ONSHI_LOG_FORMAT=json` writes one JSON object per line (for a log collector), with
/// the request id as a field wherever a request is concerned.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ONSHI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,onshi::access=off"));
    let json = std::env::var("ONSHI_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}

fn main() -> Result<()> {
    init_logging();
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Central {
            command: CentralCommand::Serve { threads, .. },
        } => *threads,
        _ => None,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = threads {
        rt.worker_threads(n);
    }
    rt.build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo {
            data,
            port,
            people,
            seed,
        } => demo(data, port, people, seed).await,
        Command::Central {
            command:
                CentralCommand::Serve {
                    data,
                    database,
                    listen,
                    metrics,
                    replica,
                    max_staleness_ms,
                    ..
                },
        } => {
            let dir = DataDir::new(data);
            let replica = replica.map(|url| onshi_store::ReplicaOptions {
                url,
                max_staleness: std::time::Duration::from_millis(max_staleness_ms),
            });
            let store = open_store_with(&dir, database.as_deref(), replica).await?;
            let central = start_central(&dir, store.clone(), listen).await?;
            eprintln!("central: https://{} (mTLS)", central.addr);
            if let Some(at) = metrics {
                let listener = tokio::net::TcpListener::bind(at)
                    .await
                    .with_context(|| format!("metrics: listen on {at}"))?;
                eprintln!("metrics: http://{}/metrics", listener.local_addr()?);
                let router = onshi_central::metrics_router(central.metrics.clone(), store);
                tokio::spawn(async move { axum::serve(listener, router).await });
            }
            wait_for_ctrl_c(central).await
        }
        Command::Synth {
            data,
            database,
            people,
            seed,
            no_medical,
            medical_every,
            no_cards,
            no_history,
            keep_indexes,
        } => {
            let dir = DataDir::new(data);
            std::fs::create_dir_all(&dir.root)?;
            let store = open_store(&dir, database.as_deref()).await?;
            let opts = onshi_central::scale_load::LoadOptions {
                seed,
                people,
                today: SystemClock.now().date(),
                medical_every: if no_medical {
                    0
                } else {
                    medical_every.unwrap_or(1)
                },
                cards: !no_cards,
                history: !no_history,
                defer_indexes: !keep_indexes,
                stop_after_chunks: None,
            };
            synth(&dir, &store, opts).await
        }
        Command::Card(args) => card::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Insurer(args) => insurer::run(args).await,
        Command::Ops(args) => ops::run_ops(args).await,
        Command::Audit(args) => ops::run_audit(args).await,
        Command::Terminal {
            command:
                TerminalCommand::Account {
                    command:
                        AccountCommand::Add {
                            data,
                            facility,
                            id,
                            role,
                            password,
                        },
                },
        } => {
            let dir = DataDir::new(data);
            let facility = match facility {
                Some(f) => onshi_core::ids::MedicalInstitutionCode::parse(&f)?,
                None => provision::facilities(bench::DEFAULT_SEED)[0].code.clone(),
            };
            let role = onshi_terminal::staff::Role::parse(&role)
                .context("--role must be general, medical or admin")?;
            let password = match password {
                Some(p) => p,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            std::fs::create_dir_all(&dir.root)?;
            let local = onshi_terminal::local::LocalDb::open(&terminal_db(&dir, &facility))?;
            onshi_terminal::staff::add_account(&local, &id, role, &password)?;
            println!(
                "account {id} ({}) of {}'s terminal saved",
                role.label(),
                facility.as_str()
            );
            Ok(())
        }
        Command::Terminal {
            command:
                TerminalCommand::Serve {
                    data,
                    port,
                    facility,
                    addr,
                    oqs,
                    wallet,
                },
        } => {
            let dir = DataDir::new(data);
            let facility = match facility {
                Some(f) => onshi_core::ids::MedicalInstitutionCode::parse(&f)?,
                None => provision::facilities(bench::DEFAULT_SEED)[0].code.clone(),
            };
            let addr = match addr {
                Some(a) => a,
                None => std::fs::read_to_string(dir.central_addr())
                    .context("central address (is central running?)")?
                    .trim()
                    .parse()?,
            };
            let t = start_terminal(
                &dir,
                &facility,
                addr,
                port,
                oqs.unwrap_or_else(|| dir.root.join("oqs")),
                Some(wallet.unwrap_or_else(|| card::cards_dir(&dir))),
            )
            .await?;
            eprintln!(
                "terminal for {}: kiosk http://{}/kiosk, reader settings http://{}/reader, staff http://{}/staff/login, files {}",
                facility.as_str(),
                t.addr,
                t.addr,
                t.addr,
                t.oqs.display()
            );
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
        Command::Terminal {
            command:
                TerminalCommand::Files {
                    data,
                    oqs,
                    facility,
                    addr,
                    settle_ms,
                },
        } => {
            let dir = DataDir::new(data);
            let facility = match facility {
                Some(f) => onshi_core::ids::MedicalInstitutionCode::parse(&f)?,
                None => provision::facilities(bench::DEFAULT_SEED)[0].code.clone(),
            };
            let addr = match addr {
                Some(a) => a,
                None => std::fs::read_to_string(dir.central_addr())
                    .context("central address (is central running?)")?
                    .trim()
                    .parse()?,
            };
            let root = oqs.unwrap_or_else(|| dir.root.join("oqs"));
            let client = check::facility_client(&dir, &facility, addr)?;
            let clock = Arc::new(SystemClock) as Arc<dyn Clock>;
            let (relay, outbox) = terminal_relay(&dir, &facility, &client, &clock)?;
            let mut files = onshi_terminal::files::FileInterface::with_relay(&root, relay)?;
            files.settle = std::time::Duration::from_millis(settle_ms);
            tokio::spawn(
                onshi_terminal::outage::Reconciler::new(outbox, client, &root, clock)
                    .run(RECONCILE_EVERY),
            );
            eprintln!(
                "file interface on {} as {}",
                root.display(),
                facility.as_str()
            );
            tokio::select! {
                _ = files.run(FILE_POLL) => Ok(()),
                r = tokio::signal::ctrl_c() => r.map_err(Into::into),
            }
        }
    }
}

async fn open_store(dir: &DataDir, database: Option<&str>) -> Result<Store> {
    open_store_with(dir, database, None).await
}

async fn open_store_with(
    dir: &DataDir,
    database: Option<&str>,
    replica: Option<onshi_store::ReplicaOptions>,
) -> Result<Store> {
    let url = match database {
        Some(u) => u.to_string(),
        None => dir.database().to_string_lossy().into_owned(),
    };
    Store::open_with(&url, replica)
        .await
        .with_context(|| format!("open database {url}"))
}

async fn populate(
    dir: &DataDir,
    store: &Store,
    people: usize,
    seed: u64,
    medical: bool,
) -> Result<()> {
    let facilities = provision::facilities(seed);
    provision::ensure_pki(dir, &facilities)?;
    let bar = ProgressBar::new(people as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} 人口生成 [{bar:40}] {pos}/{len} 人 ({per_sec}, 残り {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let today = SystemClock.now().date();
    let summary = provision::load_population_with(store, seed, people, today, medical, |n| {
        bar.set_position(n as u64)
    })
    .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    provision::write_samples(&dir.samples(), &summary)?;
    eprintln!(
        "loaded {} persons and {} qualifications into {} in {:.1} s ({:.0} persons/s); samples: {}",
        summary.persons,
        summary.qualifications,
        store.backend_name(),
        secs,
        summary.persons as f64 / secs.max(1e-9),
        dir.samples().display()
    );
    Ok(())
}

/// `onshi synth`: the resumable chunked load, with a progress bar and rows/s.
async fn synth(
    dir: &DataDir,
    store: &Store,
    opts: onshi_central::scale_load::LoadOptions,
) -> Result<()> {
    provision::ensure_pki(dir, &provision::facilities(opts.seed))?;
    let bar = ProgressBar::new(opts.people as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} 人口生成 [{bar:40}] {pos}/{len} 人 ({per_sec}, 残り {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let outcome = onshi_central::scale_load::load_resumable(store, &opts, |p| {
        bar.set_position(p.persons as u64);
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} rows, {:.0} rows/s, chunks {} new / {} already loaded",
            p.rows,
            p.rows as f64 / secs,
            p.chunks_loaded,
            p.chunks_skipped
        ));
    })
    .await?;
    bar.finish_and_clear();
    let p = outcome.progress;
    let total = started.elapsed().as_secs_f64();
    provision::write_samples(&dir.samples(), &outcome.summary)?;
    eprintln!(
        "loaded {} persons ({} qualifications in the population) into {}: {} rows in {} new chunks \
         ({} chunks were already loaded) in {:.1} s = {:.0} rows/s, {:.0} persons/s",
        outcome.summary.persons,
        outcome.summary.qualifications,
        store.backend_name(),
        p.rows,
        p.chunks_loaded,
        p.chunks_skipped,
        outcome.load_seconds,
        p.rows as f64 / outcome.load_seconds.max(1e-9),
        (p.persons as f64) / outcome.load_seconds.max(1e-9),
    );
    if !outcome.indexes.is_empty() {
        eprintln!(
            "built {} deferred indexes in {:.1} s:",
            outcome.indexes.len(),
            outcome.index_seconds
        );
        for (name, secs) in &outcome.indexes {
            eprintln!("  {name}: {secs:.1} s");
        }
    }
    eprintln!(
        "total {total:.1} s (index build, statistics and samples included); samples: {}",
        dir.samples().display()
    );
    Ok(())
}

async fn start_central(dir: &DataDir, store: Store, listen: SocketAddr) -> Result<RunningCentral> {
    let pki = dir.pki();
    let server = PkiLayout::read(&pki.server())
        .context("central's server certificate (run `onshi demo` or `onshi synth` first)")?;
    // Older data directories have no insurer CA yet: make it (and keep the rest).
    pki.ensure(provision::SERVER_NAMES, &[])?;
    let tls = onshi_pki::server_config_mtls(&server, &pki.client_ca_bundle()?)?;
    let central = onshi_central::start(CentralConfig {
        listen,
        tls,
        store,
        clock: Arc::new(SystemClock) as Arc<dyn Clock>,
        limits: onshi_wire::Limits::default(),
        card_ca: Some(provision::ensure_card_ca(dir)?),
        insurer_ca: Some(std::fs::read_to_string(pki.insurer_ca().0)?),
    })
    .await
    .with_context(|| format!("listen on {listen}"))?;
    std::fs::write(dir.central_addr(), central.addr.to_string())?;
    std::fs::write(dir.central_pid(), std::process::id().to_string())?;
    Ok(central)
}

async fn demo(data: PathBuf, port: u16, people: usize, seed: u64) -> Result<()> {
    let dir = DataDir::new(&data);
    std::fs::create_dir_all(&dir.root)?;
    let store = open_store(&dir, None).await?;
    if store.count(CountedTable::Person).await? == 0 {
        eprintln!(
            "first run: making certificates and a population of {people} people in {}",
            data.display()
        );
        populate(&dir, &store, people, seed, true).await?;
    } else {
        provision::ensure_pki(&dir, &provision::facilities(seed))?;
        eprintln!("reusing {}", data.display());
    }
    // Cards are issued (and revoked) before central starts, so it starts with their CRL.
    demo_cards::issue_demo_cards(&dir, &store).await?;
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let central = start_central(&dir, store.clone(), listen).await?;
    let clinic = &provision::facilities(seed)[0];
    let pki = dir.pki();
    // The smartphone cases need an earlier use of the physical card at the demo clinic.
    if let Err(e) = demo_cards::prior_physical_use(&dir, &clinic.code, central.addr).await {
        eprintln!("warning: the smartphone cases are not prepared: {e:#}");
    }
    // The demo clinic's terminal: kiosk page, reader settings and the file interface.
    let terminal = start_terminal(
        &dir,
        &clinic.code,
        central.addr,
        port.checked_add(1)
            .context("--port leaves no room for the terminal")?,
        dir.root.join("oqs"),
        Some(card::cards_dir(&dir)),
    )
    .await?;
    let oqs = terminal.oqs.clone();
    // Staff accounts of the demo clinic, with fresh passwords each run.
    let local = onshi_terminal::local::LocalDb::open(&terminal_db(&dir, &clinic.code))?;
    let mut accounts = Vec::new();
    for (id, role) in [
        ("admin", onshi_terminal::staff::Role::Admin),
        ("doctor", onshi_terminal::staff::Role::Medical),
        ("staff", onshi_terminal::staff::Role::General),
    ] {
        let password = onshi_terminal::staff::random_password();
        onshi_terminal::staff::add_account(&local, id, role, &password)?;
        accounts.push((id, role, password));
    }
    drop(local);
    let (cert, key) = pki.facility(&clinic.code);
    println!("onshi demo is running");
    println!(
        "  central (mTLS):       https://{}/oqs/v1/qualification",
        central.addr
    );
    println!(
        "  database:             {} ({} people)",
        dir.database().display(),
        store.count(CountedTable::Person).await?
    );
    println!(
        "  demo clinic:          {} {}",
        clinic.code.as_str(),
        clinic.name
    );
    println!("  clinic certificate:   {}", cert.display());
    println!("  clinic key:           {}", key.display());
    println!("  server CA:            {}", pki.server_ca().0.display());
    println!("  sample cases:         {}", dir.samples().display());
    println!(
        "  card files:           {}",
        card::cards_dir(&dir).display()
    );
    println!(
        "try:  onshi check --data {} --insurer … --number … --birth YYYYMMDD",
        data.display()
    );
    println!(
        "      onshi check --data {} --card {} --pin 1234",
        data.display(),
        card::cards_dir(&dir)
            .join(demo_cards::card_file_name("card_valid"))
            .display()
    );
    println!(
        "  file interface:       {}/{{req,res,face}} (drop OQSsiquc01req_*.xml into req/)",
        oqs.display()
    );
    println!(
        "  kiosk (card reader):  http://{}/kiosk   (demo wallet: {})",
        terminal.addr,
        card::cards_dir(&dir).display()
    );
    println!(
        "  reader settings:      http://{}/reader  (目視 mode, consent screens, face-file encoding)",
        terminal.addr
    );
    println!(
        "  staff screens:        http://{}/staff/login",
        terminal.addr
    );
    for (id, role, password) in &accounts {
        println!("    {id:<8} {password}  ({})", role.label());
    }
    println!("stop with Ctrl-C");
    wait_for_ctrl_c(central).await
}

/// How often the terminal looks at `req/` (a directory listing: cheap; it bounds the
/// latency of a file check, see `onshi bench --scenario files`).
const FILE_POLL: std::time::Duration = std::time::Duration::from_millis(10);
/// How often the outbox is looked at (each queued check keeps its own back-off).
const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The terminal's local database: settings, last known answers, outbox.
fn terminal_db(dir: &DataDir, facility: &onshi_core::ids::MedicalInstitutionCode) -> PathBuf {
    dir.root
        .join(format!("terminal-{}.sqlite", facility.as_str()))
}

/// The one way to central for files and REST, with the system-failure mode's outbox.
fn terminal_relay(
    dir: &DataDir,
    facility: &onshi_core::ids::MedicalInstitutionCode,
    client: &onshi_central::client::CentralClient,
    clock: &Arc<dyn Clock>,
) -> Result<(
    Arc<onshi_terminal::relay::Relay>,
    Arc<onshi_terminal::outage::Outbox>,
)> {
    let outbox = Arc::new(onshi_terminal::outage::Outbox::open(&terminal_db(
        dir, facility,
    ))?);
    let relay = onshi_terminal::relay::Relay::new(client.clone())
        .with_outbox(outbox.clone(), clock.clone());
    Ok((Arc::new(relay), outbox))
}

/// A started terminal: where its pages and files are.
struct StartedTerminal {
    addr: SocketAddr,
    oqs: PathBuf,
}

/// Starts the facility terminal: file interface under `oqs`, pages on 127.0.0.1:`port`,
/// settings in `DIR/terminal-{code}.sqlite`. Both run as tasks of this process.
async fn start_terminal(
    dir: &DataDir,
    facility: &onshi_core::ids::MedicalInstitutionCode,
    central: SocketAddr,
    port: u16,
    oqs: PathBuf,
    wallet: Option<PathBuf>,
) -> Result<StartedTerminal> {
    let client = check::facility_client(dir, facility, central)?;
    let clock = Arc::new(SystemClock) as Arc<dyn Clock>;
    let (relay, outbox) = terminal_relay(dir, facility, &client, &clock)?;
    let files = onshi_terminal::files::FileInterface::with_relay(&oqs, relay.clone())?;
    let local = onshi_terminal::local::LocalDb::open(&terminal_db(dir, facility))?;
    let terminal = onshi_terminal::Terminal::new(onshi_terminal::TerminalConfig {
        facility: facility.clone(),
        link: onshi_terminal::CentralLink::new(client.clone()),
        local,
        oqs_root: oqs.clone(),
        wallet,
        clock: clock.clone(),
        outbox: Some(outbox.clone()),
    })?;
    // The REST form of the file interface (`/api/v1/…`) on the same port.
    let rest = onshi_terminal::rest::router(relay);
    let listen: SocketAddr = ([127, 0, 0, 1], port).into();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("terminal: listen on {listen}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(files.run(FILE_POLL));
    tokio::spawn(
        onshi_terminal::outage::Reconciler::new(outbox, client, &oqs, clock).run(RECONCILE_EVERY),
    );
    tokio::spawn(async move {
        if let Err(e) =
            onshi_terminal::serve(listener, onshi_terminal::router(terminal).merge(rest)).await
        {
            tracing::error!(error = %e, "terminal pages stopped");
        }
    });
    Ok(StartedTerminal { addr, oqs })
}

async fn wait_for_ctrl_c(central: RunningCentral) -> Result<()> {
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping");
    central.shutdown().await;
    Ok(())
}
