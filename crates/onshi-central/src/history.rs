//! 資格確認履歴照会 for the facility's staff screens, and the facility's own settings
//! that central keeps (スマートフォンによる資格確認).
//!
//! - `GET /oqs/v1/history?from=YYYYMMDD&to=YYYYMMDD[&after=CURSOR][&limit=N]`: the calling
//!   facility's answers in the period (both days included, at most [`HORIZON_YEARS`]
//!   back, as the real terminal's FAQ says), newest first, [`PAGE`] rows a page; `next`
//!   is the cursor of the following page (absent on the last).
//! - `GET /oqs/v1/history/{id}`: one row with its qualification as central finds it for
//!   the row's 資格確認日 (the same result item a check answers).
//! - `GET /oqs/v1/facility/settings`, `POST` `{"smartphone_enabled": bool}`.
//!
//! The facility is always the client certificate's; rows of other facilities do not
//! exist for it (404, like an unknown id).

use crate::card::{enabled_facility, facility_of};
use crate::error::CheckError;
use crate::medical::account;
use crate::server::AppState;
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onshi_core::codes::{LimitConsentFlag, QualificationValidity, ReferenceClassification};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_store::{HistoryCursor, HistoryEntry};
use onshi_wire::siquc01;
use serde_json::{Value, json};
use std::sync::Arc;

/// How far back the history can be searched (years).
pub const HORIZON_YEARS: i32 = 2;
/// Rows per page unless the caller asks for fewer.
pub const PAGE: i64 = 100;

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn refusal(err: &CheckError) -> Response {
    crate::server::log_refusal("history", err);
    json_response(
        err.status(),
        json!({ "error_code": err.code(), "error_message": err.message_ja() }),
    )
}

fn internal(e: impl std::fmt::Display) -> CheckError {
    CheckError::Internal(e.to_string())
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// The period `[from 00:00, the day after to 00:00)`, checked against today.
pub fn period(from: Option<&str>, to: Option<&str>, today: Ymd) -> Result<(Ymd, Ymd), CheckError> {
    let day = |s: Option<&str>, what: &str| match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(today),
        Some(s) => Ymd::parse(s).map_err(|_| CheckError::HistoryRequest(format!("{what}={s}"))),
    };
    let from = day(from, "from")?;
    let to = day(to, "to")?;
    if from > to {
        return Err(CheckError::HistoryRequest("from > to".into()));
    }
    let earliest = today.add_months(-12 * HORIZON_YEARS);
    if from < earliest {
        return Err(CheckError::HistoryTooOld(earliest.to_wire()));
    }
    Ok((from, to))
}

fn parse_cursor(s: &str) -> Result<HistoryCursor, CheckError> {
    let bad = || CheckError::HistoryRequest(format!("after={s}"));
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    Ok(HistoryCursor {
        checked_at: JstDateTime::from_unix_micros(at.parse().map_err(|_| bad())?),
        id: id.parse().map_err(|_| bad())?,
    })
}

/// How the check was made, as the list shows it: card (face, PIN, 目視, smartphone),
/// insurance-card data (single or in a 一括照会, whose rows are `{受付番号}-{n}`).
pub fn method(e: &HistoryEntry) -> (&'static str, &'static str) {
    let r = &e.record;
    if r.reference_classification == ReferenceClassification::MyNumberCard.code() {
        if r.consents.as_deref() == Some("REGISTER") {
            return ("card_register", "マイナ保険証（利用登録）");
        }
        if r.card_profile
            .as_deref()
            .is_some_and(|p| p.starts_with("smartphone"))
        {
            return ("smartphone", "スマートフォン");
        }
        return match r.identity_method.as_deref() {
            Some("face") => ("card_face", "マイナ保険証（顔認証）"),
            Some("pin") => ("card_pin", "マイナ保険証（暗証番号）"),
            Some("visual") => ("card_visual", "マイナ保険証（目視）"),
            _ => ("card", "マイナ保険証"),
        };
    }
    let bulk = r
        .request_id
        .split_once('-')
        .is_some_and(|(rn, _)| rn.len() == 20 && rn.bytes().all(|b| b.is_ascii_digit()));
    if bulk {
        ("bulk", "一括照会")
    } else {
        ("insurance_card", "保険証等")
    }
}

