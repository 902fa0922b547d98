//! The verification engine: from card data to an answer.
//!
//! Parsing turns the wire's strings into domain types (so a bad check digit is refused
//! before any lookup); [`decide`] is a pure function from the matching qualifications and
//! the check date to a result state; [`result_item`] renders one qualification as the
//! `ResultOfQualificationConfirmation` of the real message.

use crate::error::CheckError;
use onshi_core::burden::{self, AgeBand};
use onshi_core::codes::{LimitConsentFlag, QualificationValidity};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::{
    InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsurerNumber,
    MedicalInstitutionCode,
};
use onshi_core::model::InsurerKind;
use onshi_store::{CardQuery, QualificationRecord, Store};
use onshi_wire::siquc01;
use std::collections::HashMap;

/// A check request after parsing.
#[derive(Debug, Clone)]
pub struct CardCheck {
    pub facility: MedicalInstitutionCode,
    pub confirmation_date: Ymd,
    pub insurer: InsurerNumber,
    pub symbol: Option<InsuredCardSymbol>,
    pub number: InsuredIdentificationNumber,
    pub branch: Option<InsuredBranchNumber>,
    pub birthdate: Ymd,
    pub limit_consent: LimitConsentFlag,
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl CardCheck {
    pub fn parse(req: &siquc01::Request) -> Result<CardCheck, CheckError> {
        let h = &req.header;
        let s = &req.search;
        let facility = MedicalInstitutionCode::parse(h.medical_institution_code.trim())
            .map_err(|e| CheckError::invalid("ONS2006", "MedicalInstitutionCode", e))?;
        let confirmation_date = Ymd::parse(h.qualification_confirmation_date.trim())
            .map_err(|e| CheckError::invalid("ONS2005", "QualificationConfirmationDate", e))?;
        let insurer = InsurerNumber::parse(&s.insurer_number)
            .map_err(|e| CheckError::invalid("ONS2001", "InsurerNumber", e))?;
        let symbol = opt(&s.insured_card_symbol)
            .map(InsuredCardSymbol::parse)
            .transpose()
            .map_err(|e| CheckError::invalid("ONS2004", "InsuredCardSymbol", e))?;
        let number = InsuredIdentificationNumber::parse(&s.insured_identification_number)
            .map_err(|e| CheckError::invalid("ONS2004", "InsuredIdentificationNumber", e))?;
        let branch = opt(&s.insured_branch_number)
            .map(InsuredBranchNumber::parse)
            .transpose()
            .map_err(|e| CheckError::invalid("ONS2003", "InsuredBranchNumber", e))?;
        let birthdate = Ymd::parse(s.birthdate.trim())
            .map_err(|e| CheckError::invalid("ONS2002", "Birthdate", e))?;
        let limit_consent = match opt(&s.limit_application_certificate_related_cons_flg) {
            None => LimitConsentFlag::NotConsented,
            Some(code) => LimitConsentFlag::from_code(code).map_err(|e| {
                CheckError::invalid("ONS2007", "LimitApplicationCertificateRelatedConsFlg", e)
            })?,
        };
        Ok(CardCheck {
            facility,
            confirmation_date,
            insurer,
            symbol,
            number,
            branch,
            birthdate,
            limit_consent,
        })
    }

    pub fn query(&self) -> CardQuery {
        CardQuery {
            insurer_number: self.insurer.digits().to_string(),
            symbol_norm: self
                .symbol
                .as_ref()
                .map(|s| s.normalized())
                .unwrap_or_default(),
            number_norm: self.number.normalized(),
            branch: self.branch.map(InsuredBranchNumber::value),
            birthdate: self.birthdate,
        }
    }
}

/// The outcome of a check by card data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub validity: QualificationValidity,
    /// The qualification the answer is about (none for 4 and 5).
    pub record: Option<QualificationRecord>,
}

/// True when the qualification covers `on`: acquired on or before it, and not yet lost
/// (the 資格喪失年月日 is the first day no longer covered).
pub fn covers(r: &QualificationRecord, on: Ymd) -> bool {
    let q = &r.qualification;
    q.qualification_date <= on && q.disqualification_date.is_none_or(|lost| on < lost)
}

