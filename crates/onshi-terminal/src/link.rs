//! [`CentralLink`]: the one way the kiosk reaches central. Every card check, consent and
//! registration of the kiosk goes through here, so that the system-failure (offline) mode
//! can be added in one place: when central cannot be reached the link answers
//! [`LinkError::Unreachable`] today.

use onshi_central::card_client::{self, CardClientError, CardConsents, IdentityMethod};
use onshi_central::client::{CentralClient, ClientError, Connection, Reply};
use onshi_pki::{Card, CardError};
use onshi_wire::{Limits, siquc01};
use tokio::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No connection, or it broke (reader code 011).
    #[error("central unreachable: {0}")]
    Unreachable(String),
    /// TLS refused: our certificate (account) is not accepted (reader code 906).
    #[error("central refused our certificate: {0}")]
    Account(String),
    /// The card could not sign.
    #[error("card: {0}")]
    Card(#[from] CardError),
    /// Central answered something we cannot read.
    #[error("central's answer: {0}")]
    Answer(String),
}

/// A card check's answer: the result message and the HTTP status, with central's reply
/// kept for the consents (it carries the consent token).
#[derive(Debug, Clone)]
pub struct CheckAnswer {
    pub status: u16,
    pub response: siquc01::Response,
    pub reply: Reply,
}

impl CheckAnswer {
    /// Whether central will take consents for this check (a qualification was found and
    /// the certificate is not in its grace period).
    pub fn takes_consents(&self) -> bool {
        card_client::consent_token(&self.reply).is_some()
    }
}

impl CheckAnswer {
    /// Central's error code when it refused (`ErrorCode` of the header).
    pub fn error_code(&self) -> Option<&str> {
        if self.response.header.segment_of_result == "1" && (200..300).contains(&self.status) {
            None
        } else {
            self.response
                .header
                .error_code
                .as_deref()
                .or(self.response.body.processing_result_code.as_deref())
                .or(Some("ONS9002"))
        }
    }
}

/// The answer of a 初回登録.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Registered,
    Refused { code: String, message: String },
}

pub struct CentralLink {
    client: CentralClient,
    conn: Mutex<Option<Connection>>,
}

fn client_error(e: ClientError) -> LinkError {
    match e {
        ClientError::Tls(e) => LinkError::Account(e.to_string()),
        other => LinkError::Unreachable(other.to_string()),
    }
}

fn card_client_error(e: CardClientError) -> LinkError {
    match e {
        CardClientError::Client(c) => client_error(c),
        CardClientError::Card(c) => LinkError::Card(c),
        CardClientError::NoConsentToken => {
            LinkError::Answer("the check's answer carries no consent token".into())
        }
        CardClientError::Nonce { status, body } => {
            // A refused nonce carries central's error as JSON.
            let code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error_code")?.as_str().map(str::to_string))
                .unwrap_or_default();
            if code.starts_with("ONS3") {
                LinkError::Account(format!("{code} (HTTP {status})"))
            } else {
                LinkError::Answer(format!("nonce refused: HTTP {status} {body}"))
            }
        }
    }
}

