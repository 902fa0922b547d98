//! The terminal's one way to central for messages of the file interface and the REST
//! form: a kept-alive mTLS connection (reconnected once when central closed it), and
//! for single checks the system-failure mode of [`crate::outage`]: remember every
//! answer, and while central is down answer provisionally and queue.

use crate::outage::{self, Outbox, QueuedKind};
use onshi_central::client::{CentralClient, Connection, Reply};
use onshi_core::Clock;
use onshi_wire::{Encoding, Limits, siquc01};
use std::sync::Arc;
use tokio::sync::Mutex;

/// A message the terminal forwards to central as it is (files and REST alike).
pub struct Forwarded {
    /// The message type, e.g. `OQSmuquc01` (files: `{message}req_*.xml`).
    pub message: &'static str,
    /// Central's endpoint.
    pub path: &'static str,
    /// Decodes the request as central would (so a bad file gets its `.err` at once).
    pub validate: fn(&[u8]) -> Result<(), onshi_wire::WireError>,
}

/// Bulk check (upload, results), 照会番号 registration and the medical-information
/// requests (薬剤情報 `YZKsiquc01`, 特定健診情報 `TKKsiquc01`: central decides on consent and
/// answers the result or the refusal). Nothing can answer them while central is down.
pub const FORWARDED: &[Forwarded] = &[
    Forwarded {
        message: "OQSmuquc01",
        path: "/oqs/v1/bulk",
        validate: |b| onshi_wire::muquc::UploadRequest::decode_xml(b, &Limits::bulk()).map(|_| ()),
    },
    Forwarded {
        message: "OQSmuquc02",
        path: "/oqs/v1/bulk/result",
        validate: |b| {
            onshi_wire::muquc::ResultRequest::decode_xml(b, &Limits::default()).map(|_| ())
        },
    },
    Forwarded {
        message: "OQSsiimm01",
        path: "/oqs/v1/reference-number",
        validate: |b| onshi_wire::siimm::Request::decode_xml(b, &Limits::default()).map(|_| ()),
    },
    Forwarded {
        message: "YZKsiquc01",
        path: "/oqs/v1/medical/file/YZKsiquc01",
        validate: |b| onshi_wire::medinfo::Request::decode_xml(b, &Limits::default()).map(|_| ()),
    },
    Forwarded {
        message: "TKKsiquc01",
        path: "/oqs/v1/medical/file/TKKsiquc01",
        validate: |b| onshi_wire::medinfo::Request::decode_xml(b, &Limits::default()).map(|_| ()),
    },
];

/// The forwarded message named `message`, if it is one.
pub fn forwarded(message: &str) -> Option<&'static Forwarded> {
    FORWARDED.iter().find(|f| f.message == message)
}

/// The answer to a single check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SingleAnswer {
    /// Central's answer (or its refusal), a complete message in the request's encoding.
    Central(Vec<u8>),
    /// Central is down: the last known qualification or 申立書 advice; the request is
    /// queued and its real result will be written to the queue target.
    Provisional(Vec<u8>),
    /// Central is down and there is no outbox: ask again later.
    Unreachable,
}

pub struct Relay {
    client: CentralClient,
    conn: Mutex<Option<Connection>>,
    outage: Option<(Arc<Outbox>, Arc<dyn Clock>)>,
}

impl Relay {
    pub fn new(client: CentralClient) -> Self {
        Relay {
            client,
            conn: Mutex::new(None),
            outage: None,
        }
    }

    /// Turns on the system-failure mode.
    pub fn with_outbox(mut self, outbox: Arc<Outbox>, clock: Arc<dyn Clock>) -> Self {
        self.outage = Some((outbox, clock));
        self
    }

    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.outage.as_ref().map(|(o, _)| o)
    }

    pub fn client(&self) -> &CentralClient {
        &self.client
    }

    /// Posts to central. `None` when central cannot be reached or cannot record the
    /// answer (503): the caller treats both as "central is down".
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        accept: &str,
        body: Vec<u8>,
    ) -> Option<Reply> {
        let mut conn = self.conn.lock().await;
        for _ in 0..2 {
            if conn.is_none() {
                *conn = self.client.connect().await.ok();
            }
            let c = conn.as_mut()?;
            match c
                .post_with_accept(path, content_type, accept, body.clone())
                .await
            {
                Ok(reply) if reply.status.as_u16() == 503 => return None,
                Ok(reply) => return Some(reply),
                // A kept-alive connection may have been closed by central: reconnect once.
                Err(_) => *conn = None,
            }
        }
        None
    }

    /// A single check (`OQSsiquc01req`, already decoded from `bytes`). `queue_target`
    /// names the file (under the file-interface root) for the real result if the check
    /// has to be queued.
    pub async fn single_check(
        &self,
        bytes: &[u8],
        request: &siquc01::Request,
        encoding: Encoding,
        queue_target: &str,
    ) -> Result<SingleAnswer, outage::OutageError> {
        let Some(reply) = self
            .post(
                "/oqs/v1/qualification",
                "application/xml",
                "application/xml",
                bytes.to_vec(),
            )
            .await
        else {
            let Some((outbox, clock)) = &self.outage else {
                return Ok(SingleAnswer::Unreachable);
            };
            let now = clock.now();
            let last = outbox.last_known(&outage::insurance_key(&request.search))?;
            // Queued before the answer exists: a stop in between loses nothing.
            outbox.enqueue(QueuedKind::FileCheck, bytes, queue_target, encoding, now)?;
            let answer = outage::provisional_answer(last, &request.header, now);
            return Ok(SingleAnswer::Provisional(siquc01::encode_response_xml(
                &answer, encoding,
            )));
        };
        let body = reply.body.to_vec();
        match siquc01::decode_response_xml(&body, &Limits::default()) {
            Ok((res, _)) => {
                if let Some((outbox, clock)) = &self.outage
                    && res.header.segment_of_result == "1"
                {
                    let key = outage::insurance_key(&request.search);
                    if let Err(e) = outbox.remember(&key, &res, clock.now()) {
                        tracing::warn!(error = %e, "could not remember the answer");
                    }
                }
                Ok(SingleAnswer::Central(body))
            }
            // Central's answer is always a message; if it is not, say so in one.
            Err(_) => {
                let mut res = siquc01::Response::refusal(
                    onshi_core::clock::SystemClock.now().to_wire(),
                    "ONS9002",
                    "中央システムの応答を読み取れませんでした。".into(),
                );
                res.header.arbitrary_file_identifier =
                    request.header.arbitrary_file_identifier.clone();
                Ok(SingleAnswer::Central(siquc01::encode_response_xml(
                    &res, encoding,
                )))
            }
        }
    }
}
