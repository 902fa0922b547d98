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
                    println!("audit chain intact: {rows} rows; head {rows}:{head}");
                    Ok(())
                }
                Some(p) => bail!("audit chain broken after {rows} good rows: {p}"),
            }
        }
    }
}
