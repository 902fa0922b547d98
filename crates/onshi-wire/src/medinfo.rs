//! Medical-information retrieval by file: `YZKsiquc01` (薬剤情報, optionally with 診療情報)
//! and `TKKsiquc01` (特定健診情報), `ons-interface.md` §7.
//!
//! Both requests have the same shape (§7.1): the patient's insurance data in the header
//! (note the element names, which differ from the single check's: `InsuranceCardSymbol`,
//! `InsuredPersonIdentificationNumber`, `BranchNumber`), and in the body `FileCategory`
//! (YZK: 1 PDF 薬剤, 2 XML 薬剤, 3 PDF 薬剤+診療, 4 XML 薬剤+診療; TKK: 1 PDF, 2 XML),
//! `StartDate`/`EndDate` (YYYYMM, YZK only), `PrDiInfClassification` and
//! `MedicalTreatmentFlag` (OQSCD028).
//!
//! Results (§7.2, §7.3): success is `ResultCode` 1; otherwise the text is in
//! `MessageContents`. Where `ResultCode` sits in the real files is not known (clients
//! look for it anywhere); here it is in `MessageHeader`, with onshi's own `ErrorCode`
//! beside it on refusals. The patient is `MessageHeader/QuaInf` (YZK) or
//! `MessageHeader/QualificationsInfo` (TKK, with the `KanasName` spelling clients read).
//! The YZK body repeats `MeTrMonthInf` (one per month, dispensing facility and
//! prescriber) with `DiDateInfs/DiDateInf` per day holding `DrugInfs/DrugInf` and, for
//! FileCategory 3/4, `MeTrInfs/MeTrInf`; the TKK body repeats `SpecificHealthCheckupInfo`
//! with `HealthCheckupResultAndQuestionInfos/HealthCheckupResultAndQuestionInfo`.
//! The 電子処方箋 families (`CzDiInf`, `ShPrInf`) are not produced: onshi has no
//! electronic prescriptions.

record! {
    /// `YZKsiquc01req` / `TKKsiquc01req` `MessageHeader` (§7.1).
    pub struct RequestHeader = "MessageHeader" {
        req medical_institution_code: "MedicalInstitutionCode",
        req insurer_number: "InsurerNumber",
        leaf insurance_card_symbol: "InsuranceCardSymbol",
        req insured_person_identification_number: "InsuredPersonIdentificationNumber",
        leaf branch_number: "BranchNumber",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
    }
}

record! {
    /// `YZKsiquc01req` / `TKKsiquc01req` `MessageBody` (§7.1).
    pub struct RequestBody = "MessageBody" {
        /// YYYYMM (YZK).
        leaf start_date: "StartDate",
        /// YYYYMM (YZK).
        leaf end_date: "EndDate",
        req file_category: "FileCategory",
        leaf pr_di_inf_classification: "PrDiInfClassification",
        /// OQSCD028: 1 外来, 2 訪問診療等, 3 オンライン診療等, 4 救急時.
        leaf medical_treatment_flag: "MedicalTreatmentFlag",
    }
}

message! {
    /// `YZKsiquc01req` or `TKKsiquc01req`.
    pub struct Request { header: RequestHeader, body: RequestBody, capacity: 768 }
}

record! {
    /// `QuaInf`: the patient of a YZK result.
    pub struct QuaInf = "QuaInf" {
        leaf name: "Name",
        leaf kana_name: "KanaName",
        /// YYYYMMDD.
        leaf birth: "Birth",
        /// OQSCD007.
        leaf adm_gend_code: "AdmGendCode",
    }
}

record! {
    /// `YZKsiquc01res` `MessageHeader`.
    pub struct YzkResponseHeader = "MessageHeader" {
        req process_execution_time: "ProcessExecutionTime",
        req character_code_identifier: "CharacterCodeIdentifier",
        /// 1 success; 2 refused (text in `MessageContents`).
        req result_code: "ResultCode",
        leaf message_contents: "MessageContents",
        leaf error_code: "ErrorCode",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
        leaf medical_institution_code: "MedicalInstitutionCode",
        leaf file_category: "FileCategory",
        leaf start_date: "StartDate",
        leaf end_date: "EndDate",
        group qua_inf: "QuaInf" => QuaInf,
    }
}

