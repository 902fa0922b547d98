//! The insurer API (`/insurer/v1/…`): insurers, identified by client certificates of the
//! insurer CA (CN = 保険者番号), register their members' qualifications.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /insurer/v1/registration` | one registration (JSON object); 200, or 422 when refused |
//! | `POST /insurer/v1/batch` | a file: `text/csv`, `application/xml` or a JSON array; 200 with one result per row |
//! | `GET /insurer/v1/notices?after=ID&limit=N` | this insurer's registration notices (CSV) |
//! | `GET /insurer/v1/suspended` | this insurer's registrations kept suspended (CSV) |
//!
//! A file is decided in chunks of [`CHUNK_ROWS`] rows, each chunk in one transaction
//! (see [`crate::insurer_plan`]); the answer is sent once every chunk is committed, so a
//! registration is visible to the next check as soon as the insurer has the answer.
//! File format: `docs/insurer.md`.

use crate::error::CheckError;
use crate::insurer_plan::{Chunk, Outcome, RowResult, plan};
use crate::insurer_rows::parse_row;
use crate::server::{AppState, log_refusal, read_body_limited};
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onshi_core::ids::InsurerNumber;
use onshi_store::insurer::{BatchLog, Hold, NoticeRow};
use onshi_wire::Limits;
use onshi_wire::insurer::BatchFormat;
use std::sync::Arc;

/// Rows decided per transaction: large enough that a batch costs few commits, small
/// enough that other insurers (and the SQLite admin connection) wait at most a fraction
/// of a second.
pub const CHUNK_ROWS: usize = 5_000;
/// Rows accepted in one file.
pub const MAX_ROWS: usize = 200_000;
/// Largest file accepted.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The answer to a registration file or request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub insurer: String,
    pub rows: usize,
    pub applied: usize,
    pub unchanged: usize,
    pub suspended: usize,
    pub refused: usize,
    pub results: Vec<RowResult>,
}

fn caller(peer: &Peer) -> Result<InsurerNumber, CheckError> {
    peer.insurer.clone().map_err(CheckError::NotInsurer)
}

