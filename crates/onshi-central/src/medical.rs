//! Medical information for facilities (`/oqs/v1/medical/…`): the consented-patient list,
//! the drug, treatment, surgery and checkup views, disaster-time patient search, staff
//! login records and the patient's own access log.
//!
//! Every view goes the same way: the facility is the client certificate's; the staff
//! account comes from the terminal in `x-onshi-account`; [`authorize`] applies the rule of
//! `onshi_core::medical::decide_access` to the facility's consents that are valid now and
//! to the disaster declarations covering the facility now; the outcome — allowed (with its
//! basis) or refused (with the code) — is appended to the audit chain, and only once that
//! row is committed is the information sent. The rendering is pure (`*_view` functions).

use crate::card::{cards, enabled_facility, facility_of, read_body};
use crate::error::CheckError;
use crate::server::AppState;
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onshi_core::codes::Sex;
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::medical::{
    Basis, ConsentWindow, FacilityLocation, InfoKind, Refusal, checkup_item, decide_access,
};
use onshi_core::model::Person;
use onshi_store::{AuditEntry, CheckupRecord, DiagnosisRecord, DrugRecord, ProcedureRecord, Store};
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The header in which the terminal names the logged-in staff account.
pub const ACCOUNT_HEADER: &str = "x-onshi-account";

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// Adds `server-timing: app;dur=MS` (time spent in the handler, audit commit included), which
/// `onshi bench --scenario medical` reads.
fn timed(mut r: Response, started: std::time::Instant) -> Response {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = format!("app;dur={ms:.3}").parse() {
        r.headers_mut().insert("server-timing", v);
    }
    r
}

pub(crate) fn error_response(err: &CheckError) -> Response {
    crate::server::log_refusal("medical information", err);
    json_response(
        err.status(),
        json!({ "error_code": err.code(), "error_message": err.message_ja() }),
    )
}

fn internal(e: impl std::fmt::Display) -> CheckError {
    CheckError::Internal(e.to_string())
}

/// The staff account named by the terminal.
pub(crate) fn account(headers: &HeaderMap) -> Result<String, CheckError> {
    let v = headers
        .get(ACCOUNT_HEADER)
        .ok_or_else(|| CheckError::MedicalAccount("missing".into()))?
        .to_str()
        .map_err(|_| CheckError::MedicalAccount("not text".into()))?
        .trim();
    if v.is_empty() || v.len() > 64 || v.chars().any(char::is_control) {
        return Err(CheckError::MedicalAccount(format!("{v:?}")));
    }
    Ok(v.to_string())
}

/// The calling facility, registered and enabled.
async fn caller(
    state: &AppState,
    peer: &Peer,
    now: JstDateTime,
) -> Result<MedicalInstitutionCode, CheckError> {
    let facility = facility_of(peer)?;
    enabled_facility(state, &facility, now).await?;
    Ok(facility)
}

/// Whether a declared disaster covers the facility at `now`.
pub(crate) async fn disaster_covers(
    store: &Store,
    facility: &MedicalInstitutionCode,
    now: JstDateTime,
) -> Result<bool, CheckError> {
    let active = store.active_disasters(now).await.map_err(internal)?;
    if active.is_empty() {
        return Ok(false);
    }
    let municipality = store
        .facility_municipality(facility)
        .await
        .map_err(internal)?;
    let loc = FacilityLocation::of_code(facility, municipality);
    Ok(active.iter().any(|d| d.covers(&loc, now)))
}

/// May `facility` see `kind` of `person_id` at `now`, and on what basis.
pub(crate) async fn authorize(
    store: &Store,
    facility: &MedicalInstitutionCode,
    person_id: i64,
    kind: InfoKind,
    now: JstDateTime,
) -> Result<Basis, CheckError> {
    let consents = store
        .valid_consents(facility, person_id, now)
        .await
        .map_err(internal)?;
    let windows: Vec<ConsentWindow> = consents
        .into_iter()
        .map(|c| ConsentWindow {
            consented_at: c.consented_at,
            available_until: c.available_until,
            information: c.information,
        })
        .collect();
    let disaster = if windows.iter().any(|w| w.opens(kind, now)) {
        false
    } else {
        disaster_covers(store, facility, now).await?
    };
    decide_access(kind, &windows, disaster, now).map_err(|r| match r {
        Refusal::NoConsent => CheckError::MedicalNoConsent(kind.label_ja()),
        Refusal::NotInDisaster => CheckError::MedicalNotInDisaster(kind.label_ja()),
    })
}

