//! Bulk qualification check (一括照会): `POST /oqs/v1/bulk` (`OQSmuquc01req` →
//! `OQSmuquc01res`) and `POST /oqs/v1/bulk/result` (`OQSmuquc02req` → `OQSmuquc02res`),
//! `ons-interface.md` §3.1.
//!
//! The upload is checked as a message (facility, header, patient count), stored with a
//! fresh `ReceptionNumber` and only then answered; the checks run in a background task,
//! [`CHUNK`] patients at a time: one store query finds all their qualifications, one
//! finds their 照会番号, and one transaction writes their result units together with
//! their history rows (each patient is recorded like a single check). A job interrupted
//! by a restart is resumed at startup after its last committed chunk, so no patient is
//! checked (or recorded) twice. Each patient's query goes through the same parsing and
//! decision as a single check, and a bad patient (say, a wrong check digit) is an error
//! in that patient's unit only.

use crate::engine::{self, CardCheck};
use crate::error::CheckError;
use crate::server::{
    AppState, Format, authorized_facility, log_refusal, read_body_limited, render_message,
    request_format,
};
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use onshi_core::codes::{ProcessingResultStatus, ReferenceClassification, SegmentOfResult};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_store::{BulkChunk, BulkJob, BulkState, VerificationRecord};
use onshi_wire::muquc::{self, BulkConfirmUnit};
use onshi_wire::siquc01::{self, SearchInfo};
use onshi_wire::{Encoding, Limits};
use std::sync::Arc;

/// Most patients in one upload.
pub const MAX_PATIENTS: usize = 20_000;

/// Patients checked per store round (one lookup query, one write transaction).
pub const CHUNK: usize = 1_000;

fn bulk_limits(state: &AppState) -> Limits {
    let bulk = Limits::bulk();
    Limits {
        max_bytes: bulk.max_bytes.max(state.limits.max_bytes),
        max_depth: state.limits.max_depth,
    }
}

/// A reception number: the instant (14 digits) and 6 random digits. Unique in practice;
/// the store refuses a duplicate, and the upload is then refused (the caller retries).
fn reception_number(now: JstDateTime) -> Result<String, CheckError> {
    let mut r = [0u8; 4];
    aws_lc_rs::rand::fill(&mut r).map_err(|_| CheckError::Internal("random".into()))?;
    Ok(format!(
        "{}{:06}",
        now.to_wire(),
        u32::from_le_bytes(r) % 1_000_000
    ))
}

