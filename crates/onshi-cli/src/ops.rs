//! Operator commands on central's database: disaster declarations (`onshi ops disaster …`),
//! facility locations, and the audit chain (`onshi audit verify`).

use anyhow::{Context, Result, bail};
use onshi_central::provision::DataDir;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::medical::DisasterArea;
use onshi_core::{Clock, JstDateTime, SystemClock};
use onshi_store::{NewDisaster, Store};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct OpsArgs {
    #[command(subcommand)]
    command: OpsCommand,
}

#[derive(clap::Subcommand)]
enum OpsCommand {
    /// 災害時の特別措置: declare, list and end disaster declarations.
    Disaster {
        #[command(subcommand)]
        command: DisasterCommand,
    },
    /// Record the municipality (5-digit code) a facility is in, for municipal declarations.
    FacilityLocation {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        facility: String,
        #[arg(long)]
        municipality: String,
    },
    #[command(flatten)]
    Insurer(crate::insurer::InsurerOps),
    /// Retention: remove the verification history and audit trail of the months before
    /// the last KEEP_MONTHS (default 60: the 5 years MHLW proposed for non-qualification
    /// data). PostgreSQL detaches those monthly partitions (kept as plain tables to archive,
    /// or dropped with --drop); SQLite deletes the rows. The audit chain is verified first
    /// and continues from a checkpoint (the last removed row), so `onshi audit verify`
    /// still passes.
    Retention {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = 60)]
        keep_months: u32,
        /// PostgreSQL: drop the detached partitions instead of keeping them.
        #[arg(long)]
        drop: bool,
        /// The reference instant, YYYYMMDD[HHMMSS] JST (default now).
        #[arg(long)]
        now: Option<String>,
    },
    /// PostgreSQL: make the monthly partitions of the history and audit trail for this
    /// month and MONTHS_AHEAD after it (central also does this at start and hourly), and
    /// list them.
    Partitions {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = 2)]
        months_ahead: u32,
    },
}

#[derive(clap::Args)]
struct Db {
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    /// Database; default DATA/central.sqlite.
    #[arg(long, env = "ONSHI_DATABASE_URL")]
    database: Option<String>,
}

#[derive(clap::Subcommand)]
enum DisasterCommand {
    /// Declare areas (prefecture codes like 17, municipality codes like 17202) and a period.
    Declare {
        #[command(flatten)]
        db: Db,
        /// e.g. 令和6年能登半島地震
        #[arg(long)]
        name: String,
        /// Comma-separated prefecture (2-digit) and municipality (5-digit) codes.
        #[arg(long)]
        areas: String,
        /// Start, YYYYMMDDHHMMSS or YYYYMMDD (JST); default now.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive), YYYYMMDDHHMMSS or YYYYMMDD (JST: the start of that day).
        #[arg(long)]
        until: String,
    },
    /// Every declaration, with whether it is in force now.
    List {
        #[command(flatten)]
        db: Db,
    },
    /// End a declaration now.
    End {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        id: i64,
    },
}

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Walk the audit chain and report the first changed, inserted or deleted row.
    Verify {
        #[command(flatten)]
        db: Db,
        /// A head printed by an earlier run (SEQ:HASH): it must still be in the chain.
        #[arg(long)]
        expect_head: Option<String>,
    },
}

async fn open(db: &Db) -> Result<Store> {
    let url = match &db.database {
        Some(u) => u.clone(),
        None => DataDir::new(&db.data)
            .database()
            .to_string_lossy()
            .into_owned(),
    };
    Store::open(&url)
        .await
        .with_context(|| format!("open database {url}"))
}

fn instant(s: &str) -> Result<JstDateTime> {
    let t = s.trim();
    let full = if t.len() == 8 {
        format!("{t}000000")
    } else {
        t.to_string()
    };
    JstDateTime::parse_wire(&full).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))
}