fn entry_json(e: &HistoryEntry) -> Value {
    let r = &e.record;
    let (method, method_label) = method(e);
    let (state, state_label) = match (r.processing_status.as_str(), r.validity) {
        ("1", Some(v)) => (v.code().to_string(), v.label().to_string()),
        ("1", None) => ("".into(), "".into()),
        _ => ("error".into(), "エラー".into()),
    };
    json!({
        "id": e.id,
        "checked_at": r.checked_at.to_wire(),
        "confirmation_date": r.confirmation_date,
        "method": method,
        "method_label": method_label,
        "name": e.name,
        "name_kana": e.name_kana,
        "insurer_number": r.insurer_number,
        "symbol": r.symbol,
        "number": r.number,
        "branch": r.branch,
        "birthdate": r.birthdate,
        "state": state,
        "state_label": state_label,
        "error_code": r.error_code,
        "consents": r.consents,
        "card_consents": e.card_consents,
    })
}

/// `GET /oqs/v1/history`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = facility_of(&peer)?;
        enabled_facility(&state, &facility, now).await?;
        account(&headers)?;
        let (from, to) = period(q.from.as_deref(), q.to.as_deref(), now.date())?;
        let cursor = q.after.as_deref().map(parse_cursor).transpose()?;
        let limit = q.limit.unwrap_or(PAGE).clamp(1, PAGE);
        // One more than asked tells whether another page follows.
        let mut rows = state
            .store
            .history_page(
                &facility,
                JstDateTime::start_of_day(from),
                JstDateTime::start_of_day(to.add_days(1)),
                cursor,
                limit + 1,
            )
            .await
            .map_err(internal)?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = rows
            .last()
            .filter(|_| more)
            .map(|e| format!("{}.{}", e.record.checked_at.unix_micros(), e.id));
        Ok::<_, CheckError>(json!({
            "from": from.to_wire(),
            "to": to.to_wire(),
            "earliest": now.date().add_months(-12 * HORIZON_YEARS).to_wire(),
            "entries": rows.iter().map(entry_json).collect::<Vec<_>>(),
            "next": next,
        }))
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => refusal(&e),
    }
}

/// `GET /oqs/v1/history/{id}`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = facility_of(&peer)?;
        enabled_facility(&state, &facility, now).await?;
        account(&headers)?;
        let e = state
            .store
            .history_entry(&facility, id)
            .await
            .map_err(internal)?
            .ok_or(CheckError::HistoryEntryNotFound)?;
        let mut v = json!({ "entry": entry_json(&e) });
        let found = match (e.record.person_id, e.record.qualification_id) {
            (Some(p), Some(q)) => state
                .store
                .find_by_person(p)
                .await
                .map_err(internal)?
                .into_iter()
                .find(|r| r.qualification.id == q),
            _ => None,
        };
        if let Some(rec) = found {
            let on = e
                .record
                .confirmation_date
                .as_deref()
                .and_then(|d| Ymd::parse(d).ok())
                .unwrap_or_else(|| e.record.checked_at.date());
            let gnd = |c: &Option<String>| {
                c.as_deref()
                    .is_some_and(|c| c.split(',').any(|x| x.trim() == "GND"))
            };
            let limit = if gnd(&e.record.consents) || gnd(&e.card_consents) {
                LimitConsentFlag::Consented
            } else {
                LimitConsentFlag::NotConsented
            };
            let item = crate::engine::result_item(&rec, on, limit, e.record.checked_at);
            let res = siquc01::Response {
                header: siquc01::ResponseHeader {
                    process_execution_time: e.record.checked_at.to_wire(),
                    segment_of_result: "1".into(),
                    character_code_identifier: "0".into(),
                    ..Default::default()
                },
                body: siquc01::ResponseBody {
                    processing_result_status: "1".into(),
                    qualification_validity: e.record.validity.map(|v| v.code().to_string()),
                    results: vec![item],
                    ..Default::default()
                },
            };
            v["result"] =
                serde_json::from_slice(&siquc01::encode_response_json(&res)).map_err(internal)?;
        }
        if e.record.validity == Some(QualificationValidity::NotFound) {
            v["advice"] = json!("資格情報なし");
        }
        Ok::<_, CheckError>(v)
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => refusal(&e),
    }
}

