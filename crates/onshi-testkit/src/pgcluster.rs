//! A throw-away PostgreSQL primary with a streaming replica on this machine: `initdb` in a
//! temp directory, `pg_basebackup -R` into a second one, each started on a free port. As
//! root the server programs run as the `postgres` user (`runuser`), as `scripts/test`
//! does. Both servers are stopped and their directories removed when the value is
//! dropped, also when a test fails.
//!
//! The server programs are found like `scripts/test` finds them ([`server_bin`]); without
//! them [`Replicated::start`] fails with a message saying so.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A primary and its streaming replica; both on 127.0.0.1, user `postgres`, trust auth.
pub struct Replicated {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    pub primary_port: u16,
    pub replica_port: u16,
}

/// The directory holding `initdb`, `pg_ctl` and `pg_basebackup`: `ONSHI_PG_BIN` (set by
/// `scripts/test`), else the newest `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
pub fn server_bin() -> anyhow::Result<PathBuf> {
    let from_env = std::env::var_os("ONSHI_PG_BIN").map(PathBuf::from);
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name
                .split('.')
                .map(|p| p.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    let mut candidates: Vec<PathBuf> = from_env.into_iter().collect();
    candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    candidates
        .into_iter()
        .find(|d| {
            ["initdb", "pg_ctl", "pg_basebackup"]
                .iter()
                .all(|p| d.join(p).is_file())
        })
        .context(
            "PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) not found in \
             /usr/lib/postgresql/*/bin nor `pg_config --bindir`: install the PostgreSQL \
             server (Debian: apt-get install postgresql; scripts/test does this)",
        )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Replicated {
    /// initdb + start the primary, pg_basebackup -R + start the replica. Blocking (a few
    /// seconds); call it from `spawn_blocking` in async tests.
    pub fn start() -> anyhow::Result<Replicated> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("onshi-replica-")
            .tempdir()?;
        let as_postgres = running_as_root();
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()))?;
        }
        let mut cluster = Replicated {
            bin,
            dir,
            as_postgres,
            primary_port: 0,
            replica_port: 0,
        };
        let primary = cluster.data("primary");
        run(cluster
            .server_cmd("initdb")
            .arg("-D")
            .arg(&primary)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"]))?;
        cluster.primary_port = cluster.start_server(
            "primary",
            "-c wal_level=replica -c max_wal_senders=8 -c max_connections=100",
        )?;
        run(cluster
            .server_cmd("pg_basebackup")
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &cluster.primary_port.to_string()])
            .arg("-D")
            .arg(cluster.data("replica"))
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]))?;
        cluster.replica_port = cluster.start_server(
            "replica",
            "-c hot_standby=on -c hot_standby_feedback=on -c max_connections=100",
        )?;
        Ok(cluster)
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The log of `primary` or `replica` (for failure messages).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts the cluster in `name` on a free port (a few tries: a port may be taken
    /// between finding it and binding it).
    fn start_server(&self, name: &str, options: &str) -> anyhow::Result<u16> {
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {options}",
                self.dir.path().display()
            );
            let outcome = run(self
                .server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.data(name))
                .arg("-l")
                .arg(self.dir.path().join(format!("{name}.log")))
                .args(["-w", "-t", "60", "-o", &opts, "start"]));
            match outcome {
                Ok(()) => return Ok(port),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow::anyhow!("not started"))
            .context(format!("start the {name}: {}", self.log(name))))
    }

    fn stop(&self, name: &str, mode: &str) -> anyhow::Result<()> {
        let data = self.data(name);
        if !data.join("postmaster.pid").exists() {
            return Ok(());
        }
        run(self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(data)
            .args(["-w", "-t", "30", "-m", mode, "stop"]))
    }

    /// Stops the replica (fast shutdown: its clients are disconnected).
    pub fn stop_replica(&self) -> anyhow::Result<()> {
        self.stop("replica", "fast")
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB` on the primary.
    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB` on the replica.
    pub fn replica_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.replica_port
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        // Immediate: nothing in a throw-away cluster needs a clean shutdown.
        let _ = self.stop("replica", "immediate");
        let _ = self.stop("primary", "immediate");
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} {:?} failed ({}): {}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