pub async fn run_ops(a: OpsArgs) -> Result<()> {
    let now = SystemClock.now();
    match a.command {
        OpsCommand::Insurer(c) => crate::insurer::ops(c).await?,
        OpsCommand::Retention {
            db,
            keep_months,
            drop,
            now,
        } => retention(db, keep_months, drop, now).await?,
        OpsCommand::Partitions { db, months_ahead } => partitions(db, months_ahead).await?,
        OpsCommand::Disaster { command } => match command {
            DisasterCommand::Declare {
                db,
                name,
                areas,
                from,
                until,
            } => {
                let areas = areas
                    .split(',')
                    .filter(|a| !a.trim().is_empty())
                    .map(DisasterArea::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                if areas.is_empty() {
                    bail!("no areas given");
                }
                let starts_at = match from {
                    Some(f) => instant(&f)?,
                    None => now,
                };
                let ends_at = instant(&until)?;
                if ends_at <= starts_at {
                    bail!("the period ends before it starts");
                }
                let store = open(&db).await?;
                let id = store
                    .declare_disaster(&NewDisaster {
                        name: name.clone(),
                        areas,
                        starts_at,
                        ends_at,
                        declared_at: now,
                    })
                    .await?;
                println!(
                    "declared #{id} {name}: {} – {}",
                    starts_at.to_wire(),
                    ends_at.to_wire()
                );
            }
            DisasterCommand::List { db } => {
                let store = open(&db).await?;
                for d in store.disasters().await? {
                    let areas: Vec<&str> = d.areas.iter().map(DisasterArea::as_str).collect();
                    println!(
                        "#{} {}  areas {}  {} – {}{}  {}",
                        d.id,
                        d.name,
                        areas.join(","),
                        d.starts_at.to_wire(),
                        d.ends_at.to_wire(),
                        d.ended_at
                            .map(|e| format!(" (ended {})", e.to_wire()))
                            .unwrap_or_default(),
                        if d.active_at(now) { "in force" } else { "" }
                    );
                }
            }
            DisasterCommand::End { db, id } => {
                let store = open(&db).await?;
                if !store.end_disaster(id, now).await? {
                    bail!("no declaration #{id} in force");
                }
                println!("ended #{id} at {}", now.to_wire());
            }
        },
        OpsCommand::FacilityLocation {
            db,
            facility,
            municipality,
        } => {
            let code = MedicalInstitutionCode::parse(&facility)?;
            let area = DisasterArea::parse(&municipality)?;
            if area.as_str().len() != 5 {
                bail!("a municipality code has 5 digits");
            }
            open(&db)
                .await?
                .set_facility_municipality(&code, area.as_str())
                .await?;
            println!("{} is in {}", code.as_str(), area.as_str());
        }
    }
    Ok(())
}

async fn retention(db: Db, keep_months: u32, drop: bool, now: Option<String>) -> Result<()> {
    let now = match now {
        Some(t) => instant(&t)?,
        None => SystemClock.now(),
    };
    let store = open(&db).await?;
    let r = store.retention(now, keep_months, drop).await?;
    println!(
        "retention: kept {keep_months} months; removed rows before {} ({} verification rows, {} audit rows)",
        JstDateTime::from_unix_micros(r.cutoff),
        r.verification_rows,
        r.audit_rows
    );
    for p in &r.partitions {
        println!(
            "  partition {p} {}",
            if drop {
                "dropped"
            } else {
                "detached (archive it, then DROP TABLE)"
            }
        );
    }
    if let Some((seq, hash)) = &r.checkpoint {
        println!("  audit chain checkpoint: {seq}:{hash} (the chain continues from this row)");
    }
    Ok(())
}

async fn partitions(db: Db, months_ahead: u32) -> Result<()> {
    let store = open(&db).await?;
    if store.backend_name() != "postgres" {
        println!("SQLite keeps one table each for the history and the audit trail: nothing to do");
        return Ok(());
    }
    for p in store
        .ensure_partitions(SystemClock.now(), months_ahead)
        .await?
    {
        println!("made {p}");
    }
    for table in ["verification", "audit_log"] {
        for (name, bounds) in store.partitions(table).await? {
            match bounds {
                Some((lo, hi)) => println!(
                    "{name}: {} – {}",
                    JstDateTime::from_unix_micros(lo),
                    JstDateTime::from_unix_micros(hi)
                ),
                None => println!("{name}: default"),
            }
        }
    }
    Ok(())
}

pub async fn run_audit(a: AuditArgs) -> Result<()> {
    match a.command {
        AuditCommand::Verify { db, expect_head } => {
            let anchor = match expect_head {
                Some(h) => {
                    let (seq, hash) = h.split_once(':').context("--expect-head takes SEQ:HASH")?;
                    Some((seq.parse::<i64>()?, hash.to_string()))
                }
                None => None,
            };
            let store = open(&db).await?;
            let (rows, head, problem) = store.verify_audit(anchor).await?;
            match problem {
                None => {
                    match store.audit_checkpoint().await? {
                        Some((seq, _)) => println!(
                            "audit chain intact: rows {}–{rows} (rows up to {seq} removed by retention; checkpoint verified); head {rows}:{head}",
                            seq + 1
                        ),
                        None => println!("audit chain intact: {rows} rows; head {rows}:{head}"),
                    }
                    Ok(())
                }
                Some(p) => bail!("audit chain broken after {rows} good rows: {p}"),
            }
        }
    }
}
