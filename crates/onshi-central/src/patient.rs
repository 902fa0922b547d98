//! The patient's own view (like マイナポータル's 薬剤情報・特定健診情報・閲覧履歴):
//! `POST /oqs/v1/patient/self`.
//!
//! Where it lives, and why: at central, because only central holds the information and
//! the audit trail; called through the facility's terminal (mTLS as that facility),
//! because the patient's card is read there, at the reader, as for a check. The patient
//! is authenticated by their own card, **not** by a facility consent: the terminal asks
//! central for a nonce, the card signs it after the patient's PIN (利用者証明用電子証明書
//! with PIN, as マイナポータル requires; face or 目視 are not accepted here), and central
//! checks everything it checks for a card check (nonce MAC, facility and expiry, chain,
//! CRL, signature, the certificate → person registry) and consumes the nonce once. The
//! nonce's single use is committed together with a verification-history row of the card's
//! use at this reader (`consents` = `PATIENT_VIEW`, like `REGISTER` for 初回登録).
//!
//! The answer holds the person's current qualification, drug information (36 months),
//! checkups (60 months) and the list of every allowed view of their information (who,
//! when, what, on which basis). The two views are recorded in the audit chain with basis
//! `patient` and account `patient` (so the patient's own look shows in the list too), and
//! nothing is sent before those rows are committed. A certificate in its post-expiry grace
//! proves qualification only: the view is refused (`ONS6060`).

use crate::card::{
    Proof, base_record, card_request, cards, enabled_facility, facility_of, identify, read_body,
    refusal,
};
use crate::error::CheckError;
use crate::medical::{
    access_views, error_response, json_response, person_json, record_allowed, render_kind,
    view_entry,
};
use crate::server::AppState;
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use onshi_core::card::CertificateStanding;
use onshi_core::codes::{LimitConsentFlag, PersonalFamilyClassification, QualificationValidity};
use onshi_core::date::JstDateTime;
use onshi_core::medical::{Basis, InfoKind};
use onshi_store::UsedNonce;
use serde_json::{Value, json};
use std::sync::Arc;

/// The audit account of a patient's own view.
pub const PATIENT_ACCOUNT: &str = "patient";

/// `POST /oqs/v1/patient/self`: body as a card check (`nonce`, `certificate`, `signature`,
/// `identity_method` = `pin`).
pub(crate) async fn own_view(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    body: Body,
) -> Response {
    let now = state.clock.now();
    match own_view_inner(&state, &peer, body, now).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    }
}

fn internal(e: impl std::fmt::Display) -> CheckError {
    CheckError::Internal(e.to_string())
}

async fn own_view_inner(
    state: &AppState,
    peer: &Peer,
    body: Body,
    now: JstDateTime,
) -> Result<Value, CheckError> {
    let service = cards(state)?;
    let facility = facility_of(peer)?;
    enabled_facility(state, &facility, now).await?;
    let bytes = read_body(state, body).await?;
    let req = card_request(&bytes)?;
    if req.identity_method.as_deref() != Some("pin") {
        return Err(CheckError::PatientView("暗証番号による本人確認が必要です"));
    }
    let today = now.date();
    let (who, expires) = identify(state, service, &facility, &req, today, now, Proof::Live).await?;
    if !matches!(who.standing, CertificateStanding::Valid { .. }) {
        return Err(CheckError::PatientView(
            "電子証明書の有効期限が切れています。市区町村の窓口で更新してください",
        ));
    }
    // The nonce is used once, committed with the record of the card's use here.
    let request_id = state.request_ids.next();
    let mut rec = base_record(&request_id, facility.as_str(), now, today);
    rec.person_id = Some(who.person_id);
    rec.card_serial = Some(who.serial.clone());
    rec.card_profile = Some(who.profile.as_str().into());
    rec.identity_method = Some("pin".into());
    rec.consents = Some("PATIENT_VIEW".into());
    let replay = refusal(rec.clone(), &CheckError::NonceReplayed);
    let nonce = UsedNonce {
        nonce: req.nonce.clone(),
        facility_code: facility.as_str().into(),
        expires_at: expires,
        used_at: now,
    };
    match state.store.record_card_check(nonce, rec, replay).await {
        Ok(true) => {}
        Ok(false) => return Err(CheckError::NonceReplayed),
        Err(e) => return Err(CheckError::HistoryUnavailable(e.to_string())),
    }
    let person = state
        .store
        .person(who.person_id)
        .await
        .map_err(internal)?
        .ok_or(CheckError::PatientNotFound)?;
    let found = state
        .store
        .find_by_person(who.person_id)
        .await
        .map_err(internal)?;
    let decision = crate::engine::decide(found, today);
    let qualification = qualification_json(&decision, today, now);
    let mut views = serde_json::Map::new();
    for kind in [InfoKind::Drug, InfoKind::Checkup] {
        let body = render_kind(&state.store, &facility, &person, kind, Basis::Patient, now).await?;
        let mut entry = view_entry(
            &facility,
            PATIENT_ACCOUNT,
            Some(person.id),
            "view",
            kind.code(),
            now,
        );
        entry.detail = format!("card={}", who.serial);
        record_allowed(&state.store, entry, Basis::Patient).await?;
        views.insert(kind.code().to_string(), body);
    }
    let log = access_views(&state.store, person.id).await?;
    Ok(json!({
        "now": now.to_wire(),
        "patient": person_json(&person, today),
        "qualification": qualification,
        "drug": views.remove("YZK"),
        "checkup": views.remove("TKK"),
        "views": log,
    }))
}

fn qualification_json(
    decision: &crate::engine::Decision,
    today: onshi_core::Ymd,
    now: JstDateTime,
) -> Value {
    let validity = decision.validity;
    let Some(r) = &decision.record else {
        return json!({
            "validity": validity.code(),
            "validity_label": validity.label(),
        });
    };
    // The patient's own 限度額 information is theirs to see.
    let item = crate::engine::result_item(r, today, LimitConsentFlag::Consented, now);
    let family = item
        .personal_family_classification
        .as_deref()
        .and_then(|c| PersonalFamilyClassification::from_code(c).ok())
        .map(|c| c.label());
    let ratio = item
        .insured_partial_contribution_ratio
        .as_deref()
        .and_then(|r| r.parse::<u32>().ok())
        .map(|p| format!("{}割", p / 10));
    let elderly = item.elderly_recipient.as_ref().map(|e| {
        json!({
            "valid_from": e.elderly_recipient_valid_start_date,
            "valid_until": e.elderly_recipient_valid_end_date,
            "ratio": e.elderly_recipient_contribution_ratio,
        })
    });
    json!({
        "validity": validity.code(),
        "validity_label": validity.label(),
        "valid": validity == QualificationValidity::Valid,
        "insurer_number": item.insurer_number,
        "insurer_name": item.insurer_name,
        "symbol": item.insured_card_symbol,
        "number": item.insured_identification_number,
        "branch": item.insured_branch_number,
        "personal_family": family,
        "ratio": ratio,
        "qualification_date": item.qualification_date,
        "disqualification_date": item.disqualification_date,
        "elderly": elderly,
        "limit_classification": item.limit_info.as_ref().and_then(|l| l.limit_application_certificate_classification_flag.clone()),
    })
}
