//! `/metrics` in the Prometheus text format, without a metrics library: a handful of
//! atomic counters and fixed-bucket histograms, updated by one middleware around every
//! request, and read when scraped.
//!
//! - `onshi_requests_total{route,status}` and `onshi_request_duration_seconds{route}`
//!   (histogram): every HTTP request, by the route it matched.
//! - `onshi_checks_total{method,result}`: every answer to a check. `method` is
//!   `insurance_card`, `card`, `card_deferred` or `card_consent`; `result` is the
//!   `QualificationValidity` code (1–5) of an answer, or the error code of a refusal.
//! - `onshi_history_pending`: writes waiting for the group commit (the queue depth);
//!   `onshi_db_connections`, `onshi_db_connections_in_use`, `onshi_db_pool_waiting`: the
//!   database pool; `onshi_db_lookup_statements_total` and `onshi_db_lookup_checks_total`:
//!   how many lookup statements answered how many checks by card data (PostgreSQL coalesces
//!   concurrent checks into one statement; the ratio is the mean batch), and
//!   `onshi_db_lookup_failed_batches_total` (shared statements that failed, so each of their
//!   checks was looked up alone).
//! - With a read replica (`onshi central serve --replica`): `onshi_replica_reads_total
//!   {target,reason}` (routed reads of qualification data: `replica`/`within_bound`, or
//!   `primary` with `stale`, `replica_down` or `replica_error`), `onshi_replica_staleness_seconds`
//!   (how stale the replica may be now, `+Inf` when unknown), `onshi_replica_max_staleness_seconds`,
//!   `onshi_replica_lag_bytes` and `onshi_replica_up`.
//!
//! Handlers label their answer by adding a [`CheckResult`] extension to the response
//! (`server::render` does it for every check-shaped answer).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The result label of a check's answer.
#[derive(Debug, Clone)]
pub(crate) struct CheckResult(pub String);

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, seconds: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
}