record! {
    /// `DrugInf`: one drug of one dispensing.
    pub struct DrugInf = "DrugInf" {
        leaf drug_c: "DrugC",
        leaf drug_n: "DrugN",
        leaf ingre_n: "IngreN",
        leaf qua1: "Qua1",
        leaf unit: "Unit",
        leaf usage_n: "UsageN",
        leaf sp_inst: "SpInst",
        leaf times: "Times",
        /// 診療識別 (21 内服, 22 屯服, 23 外用).
        leaf me_tr_id_cl: "MeTrIdCl",
    }
}

record! {
    /// `MeTrInf`: one 診療行為 of one day (FileCategory 3/4).
    pub struct MeTrInf = "MeTrInf" {
        leaf sin_inf_cd: "SinInfCd",
        leaf sin_inf_n: "SinInfN",
        leaf me_tr_id_cl: "MeTrIdCl",
        leaf qua1: "Qua1",
        leaf times: "Times",
        leaf unit: "Unit",
    }
}

record! {
    /// `DiDateInf`: one day (調剤日 / 診療日).
    pub struct DiDateInf = "DiDateInf" {
        leaf di_date: "DiDate",
        leaf pr_date: "PrDate",
        list drugs: "DrugInfs" => DrugInf,
        list treatments: "MeTrInfs" => MeTrInf,
    }
}

record! {
    /// `MeTrMonthInf`: one month at one dispensing (or treating) facility.
    pub struct MeTrMonthInf = "MeTrMonthInf" {
        /// 1 医科 (院内), 4 調剤 (the claim kind).
        leaf di_org: "DiOrg",
        leaf me_tr_di_h_cd: "MeTrDiHCd",
        leaf me_tr_di_h_nm: "MeTrDiHNm",
        leaf prls_h_cd: "PrlsHCd",
        leaf prls_h_nm: "PrlsHNm",
        /// YYYYMM.
        leaf me_tr_month: "MeTrMonth",
        /// 1 when the requesting facility prescribed or dispensed it, else 0.
        leaf pr_is_org: "PrIsOrg",
        /// 1 入院, 2 入院外.
        leaf in_out: "InOut",
        list dates: "DiDateInfs" => DiDateInf,
    }
}

record! {
    /// `YZKsiquc01res` `MessageBody`.
    pub struct YzkResponseBody = "MessageBody" {
        repeat months: "MeTrMonthInf" => MeTrMonthInf,
    }
}

message! {
    /// `YZKsiquc01res` (XML result).
    pub struct YzkResponse { header: YzkResponseHeader, body: YzkResponseBody, capacity: 1 << 14 }
}

record! {
    /// `QualificationsInfo`: the patient of a TKK result (`KanasName` as clients read it).
    pub struct QualificationsInfo = "QualificationsInfo" {
        leaf name: "Name",
        leaf kanas_name: "KanasName",
        /// YYYYMMDD.
        leaf birthday: "Birthday",
        /// OQSCD007.
        leaf administrative_gender_code: "AdministrativeGenderCode",
    }
}

record! {
    /// `TKKsiquc01res` `MessageHeader`.
    pub struct TkkResponseHeader = "MessageHeader" {
        req process_execution_time: "ProcessExecutionTime",
        req character_code_identifier: "CharacterCodeIdentifier",
        req result_code: "ResultCode",
        leaf message_contents: "MessageContents",
        leaf error_code: "ErrorCode",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
        leaf medical_institution_code: "MedicalInstitutionCode",
        leaf file_category: "FileCategory",
        group qualifications_info: "QualificationsInfo" => QualificationsInfo,
    }
}

