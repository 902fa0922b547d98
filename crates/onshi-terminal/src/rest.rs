//! The REST form of the file interface, for receipt computers that prefer HTTP to
//! shared folders: `POST /api/v1/{message}` with the same `XmlMsg` a request file would
//! hold, answered with the message the result file would hold.
//!
//! | path | body | answer |
//! | --- | --- | --- |
//! | `/api/v1/OQSsiquc01` | `OQSsiquc01req` (XML, UTF-8 or Shift_JIS; or its JSON form) | `OQSsiquc01res` in kind |
//! | `/api/v1/OQSmuquc01` | `OQSmuquc01req` | `OQSmuquc01res` (ReceptionNumber) |
//! | `/api/v1/OQSmuquc02` | `OQSmuquc02req` | `OQSmuquc02res` (SegmentOfResult 2 while processing) |
//! | `/api/v1/OQSsiimm01` | `OQSsiimm01req` | `OQSsiimm01res` |
//! | `/api/v1/YZKsiquc01` | `YZKsiquc01req` (FileCategory 2 or 4) | `YZKsiquc01res` (XML), or the refusal (`ResultCode` 2) |
//! | `/api/v1/TKKsiquc01` | `TKKsiquc01req` (FileCategory 2) | `TKKsiquc01res` (XML), or the refusal |
//!
//! Single checks go through the terminal's [`Relay`], so the system-failure mode applies:
//! a provisional answer carries `x-onshi-provisional: 1` and `x-onshi-reconciled`, the
//! file (under the file-interface root) where the real result will be written. Bulk and
//! reference-number messages need central (503 with a message while it is down). Bad
//! input gets HTTP 400 with an error message in the request's own format, with the code
//! and Japanese text central would give.

use crate::relay::{Relay, SingleAnswer};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use onshi_central::error::CheckError;
use onshi_core::Clock;
use onshi_wire::{Encoding, Limits, siquc01};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

struct RestState {
    relay: Arc<Relay>,
    sequence: AtomicU64,
}

/// The `/api/v1` routes; merge into the terminal's router.
pub fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route("/api/v1/{message}", post(message))
        .with_state(Arc::new(RestState {
            relay,
            sequence: AtomicU64::new(0),
        }))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

async fn message(
    State(state): State<Arc<RestState>>,
    Path(message): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if message == "OQSsiquc01" {
        return single(&state, &headers, &body).await;
    }
    let Some(forwarded) = crate::relay::forwarded(&message) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "ONS1010",
            format!(
                "{message} には対応していません（OQSsiquc01, OQSmuquc01, OQSmuquc02, OQSsiimm01, YZKsiquc01, TKKsiquc01）。"
            ),
            Format::Xml(Encoding::Utf8),
        );
    };
    match state
        .relay
        .post(
            forwarded.path,
            "application/xml",
            "application/xml",
            body.to_vec(),
        )
        .await
    {
        Some(reply) => {
            let mut res = (reply.status, reply.body).into_response();
            if let Some(ct) = reply.headers.get(header::CONTENT_TYPE) {
                res.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            res
        }
        None => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "ONS9100",
            "システム障害時モード：中央システムに接続できないため、この要求は処理できません。復旧後にもう一度送ってください。".into(),
            Format::Xml(Encoding::Utf8),
        ),
    }
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Xml(Encoding),
}

async fn single(state: &RestState, headers: &HeaderMap, body: &[u8]) -> Response {
    let limits = Limits::default();
    let decoded = if is_json(headers) {
        siquc01::decode_request_json(body, &limits).map(|r| (r, Format::Json))
    } else {
        siquc01::decode_request_xml(body, &limits).map(|(r, e)| (r, Format::Xml(e)))
    };
    let (request, format) = match decoded {
        Ok(d) => d,
        Err(e) => {
            let fmt = if is_json(headers) {
                Format::Json
            } else {
                Format::Xml(Encoding::Utf8)
            };
            let err = CheckError::from(e);
            return refusal(err.status(), err.code(), err.message_ja(), fmt);
        }
    };
    let encoding = match format {
        Format::Xml(e) => e,
        Format::Json => Encoding::Utf8,
    };
    let xml = match format {
        Format::Xml(_) => body.to_vec(),
        Format::Json => siquc01::encode_request_xml(&request, Encoding::Utf8),
    };
    let n = state.sequence.fetch_add(1, Ordering::Relaxed);
    let id = format!(
        "rest{}{:04}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
        n % 10_000
    );
    let target = format!("res/reconciled/OQSsiquc01res_{id}.xml");
    let answer = match state
        .relay
        .single_check(&xml, &request, encoding, &target)
        .await
    {
        Ok(a) => a,
        Err(e) => {
            let err = CheckError::Internal(e.to_string());
            return refusal(err.status(), err.code(), err.message_ja(), format);
        }
    };
    let (bytes, provisional) = match answer {
        SingleAnswer::Central(b) => (b, false),
        SingleAnswer::Provisional(b) => (b, true),
        SingleAnswer::Unreachable => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "ONS9100",
                "中央システムに接続できません。しばらくしてからもう一度送ってください。".into(),
                format,
            );
        }
    };
    let mut res = render(&bytes, format);
    if provisional {
        let h = res.headers_mut();
        h.insert("x-onshi-provisional", HeaderValue::from_static("1"));
        if let Ok(v) = HeaderValue::from_str(&target) {
            h.insert("x-onshi-reconciled", v);
        }
    }
    res
}

/// Central's XML answer, in the caller's format.
fn render(xml: &[u8], format: Format) -> Response {
    match format {
        Format::Xml(Encoding::ShiftJis) => (
            [(header::CONTENT_TYPE, "application/xml; charset=Shift_JIS")],
            xml.to_vec(),
        )
            .into_response(),
        Format::Xml(Encoding::Utf8) => (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            xml.to_vec(),
        )
            .into_response(),
        Format::Json => match siquc01::decode_response_xml(xml, &Limits::default()) {
            Ok((res, _)) => (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                siquc01::encode_response_json(&res),
            )
                .into_response(),
            Err(e) => {
                let err = CheckError::Internal(e.to_string());
                refusal(err.status(), err.code(), err.message_ja(), Format::Json)
            }
        },
    }
}

fn refusal(status: StatusCode, code: &str, message: String, format: Format) -> Response {
    let res = siquc01::Response::refusal(
        onshi_core::clock::SystemClock.now().to_wire(),
        code,
        message,
    );
    let mut out = match format {
        Format::Json => render(
            &siquc01::encode_response_xml(&res, Encoding::Utf8),
            Format::Json,
        ),
        Format::Xml(e) => render(&siquc01::encode_response_xml(&res, e), Format::Xml(e)),
    };
    *out.status_mut() = status;
    out
}
