//! Consents that follow a card check (`POST /oqs/v1/card/consent`).
//!
//! The reader shows its consent screens after central has answered: whether the
//! 特定健診 screen appears depends on the patient's age, which only central knows. So a
//! card check whose certificate is valid (not in its grace period) and which found a
//! qualification carries an `x-consent-token`: the check's request id, the facility, the
//! person, the check date and a 10-minute expiry, authenticated with the same secret as
//! the nonces (under its own label, so neither can pass for the other). Issuing it writes
//! nothing. The terminal sends the patient's choices with the token; central records them
//! once per check (`card_consent`, its primary key is the check's request id) and answers
//! the check's result again with the consent flags and times filled in, which is what the
//! reader writes to its face-result file.

use crate::card::{
    CardService, card_answer, card_error_answer, cards, enabled_facility, facility_of,
    output_format, read_body,
};
use crate::card_client::CardConsents;
use crate::engine;
use crate::error::CheckError;
use crate::server::{AppState, render};
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use onshi_core::card::{self as rules, CertificateStanding};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_store::ConsentRecord;
use std::sync::Arc;

/// How long after the check its consents may be given.
pub const CONSENT_SECONDS: i64 = 600;
/// The response header of a card check that carries the consent token.
pub const CONSENT_TOKEN_HEADER: &str = "x-consent-token";
const LABEL: &[u8] = b"onshi consent token v1\0";
const MAC_LEN: usize = 16;

/// What a consent token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsentTicket {
    pub check_request_id: String,
    pub facility: MedicalInstitutionCode,
    pub person_id: i64,
    pub on: Ymd,
    pub renewal_alert: bool,
    pub expires: JstDateTime,
}

impl CardService {
    /// expires (µs) ‖ person id ‖ alert flag ‖ check date (8) ‖ facility (10) ‖ request id ‖ MAC.
    pub(crate) fn consent_token(&self, t: &ConsentTicket) -> String {
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&t.expires.unix_micros().to_be_bytes());
        body.extend_from_slice(&t.person_id.to_be_bytes());
        body.push(u8::from(t.renewal_alert));
        body.extend_from_slice(t.on.to_wire().as_bytes());
        body.extend_from_slice(t.facility.as_str().as_bytes());
        body.extend_from_slice(t.check_request_id.as_bytes());
        let mac = self.mac(&[LABEL, &body].concat());
        body.extend_from_slice(&mac[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(body)
    }

    /// Opens a token sent by `facility` at `now`.
    pub(crate) fn open_consent_token(
        &self,
        token: &str,
        facility: &MedicalInstitutionCode,
        now: JstDateTime,
    ) -> Result<ConsentTicket, CheckError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| CheckError::ConsentTokenInvalid)?;
        const FIXED: usize = 8 + 8 + 1 + 8 + 10;
        if raw.len() < FIXED + MAC_LEN {
            return Err(CheckError::ConsentTokenInvalid);
        }
        let (body, mac) = raw.split_at(raw.len() - MAC_LEN);
        let expected = self.mac(&[LABEL, body].concat());
        if !crate::card::constant_time_eq(&expected[..MAC_LEN], mac) {
            return Err(CheckError::ConsentTokenInvalid);
        }
        let int = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[at..at + 8]);
            i64::from_be_bytes(b)
        };
        let text = |from: usize, to: usize| {
            std::str::from_utf8(&body[from..to]).map_err(|_| CheckError::ConsentTokenInvalid)
        };
        let expires = JstDateTime::from_unix_micros(int(0));
        let person_id = int(8);
        let renewal_alert = body[16] == 1;
        let on = Ymd::parse(text(17, 25)?).map_err(|_| CheckError::ConsentTokenInvalid)?;
        if text(25, 35)? != facility.as_str() {
            return Err(CheckError::ConsentTokenInvalid);
        }
        let check_request_id = text(35, body.len())?.to_string();
        if now >= expires {
            return Err(CheckError::ConsentTooLate);
        }
        Ok(ConsentTicket {
            check_request_id,
            facility: facility.clone(),
            person_id,
            on,
            renewal_alert,
            expires,
        })
    }
}

#[derive(serde::Deserialize)]
struct ConsentRequest {
    consent_token: String,
    #[serde(default)]
    consents: CardConsents,
}

/// `POST /oqs/v1/card/consent`.
pub(crate) async fn consent(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let request_id = state.request_ids.next();
    let format = output_format(&headers);
    let facility = facility_of(&peer).ok();
    match give(&state, &peer, body, now).await {
        Ok(res) => render(res, format, StatusCode::OK, &request_id),
        Err(err) => {
            let (res, status) = card_error_answer(&err, facility.as_ref(), now.date(), now);
            render(res, format, status, &request_id)
        }
    }
}

async fn give(
    state: &AppState,
    peer: &Peer,
    body: Body,
    now: JstDateTime,
) -> Result<onshi_wire::siquc01::Response, CheckError> {
    let service = cards(state)?;
    let facility = facility_of(peer)?;
    enabled_facility(state, &facility, now).await?;
    let bytes = read_body(state, body).await?;
    let req: ConsentRequest =
        serde_json::from_slice(&bytes).map_err(|e| CheckError::CardRequest(e.to_string()))?;
    let ticket = service.open_consent_token(&req.consent_token, &facility, now)?;
    let found = state
        .store
        .find_by_person(ticket.person_id)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))?;
    let decision = engine::decide(found, ticket.on);
    let standing = CertificateStanding::Valid {
        renewal_alert: ticket.renewal_alert,
    };
    let answer = card_answer(&decision, &facility, ticket.on, now, standing, req.consents);
    let record = ConsentRecord {
        check_request_id: ticket.check_request_id.clone(),
        facility_code: facility.as_str().to_string(),
        person_id: ticket.person_id,
        consented_at: now,
        available_until: rules::consent_available_until(now),
        information: answer.given.iter().map(|s| s.to_string()).collect(),
    };
    let fresh = state
        .store
        .record_consent(&record)
        .await
        .map_err(|e| CheckError::HistoryUnavailable(e.to_string()))?;
    if !fresh {
        return Err(CheckError::ConsentAlreadyGiven);
    }
    Ok(answer.response)
}