pub(crate) fn view_entry(
    facility: &MedicalInstitutionCode,
    account: &str,
    person_id: Option<i64>,
    kind: &str,
    information: &str,
    now: JstDateTime,
) -> AuditEntry {
    AuditEntry {
        at: now,
        facility_code: facility.as_str().to_string(),
        account: account.to_string(),
        person_id,
        kind: kind.to_string(),
        information: information.to_string(),
        basis: String::new(),
        outcome: String::new(),
        detail: String::new(),
    }
}

/// Records a refusal; a refusal is answered even if its record fails (nothing is shown).
pub(crate) async fn record_refusal(store: &Store, mut entry: AuditEntry, err: &CheckError) {
    entry.outcome = "refused".into();
    entry.detail = err.code().to_string();
    if let Err(e) = store.record_audit(entry).await {
        tracing::error!(error = %e, "audit of a refusal failed");
    }
}

pub(crate) async fn record_allowed(
    store: &Store,
    mut entry: AuditEntry,
    basis: Basis,
) -> Result<i64, CheckError> {
    entry.outcome = "allowed".into();
    entry.basis = basis.code().to_string();
    store
        .record_audit(entry)
        .await
        .map_err(|e| CheckError::AuditUnavailable(e.to_string()))
}

pub(crate) fn person_json(p: &Person, today: Ymd) -> Value {
    json!({
        "person_id": p.id,
        "name": p.name,
        "name_kana": p.name_kana,
        "birthdate": p.birthdate.to_wire(),
        "birthdate_wareki": p.birthdate.to_wareki(),
        "age": p.birthdate.legal_age_on(today),
        "sex": p.sex.code(),
        "sex_label": p.sex.label(),
    })
}

// ---------------------------------------------------------------------------------------
// 同意済み患者一覧

/// People on one page of the consented-patient list when the caller does not say.
pub const PATIENT_PAGE: usize = 100;
/// The most a caller may ask for in one page.
pub const MAX_PATIENT_PAGE: usize = 500;

#[derive(serde::Deserialize)]
pub(crate) struct PatientsQuery {
    /// The previous page's `next`.
    before: Option<String>,
    limit: Option<i64>,
}

/// `GET /oqs/v1/medical/patients[?before=CURSOR][&limit=N]`: one page of the facility's
/// patients with a consent valid now, newest consent first, with the medical information
/// types their consents cover; `next` is the cursor of the following page (absent on the
/// last). A page is bounded (100 people unless `limit`, at most 500) so that a large
/// hospital's list costs the same per page as a small clinic's.
pub(crate) async fn patients(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    Query(q): Query<PatientsQuery>,
) -> Response {
    let started = std::time::Instant::now();
    let now = state.clock.now();
    let r = match list_patients(&state, &peer, &headers, &q, now).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    };
    timed(r, started)
}

/// Parses a page cursor: `{consented_at in Unix microseconds}.{check_request_id}`.
fn parse_patient_cursor(s: &str) -> Option<(JstDateTime, String)> {
    let (micros, id) = s.split_once('.')?;
    let micros: i64 = micros.parse().ok()?;
    Some((JstDateTime::from_unix_micros(micros), id.to_string()))
}

/// The cursor after a page: the newest consent of its last person (rows come grouped by
/// person in page order, each person's newest consent first), when more people follow.
fn next_patient_cursor(rows: &[onshi_store::ConsentedRow], more: bool) -> Option<String> {
    let mut last: Option<&onshi_store::ConsentedRow> = None;
    for r in rows {
        if last.is_none_or(|l| l.person.id != r.person.id) {
            last = Some(r);
        }
    }
    let last = last.filter(|_| more)?;
    Some(format!(
        "{}.{}",
        last.consent.consented_at.unix_micros(),
        last.consent.check_request_id
    ))
}

