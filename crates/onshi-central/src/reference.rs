//! `POST /oqs/v1/reference-number`: 照会番号 registration (`OQSsiimm01req` →
//! `OQSsiimm01res`, `ons-interface.md` §5.1).
//!
//! The person is the one holding a qualification under the card data on the injected
//! clock's date (no birthdate in this message). Registering again for the same person at
//! the same facility replaces the number. Errors in the message itself (XML, facility,
//! field values) are answered like a refused check (SegmentOfResult 9); "nobody / more
//! than one person under this card data" is an answer about the person: SegmentOfResult
//! 1, ProcessingResultStatus 2, with the code and message (`docs/errors.md`).

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
use onshi_core::codes::{ProcessingResultStatus, SegmentOfResult};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::{
    InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsurerNumber,
    MedicalInstitutionCode,
};
use onshi_store::HolderQuery;
use onshi_wire::{Encoding, WireError, siimm};
use std::sync::Arc;

/// Longest accepted 照会番号 (characters), as receipt computers limit it.
pub const MAX_REFERENCE_NUMBER_CHARS: usize = 50;

pub(crate) async fn register(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let mut format = request_format(&headers).unwrap_or(Format::Xml(Encoding::Utf8));
    let mut echo: Option<siimm::Request> = None;
    let res = match handle(&state, &peer, &headers, body, now, &mut format, &mut echo).await {
        Ok(res) => (res, StatusCode::OK),
        Err(err) => {
            log_refusal("reference-number registration", &err);
            (refusal(&err, echo.as_ref(), now), err.status())
        }
    };
    let (res, status) = res;
    render_message(
        format,
        status,
        &request_id,
        |enc| res.encode_xml(enc),
        || res.encode_json(),
    )
}

fn header(
    req: Option<&siimm::Request>,
    now: JstDateTime,
    segment: SegmentOfResult,
) -> siimm::ResponseHeader {
    siimm::ResponseHeader {
        process_execution_time: now.to_wire(),
        character_code_identifier: Encoding::Utf8.character_code_identifier().into(),
        segment_of_result: segment.code().into(),
        arbitrary_file_identifier: req.and_then(|r| r.header.arbitrary_file_identifier.clone()),
        medical_institution_code: req.map(|r| r.header.medical_institution_code.clone()),
        ..Default::default()
    }
}

fn refusal(err: &CheckError, req: Option<&siimm::Request>, now: JstDateTime) -> siimm::Response {
    let person_level = err.status() == StatusCode::OK;
    let mut h = header(
        req,
        now,
        if person_level {
            SegmentOfResult::Normal
        } else {
            SegmentOfResult::Abnormal
        },
    );
    if !person_level {
        h.error_code = Some(err.code().into());
        h.error_message = Some(err.message_ja());
    }
    siimm::Response {
        header: h,
        body: siimm::ResponseBody {
            registration: req.and_then(|r| r.body.registration.clone()),
            processing_result_status: ProcessingResultStatus::Error.code().into(),
            processing_result_code: Some(err.code().into()),
            processing_result_message: Some(err.message_ja()),
        },
    }
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

async fn handle(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    now: JstDateTime,
    format: &mut Format,
    echo: &mut Option<siimm::Request>,
) -> Result<siimm::Response, CheckError> {
    *format = request_format(headers)?;
    let bytes = read_body_limited(headers, body, state.limits.max_bytes).await?;
    let req = match *format {
        Format::Json => siimm::Request::decode_json(&bytes, &state.limits)?,
        Format::Xml(_) => {
            let (req, enc) = siimm::Request::decode_xml(&bytes, &state.limits)?;
            *format = Format::Xml(enc);
            req
        }
    };
    *echo = Some(req.clone());
    let facility =
        authorized_facility(state, peer, &req.header.medical_institution_code, now).await?;
    let info = req
        .body
        .registration
        .as_ref()
        .ok_or(WireError::MissingElement("ReferenceNumberRegistrationInfo"))?;
    let (insurer, query) = parse(info)?;
    let reference = info.reference_number.as_str();
    register_for(state, &facility, &query, reference, now.date(), now).await?;

    // Echo in the wire form: 6-digit insurer numbers padded with spaces.
    let mut registration = info.clone();
    registration.insurer_number = insurer.to_wire();
    Ok(siimm::Response {
        header: header(Some(&req), now, SegmentOfResult::Normal),
        body: siimm::ResponseBody {
            registration: Some(registration),
            processing_result_status: ProcessingResultStatus::Normal.code().into(),
            ..Default::default()
        },
    })
}

fn parse(
    info: &siimm::ReferenceNumberRegistrationInfo,
) -> Result<(InsurerNumber, HolderQuery), CheckError> {
    let insurer = InsurerNumber::parse(&info.insurer_number)
        .map_err(|e| CheckError::invalid("ONS2001", "InsurerNumber", e))?;
    let symbol = opt(&info.insured_card_symbol)
        .map(InsuredCardSymbol::parse)
        .transpose()
        .map_err(|e| CheckError::invalid("ONS2004", "InsuredCardSymbol", e))?;
    let number = InsuredIdentificationNumber::parse(&info.insured_identification_number)
        .map_err(|e| CheckError::invalid("ONS2004", "InsuredIdentificationNumber", e))?;
    let branch = opt(&info.insured_branch_number)
        .map(InsuredBranchNumber::parse)
        .transpose()
        .map_err(|e| CheckError::invalid("ONS2003", "InsuredBranchNumber", e))?;
    let r = info.reference_number.as_str();
    let chars = r.chars().count();
    if chars > MAX_REFERENCE_NUMBER_CHARS || r.trim().is_empty() || r.chars().any(char::is_control)
    {
        return Err(CheckError::invalid(
            "ONS5012",
            "ReferenceNumber",
            format!("{chars}文字、{MAX_REFERENCE_NUMBER_CHARS}文字以内・制御文字なし"),
        ));
    }
    let query = HolderQuery {
        insurer_number: insurer.digits().to_string(),
        symbol_norm: symbol.as_ref().map(|s| s.normalized()).unwrap_or_default(),
        number_norm: number.normalized(),
        branch: branch.map(InsuredBranchNumber::value),
    };
    Ok((insurer, query))
}

async fn register_for(
    state: &AppState,
    facility: &MedicalInstitutionCode,
    query: &HolderQuery,
    reference: &str,
    on: Ymd,
    now: JstDateTime,
) -> Result<(), CheckError> {
    let holders = state
        .store
        .holders(query)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    let mut people: Vec<i64> = holders
        .iter()
        .filter(|h| h.qualification_date <= on && h.disqualification_date.is_none_or(|d| on < d))
        .map(|h| h.person_id)
        .collect();
    people.sort_unstable();
    people.dedup();
    let person = match people.as_slice() {
        [] => return Err(CheckError::ReferencePersonNotFound),
        [one] => *one,
        _ => return Err(CheckError::ReferencePersonAmbiguous),
    };
    state
        .store
        .register_reference_number(facility, person, reference, now)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    state.reference_use.mark_used(facility, now);
    Ok(())
}
