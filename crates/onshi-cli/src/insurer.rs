//! `onshi insurer …` (a demo insurer sending registration files) and `onshi ops …` (the
//! operator's reports on insurer registrations). Format: `docs/insurer.md`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use onshi_central::client::CentralClient;
use onshi_central::provision::DataDir;
use onshi_core::ids::InsurerNumber;
use onshi_store::Store;
use onshi_wire::insurer::BatchFormat;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct InsurerArgs {
    #[command(subcommand)]
    command: InsurerCommand,
}

#[derive(Subcommand)]
enum InsurerCommand {
    /// Send a registration file (CSV, XML or JSON by extension) to a running central as
    /// the insurer named in the file (or --insurer); prints the result of every row that
    /// was not applied.
    Import {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Central's address (default: the one a running central wrote to DATA/central.addr).
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Send as this insurer (default: the insurer_number of the first row).
        #[arg(long)]
        insurer: Option<String>,
        /// Print the whole JSON report.
        #[arg(long)]
        json: bool,
        file: PathBuf,
    },
    /// Benchmark: batch registration of new members into a fresh central (see
    /// docs/performance.md). SQLite unless --pg-url names a PostgreSQL server.
    Bench {
        /// Members registered in the timed file.
        #[arg(long, default_value_t = 20_000)]
        rows: usize,
        /// Size of the registry (synthetic population) the members are taken from.
        #[arg(long, default_value_t = 30_000)]
        people: usize,
        /// PostgreSQL server to create the benchmark database on (admin URL).
        #[arg(long)]
        pg_url: Option<String>,
        /// Timed uploads (the first registers, the others are idempotent re-uploads).
        #[arg(long, default_value_t = 2)]
        runs: usize,
    },
}

/// `onshi ops suspended|notices` (flattened into `onshi ops`).
#[derive(Subcommand)]
pub enum InsurerOps {
    /// Registrations kept suspended (閲覧停止) because they do not match the resident
    /// registry, as CSV (all insurers, with the nearest registry person).
    Suspended {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        #[arg(long, env = "ONSHI_DATABASE_URL")]
        database: Option<String>,
        #[arg(long)]
        insurer: Option<String>,
    },
    /// Registration notices (登録完了のお知らせ) as CSV, after notice id --after.
    Notices {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        #[arg(long, env = "ONSHI_DATABASE_URL")]
        database: Option<String>,
        #[arg(long)]
        insurer: Option<String>,
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100_000)]
        limit: i64,
    },
}

fn format_of(path: &std::path::Path) -> Result<(BatchFormat, &'static str)> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Ok((BatchFormat::Csv, "text/csv")),
        Some("xml") => Ok((BatchFormat::Xml, "application/xml")),
        Some("json") => Ok((BatchFormat::Json, "application/json")),
        _ => bail!("{}: use a .csv, .xml or .json file", path.display()),
    }
}

fn insurer_client(
    dir: &DataDir,
    number: &InsurerNumber,
    addr: SocketAddr,
) -> Result<CentralClient> {
    let pki = dir.pki();
    let name = onshi_synth::insurers(crate::bench::DEFAULT_SEED)
        .into_iter()
        .find(|i| &i.number == number)
        .map(|i| i.name)
        .unwrap_or_else(|| "demo insurer".into());
    let cert = pki
        .ensure_insurer(number, &name)
        .with_context(|| format!("certificate of insurer {}", number.digits()))?;
    let ca = std::fs::read_to_string(pki.server_ca().0)?;
    let tls = onshi_pki::client_config(&ca, Some(&cert))?;
    Ok(CentralClient::new(addr, "localhost", tls)?)
}

pub async fn run(args: InsurerArgs) -> Result<()> {
    match args.command {
        InsurerCommand::Import {
            data,
            addr,
            insurer,
            json,
            file,
        } => import(DataDir::new(data), addr, insurer, json, file).await,
        InsurerCommand::Bench {
            rows,
            people,
            pg_url,
            runs,
        } => bench(rows, people, pg_url, runs).await,
    }
}

async fn import(
    dir: DataDir,
    addr: Option<SocketAddr>,
    insurer: Option<String>,
    json: bool,
    file: PathBuf,
) -> Result<()> {
    let (format, content_type) = format_of(&file)?;
    let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
    let number = match insurer {
        Some(n) => n,
        None => {
            let rows =
                onshi_wire::insurer::decode_batch(&bytes, format, &onshi_wire::Limits::bulk())?;
            rows.iter()
                .find_map(|r| r.get("insurer_number").map(str::to_string))
                .context("no insurer_number in the file; give --insurer")?
        }
    };
    let number = InsurerNumber::parse(&number)?;
    let addr = match addr {
        Some(a) => a,
        None => std::fs::read_to_string(dir.central_addr())
            .context("central address (is central running?)")?
            .trim()
            .parse()?,
    };
    let mut conn = insurer_client(&dir, &number, addr)?.connect().await?;
    let started = Instant::now();
    let reply = conn.post("/insurer/v1/batch", content_type, bytes).await?;
    let secs = started.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&reply.body)
        .with_context(|| String::from_utf8_lossy(&reply.body).into_owned())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if !reply.status.is_success() {
        bail!("{} {}: {}", reply.status, v["code"], v["message"]);
    }
    println!(
        "{}: {} rows as insurer {} in {:.2} s — applied {}, unchanged {}, suspended {}, refused {}",
        file.display(),
        v["rows"],
        number.digits(),
        secs,
        v["applied"],
        v["unchanged"],
        v["suspended"],
        v["refused"]
    );
    for r in v["results"].as_array().into_iter().flatten() {
        if r["outcome"] != "applied" && r["outcome"] != "unchanged" {
            println!(
                "  line {:>5}  {:<9} {:<10} {:<8} {}  {}",
                r["line"],
                r["outcome"].as_str().unwrap_or(""),
                r["op"].as_str().unwrap_or(""),
                r["code"].as_str().unwrap_or(""),
                r["key"].as_str().unwrap_or(""),
                r["message"].as_str().unwrap_or("")
            );
        }
    }
    Ok(())
}

