//! The `files` scenario: one receipt computer's view of the file interface. A request
//! file is written into `req/`; the time until its result file is complete in `res/` is
//! one sample. One request at a time (a receipt computer waits for its answer), against
//! a terminal file interface running in this process (polling every 10 ms, like
//! `onshi terminal serve`) and the running central.

use super::ScenarioResult;
use anyhow::{Context, Result};
use bytes::Bytes;
use onshi_central::client::CentralClient;
use onshi_terminal::files::FileInterface;
use std::time::{Duration, Instant};

/// How often the terminal looks at `req/` (as `onshi terminal serve` does).
pub const POLL: Duration = Duration::from_millis(10);

pub async fn run(
    client: CentralClient,
    bodies: &[Bytes],
    duration: Duration,
) -> Result<ScenarioResult> {
    let root = tempfile::tempdir().context("temp dir")?;
    let fi = FileInterface::new(root.path(), client)?;
    let (req, res) = (fi.req_dir(), fi.res_dir());
    let task = tokio::spawn(fi.run(POLL));
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let start = Instant::now();
    let mut i = 0usize;
    while start.elapsed() < duration {
        let name = format!("{:012}", i);
        let req_path = req.join(format!("OQSsiquc01req_{name}.xml"));
        let res_path = res.join(format!("OQSsiquc01res_{name}.xml"));
        let body = &bodies[i % bodies.len()];
        let t0 = Instant::now();
        std::fs::write(&req_path, body)?;
        let answered = loop {
            if res_path.exists() {
                break true;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                break false;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        };
        if answered {
            latencies.push(t0.elapsed());
            let bytes = std::fs::read(&res_path)?;
            if !bytes.windows(14).any(|w| w == b"<SegmentOfResu") {
                errors += 1;
            }
            std::fs::remove_file(&res_path)?;
        } else {
            errors += 1;
        }
        i += 1;
    }
    task.abort();
    latencies.sort();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let idx = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[idx].as_secs_f64() * 1000.0
    };
    let elapsed = start.elapsed().as_secs_f64();
    Ok(ScenarioResult {
        scenario: "files".into(),
        requests: latencies.len() as u64,
        errors,
        duration_s: elapsed,
        throughput: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: latencies
            .last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
        server_cpu_us_per_request: None,
        client_cpu_us_per_request: None,
    })
}
