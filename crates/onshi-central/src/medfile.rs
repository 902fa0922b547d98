//! Medical information for receipt computers: `YZKsiquc01req` (薬剤情報, with 診療情報 for
//! FileCategory 3/4) and `TKKsiquc01req` (特定健診情報), `ons-interface.md` §7, at
//! `POST /oqs/v1/medical/file/{YZKsiquc01|TKKsiquc01}` (XML in, XML result out, in the
//! request's encoding). The terminal forwards the files of its file interface and its
//! REST form here.
//!
//! The access rule is the staff screens' ([`crate::medical::authorize`]): a consent this
//! facility obtained at its reader for the information type, in its 24-hour window, or a
//! declared disaster covering the facility (drug and checkup only). Every answer — data or
//! refusal — is an audit row (account `ONSRenkei`, the file interface's account), and data
//! is only sent once its row is committed.
//!
//! The patient is named by insurance data (保険者番号・記号・番号・枝番), which may match
//! several people over time (a reused number, family members without 枝番): only people for
//! whom this facility has access count, so the answer never tells a facility without
//! consent whether such a person exists. Several with access → refused, asking for the 枝番.
//!
//! Decisions:
//! - PDF (FileCategory 1 and 3) is refused with a clear result (`ONS6003`, ResultCode 2,
//!   as XML): onshi renders no PDF; receipt computers ask for 2 or 4.
//! - `MedicalTreatmentFlag` other than 1 (外来) is refused (`ONS6004`): onshi only keeps
//!   outpatient consents (24 hours); 訪問診療・オンライン診療・救急 windows are not modelled.
//! - 診療情報 in a FileCategory 4 answer needs its own consent (SRJ): without it the drugs
//!   are sent and `MessageContents` says the 診療情報 were left out.

use crate::card::{enabled_facility, facility_of, read_body};
use crate::error::CheckError;
use crate::medical::{authorize, record_allowed, record_refusal, view_entry};
use crate::server::AppState;
use crate::tls::Peer;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use onshi_core::date::JstDateTime;
use onshi_core::ids::{InsurerNumber, MedicalInstitutionCode};
use onshi_core::medical::{Basis, InfoKind, checkup_item};
use onshi_core::model::Person;
use onshi_store::{CheckupRecord, DrugRecord, ProcedureRecord, Store};
use onshi_wire::medinfo::{
    self, DiDateInf, DrugInf, HealthCheckupResultAndQuestionInfo, MeTrInf, MeTrMonthInf, QuaInf,
    QualificationsInfo, Request, SpecificHealthCheckupInfo, TkkResponse, TkkResponseHeader,
    YzkResponse, YzkResponseHeader,
};
use onshi_wire::{Encoding, Limits};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The account written in the audit for file-interface (and REST) requests: the
/// terminal's 連携 account.
pub const FILE_ACCOUNT: &str = "ONSRenkei";

/// The two messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMessage {
    Yzk,
    Tkk,
}