async fn list_patients(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    q: &PatientsQuery,
    now: JstDateTime,
) -> Result<Value, CheckError> {
    let facility = caller(state, peer, now).await?;
    account(headers)?;
    let limit = match q.limit {
        None => PATIENT_PAGE,
        Some(n) => usize::try_from(n).unwrap_or(0),
    };
    if !(1..=MAX_PATIENT_PAGE).contains(&limit) {
        return Err(CheckError::MedicalRequest(format!(
            "limit は1から{MAX_PATIENT_PAGE}までで指定してください"
        )));
    }
    let before = match q.before.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_patient_cursor(c).ok_or_else(|| {
            CheckError::MedicalRequest("before（ページの続き）の形式が正しくありません".into())
        })?),
    };
    let (rows, more) = state
        .store
        .consented(&facility, now, before, limit)
        .await
        .map_err(internal)?;
    let next = next_patient_cursor(&rows, more);
    let disaster = disaster_covers(&state.store, &facility, now).await?;
    let mut v = consented_view(rows, now, disaster);
    if let Some(next) = next {
        v["next"] = json!(next);
    }
    Ok(v)
}

/// Merges a facility's valid consents per patient (rows come newest first).
pub fn consented_view(
    rows: Vec<onshi_store::ConsentedRow>,
    now: JstDateTime,
    disaster: bool,
) -> Value {
    let mut order: Vec<i64> = Vec::new();
    let mut by_person: std::collections::HashMap<
        i64,
        (Person, JstDateTime, JstDateTime, Vec<&'static str>),
    > = Default::default();
    for r in rows {
        let kinds: Vec<&'static str> = InfoKind::ALL
            .into_iter()
            .filter(|k| r.consent.information.iter().any(|c| c == k.code()))
            .map(InfoKind::code)
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let e = by_person.entry(r.person.id).or_insert_with(|| {
            order.push(r.person.id);
            (
                r.person.clone(),
                r.consent.consented_at,
                r.consent.available_until,
                Vec::new(),
            )
        });
        if r.consent.available_until > e.2 {
            e.2 = r.consent.available_until;
        }
        for k in kinds {
            if !e.3.contains(&k) {
                e.3.push(k);
            }
        }
    }
    let today = now.date();
    let patients: Vec<Value> = order
        .iter()
        .filter_map(|id| by_person.get(id))
        .map(|(p, consented_at, until, kinds)| {
            let mut v = person_json(p, today);
            v["consented_at"] = json!(consented_at.to_wire());
            v["available_until"] = json!(until.to_wire());
            let mut sorted: Vec<&str> = InfoKind::ALL
                .into_iter()
                .map(InfoKind::code)
                .filter(|c| kinds.contains(c))
                .collect();
            sorted.dedup();
            v["information"] = json!(sorted);
            v
        })
        .collect();
    json!({ "now": now.to_wire(), "disaster": disaster, "patients": patients })
}

// ---------------------------------------------------------------------------------------
// Views

#[derive(serde::Deserialize)]
pub(crate) struct PersonQuery {
    person: Option<String>,
}

/// `GET /oqs/v1/medical/{drug|treatment|surgery|checkup}?person=ID`.
pub(crate) async fn view(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    Path(segment): Path<String>,
    Query(q): Query<PersonQuery>,
    headers: HeaderMap,
) -> Response {
    let started = std::time::Instant::now();
    let now = state.clock.now();
    let r = match view_inner(&state, &peer, &segment, q, &headers, now).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    };
    timed(r, started)
}

async fn view_inner(
    state: &AppState,
    peer: &Peer,
    segment: &str,
    q: PersonQuery,
    headers: &HeaderMap,
    now: JstDateTime,
) -> Result<Value, CheckError> {
    let facility = caller(state, peer, now).await?;
    let account = account(headers)?;
    let kind = InfoKind::from_segment(segment)
        .ok_or_else(|| CheckError::MedicalRequest(format!("unknown information {segment:?}")))?;
    let person_id: i64 = q
        .person
        .as_deref()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| CheckError::MedicalRequest("person".into()))?;
    let entry = view_entry(
        &facility,
        &account,
        Some(person_id),
        "view",
        kind.code(),
        now,
    );
    let basis = match authorize(&state.store, &facility, person_id, kind, now).await {
        Ok(b) => b,
        Err(e) => {
            record_refusal(&state.store, entry, &e).await;
            return Err(e);
        }
    };
    let Some(person) = state.store.person(person_id).await.map_err(internal)? else {
        let e = CheckError::PatientNotFound;
        record_refusal(&state.store, entry, &e).await;
        return Err(e);
    };
    let body = render_kind(&state.store, &facility, &person, kind, basis, now).await?;
    record_allowed(&state.store, entry, basis).await?;
    Ok(body)
}