fn decode(reply: &Reply) -> Result<CheckAnswer, LinkError> {
    let response = siquc01::decode_response_json(&reply.body, &Limits::default()).map_err(|e| {
        LinkError::Answer(format!(
            "HTTP {}: {e}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ))
    })?;
    Ok(CheckAnswer {
        status: reply.status.as_u16(),
        response,
        reply: reply.clone(),
    })
}

impl CentralLink {
    pub fn new(client: CentralClient) -> Self {
        CentralLink {
            client,
            conn: Mutex::new(None),
        }
    }

    /// The kept-alive connection, opened when there is none.
    async fn connection(&self) -> Result<MutexGuard<'_, Option<Connection>>, LinkError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(self.client.connect().await.map_err(client_error)?);
        }
        Ok(guard)
    }

    /// The check at the reader, with no consents (they are asked afterwards, since the
    /// 特定健診 question depends on the age in central's answer). The card must be
    /// unlocked; it signs central's nonce.
    pub async fn card_check<C: Card + Send>(
        &self,
        card: &mut C,
        method: IdentityMethod,
    ) -> Result<CheckAnswer, LinkError> {
        let mut last = None;
        // A kept-alive connection may have been closed by central: reconnect once.
        for _ in 0..2 {
            let mut guard = self.connection().await?;
            let Some(conn) = guard.as_mut() else { break };
            match signed_post(conn, card, method, "/oqs/v1/card/check").await {
                Ok(reply) => return decode(&reply),
                Err(LinkError::Unreachable(e)) => {
                    *guard = None;
                    last = Some(LinkError::Unreachable(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| LinkError::Unreachable("no connection".into())))
    }

    /// The patient's consent choices for an earlier check; central answers the same result
    /// message with the consent flags and times filled in.
    pub async fn card_consent(
        &self,
        check: &CheckAnswer,
        consents: &CardConsents,
    ) -> Result<CheckAnswer, LinkError> {
        let mut last = None;
        for _ in 0..2 {
            let mut guard = self.connection().await?;
            let Some(conn) = guard.as_mut() else { break };
            match card_client::card_consent(conn, &check.reply, consents, false).await {
                Ok(reply) => return decode(&reply),
                Err(e) => match card_client_error(e) {
                    LinkError::Unreachable(e) => {
                        *guard = None;
                        last = Some(LinkError::Unreachable(e));
                    }
                    other => return Err(other),
                },
            }
        }
        Err(last.unwrap_or_else(|| LinkError::Unreachable("no connection".into())))
    }

    /// A JSON request to central on behalf of a staff account (sent in
    /// `x-onshi-account`): the consented-patient list, the medical views, the login audit.
    /// Answers central's status and JSON body (refusals carry `error_code`).
    pub async fn staff_request(
        &self,
        method: axum::http::Method,
        path: &str,
        account: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), LinkError> {
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("x-onshi-account", account), ("accept", "application/json")];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let mut last = None;
        for _ in 0..2 {
            let mut guard = self.connection().await?;
            let Some(conn) = guard.as_mut() else { break };
            match conn
                .request(method.clone(), path, &headers, payload.clone())
                .await
            {
                Ok(reply) => {
                    let v = serde_json::from_slice(&reply.body)
                        .map_err(|e| LinkError::Answer(format!("HTTP {}: {e}", reply.status)))?;
                    return Ok((reply.status.as_u16(), v));
                }
                Err(e) => match client_error(e) {
                    LinkError::Unreachable(m) => {
                        *guard = None;
                        last = Some(LinkError::Unreachable(m));
                    }
                    other => return Err(other),
                },
            }
        }
        Err(last.unwrap_or_else(|| LinkError::Unreachable("no connection".into())))
    }

    /// The patient's own view (`/oqs/v1/patient/self`): the (PIN-unlocked) card signs
    /// central's nonce. Answers central's status and JSON body.
    pub async fn patient_view<C: Card + Send>(
        &self,
        card: &mut C,
    ) -> Result<(u16, serde_json::Value), LinkError> {
        let mut last = None;
        for _ in 0..2 {
            let mut guard = self.connection().await?;
            let Some(conn) = guard.as_mut() else { break };
            match signed_post(conn, card, IdentityMethod::Pin, "/oqs/v1/patient/self").await {
                Ok(reply) => {
                    let v = serde_json::from_slice(&reply.body).map_err(|e| {
                        LinkError::Answer(format!("patient view: HTTP {}: {e}", reply.status))
                    })?;
                    return Ok((reply.status.as_u16(), v));
                }
                Err(LinkError::Unreachable(e)) => {
                    *guard = None;
                    last = Some(LinkError::Unreachable(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| LinkError::Unreachable("no connection".into())))
    }

    /// 初回登録 of the (unlocked) card.
    pub async fn card_register<C: Card + Send>(
        &self,
        card: &mut C,
    ) -> Result<Registration, LinkError> {
        let mut last = None;
        let mut reply = None;
        for _ in 0..2 {
            let mut guard = self.connection().await?;
            let Some(conn) = guard.as_mut() else { break };
            match signed_post(conn, card, IdentityMethod::Pin, "/oqs/v1/card/register").await {
                Ok(r) => {
                    reply = Some(r);
                    break;
                }
                Err(LinkError::Unreachable(e)) => {
                    *guard = None;
                    last = Some(LinkError::Unreachable(e));
                }
                Err(e) => return Err(e),
            }
        }
        let Some(reply) = reply else {
            return Err(last.unwrap_or_else(|| LinkError::Unreachable("no connection".into())));
        };
        let v: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|e| LinkError::Answer(format!("registration: HTTP {}: {e}", reply.status)))?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        if reply.status.is_success() && v.get("registered").and_then(|x| x.as_bool()) == Some(true)
        {
            Ok(Registration::Registered)
        } else {
            Ok(Registration::Refused {
                code: text("error_code"),
                message: text("error_message"),
            })
        }
    }
}

/// Nonce, signature by the card, then the signed body to `path` (check or registration).
/// Written out here rather than through `card_client::card_check`, whose future holds a
/// `&mut dyn Card` (not `Send`) and so cannot run inside an HTTP handler.
async fn signed_post<C: Card + Send>(
    conn: &mut Connection,
    card: &mut C,
    method: IdentityMethod,
    path: &str,
) -> Result<Reply, LinkError> {
    let nonce = card_client::nonce(conn).await.map_err(card_client_error)?;
    let body = card_client::signed_body(card, &nonce, method, &CardConsents::default(), None)
        .map_err(card_client_error)?;
    conn.post_with_accept(path, "application/json", "application/json", body)
        .await
        .map_err(client_error)
}
