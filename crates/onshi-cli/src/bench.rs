//! `onshi bench`: a closed-loop load generator for a running central.
//!
//! N kept-alive mTLS connections each send one request at a time for the duration. The
//! request bodies are encoded before the timed window (client-side work a real facility
//! does on its own machine); the server does its full work for every request: TLS,
//! parsing, check-digit validation, facility lookup, database lookup, and the history
//! row committed before the answer. The generator runs on one thread so that most of the
//! two cores stay with the server; the server's CPU time is read from /proc and reported
//! per request. `--scenario all` runs the no-op endpoint and the check in the same run.

use crate::check::facility_client;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use onshi_central::provision::{self, DataDir};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::{Clock, SystemClock};
use onshi_store::Store;
use onshi_wire::{Encoding, siquc01};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod card_bench;
mod files_bench;
mod handshake_bench;
mod medical_bench;
mod mixed_bench;
mod pgbench;

pub const DEFAULT_SEED: u64 = 20261123;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    /// qualification | noop | all (noop then qualification, with the ratio).
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Seconds of measurement per scenario.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Concurrent kept-alive connections (medical scenario: staff sessions, each with
    /// its own account; `--sessions` is the same option).
    #[arg(long, alias = "sessions", default_value_t = 32)]
    connections: usize,
    /// Distinct people to query (sampled from the database).
    #[arg(long, default_value_t = 20_000)]
    keys: i64,
    /// Database to sample card data from; default DATA/central.sqlite.
    #[arg(long, env = "ONSHI_DATABASE_URL")]
    database: Option<String>,
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Card scenario: how many checks to prepare (nonces issued and signed just before
    /// the timed window; each is used once, within its 60-second lifetime).
    #[arg(long, default_value_t = 60_000)]
    card_requests: usize,
    /// Bulk scenario: patients in the one upload (taken from the sampled keys).
    #[arg(long, default_value_t = 10_000)]
    bulk_patients: usize,
    /// Medical scenario: consented patients of the clinic (the list's length).
    #[arg(long, default_value_t = 200)]
    medical_patients: usize,
    /// Mixed scenario: operations per second (open loop).
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Mixed scenario: percent of checks by card signature.
    #[arg(long, default_value_t = 20)]
    card_percent: u32,
    /// Mixed scenario: percent of staff views (when the database has drug histories).
    #[arg(long, default_value_t = 5)]
    view_percent: u32,
    /// Skip the reference figures (no-op endpoint, RSA-2048 verify, `pgbench -S`).
    #[arg(long)]
    no_references: bool,
}

#[derive(Serialize, Clone)]
pub struct ScenarioResult {
    pub scenario: String,
    pub requests: u64,
    pub errors: u64,
    pub duration_s: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Server CPU time (user + system) per request, microseconds; null if unknown.
    pub server_cpu_us_per_request: Option<f64>,
    /// Load generator CPU time per request, microseconds.
    pub client_cpu_us_per_request: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    scenario: String,
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    errors: u64,
    connections: usize,
    database: String,
    people: i64,
    results: Vec<ScenarioResult>,
    /// Check throughput divided by no-op throughput, when both ran.
    ratio_to_noop: Option<f64>,
    /// aws-lc-rs RSA-2048 PKCS#1 verifications per second on one core of this machine,
    /// measured in the same run.
    rsa2048_verify_per_second: Option<f64>,
    /// `pgbench -S` transactions per second against the same PostgreSQL server (scale 10,
    /// `--connections` clients, same duration), when the database is PostgreSQL.
    pgbench_select_tps: Option<f64>,
    /// Mixed scenario: the split by operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    mixed: Option<mixed_bench::MixedReport>,
    machine: String,
}

pub async fn run(a: BenchArgs) -> Result<()> {
    let dir = DataDir::new(&a.data);
    let addr: SocketAddr = match a.addr {
        Some(a) => a,
        None => std::fs::read_to_string(dir.central_addr())
            .context("central address (start `onshi demo` or `onshi central serve` first)")?
            .trim()
            .parse()?,
    };
    let server_pid: Option<u32> = std::fs::read_to_string(dir.central_pid())
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let url = a
        .database
        .clone()
        .unwrap_or_else(|| dir.database().to_string_lossy().into_owned());
    let store = Store::open(&url).await?;
    let people = store.count(onshi_store::CountedTable::Person).await?;
    let facility: MedicalInstitutionCode = provision::facilities(DEFAULT_SEED)[0].code.clone();
    let keys = store.sample_card_keys(a.keys).await?;
    if keys.is_empty() {
        bail!("no qualifications in {url}");
    }
    let today = SystemClock.now().date().to_wire();
    let bodies: Vec<Bytes> = keys
        .iter()
        .map(|k| {
            let req = siquc01::Request {
                header: siquc01::RequestHeader {
                    qualification_confirmation_date: today.clone(),
                    medical_institution_code: facility.as_str().into(),
                    arbitrary_file_identifier: None,
                },
                search: siquc01::SearchInfo {
                    insurer_number: k.insurer_number.clone(),
                    insured_card_symbol: k.symbol.clone(),
                    insured_identification_number: k.number.clone(),
                    insured_branch_number: k.branch.map(|b| format!("{b:02}")),
                    birthdate: k.birthdate.clone(),
                    limit_application_certificate_related_cons_flg: Some("0".into()),
                    arbitrary_identifier: None,
                },
            };
            Bytes::from(siquc01::encode_request_xml(&req, Encoding::Utf8))
        })
        .collect();
    let client = facility_client(&dir, &facility, addr)?;
    if a.scenario == "medical" {
        let persons = medical_bench::prepare(&store, &facility, a.medical_patients).await?;
        if persons.is_empty() {
            bail!("no one with drug history in {url}");
        }
        let consented = persons.len();
        let (patients, drug, secs) = medical_bench::run(
            &client,
            persons,
            a.connections,
            Duration::from_secs(a.warmup),
            Duration::from_secs(a.duration),
        )?;
        let report = medical_bench::MedicalReport {
            scenario: "medical",
            people,
            consented_patients: consented,
            connections: a.connections,
            database: store.backend_name().into(),
            duration_s: secs,
            patients,
            drug,
            machine: machine(),
        };
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            for (name, l) in [("patients", &report.patients), ("drug", &report.drug)] {
                eprintln!(
                    "{name:<9} {:>7.0} req/s  client p50 {:.2} ms p99 {:.2} ms  server p50 {:.2} ms p99 {:.2} ms max {:.2} ms  errors {}",
                    l.throughput,
                    l.client_p50_ms,
                    l.client_p99_ms,
                    l.server_p50_ms,
                    l.server_p99_ms,
                    l.server_max_ms,
                    l.errors
                );
            }
        }
        return Ok(());
    }
    if a.scenario == "bulk-files" {
        let upload = bulk_upload(&facility, &keys, &today, a.bulk_patients);
        return files_bench::run_bulk(client, &facility, &upload, a.json).await;
    }
    if a.scenario == "bulk" {
        return run_bulk(
            &client,
            &facility,
            &keys,
            &today,
            a.bulk_patients,
            a.json,
            &store,
        )
        .await;
    }
    let references = !a.no_references;
    let scenarios: Vec<&str> = match a.scenario.as_str() {
        "all" => vec!["noop", "qualification"],
        "noop" => vec!["noop"],
        "qualification" if references => vec!["noop", "qualification"],
        "qualification" => vec!["qualification"],
        "card" => vec!["noop", "card"],
        "files" => vec!["files"],
        "handshake" if references => vec!["noop", "handshake"],
        "handshake" => vec!["handshake"],
        "mixed" if references => vec!["noop", "mixed"],
        "mixed" => vec!["mixed"],
        other => bail!(
            "unknown scenario {other:?} (qualification, noop, all, card, files, bulk, bulk-files, medical, handshake, mixed)"
        ),
    };
    let mut results = Vec::new();
    let mut rsa_verify_per_second = None;
    let mut mixed = None;
    for s in scenarios {
        if s == "mixed" {
            let cards = card_bench::issue_cards(&dir, &store, &keys).await?;
            let persons = medical_bench::prepare(&store, &facility, a.medical_patients).await?;
            if persons.is_empty() && a.view_percent > 0 {
                eprintln!("mixed: no drug histories in the database; no staff views in the mix");
            }
            let r = mixed_bench::run(
                client.clone(),
                bodies.clone(),
                cards,
                persons,
                mixed_bench::Mix {
                    rate: a.rate,
                    card_percent: a.card_percent,
                    view_percent: a.view_percent,
                    connections: a.connections,
                    warmup: Duration::from_secs(a.warmup),
                    duration: Duration::from_secs(a.duration),
                },
                server_pid,
            )?;
            for part in [
                &r.by_card_data,
                &r.by_card_signature,
                &r.staff_views,
                &r.all,
            ] {
                print_line(part, a.json);
            }
            results.push(r.all.clone());
            mixed = Some(r);
            continue;
        }
        if s == "handshake" {
            let r = handshake_bench::run(
                handshake_bench::without_resumption(&dir, &facility, addr)?,
                a.connections,
                Duration::from_secs(a.warmup),
                Duration::from_secs(a.duration),
                server_pid,
            )?;
            print_line(&r, a.json);
            results.push(r);
            continue;
        }
        if s == "files" {
            let r =
                files_bench::run(client.clone(), &bodies, Duration::from_secs(a.duration)).await?;
            if !a.json {
                eprintln!(
                    "{:<14} request file written → result file complete: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} checks, errors {})",
                    r.scenario, r.p50_ms, r.p99_ms, r.max_ms, r.requests, r.errors
                );
            }
            results.push(r);
            continue;
        }
        let (path, validate): (&str, bool) = match s {
            "noop" => ("/noop", false),
            "card" => ("/oqs/v1/card/check", true),
            _ => ("/oqs/v1/qualification", true),
        };
        let (bodies, content_type) = if s == "card" {
            rsa_verify_per_second = Some(card_bench::rsa_verify_rate());
            let total = a.card_requests;
            (
                card_bench::prepare(&dir, &store, &client, &keys, total).await?,
                "application/json",
            )
        } else {
            (bodies.clone(), "application/xml")
        };
        let r = run_scenario(
            s,
            &client,
            path,
            content_type,
            validate,
            &bodies,
            a.connections,
            Duration::from_secs(a.warmup),
            // The no-op reference of a long open-loop run (mixed) needs no more than the
            // closed-loop runs' 20 seconds.
            Duration::from_secs(if s == "noop" && a.scenario == "mixed" {
                a.duration.min(20)
            } else {
                a.duration
            }),
            server_pid,
            s == "card",
        )?;
        print_line(&r, a.json);
        results.push(r);
    }
    let main = results.last().cloned().context("no scenario ran")?;
    let noop = results.iter().find(|r| r.scenario == "noop");
    let ratio = match (noop, main.scenario.as_str()) {
        (Some(n), "qualification" | "card") if n.throughput > 0.0 => {
            Some(main.throughput / n.throughput)
        }
        _ => None,
    };
    if references && rsa_verify_per_second.is_none() {
        rsa_verify_per_second = Some(card_bench::rsa_verify_rate());
    }
    let pgbench_select_tps = if references && store.backend_name() == "postgres" {
        match pgbench::select_tps(&url, a.connections, a.duration.min(30)) {
            Ok(tps) => Some(tps),
            Err(e) => {
                eprintln!("pgbench -S: {e:#}");
                None
            }
        }
    } else {
        None
    };
    let report = Report {
        scenario: main.scenario.clone(),
        throughput: main.throughput,
        p50_ms: main.p50_ms,
        p99_ms: main.p99_ms,
        p999_ms: main.p999_ms,
        errors: main.errors,
        connections: a.connections,
        database: store.backend_name().into(),
        people,
        results,
        ratio_to_noop: ratio,
        rsa2048_verify_per_second: rsa_verify_per_second,
        pgbench_select_tps,
        mixed,
        machine: machine(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        if let Some(r) = ratio {
            eprintln!("check throughput / no-op throughput = {r:.2}");
        }
        if let Some(v) = rsa_verify_per_second {
            eprintln!("RSA-2048 verify on one core of this machine: {v:.0}/s");
        }
        if let Some(v) = pgbench_select_tps {
            eprintln!("pgbench -S against the same PostgreSQL: {v:.0} tps");
        }
    }
    Ok(())
}

/// One line per scenario on stderr (unless the report is JSON).
fn print_line(r: &ScenarioResult, json: bool) {
    if !json {
        eprintln!(
            "{:<14} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  errors {}  server CPU {} µs/req",
            r.scenario,
            r.throughput,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.errors,
            r.server_cpu_us_per_request
                .map(|c| format!("{c:.1}"))
                .unwrap_or_else(|| "?".into())
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn run_scenario(
    name: &str,
    client: &onshi_central::client::CentralClient,
    path: &'static str,
    content_type: &'static str,
    validate: bool,
    bodies: &[Bytes],
    connections: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
    use_once: bool,
) -> Result<ScenarioResult> {
    let client = client.clone();
    let bodies = bodies.to_vec();
    let name = name.to_string();
    // One thread, one current-thread runtime: the generator stays on (about) one core.
    std::thread::spawn(move || -> Result<ScenarioResult> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut conns = Vec::with_capacity(connections);
            for _ in 0..connections {
                conns.push(client.connect().await?);
            }
            let start = Instant::now();
            let measure_from = start + warmup;
            let end = measure_from + duration;
            let mut cpu_before: Option<(Option<f64>, f64)> = None;
            let mut tasks = Vec::new();
            let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for (i, mut conn) in conns.into_iter().enumerate() {
                let bodies = bodies.clone();
                let next = next.clone();
                let name = name.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
                    let mut errors = 0u64;
                    let mut k = i * 7919;
                    loop {
                        let now = Instant::now();
                        if now >= end {
                            break;
                        }
                        let body = if use_once {
                            // Each prepared check (a signed nonce) is sent once.
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            match bodies.get(n) {
                                Some(b) => b.clone(),
                                None => break,
                            }
                        } else {
                            k += 1;
                            bodies[(k - 1) % bodies.len()].clone()
                        };
                        let t0 = Instant::now();
                        let r = conn.post(path, content_type, body).await;
                        let t1 = Instant::now();
                        if t0 < measure_from {
                            continue;
                        }
                        let ok = match &r {
                            Ok(reply) => {
                                reply.status.is_success()
                                    && (!validate
                                        || memfind(
                                            &reply.body,
                                            b"<SegmentOfResult>1</SegmentOfResult>",
                                        )
                                        || memfind(&reply.body, b"\"SegmentOfResult\":\"1\""))
                            }
                            Err(_) => false,
                        };
                        if !ok {
                            errors += 1;
                            if errors == 1 {
                                match &r {
                                    Ok(reply) => eprintln!(
                                        "{name}: first failed answer (HTTP {}): {}",
                                        reply.status,
                                        String::from_utf8_lossy(
                                            &reply.body[..reply.body.len().min(400)]
                                        )
                                    ),
                                    Err(e) => eprintln!("{name}: first failed request: {e}"),
                                }
                            }
                            if r.is_err() {
                                break;
                            }
                        }
                        lat.push((t1 - t0).as_micros().min(u32::MAX as u128) as u32);
                    }
                    (lat, errors)
                }));
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(measure_from)).await;
            cpu_before.get_or_insert((server_pid.and_then(proc_cpu_seconds), self_cpu_seconds()));
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (lat, e) = t.await?;
                all.extend(lat);
                errors += e;
            }
            let elapsed = duration
                .as_secs_f64()
                .min((Instant::now() - measure_from).as_secs_f64());
            let server_cpu = match (
                cpu_before.and_then(|c| c.0),
                server_pid.and_then(proc_cpu_seconds),
            ) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            let client_cpu = cpu_before.map(|c| self_cpu_seconds() - c.1);
            all.sort_unstable();
            let n = all.len() as u64;
            let pct = |p: f64| percentile_ms(&all, p);
            let per = |cpu: Option<f64>| cpu.filter(|_| n > 0).map(|c| c * 1e6 / n as f64);
            Ok(ScenarioResult {
                scenario: name,
                requests: n,
                errors,
                duration_s: elapsed,
                throughput: n as f64 / elapsed,
                p50_ms: pct(0.50),
                p99_ms: pct(0.99),
                p999_ms: pct(0.999),
                max_ms: all.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0),
                server_cpu_us_per_request: per(server_cpu),
                client_cpu_us_per_request: per(client_cpu),
            })
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("load generator panicked"))?
}