/// Reads and renders one information type of one person (access already decided).
pub(crate) async fn render_kind(
    store: &Store,
    facility: &MedicalInstitutionCode,
    person: &Person,
    kind: InfoKind,
    basis: Basis,
    now: JstDateTime,
) -> Result<Value, CheckError> {
    let today = now.date();
    let since = kind.horizon_start(today);
    let mut body = match kind {
        InfoKind::Drug => drug_view(
            &store.drugs(person.id, since).await.map_err(internal)?,
            facility.as_str(),
        ),
        InfoKind::Treatment => treatment_view(
            &store
                .procedures(person.id, since, "treatment")
                .await
                .map_err(internal)?,
        ),
        InfoKind::Surgery => surgery_view(
            &store
                .procedures(person.id, since, "surgery")
                .await
                .map_err(internal)?,
            &store.diagnoses(person.id, since).await.map_err(internal)?,
        ),
        InfoKind::Checkup => checkup_view(
            &store.checkups(person.id, since).await.map_err(internal)?,
            person.sex,
        ),
    };
    body["information"] = json!(kind.code());
    body["information_label"] = json!(kind.label_ja());
    body["basis"] = json!(basis.code());
    body["patient"] = person_json(person, today);
    body["from"] = json!(since.to_wire());
    body["now"] = json!(now.to_wire());
    Ok(body)
}

fn month_label(m: &str) -> String {
    match (m.get(..4), m.get(4..6)) {
        (Some(y), Some(mm)) => format!("{y}年{}月", mm.trim_start_matches('0')),
        _ => m.to_string(),
    }
}

/// Dispensings of one month: (day, facility, prescriber) → lines.
type DispensingGroups<'a> = BTreeMap<(Reverse<String>, String, String), Vec<&'a DrugRecord>>;

