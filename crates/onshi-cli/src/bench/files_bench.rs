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
    let mut micros: Vec<u64> = latencies
        .iter()
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .collect();
    micros.sort_unstable();
    let pct = |p: f64| super::percentile_ms(&micros, p);
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
        max_ms: pct(1.0),
        server_cpu_us_per_request: None,
        client_cpu_us_per_request: None,
    })
}

/// `--scenario bulk-files`: the bulk check as a receipt computer does it, through the
/// file interface: `OQSmuquc01req` written → `OQSmuquc01res` (ReceptionNumber), then
/// `OQSmuquc02req` written every time the previous `02res` said "still processing", until
/// the complete `OQSmuquc02res` is in `res/`. The clock starts before the upload file is
/// written and stops when the complete result file has been read and decoded.
pub async fn run_bulk(
    client: CentralClient,
    facility: &onshi_core::ids::MedicalInstitutionCode,
    upload: &onshi_wire::muquc::UploadRequest,
    json: bool,
) -> Result<()> {
    use onshi_wire::{Encoding, Limits, muquc};
    let root = tempfile::tempdir().context("temp dir")?;
    let fi = FileInterface::new(root.path(), client)?;
    let (req, res) = (fi.req_dir(), fi.res_dir());
    let task = tokio::spawn(fi.run(POLL));
    let body = upload.encode_xml(Encoding::Utf8);
    let wait = |path: std::path::PathBuf| async move {
        let t = Instant::now();
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                std::fs::remove_file(&path)?;
                return Ok::<Vec<u8>, anyhow::Error>(bytes);
            }
            if t.elapsed() > Duration::from_secs(600) {
                anyhow::bail!("no {} after 10 minutes", path.display());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let t0 = Instant::now();
    std::fs::write(req.join("OQSmuquc01req_202611230001.xml"), &body)?;
    let accepted_bytes = wait(res.join("OQSmuquc01res_202611230001.xml")).await?;
    let accepted = t0.elapsed();
    let (accepted_res, _) = muquc::UploadResponse::decode_xml(&accepted_bytes, &Limits::default())?;
    let reception = accepted_res
        .body
        .reception_number
        .context("upload refused: no ReceptionNumber")?;
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
    let mut asks = 0u32;
    let result = loop {
        asks += 1;
        let id = format!("2026112310{asks:02}");
        std::fs::write(req.join(format!("OQSmuquc02req_{id}.xml")), &ask)?;
        let bytes = wait(res.join(format!("OQSmuquc02res_{id}.xml"))).await?;
        let (r, _) = muquc::ResultResponse::decode_xml(&bytes, &Limits::bulk())?;
        match r.header.segment_of_result.as_str() {
            "1" => break r,
            "2" => continue,
            other => anyhow::bail!("bulk ended with SegmentOfResult {other}"),
        }
    };
    let completed = t0.elapsed();
    task.abort();
    let units = result.body.units.len();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "scenario": "bulk-files",
                "patients": upload.body.searches.len(),
                "units": units,
                "accepted_ms": accepted.as_secs_f64() * 1000.0,
                "completed_ms": completed.as_secs_f64() * 1000.0,
                "result_requests": asks,
            })
        );
    } else {
        eprintln!(
            "bulk-files: {} patients, 01res in {:.1} ms, complete 02res ({} units) in {:.1} ms after {} 02req files",
            upload.body.searches.len(),
            accepted.as_secs_f64() * 1000.0,
            units,
            completed.as_secs_f64() * 1000.0,
            asks
        );
    }
    Ok(())
}