/// The `p` quantile (nearest rank) of sorted microsecond samples, in milliseconds; 0
/// without samples.
pub(crate) fn percentile_ms<T: Copy + Into<u64>>(sorted_us: &[T], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let idx = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[idx].into() as f64 / 1000.0
}

#[derive(Serialize)]
struct BulkReport {
    scenario: &'static str,
    patients: usize,
    /// 01req posted → 01res received (the upload is stored before the answer).
    accepted_ms: f64,
    /// 01req posted → 02res with every unit received and decoded.
    completed_ms: f64,
    /// 02req polls answered "still processing" (SegmentOfResult 2).
    polls_processing: u32,
    units: usize,
    normal: String,
    errors: String,
    request_bytes: usize,
    result_bytes: usize,
    database: String,
    people: i64,
    machine: String,
}

/// One `OQSmuquc01req` with `patients` people from the sampled keys (cycled).
pub(crate) fn bulk_upload(
    facility: &MedicalInstitutionCode,
    keys: &[onshi_store::CardKey],
    today: &str,
    patients: usize,
) -> onshi_wire::muquc::UploadRequest {
    let searches: Vec<siquc01::SearchInfo> = keys
        .iter()
        .cycle()
        .take(patients)
        .enumerate()
        .map(|(i, k)| siquc01::SearchInfo {
            insurer_number: k.insurer_number.clone(),
            insured_card_symbol: k.symbol.clone(),
            insured_identification_number: k.number.clone(),
            insured_branch_number: k.branch.map(|b| format!("{b:02}")),
            birthdate: k.birthdate.clone(),
            limit_application_certificate_related_cons_flg: Some("0".into()),
            arbitrary_identifier: Some(format!("bench-{i}")),
        })
        .collect();
    onshi_wire::muquc::UploadRequest {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: today.to_string(),
            medical_institution_code: facility.as_str().into(),
            arbitrary_file_identifier: Some("bench-bulk".into()),
        },
        body: onshi_wire::muquc::UploadRequestBody { searches },
    }
}