#[derive(Debug, serde::Deserialize)]
struct SettingsChange {
    smartphone_enabled: Option<bool>,
}

/// `GET /oqs/v1/facility/settings`.
pub(crate) async fn settings(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = facility_of(&peer)?;
        let f = enabled_facility(&state, &facility, now).await?;
        Ok::<_, CheckError>(json!({
            "facility": f.code.as_str(),
            "name": f.name,
            "smartphone_enabled": f.smartphone_enabled,
        }))
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => refusal(&e),
    }
}

/// `POST /oqs/v1/facility/settings`: what the facility's 環境設定 may change at central.
pub(crate) async fn set_settings(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = facility_of(&peer)?;
        enabled_facility(&state, &facility, now).await?;
        let who = account(&headers)?;
        let bytes = crate::card::read_body(&state, body).await?;
        let change: SettingsChange = serde_json::from_slice(&bytes)
            .map_err(|e| CheckError::SettingsRequest(e.to_string()))?;
        if let Some(on) = change.smartphone_enabled {
            // Recorded in the audit chain first: no change goes unrecorded.
            state
                .store
                .record_audit(onshi_store::AuditEntry {
                    at: now,
                    facility_code: facility.as_str().to_string(),
                    account: who.clone(),
                    person_id: None,
                    kind: "setting".into(),
                    information: "smartphone_enabled".into(),
                    basis: String::new(),
                    outcome: "changed".into(),
                    detail: format!("smartphone_enabled={on}"),
                })
                .await
                .map_err(|e| CheckError::AuditUnavailable(e.to_string()))?;
            state
                .store
                .set_smartphone_enabled(&facility, on)
                .await
                .map_err(internal)?;
            tracing::info!(
                facility = facility.as_str(),
                account = who,
                smartphone_enabled = on,
                "facility setting changed"
            );
        }
        // Read back through the store (not the cache) and refresh the cache with it, so
        // the change holds for this process's next check at once.
        let f = state
            .store
            .facility(&facility)
            .await
            .map_err(internal)?
            .ok_or_else(|| CheckError::UnknownFacility(facility.as_str().into()))?;
        let v = json!({
            "facility": f.code.as_str(),
            "name": f.name,
            "smartphone_enabled": f.smartphone_enabled,
        });
        state.facilities.put(f, now);
        Ok::<_, CheckError>(v)
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => refusal(&e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn periods_are_checked_against_the_two_year_horizon() {
        let today = Ymd::parse("20261123").unwrap();
        assert_eq!(period(None, None, today).unwrap(), (today, today));
        let (f, t) = period(Some("20241123"), Some("20261123"), today).unwrap();
        assert_eq!(
            (f.to_wire(), t.to_wire()),
            ("20241123".into(), "20261123".into())
        );
        assert_eq!(
            period(Some("20241122"), None, today).unwrap_err().code(),
            "ONS6041"
        );
        assert_eq!(
            period(Some("20261124"), Some("20261123"), today)
                .unwrap_err()
                .code(),
            "ONS6040"
        );
        assert_eq!(
            period(Some("2026-13-01"), None, today).unwrap_err().code(),
            "ONS6040"
        );
        assert!(parse_cursor("1.2").is_ok());
        assert!(parse_cursor("x.2").is_err());
    }
}
