//! Reads of qualification data from a PostgreSQL streaming replica, within a bound on
//! staleness that is measured, not assumed.
//!
//! The bound is kept as a *watermark*: an instant before which every commit on the
//! primary is known to have been replayed on the replica. A background task takes, every
//! few tens of milliseconds, the primary's WAL position (`pg_current_wal_lsn()`, read at
//! instant `t`: every commit finished before `t` lies at or below it) and then the
//! replica's replay position (`pg_last_wal_replay_lsn()`); once the replay position has
//! reached a sample's position, the watermark moves to that sample's `t`. A read goes to
//! the replica only if, at the moment it is routed, `now - watermark` is within the bound;
//! otherwise (lag too high, replica paused, unreachable, not a standby of this primary,
//! or the measurement itself stalled) it goes to the primary. An idle primary does not
//! make the replica look stale (its WAL position does not move), unlike
//! `now() - pg_last_xact_replay_timestamp()`.
//!
//! A read that fails on the replica is retried on the primary and the replica counts as
//! down until the next successful measurement. Only the reads that ask for it are routed
//! ([`crate::pg::PgStore::read`]): qualification lookups by card data, by person, and in
//! bulk. Everything else, and every write, uses the primary.

use crate::{Result, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

/// A streaming replica to read qualification data from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaOptions {
    /// `postgres://…` of the standby, naming the same database as the primary's URL.
    pub url: String,
    /// A read goes to the replica only while it is known to hold every commit made on
    /// the primary longer ago than this.
    pub max_staleness: Duration,
}

/// Connecting to the replica, and each measurement query, give up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A routed read that takes longer than this on the replica is retried on the primary.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many unanswered primary positions are remembered (a replica far behind
/// only gets a watermark once it has replayed the oldest of them).
const MAX_SAMPLES: usize = 4096;

const PRIMARY_LSN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint";
const REPLICA_LSN: &str =
    "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint";
const SYSTEM_ID: &str = "SELECT system_identifier FROM pg_control_system()";

/// How often the lag is measured for a bound: a quarter of it, between 10 and 100 ms.
pub fn measure_period(max_staleness: Duration) -> Duration {
    (max_staleness / 4).clamp(Duration::from_millis(10), Duration::from_millis(100))
}

/// Where routed reads went, and what is known about the replica; read by `/metrics`.
pub struct ReadRouting {
    base: Instant,
    max_staleness: Duration,
    /// Microseconds after `base` (+1) before which the replica holds every commit of the
    /// primary; 0 when nothing is known (not measured yet, or the replica failed since).
    watermark: AtomicU64,
    up: AtomicBool,
    lag_bytes: AtomicI64,
    replica: AtomicU64,
    primary_stale: AtomicU64,
    primary_down: AtomicU64,
    primary_error: AtomicU64,
}

/// Why a routed read went where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The replica, known to be within the bound.
    Replica,
    /// The primary: the replica is reachable but may be staler than the bound.
    Stale,
    /// The primary: the replica is unreachable, or not a standby of this primary.
    Down,
    /// The primary, after the read failed on the replica.
    Error,
}

/// A copy of [`ReadRouting`] at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRoutingSnapshot {
    pub max_staleness: Duration,
    /// How stale the replica may be right now (`None`: unknown, reads go to the primary).
    pub staleness: Option<Duration>,
    pub replica_up: bool,
    /// The primary's WAL position minus the replica's replay position, at the last
    /// measurement (-1 when unknown).
    pub lag_bytes: i64,
    pub replica_reads: u64,
    pub primary_reads_stale: u64,
    pub primary_reads_down: u64,
    pub primary_reads_error: u64,
}