/// Result state for the qualifications that matched the card data on `on`.
///
/// - none → 4 該当資格なし;
/// - more than one person → 5 複数該当 (typically twins queried without 枝番); no personal
///   data of either is returned, so a mistyped query never shows someone else;
/// - a qualification covering `on` → 1 有効;
/// - otherwise the latest one: 3 無効（新しい資格あり） when it has a successor, else 2 無効.
pub fn decide(mut records: Vec<QualificationRecord>, on: Ymd) -> Decision {
    let Some(first) = records.first() else {
        return Decision {
            validity: QualificationValidity::NotFound,
            record: None,
        };
    };
    let person = first.person.id;
    if records.iter().any(|r| r.person.id != person) {
        return Decision {
            validity: QualificationValidity::Multiple,
            record: None,
        };
    }
    if let Some(i) = records.iter().position(|r| covers(r, on)) {
        return Decision {
            validity: QualificationValidity::Valid,
            record: Some(records.swap_remove(i)),
        };
    }
    records.sort_by_key(|r| {
        (
            r.qualification.disqualification_date,
            r.qualification.qualification_date,
        )
    });
    let latest = records.pop();
    let validity = match &latest {
        Some(r) if r.qualification.successor_id.is_some() => QualificationValidity::InvalidWithNew,
        _ => QualificationValidity::Invalid,
    };
    Decision {
        validity,
        record: latest,
    }
}

fn valid_between(start: Ymd, end: Option<Ymd>, on: Ymd) -> bool {
    start <= on && end.is_none_or(|e| on <= e)
}

fn ratio3(percent: u8) -> String {
    format!("{percent:03}")
}

/// Renders one qualification as the real message's result element.
///
/// 限度額 and 特定疾病 information is personal medical-cost information: both are
/// included only when the request carried consent (`LimitApplicationCertificateRelatedConsFlg`
/// = 1), and only when valid on the check date.
pub fn result_item(
    r: &QualificationRecord,
    on: Ymd,
    limit_consent: LimitConsentFlag,
    now: JstDateTime,
) -> siquc01::ResultOfQualificationConfirmation {
    let q = &r.qualification;
    let p = &r.person;
    let late_elderly = r.insurer.kind == InsurerKind::LateElderly;
    let mut item = siquc01::ResultOfQualificationConfirmation {
        insured_card_classification: Some(q.card_classification.code().into()),
        insurer_number: Some(q.insurer_number.to_wire()),
        insured_card_symbol: q.symbol.as_ref().map(|s| s.as_str().into()),
        insured_identification_number: Some(q.number.as_str().into()),
        insured_branch_number: q.branch.map(InsuredBranchNumber::to_wire),
        personal_family_classification: Some(q.personal_family.code().into()),
        insured_name: q.insured_name.clone(),
        name: Some(p.name.clone()),
        name_kana: Some(p.name_kana.clone()),
        sex1: Some(p.sex.code().into()),
        birthdate: Some(p.birthdate.to_wire()),
        address: Some(p.address.clone()),
        post_number: Some(p.post_number.clone()),
        qualification_date: Some(q.qualification_date.to_wire()),
        disqualification_date: q.disqualification_date.map(Ymd::to_wire),
        insured_certificate_issuance_date: q.certificate_issuance_date.map(Ymd::to_wire),
        insured_card_valid_date: q.card_valid_from.map(Ymd::to_wire),
        insured_card_expiration_date: q.card_valid_to.map(Ymd::to_wire),
        reason_of_loss: q.reason_of_loss.map(|c| c.code().into()),
        insurer_name: Some(r.insurer.name.clone()),
        ..Default::default()
    };
    if late_elderly {
        item.insured_partial_contribution_ratio = Some(ratio3(burden::burden_percent(
            p.birthdate,
            on,
            q.income,
            true,
        )));
    }
    if burden::age_band(p.birthdate, on) == AgeBand::Preschool {
        item.preschool_classification = Some("1".into());
    }
    if let Some(e) = r
        .elderly
        .as_ref()
        .filter(|e| valid_between(e.valid_start, Some(e.valid_end), on))
    {
        item.elderly_recipient = Some(siquc01::ElderlyRecipientCertificateInfo {
            elderly_recipient_certificate_date: Some(e.certificate_date.to_wire()),
            elderly_recipient_valid_start_date: Some(e.valid_start.to_wire()),
            elderly_recipient_valid_end_date: Some(e.valid_end.to_wire()),
            elderly_recipient_contribution_ratio: Some(ratio3(e.contribution_ratio)),
        });
    }
    item.limit_application_certificate_related_cons_flg = Some(limit_consent.code().into());
    if limit_consent == LimitConsentFlag::Consented {
        item.limit_application_certificate_related_cons_time = Some(now.to_wire());
        if let Some(l) = r
            .limit
            .as_ref()
            .filter(|l| valid_between(l.valid_start, l.valid_end, on))
        {
            item.limit_info = Some(siquc01::LimitApplicationCertificateRelatedInfo {
                limit_application_certificate_classification: Some(l.classification.code().into()),
                limit_application_certificate_classification_flag: Some(l.flag.code().into()),
                limit_application_certificate_date: Some(l.certificate_date.to_wire()),
                limit_application_certificate_valid_start_date: Some(l.valid_start.to_wire()),
                limit_application_certificate_valid_end_date: l.valid_end.map(Ymd::to_wire),
                limit_application_certificate_long_term_date: l.long_term_date.map(Ymd::to_wire),
            });
        }
        item.specific_diseases = r
            .specific_diseases
            .iter()
            .filter(|d| valid_between(d.valid_start, d.valid_end, on))
            .map(|d| siquc01::SpecificDiseasesCertificateInfo {
                specific_diseases_disease_category: Some(d.category.code().into()),
                specific_diseases_certificate_date: Some(d.certificate_date.to_wire()),
                specific_diseases_valid_start_date: Some(d.valid_start.to_wire()),
                specific_diseases_valid_end_date: d.valid_end.map(Ymd::to_wire),
                specific_diseases_self_pay: Some(d.self_pay.to_string()),
            })
            .collect();
    }
    item
}