/// 薬剤情報: per dispensing month (newest first), per dispensing (facility and day), the
/// drugs. `own` marks prescriptions and dispensings of the viewing facility (PrIsOrg).
pub fn drug_view(records: &[DrugRecord], viewer: &str) -> Value {
    // month → (day, facility, prescriber) → drugs, newest first.
    let mut months: BTreeMap<Reverse<String>, DispensingGroups<'_>> = BTreeMap::new();
    for r in records {
        let month = format!(
            "{:04}{:02}",
            r.line.dispensed_on.year(),
            r.line.dispensed_on.month()
        );
        months
            .entry(Reverse(month))
            .or_default()
            .entry((
                Reverse(r.line.dispensed_on.to_wire()),
                r.claim.facility_code.clone(),
                r.claim.prescriber_code.clone().unwrap_or_default(),
            ))
            .or_default()
            .push(r);
    }
    let months: Vec<Value> = months
        .into_iter()
        .map(|(Reverse(month), groups)| {
            let dispensings: Vec<Value> = groups
                .into_values()
                .map(|lines| {
                    let first = lines[0];
                    let c = &first.claim;
                    let prescriber = c.prescriber_code.clone().unwrap_or_else(|| c.facility_code.clone());
                    json!({
                        "dispensed_on": first.line.dispensed_on.to_wire(),
                        "prescribed_on": first.line.prescribed_on.to_wire(),
                        "facility_code": c.facility_code,
                        "facility_name": c.facility_name,
                        "prescriber_code": prescriber,
                        "prescriber_name": c.prescriber_name.clone().unwrap_or_else(|| c.facility_name.clone()),
                        "dispensing_kind": if c.kind == "4" { "調剤" } else { "院内" },
                        "in_out": c.in_out,
                        "own": prescriber == viewer || c.facility_code == viewer,
                        "drugs": lines.iter().map(|l| json!({
                            "code": l.line.drug_code,
                            "name": l.line.drug_name,
                            "ingredient": l.line.ingredient,
                            "quantity": l.line.quantity,
                            "unit": l.line.unit,
                            "usage": l.line.usage,
                            "days": l.line.days,
                            "class": l.line.class,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({ "month": month, "month_label": month_label(&month), "dispensings": dispensings })
        })
        .collect();
    json!({ "months": months })
}

fn procedures_by_visit(records: &[ProcedureRecord]) -> Vec<Value> {
    let mut visits: BTreeMap<(Reverse<String>, String), Vec<&ProcedureRecord>> = BTreeMap::new();
    for r in records {
        visits
            .entry((
                Reverse(r.line.performed_on.to_wire()),
                r.claim.facility_code.clone(),
            ))
            .or_default()
            .push(r);
    }
    visits
        .into_values()
        .map(|lines| {
            let first = lines[0];
            json!({
                "performed_on": first.line.performed_on.to_wire(),
                "month": first.claim.month,
                "facility_code": first.claim.facility_code,
                "facility_name": first.claim.facility_name,
                "in_out": first.claim.in_out,
                "procedures": lines.iter().map(|l| json!({
                    "code": l.line.code, "name": l.line.name, "times": l.line.times,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// 診療情報: 診療行為 per visit, newest first.
pub fn treatment_view(records: &[ProcedureRecord]) -> Value {
    json!({ "visits": procedures_by_visit(records) })
}

/// 手術情報: operations per day and the diagnoses (傷病名) of the claims in the horizon,
/// one entry per diagnosis and facility with the months it was claimed.
pub fn surgery_view(surgeries: &[ProcedureRecord], diagnoses: &[DiagnosisRecord]) -> Value {
    let mut seen: BTreeMap<(String, String), (Value, Vec<String>)> = BTreeMap::new();
    for d in diagnoses {
        let key = (d.diagnosis.code.clone(), d.claim.facility_code.clone());
        let e = seen.entry(key).or_insert_with(|| {
            (
                json!({
                    "code": d.diagnosis.code,
                    "name": d.diagnosis.name,
                    "started_on": d.diagnosis.started_on.to_wire(),
                    "outcome": d.diagnosis.outcome,
                    "facility_code": d.claim.facility_code,
                    "facility_name": d.claim.facility_name,
                }),
                Vec::new(),
            )
        });
        if !e.1.contains(&d.claim.month) {
            e.1.push(d.claim.month.clone());
        }
    }
    let mut diag: Vec<Value> = seen
        .into_values()
        .map(|(mut v, mut months)| {
            months.sort();
            v["last_month"] = json!(months.last());
            v["months"] = json!(months);
            v
        })
        .collect();
    diag.sort_by(|a, b| b["last_month"].as_str().cmp(&a["last_month"].as_str()));
    json!({ "surgeries": procedures_by_visit(surgeries), "diagnoses": diag })
}

/// Items plotted as trends on the checkup screen.
pub const TREND_ITEMS: &[&str] = &[
    "3D046000001906202",
    "9A751000000000001",
    "9A761000000000001",
    "9N011000000000001",
    "3F077000002327101",
];

/// 特定健診情報: one entry per checkup (newest first) with every item's code, name, value,
/// unit, range and judgement, and the series of the trend items (oldest first).
pub fn checkup_view(records: &[CheckupRecord], sex: Sex) -> Value {
    let checkups: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut items: Vec<(usize, Value)> = r
                .values
                .iter()
                .map(|v| match checkup_item(&v.item_code) {
                    Some(def) => (
                        onshi_core::medical::CHECKUP_ITEMS
                            .iter()
                            .position(|d| d.code == def.code)
                            .unwrap_or(usize::MAX),
                        json!({
                            "code": v.item_code,
                            "name": def.name,
                            "data_type": def.value_type.code(),
                            "value": v.value,
                            "value_label": def.value_label(&v.value),
                            "unit": def.unit,
                            "low": def.low,
                            "high": def.high_for(sex),
                            "judgement": def.judge(&v.value, sex).code(),
                        }),
                    ),
                    None => (
                        usize::MAX,
                        json!({ "code": v.item_code, "name": "", "value": v.value, "unit": "" }),
                    ),
                })
                .collect();
            items.sort_by_key(|(i, _)| *i);
            json!({
                "examined_on": r.checkup.examined_on.to_wire(),
                "year": r.checkup.examined_on.year(),
                "facility_code": r.checkup.facility_code,
                "facility_name": r.checkup.facility_name,
                "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            })
        })
        .collect();
    let trends: Vec<Value> = TREND_ITEMS
        .iter()
        .filter_map(|code| checkup_item(code))
        .map(|def| {
            let points: Vec<Value> = records
                .iter()
                .rev()
                .filter_map(|r| {
                    r.values.iter().find(|v| v.item_code == def.code).and_then(|v| {
                        v.value.parse::<f64>().ok().map(|x| {
                            json!({ "examined_on": r.checkup.examined_on.to_wire(), "value": x })
                        })
                    })
                })
                .collect();
            json!({ "code": def.code, "name": def.name, "unit": def.unit, "high": def.high_for(sex), "points": points })
        })
        .collect();
    json!({ "checkups": checkups, "trends": trends })
}

// ---------------------------------------------------------------------------------------
// Disaster-time search

#[derive(serde::Deserialize, Default)]
struct SearchRequest {
    name: Option<String>,
    birthdate: Option<String>,
    sex: Option<String>,
    address: Option<String>,
    insurer_number: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
}

/// `GET /oqs/v1/medical/disaster`: whether a declaration covers the facility now.
pub(crate) async fn disaster_status(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = caller(&state, &peer, now).await?;
        let covered = disaster_covers(&state.store, &facility, now).await?;
        let declarations: Vec<Value> = state
            .store
            .active_disasters(now)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|d| json!({ "id": d.id, "name": d.name, "ends_at": d.ends_at.to_wire() }))
            .collect();
        Ok::<_, CheckError>(json!({ "covered": covered, "active": declarations }))
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    }
}

/// `POST /oqs/v1/medical/disaster/search`: only while a declaration covers the facility;
/// by 氏名 (or カナ) + 生年月日 + 性別 (+ 住所), or by 保険者番号・記号・番号(・枝番).
pub(crate) async fn disaster_search(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let now = state.clock.now();
    match search_inner(&state, &peer, &headers, body, now).await {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    }
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}')
        .collect()
}

async fn search_inner(
    state: &AppState,
    peer: &Peer,
    headers: &HeaderMap,
    body: Body,
    now: JstDateTime,
) -> Result<Value, CheckError> {
    let facility = caller(state, peer, now).await?;
    let account = account(headers)?;
    let bytes = read_body(state, body).await?;
    let req: SearchRequest =
        serde_json::from_slice(&bytes).map_err(|e| CheckError::MedicalRequest(e.to_string()))?;
    let mut entry = view_entry(&facility, &account, None, "search", "", now);
    let by_card = req.insurer_number.is_some();
    entry.detail = if by_card { "by=card" } else { "by=name" }.into();
    if !disaster_covers(&state.store, &facility, now).await? {
        let e = CheckError::DisasterNotDeclared;
        record_refusal(&state.store, entry, &e).await;
        return Err(e);
    }
    let found = if by_card {
        search_by_card(&state.store, &req).await?
    } else {
        search_by_name(&state.store, &req).await?
    };
    entry.detail = format!("{} results={}", entry.detail, found.len());
    record_allowed(&state.store, entry, Basis::Disaster).await?;
    let today = now.date();
    let list: Vec<Value> = found
        .iter()
        .map(|p| {
            let mut v = person_json(p, today);
            v["address"] = json!(p.address);
            v
        })
        .collect();
    Ok(json!({ "basis": "disaster", "patients": list }))
}

async fn search_by_name(store: &Store, req: &SearchRequest) -> Result<Vec<Person>, CheckError> {
    let name = req
        .name
        .as_deref()
        .map(squash)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CheckError::MedicalRequest("name".into()))?;
    let birth = req
        .birthdate
        .as_deref()
        .and_then(|b| Ymd::parse(b.trim()).ok())
        .ok_or_else(|| CheckError::MedicalRequest("birthdate".into()))?;
    let sex = req
        .sex
        .as_deref()
        .and_then(|s| Sex::from_code(s.trim()).ok())
        .ok_or_else(|| CheckError::MedicalRequest("sex".into()))?;
    let kana = squash(&onshi_core::text::to_halfwidth_kana(&name));
    let address = req.address.as_deref().map(squash).filter(|a| !a.is_empty());
    let candidates = store.persons_by_birth(birth, sex).await.map_err(internal)?;
    Ok(candidates
        .into_iter()
        .filter(|p| squash(&p.name) == name || squash(&p.name_kana) == kana)
        .filter(|p| {
            address
                .as_deref()
                .is_none_or(|a| squash(&p.address).contains(a))
        })
        .collect())
}

async fn search_by_card(store: &Store, req: &SearchRequest) -> Result<Vec<Person>, CheckError> {
    let insurer =
        onshi_core::ids::InsurerNumber::parse(req.insurer_number.as_deref().unwrap_or(""))
            .map_err(|e| CheckError::MedicalRequest(e.to_string()))?;
    let number = req.number.as_deref().unwrap_or("").trim();
    if number.is_empty() {
        return Err(CheckError::MedicalRequest("number".into()));
    }
    let branch = match req
        .branch
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        Some(b) => Some(
            b.parse::<u8>()
                .map_err(|_| CheckError::MedicalRequest("branch".into()))?,
        ),
        None => None,
    };
    let holders = store
        .holders(&onshi_store::HolderQuery {
            insurer_number: insurer.digits().to_string(),
            symbol_norm: onshi_core::text::normalize_card_text(req.symbol.as_deref().unwrap_or("")),
            number_norm: onshi_core::text::normalize_card_text(number),
            branch,
        })
        .await
        .map_err(internal)?;
    let mut out: Vec<Person> = Vec::new();
    for h in holders {
        if out.iter().any(|p| p.id == h.person_id) {
            continue;
        }
        if let Some(p) = store.person(h.person_id).await.map_err(internal)? {
            out.push(p);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Staff logins and the patient's access log

#[derive(serde::Deserialize)]
struct LoginRecord {
    account: String,
    /// `ok` or `failed`.
    outcome: String,
    #[serde(default)]
    detail: String,
}

/// `POST /oqs/v1/audit/login`: the terminal reports every staff login attempt.
pub(crate) async fn login(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = caller(&state, &peer, now).await?;
        let bytes = read_body(&state, body).await?;
        let req: LoginRecord = serde_json::from_slice(&bytes)
            .map_err(|e| CheckError::MedicalRequest(e.to_string()))?;
        let mut h = HeaderMap::new();
        if let Ok(v) = req.account.parse() {
            h.insert(ACCOUNT_HEADER, v);
        }
        let account = account(&h)?;
        if req.outcome != "ok" && req.outcome != "failed" {
            return Err(CheckError::MedicalRequest("outcome".into()));
        }
        let mut entry = view_entry(&facility, &account, None, "login", "", now);
        entry.outcome = req.outcome;
        entry.detail = req.detail.chars().take(200).collect();
        let seq = state
            .store
            .record_audit(entry)
            .await
            .map_err(|e| CheckError::AuditUnavailable(e.to_string()))?;
        Ok::<_, CheckError>(json!({ "seq": seq }))
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    }
}

#[derive(serde::Deserialize)]
struct PatientRequest {
    consent_token: String,
}

/// `POST /oqs/v1/patient/access-log`: after a card check, the patient sees who viewed
/// their information and when. The check's consent token proves the patient is at the
/// reader (it names the person and this facility and lasts 10 minutes).
pub(crate) async fn access_log(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let r = async {
        let facility = caller(&state, &peer, now).await?;
        let bytes = read_body(&state, body).await?;
        let req: PatientRequest = serde_json::from_slice(&bytes)
            .map_err(|e| CheckError::MedicalRequest(e.to_string()))?;
        let ticket = cards(&state)?.open_consent_token(&req.consent_token, &facility, now)?;
        let list = access_views(&state.store, ticket.person_id).await?;
        Ok::<_, CheckError>(json!({ "person_id": ticket.person_id, "views": list }))
    }
    .await;
    match r {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => error_response(&e),
    }
}

/// The patient's 閲覧履歴: the allowed views of their information, newest first (at most
/// 500), with the facility's name.
pub(crate) async fn access_views(store: &Store, person_id: i64) -> Result<Vec<Value>, CheckError> {
    let rows = store
        .audit_of_person(person_id, 500)
        .await
        .map_err(internal)?;
    let mut names: std::collections::HashMap<String, String> = Default::default();
    let mut list = Vec::new();
    for r in rows.into_iter().filter(|r| r.entry.outcome == "allowed") {
        let e = r.entry;
        if !names.contains_key(&e.facility_code) {
            let name = match MedicalInstitutionCode::parse(&e.facility_code) {
                Ok(code) => store
                    .facility(&code)
                    .await
                    .map_err(internal)?
                    .map(|f| f.name)
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
            names.insert(e.facility_code.clone(), name);
        }
        list.push(json!({
            "at": e.at.to_wire(),
            "facility_code": e.facility_code,
            "facility_name": names.get(&e.facility_code),
            "information": e.information,
            "information_label": InfoKind::from_code(&e.information).map(InfoKind::label_ja),
            "basis": e.basis,
            "kind": e.kind,
        }));
    }
    Ok(list)
}