/// `--scenario bulk`: one `OQSmuquc01req` with `patients` people from the sampled keys,
/// then `OQSmuquc02req` every 10 ms until the result is complete. The upload is encoded
/// before the clock starts; the clock stops when the complete `OQSmuquc02res` has been
/// received and decoded.
async fn run_bulk(
    client: &onshi_central::client::CentralClient,
    facility: &MedicalInstitutionCode,
    keys: &[onshi_store::CardKey],
    today: &str,
    patients: usize,
    json: bool,
    store: &Store,
) -> Result<()> {
    use onshi_wire::{Limits, muquc};
    let upload = bulk_upload(facility, keys, today, patients);
    let body = Bytes::from(upload.encode_xml(Encoding::Utf8));
    let mut conn = client.connect().await?;
    let t0 = Instant::now();
    let reply = conn
        .post("/oqs/v1/bulk", "application/xml", body.clone())
        .await?;
    let accepted = t0.elapsed();
    let (res, _) = muquc::UploadResponse::decode_xml(&reply.body, &Limits::default())?;
    let Some(reception) = res.body.reception_number else {
        bail!(
            "upload refused (HTTP {}): {:?} {:?}",
            reply.status,
            res.header.error_code,
            res.header.error_message
        );
    };
    let ask = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: facility.as_str().into(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: reception.clone(),
        },
    }
    .encode_xml(Encoding::Utf8);
    let mut polls = 0u32;
    let (result, result_bytes) = loop {
        let reply = conn
            .post("/oqs/v1/bulk/result", "application/xml", ask.clone())
            .await?;
        let (res, _) = muquc::ResultResponse::decode_xml(&reply.body, &Limits::bulk())?;
        match res.header.segment_of_result.as_str() {
            "2" => {
                polls += 1;
                if t0.elapsed() > Duration::from_secs(600) {
                    bail!("bulk check {reception} still processing after 10 minutes");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            "1" => break (res, reply.body.len()),
            other => bail!(
                "bulk check {reception} ended with SegmentOfResult {other}: {:?}",
                res.header.error_message
            ),
        }
    };
    let completed = t0.elapsed();
    if result.body.units.len() != patients {
        bail!("{} units for {patients} patients", result.body.units.len());
    }
    let report = BulkReport {
        scenario: "bulk",
        patients,
        accepted_ms: accepted.as_secs_f64() * 1000.0,
        completed_ms: completed.as_secs_f64() * 1000.0,
        polls_processing: polls,
        units: result.body.units.len(),
        normal: result
            .header
            .number_of_normal_processing
            .unwrap_or_default(),
        errors: result.header.number_of_error.unwrap_or_default(),
        request_bytes: body.len(),
        result_bytes,
        database: store.backend_name().into(),
        people: store.count(onshi_store::CountedTable::Person).await?,
        machine: machine(),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "bulk: {} patients accepted in {:.1} ms, complete (02res with every unit) in {:.1} ms; \
             {} normal, {} errors; upload {} bytes, result {} bytes",
            report.patients,
            report.accepted_ms,
            report.completed_ms,
            report.normal,
            report.errors,
            report.request_bytes,
            report.result_bytes
        );
    }
    Ok(())
}

/// Whether `needle` occurs in `hay` (SIMD search: the generator's own CPU per answer is
/// part of what the two cores spend, so it is kept small).
fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// utime + stime of a process in seconds (Linux; clock ticks are 100 Hz there).
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn self_cpu_seconds() -> f64 {
    proc_cpu_seconds(std::process::id()).unwrap_or(0.0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}")
}