record! {
    /// One result or question item of a checkup.
    pub struct HealthCheckupResultAndQuestionInfo = "HealthCheckupResultAndQuestionInfo" {
        /// JLAC10, 17 digits.
        leaf item_code: "ItemCode",
        leaf item_name: "ItemName",
        /// PQ (quantity) or CD (code).
        leaf data_type: "DataType",
        leaf data_value: "DataValue",
        leaf unit: "Unit",
        leaf oid: "Oid",
        /// The label of a coded value.
        leaf data_value_name: "DataValueName",
    }
}

record! {
    /// One 特定健診.
    pub struct SpecificHealthCheckupInfo = "SpecificHealthCheckupInfo" {
        /// YYYYMMDD.
        leaf effective_time: "EffectiveTime",
        list items: "HealthCheckupResultAndQuestionInfos" => HealthCheckupResultAndQuestionInfo,
    }
}

record! {
    /// `TKKsiquc01res` `MessageBody`.
    pub struct TkkResponseBody = "MessageBody" {
        repeat checkups: "SpecificHealthCheckupInfo" => SpecificHealthCheckupInfo,
    }
}

message! {
    /// `TKKsiquc01res` (XML result).
    pub struct TkkResponse { header: TkkResponseHeader, body: TkkResponseBody, capacity: 1 << 14 }
}

/// `ResultCode` of a success.
pub const RESULT_OK: &str = "1";
/// `ResultCode` of a refusal (`MessageContents` says why).
pub const RESULT_REFUSED: &str = "2";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Encoding, Limits};

    #[test]
    fn a_yzk_result_round_trips_with_the_real_element_names() {
        let res = YzkResponse {
            header: YzkResponseHeader {
                process_execution_time: "20261123100000".into(),
                character_code_identifier: "0".into(),
                result_code: RESULT_OK.into(),
                qua_inf: Some(QuaInf {
                    name: Some("髙橋　𠮷".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            body: YzkResponseBody {
                months: vec![MeTrMonthInf {
                    me_tr_month: Some("202610".into()),
                    dates: vec![DiDateInf {
                        di_date: Some("20261005".into()),
                        drugs: vec![DrugInf {
                            drug_c: Some("620000001".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            },
        };
        for enc in [Encoding::Utf8, Encoding::ShiftJis] {
            let xml = res.encode_xml(enc);
            let (back, e) = YzkResponse::decode_xml(&xml, &Limits::default()).unwrap();
            assert_eq!(e, enc);
            assert_eq!(back.body, res.body);
            assert_eq!(back.header.qua_inf, res.header.qua_inf);
        }
        let text = String::from_utf8(res.encode_xml(Encoding::Utf8)).unwrap();
        for tag in [
            "<ResultCode>1</ResultCode>",
            "<QuaInf>",
            "<MeTrMonthInf>",
            "<DiDateInfs>",
            "<DiDateInf>",
            "<DrugInfs>",
            "<DrugInf>",
            "<DrugC>620000001</DrugC>",
        ] {
            assert!(text.contains(tag), "{tag} in {text}");
        }
    }

    #[test]
    fn a_request_needs_the_insurance_data_and_the_file_category() {
        let ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageHeader>\
            <MedicalInstitutionCode>1310000017</MedicalInstitutionCode><InsurerNumber>06130012</InsurerNumber>\
            <InsuranceCardSymbol>記号</InsuranceCardSymbol><InsuredPersonIdentificationNumber>123</InsuredPersonIdentificationNumber>\
            </MessageHeader><MessageBody><FileCategory>2</FileCategory></MessageBody></XmlMsg>";
        let (r, _) = Request::decode_xml(ok.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(r.header.insurance_card_symbol.as_deref(), Some("記号"));
        assert_eq!(r.body.file_category, "2");
        let missing = ok.replace("<FileCategory>2</FileCategory>", "");
        assert!(Request::decode_xml(missing.as_bytes(), &Limits::default()).is_err());
    }
}