/// The 照会番号 the facility registered for each of these people (those that have one).
/// Every check result goes through this or [`attach_reference_number`]: single checks,
/// card checks and each chunk of a bulk check.
pub async fn reference_numbers(
    store: &Store,
    facility: &MedicalInstitutionCode,
    person_ids: &[i64],
) -> Result<HashMap<i64, String>, CheckError> {
    store
        .reference_numbers(facility, person_ids)
        .await
        .map_err(|e| CheckError::Internal(e.to_string()))
}

/// Sets `ReferenceNumber` on a result item when the facility registered one for the person.
pub async fn attach_reference_number(
    store: &Store,
    facility: &MedicalInstitutionCode,
    person_id: i64,
    item: &mut siquc01::ResultOfQualificationConfirmation,
) -> Result<(), CheckError> {
    item.reference_number = reference_numbers(store, facility, &[person_id])
        .await?
        .remove(&person_id);
    Ok(())
}

/// The message shown with each state (ProcessingResultMessage).
pub fn validity_message(v: QualificationValidity) -> Option<&'static str> {
    match v {
        QualificationValidity::Valid | QualificationValidity::ValidUnregistered => None,
        QualificationValidity::Invalid => Some(
            "資格が無効です（資格喪失）。新しい保険証・資格確認書・資格情報のお知らせ等で資格を確認してください。",
        ),
        QualificationValidity::InvalidWithNew => {
            Some("この資格は無効です。新しい資格が登録されています。新しい資格で確認してください。")
        }
        QualificationValidity::NotFound => Some(
            "該当する資格情報がありません。入力内容を確認してください。確認できない場合は被保険者資格申立書により受診を受け付けてください。",
        ),
        QualificationValidity::Multiple => {
            Some("複数の資格が該当しました。枝番を入力して再度照会してください。")
        }
    }
}