fn decode_upload(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<(muquc::UploadRequest, Format), CheckError> {
    Ok(match format {
        Format::Json => (
            muquc::UploadRequest::decode_json(bytes, limits)?,
            Format::Json,
        ),
        Format::Xml(_) => {
            let (req, enc) = muquc::UploadRequest::decode_xml(bytes, limits)?;
            (req, Format::Xml(enc))
        }
    })
}

// ---------------------------------------------------------------------------------------
// 01: upload

pub(crate) async fn upload(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let mut format = request_format(&headers).unwrap_or(Format::Xml(Encoding::Utf8));
    let mut header = muquc::UploadResponseHeader {
        process_execution_time: now.to_wire(),
        character_code_identifier: Encoding::Utf8.character_code_identifier().into(),
        segment_of_result: SegmentOfResult::Normal.code().into(),
        ..Default::default()
    };
    let outcome = accept(&state, &peer, &headers, body, now, &mut format, &mut header).await;
    let (res, status) = match outcome {
        Ok(body) => (muquc::UploadResponse { header, body }, StatusCode::OK),
        Err(err) => {
            log_refusal("bulk upload", &err);
            header.segment_of_result = SegmentOfResult::Abnormal.code().into();
            header.error_code = Some(err.code().into());
            header.error_message = Some(err.message_ja());
            let res = muquc::UploadResponse {
                header,
                body: Default::default(),
            };
            (res, err.status())
        }
    };
    render_message(
        format,
        status,
        &request_id,
        |enc| res.encode_xml(enc),
        || res.encode_json(),
    )
}

async fn accept(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    now: JstDateTime,
    format: &mut Format,
    header: &mut muquc::UploadResponseHeader,
) -> Result<muquc::UploadResponseBody, CheckError> {
    *format = request_format(headers)?;
    let limits = bulk_limits(state);
    let bytes = read_body_limited(headers, body, limits.max_bytes).await?;
    let (req, f) = decode_upload(&bytes, *format, &limits)?;
    *format = f;
    header.arbitrary_file_identifier = req.header.arbitrary_file_identifier.clone();
    header.medical_institution_code = Some(req.header.medical_institution_code.clone());
    let facility =
        authorized_facility(state, peer, &req.header.medical_institution_code, now).await?;
    let date = Ymd::parse(req.header.qualification_confirmation_date.trim())
        .map_err(|e| CheckError::invalid("ONS2005", "QualificationConfirmationDate", e))?;
    let count = req.body.searches.len();
    if count == 0 {
        return Err(CheckError::BulkEmpty);
    }
    if count > MAX_PATIENTS {
        return Err(CheckError::BulkTooMany {
            count,
            max: MAX_PATIENTS,
        });
    }
    let job = BulkJob {
        reception_number: reception_number(now)?,
        facility_code: facility.as_str().into(),
        received_at: now,
        confirmation_date: date.to_wire(),
        arbitrary_file_identifier: req.header.arbitrary_file_identifier.clone(),
        state: BulkState::Processing,
        total: count as i64,
        normal: 0,
        errors: 0,
        error_code: None,
        finished_at: None,
    };
    state
        .store
        .create_bulk_job(&job, &bytes)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    let reception = job.reception_number.clone();
    tracing::info!(
        reception,
        facility = facility.as_str(),
        count,
        "bulk check accepted"
    );
    let task_state = state.clone();
    tokio::spawn(async move { run_job(task_state, req, job).await });
    Ok(muquc::UploadResponseBody {
        reception_number: Some(reception),
        reception_date_time: Some(now.to_wire()),
    })
}

// ---------------------------------------------------------------------------------------
// Background processing

/// The jobs a previous central left unfinished, listed while starting (so that only
/// those are resumed, not jobs another running central accepts meanwhile).
pub(crate) async fn unfinished(state: &AppState) -> Vec<String> {
    match state.store.unfinished_bulk_jobs().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot list unfinished bulk checks");
            Vec::new()
        }
    }
}

/// Resumes the jobs listed by [`unfinished`], one after the other.
pub(crate) async fn resume(state: AppState, pending: Vec<String>) {
    for reception in pending {
        let loaded = async {
            let job = state.store.bulk_job(&reception).await.ok()??;
            let bytes = state.store.bulk_request(&reception).await.ok()??;
            Some((job, bytes))
        }
        .await;
        let Some((job, bytes)) = loaded else {
            tracing::error!(reception, "bulk check to resume cannot be read");
            continue;
        };
        // The upload was accepted once, so it decodes; JSON uploads start with '{'.
        let format = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            Format::Json
        } else {
            Format::Xml(Encoding::Utf8)
        };
        match decode_upload(&bytes, format, &bulk_limits(&state)) {
            Ok((req, _)) => {
                tracing::info!(reception, "resuming bulk check");
                run_job(state.clone(), req, job).await;
            }
            Err(e) => {
                tracing::error!(reception, error = %e, "stored bulk upload does not decode");
                let _ = state
                    .store
                    .fail_bulk_job(&reception, e.code(), state.clock.now())
                    .await;
            }
        }
    }
}

async fn run_job(state: AppState, req: muquc::UploadRequest, job: BulkJob) {
    let reception = job.reception_number.clone();
    if let Err(e) = process(&state, &req, &job).await {
        tracing::error!(reception, code = e.code(), error = %e, "bulk check failed");
        let _ = state
            .store
            .fail_bulk_job(&reception, e.code(), state.clock.now())
            .await;
    }
}