fn json_error(err: &CheckError) -> Response {
    log_refusal("insurer request", err);
    let body = serde_json::json!({ "code": err.code(), "message": err.message_ja() });
    (
        err.status(),
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn format_of(headers: &HeaderMap) -> Result<BatchFormat, CheckError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ct.split(';').next().unwrap_or("").trim() {
        "text/csv" => Ok(BatchFormat::Csv),
        "application/xml" | "text/xml" => Ok(BatchFormat::Xml),
        "application/json" => Ok(BatchFormat::Json),
        other => Err(CheckError::UnsupportedMediaType(other.to_string())),
    }
}

/// Decodes, decides and writes a registration file; the engine behind both routes.
pub(crate) async fn register(
    state: &AppState,
    caller: &InsurerNumber,
    format: BatchFormat,
    bytes: &[u8],
    single: bool,
) -> Result<Report, CheckError> {
    let limits = Limits {
        max_bytes: MAX_BYTES,
        max_depth: 16,
    };
    let raw =
        onshi_wire::insurer::decode_batch(bytes, format, &limits).map_err(|e| match format {
            BatchFormat::Csv => CheckError::InsurerFile(e.to_string()),
            _ => CheckError::Wire(e),
        })?;
    if raw.is_empty() {
        return Err(CheckError::InsurerBatchEmpty);
    }
    if single && raw.len() != 1 {
        return Err(CheckError::InsurerSingleNotOne(raw.len()));
    }
    if raw.len() > MAX_ROWS {
        return Err(CheckError::InsurerBatchTooMany {
            count: raw.len(),
            max: MAX_ROWS,
        });
    }
    let mut parsed: Vec<_> = raw.iter().map(|r| (r.line, parse_row(r))).collect();
    drop(raw);
    let now = state.clock.now();
    let mut log = BatchLog {
        insurer_number: caller.digits().to_string(),
        format: match format {
            BatchFormat::Csv => "csv",
            BatchFormat::Xml => "xml",
            BatchFormat::Json => "json",
        }
        .into(),
        ..Default::default()
    };
    let mut results: Vec<RowResult> = Vec::with_capacity(parsed.len());
    while !parsed.is_empty() {
        let rest = parsed.split_off(parsed.len().min(CHUNK_ROWS));
        let rows = std::mem::replace(&mut parsed, rest);
        let last = parsed.is_empty();
        let chunk = Chunk {
            caller: caller.clone(),
            now,
            rows,
            log: last.then(|| log.clone()),
        };
        let reads = chunk.reads();
        let planned = state
            .store
            .insurer_batch(reads, move |snap| plan(chunk, snap))
            .await
            .map_err(|e| CheckError::Internal(e.to_string()))?;
        if !planned.caller_known {
            return Err(CheckError::UnknownInsurerCaller(caller.digits().into()));
        }
        for r in &planned.results {
            log.rows += 1;
            match r.outcome {
                Outcome::Applied => log.applied += 1,
                Outcome::Unchanged => log.unchanged += 1,
                Outcome::Suspended => log.suspended += 1,
                Outcome::Refused => log.refused += 1,
            }
        }
        results.extend(planned.results);
    }
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    Ok(Report {
        insurer: caller.digits().to_string(),
        rows: results.len(),
        applied: count(Outcome::Applied),
        unchanged: count(Outcome::Unchanged),
        suspended: count(Outcome::Suspended),
        refused: count(Outcome::Refused),
        results,
    })
}

fn json(status: StatusCode, report: &Report) -> Response {
    let body = serde_json::to_vec(report).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn handle(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    single: bool,
) -> Result<Response, CheckError> {
    let caller = caller(peer)?;
    let format = if single {
        BatchFormat::Json
    } else {
        format_of(headers)?
    };
    let bytes = read_body_limited(headers, body, MAX_BYTES).await?;
    let report = register(state, &caller, format, &bytes, single).await?;
    tracing::info!(
        insurer = %caller.digits(),
        rows = report.rows,
        applied = report.applied,
        unchanged = report.unchanged,
        suspended = report.suspended,
        refused = report.refused,
        "insurer registrations"
    );
    let status = if single && report.refused > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(json(status, &report))
}

pub(crate) async fn batch(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&state, &peer, &headers, body, false)
        .await
        .unwrap_or_else(|e| json_error(&e))
}

pub(crate) async fn single(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&state, &peer, &headers, body, true)
        .await
        .unwrap_or_else(|e| json_error(&e))
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct NoticeQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

fn csv_response(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    r
}

pub(crate) async fn notices(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let run = async {
        let caller = caller(&peer)?;
        let rows = state
            .store
            .registration_notices(
                q.after.unwrap_or(0),
                Some(caller.digits()),
                q.limit.unwrap_or(10_000).clamp(1, 100_000),
            )
            .await
            .map_err(|e| CheckError::Internal(e.to_string()))?;
        Ok::<_, CheckError>(csv_response(notices_csv(&rows)))
    };
    run.await.unwrap_or_else(|e| json_error(&e))
}

pub(crate) async fn suspended(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
) -> Response {
    let run = async {
        let caller = caller(&peer)?;
        let holds = state
            .store
            .suspended_registrations(Some(caller.digits()))
            .await
            .map_err(|e| CheckError::Internal(e.to_string()))?;
        Ok::<_, CheckError>(csv_response(suspended_csv(&holds, false)))
    };
    run.await.unwrap_or_else(|e| json_error(&e))
}

/// Registration notices as CSV (登録完了のお知らせ): one line per completed registration.
pub fn notices_csv(rows: &[NoticeRow]) -> String {
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|n| {
            vec![
                n.id.to_string(),
                n.created_at.to_wire(),
                n.kind.clone(),
                n.insurer_number.clone(),
                n.symbol.clone().unwrap_or_default(),
                n.number.clone(),
                n.branch.map(|b| format!("{b:02}")).unwrap_or_default(),
                n.qualification_date.to_wire(),
                n.person_id.to_string(),
                n.name.clone(),
                "保険者による資格情報の登録が完了しました。マイナ保険証で受診できます。".into(),
            ]
        })
        .collect();
    onshi_wire::insurer::encode_csv(
        &[
            "notice_id",
            "created_at",
            "kind",
            "insurer_number",
            "symbol",
            "number",
            "branch",
            "qualification_date",
            "person_id",
            "name",
            "message",
        ],
        &lines,
    )
}

/// Suspended registrations as CSV. Operators see the nearest registry person (to
/// investigate); insurers do not (it may be someone else).
pub fn suspended_csv(holds: &[Hold], with_candidate: bool) -> String {
    let lines: Vec<Vec<String>> = holds
        .iter()
        .map(|h| {
            let mut l = vec![
                h.received_at.to_wire(),
                h.insurer_number.clone(),
                h.symbol_norm.clone(),
                h.number_norm.clone(),
                h.branch.map(|b| format!("{b:02}")).unwrap_or_default(),
                h.birthdate.clone(),
                h.name.clone(),
                h.differences.clone(),
            ];
            if with_candidate {
                l.push(
                    h.candidate_person_id
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                );
                l.push(h.registration.clone());
            }
            l
        })
        .collect();
    let mut cols = vec![
        "received_at",
        "insurer_number",
        "symbol",
        "number",
        "branch",
        "birthdate",
        "name",
        "differences",
    ];
    if with_candidate {
        cols.push("nearest_person_id");
        cols.push("registration");
    }
    onshi_wire::insurer::encode_csv(&cols, &lines)
}
