//! Checks by My Number card (and smartphone): the challenge–signature flow.
//!
//! 1. The terminal asks for a nonce. Nonces are stateless: random bytes, the facility
//!    and an expiry, authenticated with an HMAC under a secret every central process on
//!    the database shares. Issuing one writes nothing.
//! 2. The card signs the nonce; the terminal sends certificate, signature and the
//!    patient's consent choices.
//! 3. Central checks the nonce (authentic, this facility, not expired), the certificate's
//!    standing on the day (valid, renewal alert, grace: qualification only, or expired),
//!    the chain to the card CA, revocation, the signature, the certificate → person link
//!    and 初回登録, the smartphone rules, then answers like the face-reader result
//!    (`ReferenceClassification` 1) with the consent fields.
//! 4. The nonce's single use is recorded in the same commit as the history row: a
//!    replayed nonce is refused even when the first use is still in flight.

use crate::card_client::CardConsents as Consents;
use crate::engine;
use crate::error::CheckError;
use crate::server::{AppState, Format, error_response, render, request_format, response_header};
use crate::tls::Peer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use onshi_core::Clock;
use onshi_core::card::{self as rules, CertificateStanding};
use onshi_core::codes::{
    ConsentFlag, LimitConsentFlag, ProcessingResultStatus, ReferenceClassification, SegmentOfResult,
};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::{InsuredBranchNumber, MedicalInstitutionCode};
use onshi_pki::{CardVerifier, CertAndKey, CertProfile};
use onshi_store::{Store, UsedNonce, VerificationRecord};
use onshi_wire::{Encoding, siquc01};
use std::sync::{Arc, RwLock};

/// How long a nonce may be used after it is issued.
pub const NONCE_SECONDS: i64 = 60;
/// How often the in-memory CRL and verifier are rebuilt from the database.
const CRL_REFRESH_SECONDS: i64 = 30;

const NONCE_RANDOM: usize = 16;
const NONCE_MAC: usize = 16;

pub(crate) struct CardService {
    key: hmac::Key,
    ca: CertAndKey,
    ca_der: Vec<u8>,
    clock: Arc<dyn Clock>,
    current: RwLock<Current>,
    /// Held by the one request rebuilding the CRL.
    rebuilding: tokio::sync::Mutex<()>,
    metrics: Arc<crate::metrics::Metrics>,
}

struct Current {
    verifier: Arc<CardVerifier>,
    crl_der: Arc<Vec<u8>>,
    built_at: JstDateTime,
}

fn offset(t: JstDateTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_micros()) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn jst_date(t: time::OffsetDateTime) -> Ymd {
    Ymd(t.to_offset(time::macros::offset!(+9)).date())
}

impl CardService {
    pub(crate) async fn new(
        store: &Store,
        ca: CertAndKey,
        clock: Arc<dyn Clock>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Self, String> {
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|e| e.to_string())?;
        let secret = store
            .secret("card-nonce-hmac", fresh.to_vec())
            .await
            .map_err(|e| e.to_string())?;
        let ca_der = ca.cert_der().map_err(|e| e.to_string())?;
        let now = clock.now();
        let current = build(store, &ca, &ca_der, now).await?;
        Ok(CardService {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            ca,
            ca_der,
            clock,
            current: RwLock::new(current),
            rebuilding: tokio::sync::Mutex::new(()),
            metrics,
        })
    }

    pub(crate) fn mac(&self, body: &[u8]) -> [u8; NONCE_MAC] {
        let tag = hmac::sign(&self.key, body);
        let mut out = [0u8; NONCE_MAC];
        out.copy_from_slice(&tag.as_ref()[..NONCE_MAC]);
        out
    }

    /// random ‖ expiry (µs, big-endian) ‖ facility code (10 ASCII digits) ‖ MAC.
    pub(crate) fn issue_nonce(
        &self,
        facility: &MedicalInstitutionCode,
        now: JstDateTime,
    ) -> Result<(String, JstDateTime), CheckError> {
        let mut body = vec![0u8; NONCE_RANDOM];
        SystemRandom::new()
            .fill(&mut body)
            .map_err(|e| CheckError::Internal(e.to_string()))?;
        let expires = now.add_seconds(NONCE_SECONDS);
        body.extend_from_slice(&expires.unix_micros().to_be_bytes());
        body.extend_from_slice(facility.as_str().as_bytes());
        let mac = self.mac(&body);
        body.extend_from_slice(&mac);
        Ok((URL_SAFE_NO_PAD.encode(body), expires))
    }