/// Counters by label set; a label set is created on first use.
#[derive(Default)]
struct Family<K: std::hash::Hash + Eq, V: Default> {
    map: RwLock<HashMap<K, Arc<V>>>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Default> Family<K, V> {
    fn get(&self, key: &K) -> Arc<V> {
        if let Ok(m) = self.map.read()
            && let Some(v) = m.get(key)
        {
            return v.clone();
        }
        match self.map.write() {
            Ok(mut m) => m.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::new(V::default()),
        }
    }

    fn snapshot(&self) -> Vec<(K, Arc<V>)> {
        self.map
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: Family<(String, u16), AtomicU64>,
    durations: Family<String, Histogram>,
    checks: Family<(&'static str, String), AtomicU64>,
    read_routing: std::sync::OnceLock<Arc<onshi_store::ReadRouting>>,
    /// Rebuilds of the card CA's CRL from the database (one per refresh period when all
    /// goes well; more means the single-flight rebuild is not holding).
    card_crl_rebuilds: AtomicU64,
}

fn method_of(route: &str) -> Option<&'static str> {
    match route {
        "/oqs/v1/qualification" => Some("insurance_card"),
        "/oqs/v1/card/check" => Some("card"),
        "/oqs/v1/card/deferred-check" => Some("card_deferred"),
        "/oqs/v1/card/consent" => Some("card_consent"),
        _ => None,
    }
}

impl Metrics {
    /// Reports the store's read routing too (a store with a replica).
    pub fn watch_read_routing(&self, routing: Arc<onshi_store::ReadRouting>) {
        let _ = self.read_routing.set(routing);
    }

    pub(crate) fn card_crl_rebuilt(&self) {
        self.card_crl_rebuilds.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, route: &str, status: u16, seconds: f64, result: Option<&CheckResult>) {
        self.requests
            .get(&(route.to_string(), status))
            .fetch_add(1, Ordering::Relaxed);
        self.durations.get(&route.to_string()).observe(seconds);
        if let (Some(method), Some(CheckResult(r))) = (method_of(route), result) {
            self.checks
                .get(&(method, r.clone()))
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, pool: Option<onshi_store::PoolStatus>) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP onshi_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE onshi_requests_total counter");
        let mut reqs = self.requests.snapshot();
        reqs.sort_by(|a, b| a.0.cmp(&b.0));
        for ((route, status), n) in reqs {
            let _ = writeln!(
                out,
                "onshi_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP onshi_request_duration_seconds Time from request to response head, by route."
        );
        let _ = writeln!(out, "# TYPE onshi_request_duration_seconds histogram");
        let mut durs = self.durations.snapshot();
        durs.sort_by(|a, b| a.0.cmp(&b.0));
        for (route, h) in durs {
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "onshi_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {}",
                    h.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "onshi_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "onshi_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "onshi_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP onshi_checks_total Answers to checks by method and result (QualificationValidity code, or the error code)."
        );
        let _ = writeln!(out, "# TYPE onshi_checks_total counter");
        let mut checks = self.checks.snapshot();
        checks.sort_by(|a, b| a.0.cmp(&b.0));
        for ((method, result), n) in checks {
            let _ = writeln!(
                out,
                "onshi_checks_total{{method=\"{method}\",result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        if let Some(p) = pool {
            for (name, help, value) in [
                (
                    "onshi_history_pending",
                    "Writes (history rows, used nonces) queued for the group commit, not yet committed.",
                    p.pending_writes as f64,
                ),
                (
                    "onshi_db_connections",
                    "Database connections of the read pool (SQLite readers, PostgreSQL pool).",
                    p.size as f64,
                ),
                (
                    "onshi_db_connections_in_use",
                    "Pooled PostgreSQL connections handed out now (0 on SQLite).",
                    p.in_use as f64,
                ),
                (
                    "onshi_db_pool_waiting",
                    "Requests waiting for a pooled PostgreSQL connection.",
                    p.waiting as f64,
                ),
            ] {
                single(&mut out, name, "gauge", help, value);
            }
            single(
                &mut out,
                "onshi_db_lookup_statements_total",
                "counter",
                "Lookup statements run for checks by card data (PostgreSQL, coalesced).",
                p.lookup_statements,
            );
            single(
                &mut out,
                "onshi_db_lookup_checks_total",
                "counter",
                "Checks by card data answered by those statements (their ratio is the mean batch).",
                p.lookup_checks,
            );
            single(
                &mut out,
                "onshi_db_lookup_failed_batches_total",
                "counter",
                "Coalesced lookups that failed and were retried one check at a time.",
                p.lookup_failed_batches,
            );
        }
        single(
            &mut out,
            "onshi_card_crl_rebuilds_total",
            "counter",
            "Rebuilds of the card CA's CRL from the database.",
            self.card_crl_rebuilds.load(Ordering::Relaxed),
        );
        if let Some(r) = self.read_routing.get() {
            render_read_routing(&mut out, &r.snapshot());
        }
        out
    }
}

fn render_read_routing(out: &mut String, r: &onshi_store::ReadRoutingSnapshot) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP onshi_replica_reads_total Reads of qualification data by where they went and why."
    );
    let _ = writeln!(out, "# TYPE onshi_replica_reads_total counter");
    for (target, reason, n) in [
        ("replica", "within_bound", r.replica_reads),
        ("primary", "stale", r.primary_reads_stale),
        ("primary", "replica_down", r.primary_reads_down),
        ("primary", "replica_error", r.primary_reads_error),
    ] {
        let _ = writeln!(
            out,
            "onshi_replica_reads_total{{target=\"{target}\",reason=\"{reason}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP onshi_replica_staleness_seconds How stale the replica may be now (measured; +Inf when unknown)."
    );
    let _ = writeln!(out, "# TYPE onshi_replica_staleness_seconds gauge");
    match r.staleness {
        Some(s) => {
            let _ = writeln!(out, "onshi_replica_staleness_seconds {}", s.as_secs_f64());
        }
        None => {
            let _ = writeln!(out, "onshi_replica_staleness_seconds +Inf");
        }
    }
    single(
        out,
        "onshi_replica_max_staleness_seconds",
        "gauge",
        "Reads go to the replica only within this bound.",
        r.max_staleness.as_secs_f64(),
    );
    single(
        out,
        "onshi_replica_lag_bytes",
        "gauge",
        "WAL the replica had not replayed at the last measurement (-1 unknown).",
        r.lag_bytes,
    );
    single(
        out,
        "onshi_replica_up",
        "gauge",
        "Whether the last measurement of the replica succeeded.",
        u8::from(r.replica_up),
    );
}

/// One metric without labels: its HELP and TYPE lines and its value.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The middleware: times every request and counts it by route, status and check result,
/// and writes the access log line (target `onshi::access`, off by default: at tens of
/// thousands of checks a second it is for tracing a problem, not for every day).
///
/// Every answer carries an `x-request-id`: the check handlers set theirs (the id of the
/// history row); any other answer gets one here.
pub(crate) async fn track(
    metrics: Arc<Metrics>,
    ids: Arc<crate::server::RequestIds>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let mut response = next.run(req).await;
    if !response.headers().contains_key("x-request-id")
        && let Ok(v) = axum::http::HeaderValue::from_str(&ids.next())
    {
        response.headers_mut().insert("x-request-id", v);
    }
    let seconds = started.elapsed().as_secs_f64();
    let result = response.extensions().get::<CheckResult>();
    let status = response.status().as_u16();
    metrics.record(&route, status, seconds, result);
    tracing::info!(
        target: "onshi::access",
        request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        route,
        status,
        result = result.map(|r| r.0.as_str()).unwrap_or(""),
        micros = (seconds * 1e6) as u64,
        "request"
    );
    response
}

/// `GET /metrics`.
pub(crate) fn exposition(metrics: &Metrics, pool: Option<onshi_store::PoolStatus>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(pool),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_by_labels_and_fills_cumulative_buckets() {
        let m = Metrics::default();
        m.record(
            "/oqs/v1/qualification",
            200,
            0.0008,
            Some(&CheckResult("1".into())),
        );
        m.record(
            "/oqs/v1/qualification",
            200,
            0.003,
            Some(&CheckResult("4".into())),
        );
        m.record(
            "/oqs/v1/qualification",
            400,
            0.0001,
            Some(&CheckResult("ONS2001".into())),
        );
        m.record("/health", 200, 0.0001, None);
        let text = m.render(Some(onshi_store::PoolStatus {
            size: 16,
            in_use: 5,
            waiting: 0,
            pending_writes: 3,
            lookup_statements: 4,
            lookup_checks: 10,
            lookup_failed_batches: 1,
        }));
        assert!(text.contains("onshi_db_lookup_statements_total 4\n"));
        assert!(text.contains("onshi_db_lookup_checks_total 10\n"));
        assert!(text.contains("onshi_db_lookup_failed_batches_total 1\n"));
        assert!(
            text.contains("onshi_requests_total{route=\"/oqs/v1/qualification\",status=\"200\"} 2")
        );
        assert!(
            text.contains("onshi_requests_total{route=\"/oqs/v1/qualification\",status=\"400\"} 1")
        );
        assert!(
            text.contains("onshi_checks_total{method=\"insurance_card\",result=\"ONS2001\"} 1")
        );
        assert!(text.contains("onshi_checks_total{method=\"insurance_card\",result=\"1\"} 1"));
        assert!(!text.contains("method=\"insurance_card\",result=\"1\"} 2"));
        assert!(text.contains(
            "onshi_request_duration_seconds_bucket{route=\"/oqs/v1/qualification\",le=\"0.001\"} 2"
        ));
        assert!(text.contains(
            "onshi_request_duration_seconds_bucket{route=\"/oqs/v1/qualification\",le=\"0.005\"} 3"
        ));
        assert!(
            text.contains(
                "onshi_request_duration_seconds_count{route=\"/oqs/v1/qualification\"} 3"
            )
        );
        assert!(text.contains("onshi_history_pending 3"));
        assert!(text.contains("onshi_db_connections 16"));
        assert!(text.contains("onshi_db_connections_in_use 5"));
        assert!(
            !text.contains("route=\"/health\",le")
                || text.contains("onshi_request_duration_seconds_count{route=\"/health\"} 1")
        );
    }
}