async fn process(
    state: &AppState,
    req: &muquc::UploadRequest,
    job: &BulkJob,
) -> Result<(), CheckError> {
    let internal = |e: onshi_store::StoreError| CheckError::Internal(e.to_string());
    let facility = MedicalInstitutionCode::parse(&job.facility_code)
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    let searches = &req.body.searches;
    let mut next = state
        .store
        .bulk_units_done(&job.reception_number)
        .await
        .map_err(internal)? as usize;
    let mut retried = false;
    while next < searches.len() {
        let end = (next + CHUNK).min(searches.len());
        let now = state.clock.now();
        let mut chunk = check_chunk(
            state,
            &req.header,
            &facility,
            job,
            &searches[next..end],
            next,
            now,
        )
        .await?;
        if end == searches.len() {
            chunk.finished_at = Some(now);
        }
        match state.store.write_bulk_chunk(chunk).await {
            Ok(()) => {
                next = end;
                retried = false;
            }
            Err(e) => {
                // Another central may have written these units (both resumed the job):
                // carry on from what is stored, unless the job is no longer ours to do.
                let stored = state
                    .store
                    .bulk_job(&job.reception_number)
                    .await
                    .map_err(internal)?;
                if stored.is_none_or(|j| j.state != BulkState::Processing) {
                    return Ok(());
                }
                let done = state
                    .store
                    .bulk_units_done(&job.reception_number)
                    .await
                    .map_err(internal)? as usize;
                if done == next && retried {
                    return Err(internal(e));
                }
                retried = done == next;
                next = done;
            }
        }
    }
    Ok(())
}

/// Checks one chunk of patients (`first_seq` is the first one's place in the upload).
async fn check_chunk(
    state: &AppState,
    header: &siquc01::RequestHeader,
    facility: &MedicalInstitutionCode,
    job: &BulkJob,
    searches: &[SearchInfo],
    first_seq: usize,
    now: JstDateTime,
) -> Result<BulkChunk, CheckError> {
    let parsed: Vec<Result<CardCheck, CheckError>> = searches
        .iter()
        .map(|s| {
            CardCheck::parse(&siquc01::Request {
                header: header.clone(),
                search: s.clone(),
            })
        })
        .collect();
    let queries: Vec<_> = parsed.iter().flatten().map(CardCheck::query).collect();
    let mut found = state
        .store
        .find_by_cards(&queries)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?
        .into_iter();
    let decisions: Vec<Option<engine::Decision>> = parsed
        .iter()
        .map(|p| {
            p.as_ref()
                .ok()
                .map(|c| engine::decide(found.next().unwrap_or_default(), c.confirmation_date))
        })
        .collect();
    let people: Vec<i64> = decisions
        .iter()
        .flatten()
        .filter_map(|d| d.record.as_ref().map(|r| r.person.id))
        .collect();
    let references = engine::reference_numbers(&state.store, facility, &people).await?;

    let mut chunk = BulkChunk {
        reception_number: job.reception_number.clone(),
        first_seq: first_seq as i64,
        units: Vec::with_capacity(searches.len()),
        records: Vec::with_capacity(searches.len()),
        normal: 0,
        errors: 0,
        finished_at: None,
    };
    let missing = CheckError::Internal("no decision for a parsed query".into());
    for (i, ((search, check), decision)) in searches.iter().zip(&parsed).zip(decisions).enumerate()
    {
        let mut rec = VerificationRecord::new(
            &format!("{}-{}", job.reception_number, first_seq + i),
            facility.as_str(),
            now,
            ReferenceClassification::InsuranceCard.code(),
        );
        rec.confirmation_date = Some(header.qualification_confirmation_date.clone());
        rec.insurer_number = Some(search.insurer_number.clone());
        rec.symbol = search.insured_card_symbol.clone();
        rec.number = Some(search.insured_identification_number.clone());
        rec.branch = search.insured_branch_number.clone();
        rec.birthdate = Some(search.birthdate.clone());
        rec.arbitrary_file_identifier = job.arbitrary_file_identifier.clone();
        let mut unit = BulkConfirmUnit {
            search_info: Some(search.clone()),
            ..Default::default()
        };
        let outcome = match (check, decision) {
            (Ok(check), Some(d)) => Ok((check, d)),
            (Err(err), _) => Err(err),
            (Ok(_), None) => Err(&missing),
        };
        match outcome {
            Ok((check, d)) => {
                unit.processing_result_status = ProcessingResultStatus::Normal.code().into();
                unit.processing_result_message =
                    engine::validity_message(d.validity).map(Into::into);
                unit.qualification_validity = Some(d.validity.code().into());
                if let Some(r) = &d.record {
                    let mut item =
                        engine::result_item(r, check.confirmation_date, check.limit_consent, now);
                    item.reference_number = references.get(&r.person.id).cloned();
                    unit.reference_number = item.reference_number.clone();
                    unit.results.push(item);
                }
                rec.validity = Some(d.validity);
                if check.limit_consent == onshi_core::codes::LimitConsentFlag::Consented {
                    rec.consents = Some("GND".into());
                }
                rec.person_id = d.record.as_ref().map(|r| r.person.id);
                rec.qualification_id = d.record.as_ref().map(|r| r.qualification.id);
                chunk.normal += 1;
            }
            Err(err) => {
                unit.processing_result_status = ProcessingResultStatus::Error.code().into();
                unit.processing_result_code = Some(err.code().into());
                unit.processing_result_message = Some(err.message_ja());
                rec.processing_status = ProcessingResultStatus::Error.code().into();
                rec.error_code = Some(err.code().into());
                chunk.errors += 1;
            }
        }
        chunk.units.push(unit.to_json());
        chunk.records.push(rec);
    }
    Ok(chunk)
}

