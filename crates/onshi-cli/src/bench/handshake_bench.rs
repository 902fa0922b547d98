//! The `handshake` scenario: a storm of full mTLS handshakes, as when every terminal of a
//! region reconnects at once (central restarted, a load balancer failed over).
//!
//! All `--connections` clients start together; each opens a TCP connection, does a full
//! TLS 1.3 handshake with its client certificate (session resumption is switched off on
//! this side, so every handshake pays the server's signature and the client-certificate
//! verification), sends one `POST /noop` so that the server has really accepted the
//! facility, and closes; then again, until the duration is over. One sample is
//! connect → answer of that first request.

use super::{ScenarioResult, percentile_ms, proc_cpu_seconds, self_cpu_seconds};
use anyhow::Result;
use bytes::Bytes;
use onshi_central::client::CentralClient;
use std::time::{Duration, Instant};

/// A client that never resumes a TLS session: every connect is a full handshake.
pub fn without_resumption(
    dir: &onshi_central::provision::DataDir,
    facility: &onshi_core::ids::MedicalInstitutionCode,
    addr: std::net::SocketAddr,
) -> Result<CentralClient> {
    let mut tls = crate::check::facility_tls(dir, facility)?;
    tls.resumption = rustls::client::Resumption::disabled();
    Ok(CentralClient::new(addr, "localhost", tls)?)
}

pub fn run(
    client: CentralClient,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
) -> Result<ScenarioResult> {
    std::thread::spawn(move || -> Result<ScenarioResult> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let start = Instant::now();
            let measure_from = start + warmup;
            let end = measure_from + duration;
            let mut tasks = Vec::with_capacity(connections);
            for _ in 0..connections {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat: Vec<u32> = Vec::with_capacity(1 << 14);
                    let mut errors = 0u64;
                    let mut first_error: Option<String> = None;
                    while Instant::now() < end {
                        let t0 = Instant::now();
                        let outcome = async {
                            let mut conn = client.connect().await?;
                            conn.post("/noop", "application/xml", Bytes::from_static(b"<XmlMsg/>"))
                                .await
                        }
                        .await;
                        let t1 = Instant::now();
                        if t0 < measure_from {
                            continue;
                        }
                        match outcome {
                            Ok(reply) if reply.status.is_success() => {
                                lat.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32)
                            }
                            Ok(reply) => {
                                errors += 1;
                                first_error.get_or_insert(format!("HTTP {}", reply.status));
                            }
                            Err(e) => {
                                errors += 1;
                                first_error.get_or_insert(e.to_string());
                                // Back off a little: a refused connection returns at once.
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                    (lat, errors, first_error)
                }));
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
            let cpu_before = (server_pid.and_then(proc_cpu_seconds), self_cpu_seconds());
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (lat, e, first) = t.await?;
                if let Some(f) = first.filter(|_| errors == 0) {
                    eprintln!("handshake: first failure: {f}");
                }
                all.extend(lat);
                errors += e;
            }
            let elapsed = duration
                .as_secs_f64()
                .min((Instant::now() - measure_from).as_secs_f64());
            let server_cpu = match (cpu_before.0, server_pid.and_then(proc_cpu_seconds)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            let client_cpu = self_cpu_seconds() - cpu_before.1;
            all.sort_unstable();
            let n = all.len() as u64;
            let per = |cpu: Option<f64>| cpu.filter(|_| n > 0).map(|c| c * 1e6 / n as f64);
            Ok(ScenarioResult {
                scenario: "handshake".into(),
                requests: n,
                errors,
                duration_s: elapsed,
                throughput: n as f64 / elapsed,
                p50_ms: percentile_ms(&all, 0.50),
                p99_ms: percentile_ms(&all, 0.99),
                p999_ms: percentile_ms(&all, 0.999),
                max_ms: all.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0),
                server_cpu_us_per_request: per(server_cpu),
                client_cpu_us_per_request: per(Some(client_cpu)),
            })
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("handshake generator panicked"))?
}