/// What a check that found nothing says when a registration is on its way, instead of a
/// bare 「資格情報なし」: the insurer has received the 取得届 (and registers within days), or
/// the registration is held while the insurer checks it against the resident registry.
/// No personal data of the held registration is shown.
pub fn pending_message(info: &onshi_store::insurer::PendingInfo) -> String {
    if info.suspended {
        format!(
            "該当する資格情報はまだ照会できません。保険者（{}）の登録内容を確認中です。資格確認書・資格情報のお知らせ等で資格を確認するか、被保険者資格申立書により受診を受け付けてください。",
            info.insurer_number.trim()
        )
    } else {
        format!(
            "資格情報は登録手続き中です（保険者 {}、資格取得届 受付日 {}）。データ登録が完了するまで、資格確認書・資格情報のお知らせ等で資格を確認するか、被保険者資格申立書により受診を受け付けてください。",
            info.insurer_number.trim(),
            info.received_date.map(Ymd::to_wareki).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use onshi_core::burden::IncomeCategory;
    use onshi_core::codes::*;
    use onshi_core::model::*;

    fn ymd(s: &str) -> Ymd {
        Ymd::parse(s).unwrap()
    }

    fn record(
        id: i64,
        person: i64,
        from: &str,
        lost: Option<&str>,
        successor: Option<i64>,
    ) -> QualificationRecord {
        QualificationRecord {
            qualification: Qualification {
                id,
                person_id: person,
                insurer_number: InsurerNumber::parse("01130012").unwrap(),
                symbol: None,
                number: InsuredIdentificationNumber::parse("123").unwrap(),
                branch: None,
                personal_family: PersonalFamilyClassification::Insured,
                insured_name: None,
                card_classification: InsuredCardClassification::General,
                qualification_date: ymd(from),
                disqualification_date: lost.map(ymd),
                reason_of_loss: lost.map(|_| ReasonOfLoss::OtherInsurance),
                successor_id: successor,
                certificate_issuance_date: None,
                card_valid_from: None,
                card_valid_to: None,
                income: IncomeCategory::General,
            },
            person: Person {
                id: person,
                name: "試験　太郎".into(),
                name_kana: "ｼｹﾝ ﾀﾛｳ".into(),
                birthdate: ymd("19800101"),
                sex: Sex::Male,
                address: "東京都".into(),
                post_number: "100-0001".into(),
            },
            insurer: Insurer {
                number: InsurerNumber::parse("01130012").unwrap(),
                name: "全国健康保険協会東京支部".into(),
                kind: InsurerKind::KyokaiKenpo,
            },
            elderly: None,
            limit: None,
            specific_diseases: vec![],
        }
    }

    #[test]
    fn no_match_is_not_found_and_two_people_are_multiple() {
        let on = ymd("20261123");
        assert_eq!(decide(vec![], on).validity, QualificationValidity::NotFound);
        let d = decide(
            vec![
                record(1, 1, "20200101", None, None),
                record(2, 2, "20200101", None, None),
            ],
            on,
        );
        assert_eq!(d.validity, QualificationValidity::Multiple);
        assert!(
            d.record.is_none(),
            "no personal data for an ambiguous query"
        );
    }

    #[test]
    fn coverage_runs_from_acquisition_up_to_the_day_before_loss() {
        let r = record(1, 1, "20200401", Some("20261101"), None);
        assert!(!covers(&r, ymd("20200331")));
        assert!(covers(&r, ymd("20200401")));
        assert!(covers(&r, ymd("20261031")));
        assert!(
            !covers(&r, ymd("20261101")),
            "資格喪失日 is the first day not covered"
        );
        assert_eq!(
            decide(vec![r.clone()], ymd("20261031")).validity,
            QualificationValidity::Valid
        );
        assert_eq!(
            decide(vec![r], ymd("20261101")).validity,
            QualificationValidity::Invalid
        );
    }

    #[test]
    fn a_lost_qualification_with_a_successor_says_so() {
        let on = ymd("20261123");
        let d = decide(
            vec![record(1, 1, "20150401", Some("20260401"), Some(9))],
            on,
        );
        assert_eq!(d.validity, QualificationValidity::InvalidWithNew);
        assert_eq!(d.record.unwrap().qualification.id, 1);
    }

    #[test]
    fn a_current_qualification_wins_over_an_old_one_of_the_same_person() {
        let on = ymd("20261123");
        let old = record(1, 1, "20100401", Some("20200401"), None);
        let new = record(2, 1, "20200401", None, None);
        let d = decide(vec![old.clone(), new], on);
        assert_eq!(
            (d.validity, d.record.unwrap().qualification.id),
            (QualificationValidity::Valid, 2)
        );
        // Of two lost ones, the latest is reported.
        let later = record(3, 1, "20200401", Some("20250101"), Some(7));
        let d = decide(vec![later, old], on);
        assert_eq!(
            (d.validity, d.record.unwrap().qualification.id),
            (QualificationValidity::InvalidWithNew, 3)
        );
    }
}