// ---------------------------------------------------------------------------------------
// 02: download

pub(crate) async fn result(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let mut format = request_format(&headers).unwrap_or(Format::Xml(Encoding::Utf8));
    let mut header = muquc::ResultResponseHeader {
        process_execution_time: now.to_wire(),
        character_code_identifier: Encoding::Utf8.character_code_identifier().into(),
        segment_of_result: SegmentOfResult::Normal.code().into(),
        ..Default::default()
    };
    let outcome = download(&state, &peer, &headers, body, now, &mut format, &mut header).await;
    let (res, status) = match outcome {
        Ok(body) => (muquc::ResultResponse { header, body }, StatusCode::OK),
        Err(err) => {
            log_refusal("bulk result", &err);
            header.segment_of_result = SegmentOfResult::Abnormal.code().into();
            header.error_code = Some(err.code().into());
            header.error_message = Some(err.message_ja());
            let res = muquc::ResultResponse {
                header,
                body: Default::default(),
            };
            (res, err.status())
        }
    };
    render_message(
        format,
        status,
        &request_id,
        |enc| res.encode_xml(enc),
        || res.encode_json(),
    )
}

async fn download(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    now: JstDateTime,
    format: &mut Format,
    header: &mut muquc::ResultResponseHeader,
) -> Result<muquc::ResultResponseBody, CheckError> {
    *format = request_format(headers)?;
    let bytes = read_body_limited(headers, body, state.limits.max_bytes).await?;
    let req = match *format {
        Format::Json => muquc::ResultRequest::decode_json(&bytes, &state.limits)?,
        Format::Xml(_) => {
            let (req, enc) = muquc::ResultRequest::decode_xml(&bytes, &state.limits)?;
            *format = Format::Xml(enc);
            req
        }
    };
    let reception = req.body.reception_number.trim().to_string();
    header.medical_institution_code = Some(req.header.medical_institution_code.clone());
    header.reception_number = Some(req.body.reception_number.clone());
    let facility =
        authorized_facility(state, peer, &req.header.medical_institution_code, now).await?;
    let job = state
        .store
        .bulk_job(&reception)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?
        // Another facility's number is answered exactly like an unknown one.
        .filter(|j| j.facility_code == facility.as_str())
        .ok_or_else(|| CheckError::ReceptionNumberUnknown(reception.clone()))?;
    header.qualification_confirmation_date = Some(job.confirmation_date.clone());
    header.arbitrary_file_identifier = job.arbitrary_file_identifier.clone();
    match job.state {
        BulkState::Processing => {
            header.segment_of_result = SegmentOfResult::Processing.code().into();
            Ok(Default::default())
        }
        BulkState::Failed => Err(CheckError::BulkFailed(job.error_code.unwrap_or_default())),
        BulkState::Done => {
            let stored = state
                .store
                .bulk_units(&reception)
                .await
                .map_err(|e| CheckError::Internal(e.to_string()))?;
            let limits = Limits::default();
            let units = stored
                .iter()
                .map(|u| BulkConfirmUnit::from_json(u, &limits))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CheckError::Internal(format!("stored unit: {e}")))?;
            header.number_of_processing_result = Some(units.len().to_string());
            header.number_of_normal_processing = Some(job.normal.to_string());
            header.number_of_error = Some(job.errors.to_string());
            Ok(muquc::ResultResponseBody { units })
        }
    }
}