impl ReadRouting {
    fn new(max_staleness: Duration) -> Self {
        ReadRouting {
            base: Instant::now(),
            max_staleness,
            watermark: AtomicU64::new(0),
            up: AtomicBool::new(false),
            lag_bytes: AtomicI64::new(-1),
            replica: AtomicU64::new(0),
            primary_stale: AtomicU64::new(0),
            primary_down: AtomicU64::new(0),
            primary_error: AtomicU64::new(0),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(u64::MAX - 1)
    }

    /// How stale the replica may be at this instant.
    pub fn staleness(&self) -> Option<Duration> {
        self.staleness_at(self.now_us())
    }

    fn staleness_at(&self, now_us: u64) -> Option<Duration> {
        match self.watermark.load(Ordering::Acquire) {
            0 => None,
            w => Some(Duration::from_micros(now_us.saturating_sub(w - 1))),
        }
    }

    /// Where a read made now goes (not counted).
    pub fn route(&self) -> Route {
        self.route_at(self.now_us())
    }

    fn route_at(&self, now_us: u64) -> Route {
        match self.staleness_at(now_us) {
            Some(s) if s <= self.max_staleness => Route::Replica,
            _ if self.up.load(Ordering::Acquire) => Route::Stale,
            _ => Route::Down,
        }
    }

    fn count(&self, route: Route) {
        let c = match route {
            Route::Replica => &self.replica,
            Route::Stale => &self.primary_stale,
            Route::Down => &self.primary_down,
            Route::Error => &self.primary_error,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The replica holds every commit made on the primary before `t_us`.
    fn advance(&self, t_us: u64) {
        self.watermark.fetch_max(t_us + 1, Ordering::AcqRel);
        self.up.store(true, Ordering::Release);
    }

    /// Nothing is known about the replica any more.
    fn forget(&self, still_up: bool) {
        self.watermark.store(0, Ordering::Release);
        self.up.store(still_up, Ordering::Release);
        self.lag_bytes.store(-1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ReadRoutingSnapshot {
        ReadRoutingSnapshot {
            max_staleness: self.max_staleness,
            staleness: self.staleness(),
            replica_up: self.up.load(Ordering::Acquire),
            lag_bytes: self.lag_bytes.load(Ordering::Relaxed),
            replica_reads: self.replica.load(Ordering::Relaxed),
            primary_reads_stale: self.primary_stale.load(Ordering::Relaxed),
            primary_reads_down: self.primary_down.load(Ordering::Relaxed),
            primary_reads_error: self.primary_error.load(Ordering::Relaxed),
        }
    }
}

/// The replica's pool and what is known about it.
pub(crate) struct ReadRouter {
    pool: Pool,
    pub(crate) routing: Arc<ReadRouting>,
}

impl ReadRouter {
    /// Starts measuring; the replica is not used until the first measurement succeeds.
    /// Never fails on an unreachable replica (reads then go to the primary).
    pub(crate) fn start(
        primary: &tokio_postgres::Config,
        opts: &ReplicaOptions,
    ) -> Result<Arc<ReadRouter>> {
        let mut replica = crate::pg::with_session_options(
            tokio_postgres::Config::from_str(&opts.url)
                .map_err(|_| StoreError::Url(opts.url.clone()))?,
        );
        replica.connect_timeout(CONNECT_TIMEOUT);
        let manager = Manager::from_config(
            replica.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(crate::pg::pool_size())
            .build()
            .map_err(crate::pg::pool_err)?;
        let router = Arc::new(ReadRouter {
            pool,
            routing: Arc::new(ReadRouting::new(opts.max_staleness)),
        });
        let mut primary = primary.clone();
        primary.connect_timeout(CONNECT_TIMEOUT);
        tokio::spawn(monitor(
            Arc::downgrade(&router),
            primary,
            replica,
            measure_period(opts.max_staleness),
        ));
        Ok(router)
    }

    /// Runs `read` on the replica if it is within the bound now. `None` (the reason
    /// counted): the caller reads from the primary, also when the read failed here.
    pub(crate) async fn try_read<T, F, Fut>(&self, read: &F) -> Option<T>
    where
        F: Fn(deadpool_postgres::Object) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let route = self.routing.route();
        if route != Route::Replica {
            self.routing.count(route);
            return None;
        }
        let attempt = async {
            let client = self.pool.get().await.map_err(crate::pg::pool_err)?;
            read(client).await
        };
        match tokio::time::timeout(READ_TIMEOUT, attempt).await {
            Ok(Ok(v)) => {
                self.routing.count(Route::Replica);
                Some(v)
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_string(),
                };
                tracing::warn!(error = %why, "replica read failed; reading from the primary");
                self.routing.forget(false);
                self.routing.count(Route::Error);
                None
            }
        }
    }
}

type Conn = Option<tokio_postgres::Client>;

async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn bigint(client: &tokio_postgres::Client, sql: &str) -> Result<i64> {
    Ok(client.query_one(sql, &[]).await?.try_get(0)?)
}

/// Measures until the router is dropped.
async fn monitor(
    router: Weak<ReadRouter>,
    primary: tokio_postgres::Config,
    replica: tokio_postgres::Config,
    period: Duration,
) {
    let mut p: Conn = None;
    let mut r: Conn = None;
    let mut samples: VecDeque<(u64, i64)> = VecDeque::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    loop {
        ticker.tick().await;
        let Some(router) = router.upgrade() else {
            return;
        };
        let routing = &router.routing;
        let step = measure(routing, &primary, &replica, &mut p, &mut r, &mut samples);
        match tokio::time::timeout(CONNECT_TIMEOUT, step).await {
            Ok(Ok(())) => {
                if !last_error.is_empty() {
                    tracing::info!("replica measured again; reads may use it");
                    last_error.clear();
                }
            }
            outcome => {
                let (side, e) = match outcome {
                    Ok(Err(e)) => e,
                    _ => (Side::Replica, "measurement timed out".to_string()),
                };
                // Whatever failed, start over with fresh connections and no samples.
                match side {
                    Side::Primary => p = None,
                    Side::Replica => r = None,
                }
                samples.clear();
                routing.forget(false);
                if e != last_error {
                    tracing::warn!(error = %e, "replica lag unknown; reads go to the primary");
                    last_error = e;
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Primary,
    Replica,
}

async fn measure(
    routing: &ReadRouting,
    primary: &tokio_postgres::Config,
    replica: &tokio_postgres::Config,
    p: &mut Conn,
    r: &mut Conn,
    samples: &mut VecDeque<(u64, i64)>,
) -> std::result::Result<(), (Side, String)> {
    let on = |side: Side| move |e: StoreError| (side, e.to_string());
    if p.as_ref().is_none_or(|c| c.is_closed()) {
        *p = Some(connect(primary).await.map_err(on(Side::Primary))?);
    }
    if r.as_ref().is_none_or(|c| c.is_closed()) {
        let client = connect(replica).await.map_err(on(Side::Replica))?;
        // A standby of another cluster would answer with positions that mean nothing here.
        let theirs = bigint(&client, SYSTEM_ID)
            .await
            .map_err(on(Side::Replica))?;
        let ours = bigint(p.as_ref().expect("connected above"), SYSTEM_ID)
            .await
            .map_err(on(Side::Primary))?;
        if theirs != ours {
            return Err((
                Side::Replica,
                "the replica is not a standby of this primary (system identifiers differ)".into(),
            ));
        }
        *r = Some(client);
    }
    let (Some(pc), Some(rc)) = (p.as_ref(), r.as_ref()) else {
        return Ok(());
    };
    // The instant is taken before the primary is asked: every commit finished by then is
    // at or below the position it answers.
    let t = routing.now_us();
    let lsn = bigint(pc, PRIMARY_LSN).await.map_err(on(Side::Primary))?;
    samples.push_back((t, lsn));
    if samples.len() > MAX_SAMPLES {
        samples.pop_front();
    }
    let row = rc
        .query_one(REPLICA_LSN, &[])
        .await
        .map_err(|e| (Side::Replica, e.to_string()))?;
    let in_recovery: bool = row.try_get(0).map_err(|e| (Side::Replica, e.to_string()))?;
    let replayed: Option<i64> = row.try_get(1).map_err(|e| (Side::Replica, e.to_string()))?;
    let replayed = match (in_recovery, replayed) {
        (true, Some(l)) => l,
        _ => return Err((Side::Replica, "the replica is not in recovery".into())),
    };
    // The newest sample the replica has replayed up to.
    while samples.len() >= 2 && samples[1].1 <= replayed {
        samples.pop_front();
    }
    if let Some(&(t0, l0)) = samples.front()
        && l0 <= replayed
    {
        routing.advance(t0);
    } else {
        routing.up.store(true, Ordering::Release);
    }
    routing
        .lag_bytes
        .store((lsn - replayed).max(0), Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_to_the_replica_only_within_the_bound() {
        let r = ReadRouting::new(Duration::from_millis(200));
        assert_eq!(r.route_at(0), Route::Down, "nothing measured yet");
        r.advance(1_000_000);
        assert_eq!(r.route_at(1_000_000), Route::Replica);
        assert_eq!(r.route_at(1_200_000), Route::Replica, "at the bound");
        assert_eq!(r.route_at(1_200_001), Route::Stale, "past the bound");
        assert_eq!(r.staleness_at(1_250_000), Some(Duration::from_millis(250)));
        r.advance(1_240_000);
        assert_eq!(r.route_at(1_250_000), Route::Replica);
        r.forget(false);
        assert_eq!(r.route_at(1_250_000), Route::Down);
        assert_eq!(r.staleness_at(1_250_000), None);
    }

    #[test]
    fn the_watermark_never_moves_back() {
        let r = ReadRouting::new(Duration::from_secs(10));
        r.advance(5_000);
        r.advance(1_000);
        assert_eq!(r.watermark.load(Ordering::Relaxed), 5_001);
    }

    #[test]
    fn the_period_is_a_quarter_of_the_bound_within_limits() {
        assert_eq!(
            measure_period(Duration::from_millis(200)),
            Duration::from_millis(50)
        );
        assert_eq!(
            measure_period(Duration::from_secs(60)),
            Duration::from_millis(100)
        );
        assert_eq!(
            measure_period(Duration::from_millis(1)),
            Duration::from_millis(10)
        );
    }
}
