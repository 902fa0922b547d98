//! The terminal's side of a card check: ask central for a nonce, have the card sign it,
//! send certificate, signature and the patient's consent choices. Used by the kiosk
//! emulation in the CLI and by the tests.

use crate::client::{ClientError, Connection, Reply};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use onshi_pki::{Card, CardError};

#[derive(Debug, thiserror::Error)]
pub enum CardClientError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("card: {0}")]
    Card(#[from] CardError),
    #[error("central refused to issue a nonce (HTTP {status}): {body}")]
    Nonce { status: u16, body: String },
    #[error(
        "the check's answer carries no consent token (refused, grace period, or no qualification)"
    )]
    NoConsentToken,
}

/// The consent screens of the reader; each `true` is a 「同意する」.
/// Sent by the terminal and read by central (absent fields are `false`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CardConsents {
    /// 薬剤情報.
    pub pharmacists: bool,
    /// 特定健診情報 (asked from age 40).
    pub specific_health_checkups: bool,
    /// 診療情報.
    pub diagnosis: bool,
    /// 手術情報.
    pub operation: bool,
    /// 限度額情報 (「高額療養費制度を利用する方」).
    pub limit: bool,
    /// 特定疾病療養受療証情報.
    pub specific_diseases: bool,
}

impl CardConsents {
    pub fn all() -> Self {
        CardConsents {
            pharmacists: true,
            specific_health_checkups: true,
            diagnosis: true,
            operation: true,
            limit: true,
            specific_diseases: true,
        }
    }
}

/// How the patient was identified at the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMethod {
    Face,
    Pin,
    /// 目視: staff confirmed the face on the card visually.
    Visual,
}

impl IdentityMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityMethod::Face => "face",
            IdentityMethod::Pin => "pin",
            IdentityMethod::Visual => "visual",
        }
    }
}

/// Asks central for a nonce.
pub async fn nonce(conn: &mut Connection) -> Result<String, CardClientError> {
    let reply = conn
        .post("/oqs/v1/card/nonce", "application/json", Vec::new())
        .await?;
    let parsed: Option<String> = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("nonce").and_then(|n| n.as_str()).map(str::to_string));
    match (reply.status.is_success(), parsed) {
        (true, Some(n)) => Ok(n),
        _ => Err(CardClientError::Nonce {
            status: reply.status.as_u16(),
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        }),
    }
}

/// The JSON body of a check or a registration, signing `nonce` with the (unlocked) card.
pub fn signed_body(
    card: &mut dyn Card,
    nonce: &str,
    method: IdentityMethod,
    consents: &CardConsents,
    confirmation_date: Option<&str>,
) -> Result<Vec<u8>, CardClientError> {
    let certificate = card.auth_certificate()?;
    let signature = card.sign(nonce.as_bytes())?;
    let mut body = serde_json::json!({
        "nonce": nonce,
        "certificate": STANDARD.encode(certificate),
        "signature": STANDARD.encode(signature),
        "identity_method": method.as_str(),
        "consents": consents,
    });
    if let Some(d) = confirmation_date {
        body["confirmation_date"] = serde_json::Value::String(d.to_string());
    }
    Ok(body.to_string().into_bytes())
}

/// A whole card check. The card must already be unlocked (PIN or face).
pub async fn card_check(
    conn: &mut Connection,
    card: &mut dyn Card,
    method: IdentityMethod,
    consents: &CardConsents,
    confirmation_date: Option<&str>,
    xml: bool,
) -> Result<Reply, CardClientError> {
    let n = nonce(conn).await?;
    let body = signed_body(card, &n, method, consents, confirmation_date)?;
    let accept = if xml {
        "application/xml"
    } else {
        "application/json"
    };
    Ok(conn
        .post_with_accept("/oqs/v1/card/check", "application/json", accept, body)
        .await?)
}

/// 初回登録 of the card for insurance use. The card must already be unlocked.
pub async fn card_register(
    conn: &mut Connection,
    card: &mut dyn Card,
) -> Result<Reply, CardClientError> {
    let n = nonce(conn).await?;
    let body = signed_body(
        card,
        &n,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
    )?;
    Ok(conn
        .post("/oqs/v1/card/register", "application/json", body)
        .await?)
}

/// The consent token of a card check's reply: present when the check found a
/// qualification with a valid (not grace-period) certificate.
pub fn consent_token(check: &Reply) -> Option<&str> {
    check
        .headers
        .get("x-consent-token")
        .and_then(|v| v.to_str().ok())
}

/// Sends the patient's consent choices for a check made moments ago (the reader shows
/// its consent screens after the answer, since the 特定健診 screen depends on the age).
/// Central answers the check's result again with the consent flags and times.
pub async fn card_consent(
    conn: &mut Connection,
    check: &Reply,
    consents: &CardConsents,
    xml: bool,
) -> Result<Reply, CardClientError> {
    let token = consent_token(check).ok_or(CardClientError::NoConsentToken)?;
    let body = serde_json::json!({ "consent_token": token, "consents": consents });
    let accept = if xml {
        "application/xml"
    } else {
        "application/json"
    };
    Ok(conn
        .post_with_accept(
            "/oqs/v1/card/consent",
            "application/json",
            accept,
            body.to_string().into_bytes(),
        )
        .await?)
}

/// The body of a deferred check: the card signs an offline challenge for `facility` at
/// `at` (central is down; see [`crate::deferred`]). The terminal queues it and sends it
/// to `POST /oqs/v1/card/deferred-check` when central is back.
pub fn offline_signed_body(
    card: &mut dyn Card,
    facility: &str,
    at: onshi_core::date::JstDateTime,
    method: IdentityMethod,
) -> Result<Vec<u8>, CardClientError> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut random = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| CardError::Crypto("random".into()))?;
    let challenge = crate::deferred::offline_challenge(facility, at, random);
    signed_body(card, &challenge, method, &CardConsents::default(), None)
}
