//! The `pgbench -S` reference: what the same PostgreSQL server does with the simplest
//! indexed read (one primary-key SELECT per transaction), with as many clients as the
//! benchmark has connections. The figure says how far a check is from the database's own
//! ceiling on this machine.
//!
//! The pgbench tables go into their own database (`onshi_pgbench`, created when missing,
//! initialised once at scale 10) on the same server, never into onshi's.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

const DATABASE: &str = "onshi_pgbench";

/// A PostgreSQL client program: on PATH, else from the newest installed server.
fn program(name: &str) -> Result<PathBuf> {
    if let Ok(paths) = std::env::var("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.into_iter()
        .rev()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found (install postgresql-client)"))
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> Result<String> {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").context("not a URL")? + 3;
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    Ok(match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    })
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Transactions per second of `pgbench -S` with `clients` clients for `seconds`.
pub fn select_tps(url: &str, clients: usize, seconds: u64) -> Result<f64> {
    let psql = program("psql")?;
    let pgbench = program("pgbench")?;
    let exists = run(Command::new(&psql).args([
        url,
        "-tAc",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
    ]))?;
    let target = with_database(url, DATABASE)?;
    if exists.trim() != "1" {
        run(Command::new(&psql).args([url, "-c", &format!("CREATE DATABASE {DATABASE}")]))?;
        run(Command::new(&pgbench).args(["-i", "-q", "-s", "10", &target]))?;
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(clients.max(1));
    let out = run(Command::new(&pgbench).args([
        "-S",
        "-n",
        "-c",
        &clients.max(1).to_string(),
        "-j",
        &threads.to_string(),
        "-T",
        &seconds.max(1).to_string(),
        &target,
    ]))?;
    parse_tps(&out).with_context(|| format!("no tps in pgbench output: {out}"))
}

/// The `tps = N (without initial connection time)` line of pgbench's report.
fn parse_tps(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.trim_start().starts_with("tps = "))?
        .trim_start()
        .strip_prefix("tps = ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "x").unwrap(),
            "postgres://u@h/x"
        );
    }

    #[test]
    fn the_tps_line_of_pgbench_15_is_read() {
        let out = "number of failed transactions: 0 (0.000%)\n\
                   latency average = 0.321 ms\n\
                   initial connection time = 12.345 ms\n\
                   tps = 99696.123456 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(99696.123456));
        assert_eq!(parse_tps("nothing"), None);
    }
}