pub async fn ops(command: InsurerOps) -> Result<()> {
    let open = |data: PathBuf, database: Option<String>| async move {
        let dir = DataDir::new(data);
        let url = database.unwrap_or_else(|| dir.database().to_string_lossy().into_owned());
        Store::open(&url)
            .await
            .with_context(|| format!("open database {url}"))
    };
    match command {
        InsurerOps::Suspended {
            data,
            database,
            insurer,
        } => {
            let store = open(data, database).await?;
            let holds = store.suspended_registrations(insurer.as_deref()).await?;
            print!("{}", onshi_central::insurer::suspended_csv(&holds, true));
            eprintln!("{} registrations kept suspended (閲覧停止)", holds.len());
        }
        InsurerOps::Notices {
            data,
            database,
            insurer,
            after,
            limit,
        } => {
            let store = open(data, database).await?;
            let rows = store
                .registration_notices(after, insurer.as_deref(), limit)
                .await?;
            print!("{}", onshi_central::insurer::notices_csv(&rows));
            eprintln!("{} notices", rows.len());
        }
    }
    Ok(())
}

/// New members for the benchmark: registry persons without a qualification at `insurer`,
/// each with a number of their own.
async fn bench_rows(
    app: &onshi_testkit::TestApp,
    insurer: &InsurerNumber,
    rows: usize,
) -> Result<String> {
    let mut out = Vec::with_capacity(rows);
    for id in 1..=app.summary.persons as i64 {
        if out.len() == rows {
            break;
        }
        let Some(p) = app.store.person(id).await? else {
            continue;
        };
        let here = app
            .store
            .find_by_person(id)
            .await?
            .iter()
            .any(|q| &q.qualification.insurer_number == insurer);
        // Newborns after the acquisition date would be refused (ONS7035).
        if here || p.birthdate.to_wire().as_str() > "20261101" {
            continue;
        }
        out.push(vec![
            "acquire".to_string(),
            insurer.digits().to_string(),
            "88".into(),
            format!("{id}"),
            p.name,
            p.name_kana,
            p.birthdate.to_wire(),
            p.sex.code().to_string(),
            p.address,
            "20261101".into(),
        ]);
    }
    if out.len() < rows {
        bail!("only {} people available; raise --people", out.len());
    }
    Ok(onshi_wire::insurer::encode_csv(
        &[
            "op",
            "insurer_number",
            "symbol",
            "number",
            "name",
            "name_kana",
            "birthdate",
            "sex",
            "address",
            "date",
        ],
        &out,
    ))
}

async fn bench(rows: usize, people: usize, pg_url: Option<String>, runs: usize) -> Result<()> {
    eprintln!(
        "preparing: {people} people on {}…",
        if pg_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let app =
        onshi_testkit::spawn_app_on(onshi_testkit::Options { people }, pg_url.as_deref()).await?;
    let insurer = onshi_synth::insurers(crate::bench::DEFAULT_SEED)
        .into_iter()
        .find(|i| i.kind == onshi_core::model::InsurerKind::KenpoKumiai)
        .context("no 健保組合 in the master")?
        .number;
    let file = bench_rows(&app, &insurer, rows).await?;
    let mut conn = app.insurer_connection(&insurer).await;
    println!(
        "insurer-batch on {} ({people} people, {rows} new members, {} bytes CSV)",
        app.store.backend_name(),
        file.len()
    );
    for run in 0..runs.max(1) {
        let started = Instant::now();
        let reply = conn
            .post("/insurer/v1/batch", "text/csv", file.clone())
            .await?;
        let secs = started.elapsed().as_secs_f64();
        let v: serde_json::Value = serde_json::from_slice(&reply.body)?;
        if !reply.status.is_success() {
            bail!("{}: {v}", reply.status);
        }
        println!(
            "  run {}: {:.3} s, {:.0} rows/s (applied {}, unchanged {}, refused {})",
            run + 1,
            secs,
            rows as f64 / secs.max(1e-9),
            v["applied"],
            v["unchanged"],
            v["refused"]
        );
        for r in v["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["outcome"] == "refused")
            .take(5)
        {
            println!(
                "    refused: line {} {} {}",
                r["line"], r["code"], r["message"]
            );
        }
    }
    app.stop().await;
    Ok(())
}
