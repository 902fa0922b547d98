//! The `medical` scenario: staff sessions of the demo clinic alternating between the
//! 同意済み患者一覧 and a 薬剤閲覧 of one of the consented patients.
//!
//! Before the timed window, `--medical-patients` consents (YZK, TKK) of the clinic are
//! written into the database, as the reader would after card checks, for people spread
//! over the table (preferring people with drug history): the list then holds that many
//! patients, like a busy clinic's day. Each of `--connections` kept-alive connections is
//! one staff session sending one request at a time with its account header. Every view
//! does its full work: consent lookup, disaster check, the drug query and the audit row
//! committed before the answer. Latency is measured at the client and, separately, as the
//! server's own handler time from its `server-timing` header.

use anyhow::{Context, Result, bail};
use onshi_central::client::CentralClient;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::{Clock, SystemClock};
use onshi_store::{ConsentRecord, CountedTable, Store};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Serialize, Clone, Default)]
pub struct Latency {
    pub requests: u64,
    pub errors: u64,
    pub throughput: f64,
    pub client_p50_ms: f64,
    pub client_p99_ms: f64,
    pub server_p50_ms: f64,
    pub server_p99_ms: f64,
    pub server_max_ms: f64,
}

#[derive(Serialize)]
pub struct MedicalReport {
    pub scenario: &'static str,
    pub people: i64,
    pub consented_patients: usize,
    pub connections: usize,
    pub database: String,
    pub duration_s: f64,
    pub patients: Latency,
    pub drug: Latency,
    pub machine: String,
}

/// Writes the consents and returns the consented person ids.
pub async fn prepare(
    store: &Store,
    facility: &MedicalInstitutionCode,
    count: usize,
) -> Result<Vec<i64>> {
    let people = store.count(CountedTable::Person).await?;
    if people == 0 {
        bail!("no people in the database");
    }
    let now = SystemClock.now();
    // One index seek per wanted patient, from evenly spread starting ids: finds people with
    // histories however sparse they are (`synth --medical-every N`).
    let step = (people / count.max(1) as i64).max(1);
    let mut ids: Vec<i64> = Vec::with_capacity(count);
    let mut from = 1;
    while ids.len() < count && from <= people {
        match store.next_person_with_drugs(from).await? {
            Some(id) if ids.last() != Some(&id) => {
                ids.push(id);
                from = (from + step).max(id + 1);
            }
            Some(_) => from += step,
            None => break,
        }
    }
    let stamp = now.unix_micros();
    for (n, person) in ids.iter().enumerate() {
        let at = now.add_seconds(-(n as i64) * 30);
        store
            .record_consent(&ConsentRecord {
                check_request_id: format!("bench-{stamp}-{n}"),
                facility_code: facility.as_str().into(),
                person_id: *person,
                consented_at: at,
                available_until: onshi_core::card::consent_available_until(at),
                information: vec!["YZK".into(), "TKK".into()],
            })
            .await?;
    }
    Ok(ids)
}

fn pct(v: &[u32], p: f64) -> f64 {
    super::percentile_ms(v, p)
}

fn server_us(reply: &onshi_central::client::Reply) -> Option<u32> {
    let v = reply.headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = v.split("dur=").nth(1)?.trim().parse().ok()?;
    Some((ms * 1000.0) as u32)
}

#[derive(Default)]
struct Samples {
    client: Vec<u32>,
    server: Vec<u32>,
    errors: u64,
}

pub fn run(
    client: &CentralClient,
    persons: Vec<i64>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<(Latency, Latency, f64)> {
    let client = client.clone();
    std::thread::spawn(move || -> Result<(Latency, Latency, f64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut conns = Vec::with_capacity(connections);
            for _ in 0..connections {
                conns.push(client.connect().await.context("connect")?);
            }
            let measure_from = Instant::now() + warmup;
            let end = measure_from + duration;
            let mut tasks = Vec::new();
            for (i, mut conn) in conns.into_iter().enumerate() {
                let persons = persons.clone();
                tasks.push(tokio::spawn(async move {
                    let (mut list, mut drug) = (Samples::default(), Samples::default());
                    let account = format!("{:03}", 100 + i);
                    let mut k = i * 7919;
                    while Instant::now() < end {
                        k += 1;
                        let is_list = k % 2 == 0;
                        let path = if is_list {
                            "/oqs/v1/medical/patients".to_string()
                        } else {
                            format!("/oqs/v1/medical/drug?person={}", persons[k % persons.len()])
                        };
                        let t0 = Instant::now();
                        let r = conn
                            .request(
                                hyper::http::Method::GET,
                                &path,
                                &[("x-onshi-account", account.as_str())],
                                "",
                            )
                            .await;
                        let t1 = Instant::now();
                        if t0 < measure_from {
                            continue;
                        }
                        let s = if is_list { &mut list } else { &mut drug };
                        match r {
                            Ok(reply) if reply.status.is_success() => {
                                s.client
                                    .push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                                if let Some(us) = server_us(&reply) {
                                    s.server.push(us);
                                }
                            }
                            Ok(reply) => {
                                if s.errors == 0 {
                                    eprintln!(
                                        "{path}: HTTP {}: {}",
                                        reply.status,
                                        String::from_utf8_lossy(&reply.body)
                                    );
                                }
                                s.errors += 1;
                            }
                            Err(_) => {
                                s.errors += 1;
                                break;
                            }
                        }
                    }
                    (list, drug)
                }));
            }
            let (mut list, mut drug) = (Samples::default(), Samples::default());
            for t in tasks {
                let (l, d) = t.await?;
                list.client.extend(l.client);
                list.server.extend(l.server);
                list.errors += l.errors;
                drug.client.extend(d.client);
                drug.server.extend(d.server);
                drug.errors += d.errors;
            }
            let secs = duration.as_secs_f64();
            let summarize = |mut s: Samples| {
                s.client.sort_unstable();
                s.server.sort_unstable();
                Latency {
                    requests: s.client.len() as u64,
                    errors: s.errors,
                    throughput: s.client.len() as f64 / secs,
                    client_p50_ms: pct(&s.client, 0.5),
                    client_p99_ms: pct(&s.client, 0.99),
                    server_p50_ms: pct(&s.server, 0.5),
                    server_p99_ms: pct(&s.server, 0.99),
                    server_max_ms: s
                        .server
                        .last()
                        .map(|v| f64::from(*v) / 1000.0)
                        .unwrap_or(0.0),
                }
            };
            Ok((summarize(list), summarize(drug), secs))
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("load generator panicked"))?
}