    /// Checks a nonce; returns its expiry.
    fn check_nonce(
        &self,
        nonce: &str,
        facility: &MedicalInstitutionCode,
        now: JstDateTime,
    ) -> Result<JstDateTime, CheckError> {
        let raw = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| CheckError::NonceInvalid)?;
        if raw.len() != NONCE_RANDOM + 8 + 10 + NONCE_MAC {
            return Err(CheckError::NonceInvalid);
        }
        let (body, mac) = raw.split_at(raw.len() - NONCE_MAC);
        let expected = self.mac(body);
        if !constant_time_eq(&expected, mac) {
            return Err(CheckError::NonceInvalid);
        }
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&body[NONCE_RANDOM..NONCE_RANDOM + 8]);
        let expires = JstDateTime::from_unix_micros(i64::from_be_bytes(exp));
        if &body[NONCE_RANDOM + 8..] != facility.as_str().as_bytes() {
            return Err(CheckError::NonceOtherFacility);
        }
        if now >= expires {
            return Err(CheckError::NonceExpired);
        }
        Ok(expires)
    }

    async fn current(&self, store: &Store) -> (Arc<CardVerifier>, Arc<Vec<u8>>) {
        let now = self.clock.now();
        let stale = match self.current.read() {
            Ok(c) => {
                if c.built_at.add_seconds(CRL_REFRESH_SECONDS) > now && c.built_at <= now {
                    return (c.verifier.clone(), c.crl_der.clone());
                }
                true
            }
            Err(_) => true,
        };
        // One rebuild at a time: the others keep answering with the CRL in hand (built at
        // most a refresh period ago, valid for two) instead of each running the same query
        // (session 4's mixed run: hundreds of concurrent rebuilds stalled everything for
        // seconds every 30 s).
        let rebuilding = if stale {
            self.rebuilding.try_lock().ok()
        } else {
            None
        };
        if rebuilding.is_some() {
            match build(store, &self.ca, &self.ca_der, now).await {
                Ok(fresh) => {
                    self.metrics.card_crl_rebuilt();
                    let out = (fresh.verifier.clone(), fresh.crl_der.clone());
                    if let Ok(mut c) = self.current.write() {
                        *c = fresh;
                    }
                    return out;
                }
                Err(e) => {
                    tracing::error!(error = %e, "CRL rebuild failed; keeping the previous one")
                }
            }
        }
        match self.current.read() {
            Ok(c) => (c.verifier.clone(), c.crl_der.clone()),
            Err(p) => (p.get_ref().verifier.clone(), p.get_ref().crl_der.clone()),
        }
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CRL of the currently revoked certificates, and a verifier that uses it.
async fn build(
    store: &Store,
    ca: &CertAndKey,
    ca_der: &[u8],
    now: JstDateTime,
) -> Result<Current, String> {
    let revoked = store.revoked_cards().await.map_err(|e| e.to_string())?;
    let this_update = offset(now);
    let crl = onshi_pki::make_crl(
        ca,
        &revoked,
        this_update,
        this_update + time::Duration::seconds(CRL_REFRESH_SECONDS * 2),
        u64::try_from(now.unix_micros() / 1_000_000).unwrap_or(0),
    )
    .map_err(|e| e.to_string())?;
    let verifier =
        CardVerifier::new(vec![ca_der.to_vec()], vec![crl.clone()]).map_err(|e| e.to_string())?;
    Ok(Current {
        verifier: Arc::new(verifier),
        crl_der: Arc::new(crl),
        built_at: now,
    })
}

#[derive(serde::Deserialize)]
pub(crate) struct CardCheckRequest {
    pub(crate) nonce: String,
    certificate: String,
    signature: String,
    #[serde(default)]
    pub(crate) identity_method: Option<String>,
    #[serde(default)]
    confirmation_date: Option<String>,
    #[serde(default)]
    consents: Consents,
}

pub(crate) fn facility_of(peer: &Peer) -> Result<MedicalInstitutionCode, CheckError> {
    peer.facility
        .clone()
        .map_err(CheckError::BadClientCertificate)
}

pub(crate) async fn enabled_facility(
    state: &AppState,
    code: &MedicalInstitutionCode,
    now: JstDateTime,
) -> Result<onshi_core::model::Facility, CheckError> {
    match state.facilities.get(&state.store, code, now).await {
        Ok(Some(f)) if f.enabled => Ok(f),
        Ok(Some(_)) => Err(CheckError::DisabledFacility(code.as_str().into())),
        Ok(None) => Err(CheckError::UnknownFacility(code.as_str().into())),
        Err(e) => Err(CheckError::Internal(e.to_string())),
    }
}

pub(crate) fn cards(state: &AppState) -> Result<&Arc<CardService>, CheckError> {
    state.cards.as_ref().ok_or(CheckError::CardsDisabled)
}

fn json_error(err: &CheckError) -> Response {
    let body = serde_json::json!({ "error_code": err.code(), "error_message": err.message_ja() });
    (
        err.status(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `POST /oqs/v1/card/nonce` → `{"nonce": "...", "expires_at": "YYYYMMDDHHmmss"}`.
pub(crate) async fn nonce(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
) -> Response {
    let now = state.clock.now();
    let result = async {
        let service = cards(&state)?;
        let facility = facility_of(&peer)?;
        enabled_facility(&state, &facility, now).await?;
        service.issue_nonce(&facility, now)
    }
    .await;
    match result {
        Ok((nonce, expires)) => {
            let body = serde_json::json!({ "nonce": nonce, "expires_at": expires.to_wire() });
            (
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => json_error(&e),
    }
}

/// `GET /oqs/v1/card/crl`: the current CRL of the card CA (DER).
pub(crate) async fn crl(State(state): State<AppState>) -> Response {
    match cards(&state) {
        Ok(service) => {
            let (_, crl) = service.current(&state.store).await;
            (
                [(header::CONTENT_TYPE, "application/pkix-crl")],
                crl.as_ref().clone(),
            )
                .into_response()
        }
        Err(e) => json_error(&e),
    }
}

/// A verified card and who it belongs to.
pub(crate) struct Identified {
    pub(crate) serial: String,
    pub(crate) profile: CertProfile,
    pub(crate) standing: CertificateStanding,
    pub(crate) person_id: i64,
    registered: bool,
}

/// Everything up to "this card, this person": nonce, standing, chain, revocation,
/// signature, registry. The nonce is not consumed here.
pub(crate) async fn identify(
    state: &AppState,
    service: &CardService,
    facility: &MedicalInstitutionCode,
    req: &CardCheckRequest,
    on: Ymd,
    now: JstDateTime,
    proof: Proof,
) -> Result<(Identified, JstDateTime), CheckError> {
    // `signed`: when the card signed (now, or the moment of an offline check).
    let (expires, signed) = match proof {
        Proof::Live => (service.check_nonce(&req.nonce, facility, now)?, now),
        Proof::Offline => {
            let signed = crate::deferred::check_offline_challenge(&req.nonce, facility, now)?;
            (
                signed.add_seconds(crate::deferred::DEFERRED_MAX_SECONDS),
                signed,
            )
        }
    };
    let cert = STANDARD
        .decode(req.certificate.trim())
        .map_err(|_| CheckError::CardRequest("certificate is not base64".into()))?;
    let signature = STANDARD
        .decode(req.signature.trim())
        .map_err(|_| CheckError::CardRequest("signature is not base64".into()))?;
    let (verifier, _) = service.current(&state.store).await;
    let info = verifier
        .inspect(&cert)
        .map_err(CheckError::CardCertificate)?;
    let standing = rules::certificate_standing(jst_date(info.not_after), on);
    // In the grace period the certificate is checked as it was on its last valid second.
    let at = match standing {
        CertificateStanding::Valid { .. } => offset(signed),
        CertificateStanding::Grace { .. } => info.not_after - time::Duration::seconds(1),
        CertificateStanding::Expired => return Err(CheckError::CardExpiredPastGrace),
    };
    let verified = verifier
        .verify(&cert, req.nonce.as_bytes(), &signature, at)
        .map_err(CheckError::CardCertificate)?;
    let record = state
        .store
        .card(&verified.serial_hex)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?
        .ok_or(CheckError::CardUnknown)?;
    if record.revoked_at.is_some() {
        return Err(CheckError::CardCertificate(
            onshi_pki::CardVerifyError::Revoked,
        ));
    }
    Ok((
        Identified {
            serial: verified.serial_hex,
            profile: verified.profile,
            standing,
            person_id: record.person_id,
            registered: record.registered_at.is_some(),
        },
        expires,
    ))
}

/// The smartphone rules of the facility and the person's physical card.
async fn smartphone_rules(
    state: &AppState,
    facility: &onshi_core::model::Facility,
    person_id: i64,
    on: Ymd,
) -> Result<(), CheckError> {
    let cards = state
        .store
        .cards_of_person(person_id)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    let physical_usable = cards
        .iter()
        .filter(|c| c.profile == CertProfile::Card.as_str())
        .any(|c| c.revoked_at.is_none() && on <= c.not_after);
    let used_here = state
        .store
        .used_physical_card_at(person_id, &facility.code)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    rules::smartphone_allowed(facility.smartphone_enabled, used_here, physical_usable)
        .map_err(CheckError::Smartphone)
}

fn flag(b: bool) -> String {
    if b {
        ConsentFlag::Consented.code()
    } else {
        ConsentFlag::NotConsented.code()
    }
    .to_string()
}

/// Adds the consent fields of the face-reader result.
fn apply_consents(
    item: &mut siquc01::ResultOfQualificationConfirmation,
    c: &Consents,
    now: JstDateTime,
) -> Vec<&'static str> {
    let t = now.to_wire();
    let until = rules::consent_available_until(now).to_wire();
    let mut given = Vec::new();
    let mut set =
        |given_flag: bool, code: &'static str| -> (String, Option<String>, Option<String>) {
            if given_flag {
                given.push(code);
                (flag(true), Some(t.clone()), Some(until.clone()))
            } else {
                (flag(false), None, None)
            }
        };
    let (f, ct, at) = set(c.pharmacists, "YZK");
    item.pharmacists_info_cons_flg = Some(f);
    item.pharmacists_info_cons_time = ct;
    item.pharmacists_info_available_time = at;
    let (f, ct, at) = set(c.specific_health_checkups, "TKK");
    item.specific_health_checkups_info_cons_flg = Some(f);
    item.specific_health_checkups_info_cons_time = ct;
    item.specific_health_checkups_info_available_time = at;
    let (f, ct, at) = set(c.diagnosis, "SRJ");
    item.diagnosis_info_cons_flg = Some(f);
    item.diagnosis_info_cons_time = ct;
    item.diagnosis_info_available_time = at;
    let (f, ct, at) = set(c.operation, "SHJ");
    item.operation_info_cons_flg = Some(f);
    item.operation_info_cons_time = ct;
    item.operation_info_available_time = at;
    let (f, ct, _) = set(c.specific_diseases, "TSR");
    item.specific_diseases_certificate_related_cons_flg = Some(f);
    item.specific_diseases_certificate_related_cons_time = ct;
    if c.limit {
        given.push("GND");
    }
    given
}

pub(crate) fn card_request(bytes: &[u8]) -> Result<CardCheckRequest, CheckError> {
    serde_json::from_slice(bytes).map_err(|e| CheckError::CardRequest(e.to_string()))
}

pub(crate) async fn read_body(state: &AppState, body: Body) -> Result<Bytes, CheckError> {
    let max = state.limits.max_bytes;
    http_body_util::Limited::new(body, max)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| onshi_wire::WireError::TooLarge { size: max + 1, max }.into())
}

pub(crate) fn base_record(
    request_id: &str,
    facility: &str,
    now: JstDateTime,
    confirmation_date: Ymd,
) -> VerificationRecord {
    let mut rec = VerificationRecord::new(
        request_id,
        facility,
        now,
        ReferenceClassification::MyNumberCard.code(),
    );
    rec.confirmation_date = Some(confirmation_date.to_wire());
    rec
}

pub(crate) fn refusal(mut rec: VerificationRecord, err: &CheckError) -> VerificationRecord {
    rec.processing_status = ProcessingResultStatus::Error.code().into();
    rec.error_code = Some(err.code().into());
    rec.validity = None;
    rec
}

pub(crate) fn card_error_answer(
    err: &CheckError,
    facility: Option<&MedicalInstitutionCode>,
    on: Ymd,
    now: JstDateTime,
) -> (siquc01::Response, StatusCode) {
    let (mut res, status) = error_response(err, None, now);
    res.header.reference_classification = Some(ReferenceClassification::MyNumberCard.code().into());
    res.header.qualification_confirmation_date = Some(on.to_wire());
    res.header.medical_institution_code = facility.map(|f| f.as_str().to_string());
    (res, status)
}

pub(crate) fn output_format(headers: &HeaderMap) -> Format {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("xml") {
        Format::Xml(Encoding::Utf8)
    } else {
        Format::Json
    }
}

/// How the card proved its presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// It signed a nonce central issued moments ago.
    Live,
    /// It signed the terminal's offline challenge while central was down
    /// (`crate::deferred`).
    Offline,
}

/// `POST /oqs/v1/card/check`.
pub(crate) async fn check(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    card_endpoint(state, peer, headers, body, Proof::Live).await
}

/// `POST /oqs/v1/card/deferred-check`: a check the terminal made while central was
/// down, sent when central is back (see [`crate::deferred`]).
pub(crate) async fn deferred_check(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    card_endpoint(state, peer, headers, body, Proof::Offline).await
}

async fn card_endpoint(
    state: AppState,
    peer: Arc<Peer>,
    headers: HeaderMap,
    body: Body,
    proof: Proof,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let format = output_format(&headers);
    let facility = facility_of(&peer).ok();
    let mut on = now.date();
    let outcome = card_check(
        &state,
        &peer,
        &headers,
        body,
        now,
        &request_id,
        &mut on,
        proof,
    )
    .await;
    let (res, status, token) = match outcome {
        Ok(answer) => answer,
        Err((err, record)) => {
            if let (Some(rec), Some(_)) = (record, &facility)
                && let Err(e) = state.store.record_verification(rec).await
            {
                let err = CheckError::HistoryUnavailable(e.to_string());
                let (res, status) = card_error_answer(&err, facility.as_ref(), on, now);
                return render(res, format, status, &request_id);
            }
            let (res, status) = card_error_answer(&err, facility.as_ref(), on, now);
            (res, status, None)
        }
    };
    let mut response = render(res, format, status, &request_id);
    if let Some(t) = token.and_then(|t| axum::http::HeaderValue::from_str(&t).ok()) {
        response
            .headers_mut()
            .insert(crate::consent::CONSENT_TOKEN_HEADER, t);
    }
    response
}

/// A card check's answer and the OQSCD036 codes of the consents it carries.
pub(crate) struct CardAnswer {
    pub response: siquc01::Response,
    pub given: Vec<&'static str>,
}

/// The face-reader style answer for `decision` at `on`, with `consents` applied at
/// `now`. Used for the check itself and again when consents follow it.
pub(crate) fn card_answer(
    decision: &engine::Decision,
    facility_code: &MedicalInstitutionCode,
    on: Ymd,
    now: JstDateTime,
    standing: CertificateStanding,
    requested: Consents,
) -> CardAnswer {
    // In the grace period the card proves qualification only: no consent is taken.
    let in_grace = matches!(standing, CertificateStanding::Grace { .. });
    let mut consents = if in_grace {
        Consents::default()
    } else {
        requested
    };
    let age = decision
        .record
        .as_ref()
        .map(|r| r.person.birthdate.legal_age_on(on))
        .unwrap_or(0);
    if age < rules::HEALTH_CHECKUP_MIN_AGE {
        consents.specific_health_checkups = false;
    }
    let limit = if consents.limit {
        LimitConsentFlag::Consented
    } else {
        LimitConsentFlag::NotConsented
    };
    let mut results = Vec::new();
    let mut given = Vec::new();
    if let Some(r) = &decision.record {
        let mut item = engine::result_item(r, on, limit, now);
        if !consents.specific_diseases {
            item.specific_diseases.clear();
        }
        given = apply_consents(&mut item, &consents, now);
        results.push(item);
    }
    let (code, message) = match standing {
        CertificateStanding::Valid { renewal_alert: true } => (
            Some("ONS0101"),
            Some("マイナンバーカードの電子証明書の有効期限が近づいています（3か月以内）。お住まいの市区町村で更新してください。".to_string()),
        ),
        CertificateStanding::Grace { until } => (
            Some("ONS0102"),
            Some(format!(
                "マイナンバーカードの電子証明書の有効期限が切れています。{}までは資格情報のみ確認できます（薬剤情報等の提供はできません）。電子証明書を更新してください。",
                until.to_wareki()
            )),
        ),
        _ => (None, None),
    };
    let validity_message = engine::validity_message(decision.validity).map(str::to_string);
    let request_echo = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: on.to_wire(),
            medical_institution_code: facility_code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: Default::default(),
    };
    let mut header = response_header(&request_echo, now, SegmentOfResult::Normal);
    header.reference_classification = Some(ReferenceClassification::MyNumberCard.code().into());
    let response = siquc01::Response {
        header,
        body: siquc01::ResponseBody {
            processing_result_status: ProcessingResultStatus::Normal.code().into(),
            processing_result_code: code.map(Into::into),
            processing_result_message: match (message, validity_message) {
                (Some(a), Some(b)) => Some(format!("{a}\n{b}")),
                (a, b) => a.or(b),
            },
            qualification_validity: Some(decision.validity.code().into()),
            results,
            ..Default::default()
        },
    };
    CardAnswer { response, given }
}

type Refused = (CheckError, Option<VerificationRecord>);

#[allow(clippy::too_many_arguments)]
async fn card_check(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    now: JstDateTime,
    request_id: &str,
    on: &mut Ymd,
    proof: Proof,
) -> Result<(siquc01::Response, StatusCode, Option<String>), Refused> {
    let service = cards(state).map_err(|e| (e, None))?;
    let facility_code = facility_of(peer).map_err(|e| (e, None))?;
    if let Format::Xml(_) = request_format(headers).unwrap_or(Format::Json) {
        return Err((
            CheckError::UnsupportedMediaType("application/xml (card checks take JSON)".into()),
            None,
        ));
    }
    let mut rec = base_record(request_id, facility_code.as_str(), now, *on);
    let bytes = read_body(state, body).await.map_err(|e| {
        let r = refusal(rec.clone(), &e);
        (e, Some(r))
    })?;
    let mut req = card_request(&bytes).map_err(|e| {
        let r = refusal(rec.clone(), &e);
        (e, Some(r))
    })?;
    if proof == Proof::Offline {
        // The check is answered as of the moment the card signed; no consent can be
        // given without central (nothing would have recorded it).
        let signed = crate::deferred::check_offline_challenge(&req.nonce, &facility_code, now)
            .map_err(|e| {
                let r = refusal(rec.clone(), &e);
                (e, Some(r))
            })?;
        req.confirmation_date = Some(signed.date().to_wire());
        req.consents = Consents::default();
    }
    if let Some(d) = req.confirmation_date.as_deref() {
        *on = Ymd::parse(d).map_err(|e| {
            let e = CheckError::invalid("ONS2005", "QualificationConfirmationDate", e);
            let r = refusal(rec.clone(), &e);
            (e, Some(r))
        })?;
        rec.confirmation_date = Some(on.to_wire());
    }
    let method = match req.identity_method.as_deref().unwrap_or("face") {
        m @ ("face" | "pin" | "visual") => m.to_string(),
        other => {
            let e =
                CheckError::CardRequest(format!("identity_method {other:?} (face, pin or visual)"));
            let r = refusal(rec.clone(), &e);
            return Err((e, Some(r)));
        }
    };
    rec.identity_method = Some(method);
    let refuse = |rec: &VerificationRecord, e: CheckError| {
        let r = refusal(rec.clone(), &e);
        (e, Some(r))
    };
    let facility = enabled_facility(state, &facility_code, now)
        .await
        .map_err(|e| refuse(&rec, e))?;
    let (who, expires) = identify(state, service, &facility_code, &req, *on, now, proof)
        .await
        .map_err(|e| refuse(&rec, e))?;
    rec.card_serial = Some(who.serial.clone());
    rec.card_profile = Some(who.profile.as_str().into());
    rec.person_id = Some(who.person_id);
    if !who.registered {
        return Err(refuse(&rec, CheckError::CardUnregistered));
    }
    if who.profile.is_smartphone() {
        smartphone_rules(state, &facility, who.person_id, *on)
            .await
            .map_err(|e| refuse(&rec, e))?;
    }
    let found = state
        .store
        .find_by_person(who.person_id)
        .await
        .map_err(|e| refuse(&rec, CheckError::Internal(e.to_string())))?;
    let decision = engine::decide(found, *on);
    let mut answer = card_answer(
        &decision,
        &facility_code,
        *on,
        now,
        who.standing,
        req.consents,
    );
    if decision.validity == onshi_core::codes::QualificationValidity::NotFound
        && let Some(info) = state
            .store
            .pending_by_person(who.person_id)
            .await
            .map_err(|e| refuse(&rec, CheckError::Internal(e.to_string())))?
    {
        answer.response.body.processing_result_message = Some(engine::pending_message(&info));
    }
    let uses_references = state
        .reference_use
        .get(&state.store, &facility_code, now)
        .await
        .map_err(|e| refuse(&rec, CheckError::Internal(e.to_string())))?;
    if let (true, Some(r), Some(item)) = (
        uses_references,
        &decision.record,
        answer.response.body.results.first_mut(),
    ) {
        engine::attach_reference_number(&state.store, &facility_code, r.person.id, item)
            .await
            .map_err(|e| refuse(&rec, e))?;
    }
    if let Some(r) = &decision.record {
        let q = &r.qualification;
        rec.insurer_number = Some(q.insurer_number.digits().to_string());
        rec.symbol = q.symbol.as_ref().map(|s| s.as_str().to_string());
        rec.number = Some(q.number.as_str().to_string());
        rec.branch = q.branch.map(InsuredBranchNumber::to_wire);
        rec.birthdate = Some(r.person.birthdate.to_wire());
        rec.qualification_id = Some(q.id);
    }
    rec.validity = Some(decision.validity);
    rec.consents = (!answer.given.is_empty()).then(|| answer.given.join(","));
    // Consents may follow within minutes (the kiosk shows its consent screens once the
    // age is known), except in the grace period, which allows qualification only.
    let token = match (&decision.record, who.standing) {
        (Some(r), CertificateStanding::Valid { renewal_alert }) if proof == Proof::Live => {
            Some(service.consent_token(&crate::consent::ConsentTicket {
                check_request_id: request_id.to_string(),
                facility: facility_code.clone(),
                person_id: r.person.id,
                on: *on,
                renewal_alert,
                expires: now.add_seconds(crate::consent::CONSENT_SECONDS),
            }))
        }
        _ => None,
    };
    let response = answer.response;

    // Consume the nonce and write the history row in one commit.
    let replay_err = CheckError::NonceReplayed;
    let replay = refusal(rec.clone(), &replay_err);
    let nonce = UsedNonce {
        nonce: req.nonce.clone(),
        facility_code: facility_code.as_str().into(),
        expires_at: expires,
        used_at: now,
    };
    match state.store.record_card_check(nonce, rec, replay).await {
        Ok(true) => Ok((response, StatusCode::OK, token)),
        Ok(false) => Err((replay_err, None)),
        Err(e) => Err((CheckError::HistoryUnavailable(e.to_string()), None)),
    }
}

#[derive(serde::Serialize)]
struct Registered {
    registered: bool,
    serial: String,
}

/// `POST /oqs/v1/card/register`: 初回登録 (registration of the card for insurance use)
/// at the reader. Same body as a check (consents ignored). The certificate must be valid
/// (not in grace).
pub(crate) async fn register(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let result = async {
        let service = cards(&state)?;
        let facility = facility_of(&peer)?;
        enabled_facility(&state, &facility, now).await?;
        let bytes = read_body(&state, body).await?;
        let req = card_request(&bytes)?;
        let (who, expires) = identify(
            &state,
            service,
            &facility,
            &req,
            now.date(),
            now,
            Proof::Live,
        )
        .await?;
        if !matches!(who.standing, CertificateStanding::Valid { .. }) {
            return Err(CheckError::CardExpiredPastGrace);
        }
        let mut rec = base_record(&request_id, facility.as_str(), now, now.date());
        rec.person_id = Some(who.person_id);
        rec.card_serial = Some(who.serial.clone());
        rec.card_profile = Some(who.profile.as_str().into());
        rec.consents = Some("REGISTER".into());
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
        let fresh = state
            .store
            .register_card(&who.serial, now)
            .await
            .map_err(|e| CheckError::Internal(e.to_string()))?;
        Ok(Registered {
            registered: fresh || who.registered,
            serial: who.serial,
        })
    }
    .await;
    match result {
        Ok(r) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&r).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => json_error(&e),
    }
}