impl FileMessage {
    pub fn from_name(name: &str) -> Option<FileMessage> {
        match name {
            "YZKsiquc01" => Some(FileMessage::Yzk),
            "TKKsiquc01" => Some(FileMessage::Tkk),
            _ => None,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> CheckError {
    CheckError::Internal(e.to_string())
}

/// What the request asks for, checked.
struct Asked {
    facility: MedicalInstitutionCode,
    /// FileCategory 4: 診療情報 too.
    with_treatment: bool,
    months: (Option<String>, Option<String>),
}

fn month(v: &Option<String>, field: &str) -> Result<Option<String>, CheckError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(m) if m.len() == 6 && m.bytes().all(|b| b.is_ascii_digit()) => {
            let mm: u32 = m[4..].parse().unwrap_or(0);
            if (1..=12).contains(&mm) {
                Ok(Some(m.to_string()))
            } else {
                Err(CheckError::MedicalRequest(format!(
                    "{field} {m:?} (YYYYMM)"
                )))
            }
        }
        Some(m) => Err(CheckError::MedicalRequest(format!(
            "{field} {m:?} (YYYYMM)"
        ))),
    }
}

fn check_request(
    message: FileMessage,
    req: &Request,
    cert: &MedicalInstitutionCode,
) -> Result<Asked, CheckError> {
    let code = MedicalInstitutionCode::parse(req.header.medical_institution_code.trim())
        .map_err(|e| CheckError::invalid("ONS2006", "MedicalInstitutionCode", e))?;
    if &code != cert {
        return Err(CheckError::FacilityMismatch {
            request: code.as_str().into(),
            certificate: cert.as_str().into(),
        });
    }
    let category = req.body.file_category.trim();
    let with_treatment = match (message, category) {
        (FileMessage::Yzk, "2") | (FileMessage::Tkk, "2") => false,
        (FileMessage::Yzk, "4") => true,
        (FileMessage::Yzk, "1" | "3") | (FileMessage::Tkk, "1") => {
            return Err(CheckError::MedicalFileUnsupported(format!(
                "FileCategory {category}（PDF）"
            )));
        }
        _ => {
            return Err(CheckError::MedicalRequest(format!(
                "FileCategory {category:?}"
            )));
        }
    };
    match req
        .body
        .medical_treatment_flag
        .as_deref()
        .map(str::trim)
        .unwrap_or("1")
    {
        "1" => {}
        "2" | "3" | "4" => {
            return Err(CheckError::MedicalFileUnsupported(format!(
                "MedicalTreatmentFlag {}",
                req.body.medical_treatment_flag.as_deref().unwrap_or("")
            )));
        }
        other => {
            return Err(CheckError::MedicalRequest(format!(
                "MedicalTreatmentFlag {other:?}"
            )));
        }
    }
    let months = (
        month(&req.body.start_date, "StartDate")?,
        month(&req.body.end_date, "EndDate")?,
    );
    Ok(Asked {
        facility: code,
        with_treatment,
        months,
    })
}

/// The people who have (or had) a qualification under the request's insurance data.
async fn candidates(store: &Store, req: &Request) -> Result<Vec<i64>, CheckError> {
    let insurer = InsurerNumber::parse(req.header.insurer_number.trim())
        .map_err(|e| CheckError::invalid("ONS2001", "InsurerNumber", e))?;
    let number = req.header.insured_person_identification_number.trim();
    let branch = match req
        .header
        .branch_number
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        Some(b) => Some(
            b.parse::<u8>()
                .map_err(|e| CheckError::invalid("ONS2004", "InsuredBranchNumber", e))?,
        ),
        None => None,
    };
    let holders = store
        .holders(&onshi_store::HolderQuery {
            insurer_number: insurer.digits().to_string(),
            symbol_norm: onshi_core::text::normalize_card_text(
                req.header.insurance_card_symbol.as_deref().unwrap_or(""),
            ),
            number_norm: onshi_core::text::normalize_card_text(number),
            branch,
        })
        .await
        .map_err(internal)?;
    let mut ids: Vec<i64> = holders.into_iter().map(|h| h.person_id).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// `POST /oqs/v1/medical/file/{message}`.
pub(crate) async fn file_request(
    State(state): State<AppState>,
    Extension(peer): Extension<Arc<Peer>>,
    Path(message): Path<String>,
    body: Body,
) -> Response {
    let now = state.clock.now();
    let Some(kind) = FileMessage::from_name(&message) else {
        let e = CheckError::MedicalRequest(format!("unknown message {message:?}"));
        return xml(
            StatusCode::NOT_FOUND,
            refusal(FileMessage::Yzk, None, &e, now, Encoding::Utf8),
        );
    };
    let bytes = match read_body(&state, body).await {
        Ok(b) => b,
        Err(e) => return xml(e.status(), refusal(kind, None, &e, now, Encoding::Utf8)),
    };
    let (req, encoding) = match Request::decode_xml(&bytes, &Limits::default()) {
        Ok(r) => r,
        Err(w) => {
            let e = CheckError::from(w);
            return xml(e.status(), refusal(kind, None, &e, now, Encoding::Utf8));
        }
    };
    match answer(&state, &peer, kind, &req, encoding, now).await {
        Ok(body) => xml(StatusCode::OK, body),
        Err(e) => {
            crate::server::log_refusal("medical information file", &e);
            xml(e.status(), refusal(kind, Some(&req), &e, now, encoding))
        }
    }
}

fn xml(status: StatusCode, body: Vec<u8>) -> Response {
    let ct = if body.starts_with(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"") {
        "application/xml; charset=Shift_JIS"
    } else {
        "application/xml; charset=utf-8"
    };
    (status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

/// The refusal result: `ResultCode` 2, the reason in `MessageContents`, onshi's code in
/// `ErrorCode`.
pub fn refusal(
    kind: FileMessage,
    req: Option<&Request>,
    e: &CheckError,
    now: JstDateTime,
    encoding: Encoding,
) -> Vec<u8> {
    let afi = req.and_then(|r| r.header.arbitrary_file_identifier.clone());
    let mic = req.map(|r| r.header.medical_institution_code.clone());
    let category = req.map(|r| r.body.file_category.clone());
    match kind {
        FileMessage::Yzk => YzkResponse {
            header: YzkResponseHeader {
                process_execution_time: now.to_wire(),
                result_code: medinfo::RESULT_REFUSED.into(),
                message_contents: Some(e.message_ja()),
                error_code: Some(e.code().into()),
                arbitrary_file_identifier: afi,
                medical_institution_code: mic,
                file_category: category,
                ..Default::default()
            },
            body: Default::default(),
        }
        .encode_xml(encoding),
        FileMessage::Tkk => TkkResponse {
            header: TkkResponseHeader {
                process_execution_time: now.to_wire(),
                result_code: medinfo::RESULT_REFUSED.into(),
                message_contents: Some(e.message_ja()),
                error_code: Some(e.code().into()),
                arbitrary_file_identifier: afi,
                medical_institution_code: mic,
                file_category: category,
                ..Default::default()
            },
            body: Default::default(),
        }
        .encode_xml(encoding),
    }
}

async fn answer(
    state: &AppState,
    peer: &Peer,
    message: FileMessage,
    req: &Request,
    encoding: Encoding,
    now: JstDateTime,
) -> Result<Vec<u8>, CheckError> {
    let cert = facility_of(peer)?;
    let asked = check_request(message, req, &cert)?;
    let facility = asked.facility.clone();
    enabled_facility(state, &facility, now).await?;
    let kind = match message {
        FileMessage::Yzk => InfoKind::Drug,
        FileMessage::Tkk => InfoKind::Checkup,
    };
    let store = &state.store;
    let people = candidates(store, req).await?;
    let category = format!("{message:?} FileCategory={}", req.body.file_category.trim());
    // Only the people this facility may see count (see the module documentation).
    let mut allowed: Vec<(i64, Basis)> = Vec::new();
    let mut first_refusal = None;
    for &p in &people {
        match authorize(store, &facility, p, kind, now).await {
            Ok(b) => allowed.push((p, b)),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    let mut entry = view_entry(&facility, FILE_ACCOUNT, None, "view", kind.code(), now);
    entry.detail = category.clone();
    let (person_id, basis) = match allowed.as_slice() {
        [one] => *one,
        [] => {
            let e = first_refusal.unwrap_or(CheckError::MedicalNoConsent(kind.label_ja()));
            if let [only] = people.as_slice() {
                entry.person_id = Some(*only);
            }
            record_refusal(store, entry, &e).await;
            return Err(e);
        }
        _ => {
            let e = CheckError::MedicalPatientAmbiguous;
            record_refusal(store, entry, &e).await;
            return Err(e);
        }
    };
    entry.person_id = Some(person_id);
    let Some(person) = store.person(person_id).await.map_err(internal)? else {
        let e = CheckError::PatientNotFound;
        record_refusal(store, entry, &e).await;
        return Err(e);
    };
    let today = now.date();
    let since = kind.horizon_start(today);
    let in_range = |m: &str| {
        asked.months.0.as_deref().is_none_or(|s| m >= s)
            && asked.months.1.as_deref().is_none_or(|e| m <= e)
    };
    match message {
        FileMessage::Yzk => {
            let drugs: Vec<DrugRecord> = store
                .drugs(person_id, since)
                .await
                .map_err(internal)?
                .into_iter()
                .filter(|d| in_range(&d.claim.month))
                .collect();
            // 診療情報 has its own consent.
            let mut note = None;
            let mut treatments = Vec::new();
            if asked.with_treatment {
                let mut t_entry = view_entry(
                    &facility,
                    FILE_ACCOUNT,
                    Some(person_id),
                    "view",
                    InfoKind::Treatment.code(),
                    now,
                );
                t_entry.detail = category.clone();
                match authorize(store, &facility, person_id, InfoKind::Treatment, now).await {
                    Ok(b) => {
                        let t_since = InfoKind::Treatment.horizon_start(today);
                        treatments = store
                            .procedures(person_id, t_since, "treatment")
                            .await
                            .map_err(internal)?
                            .into_iter()
                            .filter(|p| in_range(&p.claim.month))
                            .collect();
                        record_allowed(store, t_entry, b).await?;
                    }
                    Err(e) => {
                        record_refusal(store, t_entry, &e).await;
                        note = Some(format!(
                            "診療情報は含まれていません（{}）。",
                            e.message_ja()
                        ));
                    }
                }
            }
            let mut res = yzk_result(&person, &drugs, &treatments, facility.as_str(), now);
            res.header.message_contents = note;
            res.header.arbitrary_file_identifier = req.header.arbitrary_file_identifier.clone();
            res.header.medical_institution_code = Some(facility.as_str().into());
            res.header.file_category = Some(req.body.file_category.trim().into());
            res.header.start_date = asked.months.0.clone();
            res.header.end_date = asked.months.1.clone();
            let bytes = res.encode_xml(encoding);
            record_allowed(store, entry, basis).await?;
            Ok(bytes)
        }
        FileMessage::Tkk => {
            let checkups = store.checkups(person_id, since).await.map_err(internal)?;
            let mut res = tkk_result(&person, &checkups, now);
            res.header.arbitrary_file_identifier = req.header.arbitrary_file_identifier.clone();
            res.header.medical_institution_code = Some(facility.as_str().into());
            res.header.file_category = Some(req.body.file_category.trim().into());
            let bytes = res.encode_xml(encoding);
            record_allowed(store, entry, basis).await?;
            Ok(bytes)
        }
    }
}

fn quantity(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{q:.0}")
    } else {
        let s = format!("{q:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

type DayLines = (String, Vec<DrugInf>, Vec<MeTrInf>);

/// One `MeTrMonthInf` per (month, dispensing or treating facility, prescriber), newest
/// month first, days newest first.
pub fn yzk_result(
    person: &Person,
    drugs: &[DrugRecord],
    treatments: &[ProcedureRecord],
    viewer: &str,
    now: JstDateTime,
) -> YzkResponse {
    let mut months = MonthMap::new();
    for d in drugs {
        let e = month_entry(&mut months, &d.claim, viewer);
        let day = e
            .entry(Reverse(d.line.dispensed_on.to_wire()))
            .or_insert_with(|| (d.line.prescribed_on.to_wire(), Vec::new(), Vec::new()));
        day.1.push(DrugInf {
            drug_c: Some(d.line.drug_code.clone()),
            drug_n: Some(d.line.drug_name.clone()),
            ingre_n: Some(d.line.ingredient.clone()).filter(|s| !s.is_empty()),
            qua1: Some(quantity(d.line.quantity)),
            unit: Some(d.line.unit.clone()).filter(|s| !s.is_empty()),
            usage_n: Some(d.line.usage.clone()).filter(|s| !s.is_empty()),
            sp_inst: None,
            times: Some(d.line.days.to_string()),
            me_tr_id_cl: Some(d.line.class.clone()).filter(|s| !s.is_empty()),
        });
    }
    for t in treatments {
        let e = month_entry(&mut months, &t.claim, viewer);
        let date = t.line.performed_on.to_wire();
        let day = e
            .entry(Reverse(date.clone()))
            .or_insert_with(|| (date, Vec::new(), Vec::new()));
        day.2.push(MeTrInf {
            sin_inf_cd: Some(t.line.code.clone()),
            sin_inf_n: Some(t.line.name.clone()),
            me_tr_id_cl: None,
            qua1: Some("1".into()),
            times: Some(t.line.times.to_string()),
            unit: None,
        });
    }
    let months = months
        .into_values()
        .map(|(mut info, days)| {
            info.dates = days
                .into_iter()
                .map(
                    |(Reverse(date), (prescribed, drugs, treatments))| DiDateInf {
                        di_date: Some(date),
                        pr_date: Some(prescribed),
                        drugs,
                        treatments,
                    },
                )
                .collect();
            info
        })
        .collect();
    YzkResponse {
        header: YzkResponseHeader {
            process_execution_time: now.to_wire(),
            result_code: medinfo::RESULT_OK.into(),
            qua_inf: Some(QuaInf {
                name: Some(person.name.clone()),
                kana_name: Some(person.name_kana.clone()),
                birth: Some(person.birthdate.to_wire()),
                adm_gend_code: Some(person.sex.code().into()),
            }),
            ..Default::default()
        },
        body: medinfo::YzkResponseBody { months },
    }
}

type MonthMap = BTreeMap<
    (Reverse<String>, String, String),
    (MeTrMonthInf, BTreeMap<Reverse<String>, DayLines>),
>;

fn month_entry<'m>(
    months: &'m mut MonthMap,
    c: &onshi_core::medical::Claim,
    viewer: &str,
) -> &'m mut BTreeMap<Reverse<String>, DayLines> {
    let prescriber_code = c
        .prescriber_code
        .clone()
        .unwrap_or_else(|| c.facility_code.clone());
    let prescriber_name = c
        .prescriber_name
        .clone()
        .unwrap_or_else(|| c.facility_name.clone());
    let own = c.facility_code == viewer || prescriber_code == viewer;
    let key = (
        Reverse(c.month.clone()),
        c.facility_code.clone(),
        prescriber_code.clone(),
    );
    &mut months
        .entry(key)
        .or_insert_with(|| {
            (
                MeTrMonthInf {
                    di_org: Some(c.kind.clone()),
                    me_tr_di_h_cd: Some(c.facility_code.clone()),
                    me_tr_di_h_nm: Some(c.facility_name.clone()),
                    prls_h_cd: Some(prescriber_code),
                    prls_h_nm: Some(prescriber_name),
                    me_tr_month: Some(c.month.clone()),
                    pr_is_org: Some(if own { "1" } else { "0" }.into()),
                    in_out: Some(c.in_out.clone()),
                    dates: Vec::new(),
                },
                BTreeMap::new(),
            )
        })
        .1
}

/// One `SpecificHealthCheckupInfo` per checkup, newest first, items in the standard order.
pub fn tkk_result(person: &Person, checkups: &[CheckupRecord], now: JstDateTime) -> TkkResponse {
    let order = |code: &str| {
        onshi_core::medical::CHECKUP_ITEMS
            .iter()
            .position(|d| d.code == code)
            .unwrap_or(usize::MAX)
    };
    let checkups = checkups
        .iter()
        .map(|r| {
            let mut values: Vec<_> = r.values.iter().collect();
            values.sort_by_key(|v| order(&v.item_code));
            SpecificHealthCheckupInfo {
                effective_time: Some(r.checkup.examined_on.to_wire()),
                items: values
                    .into_iter()
                    .map(|v| {
                        let def = checkup_item(&v.item_code);
                        HealthCheckupResultAndQuestionInfo {
                            item_code: Some(v.item_code.clone()),
                            item_name: def.map(|d| d.name.to_string()),
                            data_type: def.map(|d| d.value_type.code().to_string()),
                            data_value: Some(v.value.clone()),
                            unit: def.map(|d| d.unit.to_string()).filter(|u| !u.is_empty()),
                            oid: None,
                            data_value_name: def
                                .filter(|d| d.value_type == onshi_core::medical::ValueType::Coded)
                                .map(|d| d.value_label(&v.value).to_string()),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    TkkResponse {
        header: TkkResponseHeader {
            process_execution_time: now.to_wire(),
            result_code: medinfo::RESULT_OK.into(),
            qualifications_info: Some(QualificationsInfo {
                name: Some(person.name.clone()),
                kanas_name: Some(person.name_kana.clone()),
                birthday: Some(person.birthdate.to_wire()),
                administrative_gender_code: Some(person.sex.code().into()),
            }),
            ..Default::default()
        },
        body: medinfo::TkkResponseBody { checkups },
    }
}
