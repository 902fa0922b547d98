//! Single qualification check: `OQSsiquc01req` / `OQSsiquc01res`, the face-reader
//! result, and the Web API search (`ons-interface.md` §2, §4).
//!
//! Field order in each record is the output order: the order seen in real outputs
//! (§1.4) for the elements seen there, then the other elements in the §2.2/§4 order.
//! Parsers that read by name (all known clients) do not care; faithful emulation does.
//!
//! Disputed points (§11) and how they are settled here:
//!
//! * `SpecificDiseasesCertificateList`: nested `List > SpecificDiseasesCertificateInfo`
//!   in XML, a flat array of objects in JSON. Both shapes (and a flat XML list) are
//!   accepted on input.
//! * `PrescriptionIssueSelect`: both positions exist, [`ResponseBody::prescription_issue_select`]
//!   and [`ResultOfQualificationConfirmation::prescription_issue_select`].
//! * `CharacterCodeIdentifier`: `0` UTF-8, `1` Shift_JIS. [`encode_response_xml`] always
//!   writes the code of the encoding it writes, whatever the header field says, so the
//!   declaration and the code can never disagree.
//! * `InsurerNumber` padding: kept exactly as given, both ways.
//! * `PublicExpenseResultList` (医療扶助): `List > MedicalTicketInfo` in XML, a flat array
//!   in JSON (same convention as the specific-diseases list; the JSON form is unseen).

use crate::input::{self, Node};
use crate::output::{JsonSink, Sink, XmlSink, finish_xml};
use crate::record::Record;
use crate::{Encoding, Limits, WireError};

const ROOT: &str = "XmlMsg";
const HEADER: &str = "MessageHeader";
const BODY: &str = "MessageBody";

record! {
    /// Request `MessageHeader` (§2.1).
    pub struct RequestHeader = "MessageHeader" {
        req qualification_confirmation_date: "QualificationConfirmationDate",
        req medical_institution_code: "MedicalInstitutionCode",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
    }
}

record! {
    /// `QualificationConfirmSearchInfo`: the request body, echoed in some results (§2.1).
    pub struct SearchInfo = "QualificationConfirmSearchInfo" {
        req insurer_number: "InsurerNumber",
        leaf insured_card_symbol: "InsuredCardSymbol",
        req insured_identification_number: "InsuredIdentificationNumber",
        leaf insured_branch_number: "InsuredBranchNumber",
        req birthdate: "Birthdate",
        leaf limit_application_certificate_related_cons_flg: "LimitApplicationCertificateRelatedConsFlg",
        leaf arbitrary_identifier: "ArbitraryIdentifier",
    }
}

/// A single qualification-check request (`OQSsiquc01req`, Web API search body).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// `MessageHeader`.
    pub header: RequestHeader,
    /// `MessageBody/QualificationConfirmSearchInfo`.
    pub search: SearchInfo,
}

record! {
    /// Result `MessageHeader` (§2.2), in the real-output order of §1.4.
    pub struct ResponseHeader = "MessageHeader" {
        req process_execution_time: "ProcessExecutionTime",
        req character_code_identifier: "CharacterCodeIdentifier",
        req segment_of_result: "SegmentOfResult",
        leaf qualification_confirmation_date: "QualificationConfirmationDate",
        leaf reference_classification: "ReferenceClassification",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
        leaf medical_institution_code: "MedicalInstitutionCode",
        leaf error_code: "ErrorCode",
        leaf error_message: "ErrorMessage",
    }
}

record! {
    /// Result `MessageBody` (§2.2), in the real-output order of §1.4.
    pub struct ResponseBody = "MessageBody" {
        /// `ResultList`: one `ResultOfQualificationConfirmation` per result.
        wlist results: "ResultList" => ResultOfQualificationConfirmation,
        req processing_result_status: "ProcessingResultStatus",
        leaf qualification_validity: "QualificationValidity",
        group search_info: "QualificationConfirmSearchInfo" => SearchInfo,
        leaf prescription_issue_select: "PrescriptionIssueSelect",
        leaf processing_result_code: "ProcessingResultCode",
        leaf processing_result_message: "ProcessingResultMessage",
    }
}

/// A single qualification-check result (`OQSsiquc01res`, face file, Web API response).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    /// `MessageHeader`.
    pub header: ResponseHeader,
    /// `MessageBody`.
    pub body: ResponseBody,
}

record! {
    /// `ElderlyRecipientCertificateInfo` (高齢受給者証).
    pub struct ElderlyRecipientCertificateInfo = "ElderlyRecipientCertificateInfo" {
        leaf elderly_recipient_certificate_date: "ElderlyRecipientCertificateDate",
        leaf elderly_recipient_valid_start_date: "ElderlyRecipientValidStartDate",
        leaf elderly_recipient_valid_end_date: "ElderlyRecipientValidEndDate",
        leaf elderly_recipient_contribution_ratio: "ElderlyRecipientContributionRatio",
    }
}

record! {
    /// `LimitApplicationCertificateRelatedInfo` (限度額適用認定証関連情報).
    pub struct LimitApplicationCertificateRelatedInfo = "LimitApplicationCertificateRelatedInfo" {
        leaf limit_application_certificate_classification: "LimitApplicationCertificateClassification",
        leaf limit_application_certificate_classification_flag: "LimitApplicationCertificateClassificationFlag",
        leaf limit_application_certificate_date: "LimitApplicationCertificateDate",
        leaf limit_application_certificate_valid_start_date: "LimitApplicationCertificateValidStartDate",
        leaf limit_application_certificate_valid_end_date: "LimitApplicationCertificateValidEndDate",
        leaf limit_application_certificate_long_term_date: "LimitApplicationCertificateLongTermDate",
    }
}

record! {
    /// `SpecificDiseasesCertificateInfo` (one 特定疾病療養受療証).
    pub struct SpecificDiseasesCertificateInfo = "SpecificDiseasesCertificateInfo" {
        leaf specific_diseases_disease_category: "SpecificDiseasesDiseaseCategory",
        leaf specific_diseases_certificate_date: "SpecificDiseasesCertificateDate",
        leaf specific_diseases_valid_start_date: "SpecificDiseasesValidStartDate",
        leaf specific_diseases_valid_end_date: "SpecificDiseasesValidEndDate",
        leaf specific_diseases_self_pay: "SpecificDiseasesSelfPay",
    }
}

record! {
    /// `MedicalTicketInfo` (医療扶助の医療券・調剤券), inside `PublicExpenseResultList`.
    pub struct MedicalTicketInfo = "MedicalTicketInfo" {
        leaf ticket_type: "TicketType",
        leaf medical_ticket_valid_date: "MedicalTicketValidDate",
        leaf medical_ticket_expiration_date: "MedicalTicketExpirationDate",
        leaf issue_number: "IssueNumber",
        leaf medical_treatment_month: "MedicalTreatmentMonth",
        leaf designated_medical_institution_code: "DesignatedMedicalInstitutionCode",
        leaf designated_medical_institution_name: "DesignatedMedicalInstitutionName",
        leaf designated_medical_institution_flag: "DesignatedMedicalInstitutionFlag",
        leaf prescription_issuer_medical_institution_code: "PrescriptionIssuerMedicalInstitutionCode",
        leaf prescription_issuer_medical_institution_name: "PrescriptionIssuerMedicalInstitutionName",
        leaf injury_name1: "InjuryName1",
        leaf injury_name2: "InjuryName2",
        leaf injury_name3: "InjuryName3",
        leaf medical_treatment_type: "MedicalTreatmentType",
        leaf self_pay_amount: "SelfPayAmount",
        leaf district_contact_name: "DistrictContactName",
        leaf handling_contact_name: "HandlingContactName",
        leaf single_or_combined_use: "SingleOrCombinedUse",
        leaf status_of_social_insurance: "StatusOfSocialInsurance",
        leaf consistency_flag: "ConsistencyFlag",
        /// Spelled `StatusOfInfecton` (sic) on the wire.
        leaf status_of_infecton: "StatusOfInfecton",
        leaf status_of_elderly_medical_care: "StatusOfElderlyMedicalCare",
        leaf status_of_prefectural_expenses: "StatusOfPrefecturalExpenses",
        leaf remarks1: "Remarks1",
        leaf remarks2: "Remarks2",
        leaf remarks3: "Remarks3",
    }
}

record! {
    /// `ResultOfQualificationConfirmation`: one insurance qualification (§4).
    ///
    /// The first 24 elements are in the order of the real face-reader output (§1.4);
    /// the rest follow in the §4 order.
    pub struct ResultOfQualificationConfirmation = "ResultOfQualificationConfirmation" {
        leaf address: "Address",
        leaf specific_health_checkups_info_cons_time: "SpecificHealthCheckupsInfoConsTime",
        leaf diagnosis_info_cons_flg: "DiagnosisInfoConsFlg",
        leaf specific_health_checkups_info_available_time: "SpecificHealthCheckupsInfoAvailableTime",
        leaf personal_family_classification: "PersonalFamilyClassification",
        leaf sex1: "Sex1",
        leaf specific_diseases_certificate_related_cons_flg: "SpecificDiseasesCertificateRelatedConsFlg",
        leaf name: "Name",
        leaf insurer_number: "InsurerNumber",
        leaf insured_card_symbol: "InsuredCardSymbol",
        leaf name_kana: "NameKana",
        leaf insured_card_valid_date: "InsuredCardValidDate",
        leaf limit_application_certificate_related_cons_flg: "LimitApplicationCertificateRelatedConsFlg",
        leaf insured_card_classification: "InsuredCardClassification",
        leaf insured_branch_number: "InsuredBranchNumber",
        leaf birthdate: "Birthdate",
        leaf insured_certificate_issuance_date: "InsuredCertificateIssuanceDate",
        leaf insured_identification_number: "InsuredIdentificationNumber",
        leaf pharmacists_info_available_time: "PharmacistsInfoAvailableTime",
        leaf specific_health_checkups_info_cons_flg: "SpecificHealthCheckupsInfoConsFlg",
        leaf pharmacists_info_cons_time: "PharmacistsInfoConsTime",
        leaf pharmacists_info_cons_flg: "PharmacistsInfoConsFlg",
        leaf insurer_name: "InsurerName",
        leaf post_number: "PostNumber",
        // Not in the real sample; §4 order from here.
        leaf insured_name: "InsuredName",
        leaf name_of_other: "NameOfOther",
        leaf name_of_other_kana: "NameOfOtherKana",
        leaf sex2: "Sex2",
        leaf qualification_date: "QualificationDate",
        leaf disqualification_date: "DisqualificationDate",
        leaf insured_card_expiration_date: "InsuredCardExpirationDate",
        leaf insured_partial_contribution_ratio: "InsuredPartialContributionRatio",
        leaf preschool_classification: "PreschoolClassification",
        leaf reason_of_loss: "ReasonOfLoss",
        group elderly_recipient: "ElderlyRecipientCertificateInfo" => ElderlyRecipientCertificateInfo,
        leaf limit_application_certificate_related_cons_time: "LimitApplicationCertificateRelatedConsTime",
        group limit_info: "LimitApplicationCertificateRelatedInfo" => LimitApplicationCertificateRelatedInfo,
        /// Bulk results only (OQSCD014).
        leaf limit_application_certificate_changed: "LimitApplicationCertificateChanged",
        leaf specific_diseases_certificate_related_cons_time: "SpecificDiseasesCertificateRelatedConsTime",
        list specific_diseases: "SpecificDiseasesCertificateList" => SpecificDiseasesCertificateInfo,
        /// 医療扶助 tickets.
        list medical_tickets: "PublicExpenseResultList" => MedicalTicketInfo,
        leaf public_expense_number: "PublicExpenseNumber",
        leaf beneficiary_number: "BeneficiaryNumber",
        leaf welfare_office_name: "WelfareOfficeName",
        leaf diagnosis_info_cons_time: "DiagnosisInfoConsTime",
        leaf diagnosis_info_available_time: "DiagnosisInfoAvailableTime",
        leaf operation_info_cons_flg: "OperationInfoConsFlg",
        leaf operation_info_cons_time: "OperationInfoConsTime",
        leaf operation_info_available_time: "OperationInfoAvailableTime",
        leaf diagnosis_name_cons_flg: "DiagnosisNameConsFlg",
        leaf diagnosis_name_cons_time: "DiagnosisNameConsTime",
        leaf diagnosis_name_available_time: "DiagnosisNameAvailableTime",
        leaf infectious_info_cons_flg: "InfectiousInfoConsFlg",
        leaf infectious_info_cons_time: "InfectiousInfoConsTime",
        leaf infectious_info_available_time: "InfectiousInfoAvailableTime",
        leaf allergy_info_cons_flg: "AllergyInfoConsFlg",
        leaf allergy_info_cons_time: "AllergyInfoConsTime",
        leaf allergy_info_available_time: "AllergyInfoAvailableTime",
        leaf contraindication_info_cons_flg: "ContraindicationInfoConsFlg",
        leaf contraindication_info_cons_time: "ContraindicationInfoConsTime",
        leaf contraindication_info_available_time: "ContraindicationInfoAvailableTime",
        leaf test_info_cons_flg: "TestInfoConsFlg",
        leaf test_info_cons_time: "TestInfoConsTime",
        leaf test_info_available_time: "TestInfoAvailableTime",
        leaf prescription_info_cons_flg: "PrescriptionInfoConsFlg",
        leaf prescription_info_cons_time: "PrescriptionInfoConsTime",
        leaf prescription_info_available_time: "PrescriptionInfoAvailableTime",
        leaf prescription_issue_select: "PrescriptionIssueSelect",
        leaf arbitrary_identifier: "ArbitraryIdentifier",
        leaf reference_number: "ReferenceNumber",
        leaf qualification_confirmation_key: "QualificationConfirmationKey",
    }
}

fn required<'n, 'a>(parent: &'n Node<'a>, name: &'static str) -> Result<&'n Node<'a>, WireError> {
    parent.child(name).ok_or(WireError::MissingElement(name))
}

impl Request {
    fn from_root(root: &Node<'_>) -> Result<Request, WireError> {
        let header = RequestHeader::from_node(required(root, HEADER)?)?;
        let body = required(root, BODY)?;
        let search = SearchInfo::from_node(required(body, SearchInfo::ELEMENT)?)?;
        Ok(Request { header, search })
    }

    fn write<S: Sink>(&self, sink: &mut S) {
        sink.open(ROOT);
        sink.open(HEADER);
        self.header.write_fields(sink);
        sink.close(HEADER);
        sink.open(BODY);
        sink.open(SearchInfo::ELEMENT);
        self.search.write_fields(sink);
        sink.close(SearchInfo::ELEMENT);
        sink.close(BODY);
        sink.close(ROOT);
    }
}

impl Response {
    /// A refusal as receipt computers read it: `SegmentOfResult` 9 with `ErrorCode` and
    /// `ErrorMessage`, `ProcessingResultStatus` 2. Callers add what else they know.
    pub fn refusal(process_execution_time: String, code: &str, message: String) -> Response {
        Response {
            header: ResponseHeader {
                process_execution_time,
                segment_of_result: "9".into(),
                error_code: Some(code.into()),
                error_message: Some(message),
                ..Default::default()
            },
            body: ResponseBody {
                processing_result_status: "2".into(),
                ..Default::default()
            },
        }
    }

    fn from_root(root: &Node<'_>) -> Result<Response, WireError> {
        let header = ResponseHeader::from_node(required(root, HEADER)?)?;
        let body = ResponseBody::from_node(required(root, BODY)?)?;
        Ok(Response { header, body })
    }

    fn write<S: Sink>(&self, sink: &mut S) {
        sink.open(ROOT);
        sink.open(HEADER);
        self.header.write_fields(sink);
        sink.close(HEADER);
        sink.open(BODY);
        self.body.write_fields(sink);
        sink.close(BODY);
        sink.close(ROOT);
    }
}

/// Decodes a request file (UTF-8 or Shift_JIS); returns it with the encoding it was in.
pub fn decode_request_xml(bytes: &[u8], limits: &Limits) -> Result<(Request, Encoding), WireError> {
    let (text, encoding) = input::decode_xml_text(bytes, limits)?;
    let root = input::parse_xml(&text, limits, ROOT)?;
    Ok((Request::from_root(&root)?, encoding))
}

/// Decodes a Web API request body (`{"XmlMsg":{…}}`, UTF-8).
pub fn decode_request_json(bytes: &[u8], limits: &Limits) -> Result<Request, WireError> {
    let value = input::parse_json_value(bytes, limits)?;
    let root = input::json_root(&value, ROOT)?;
    Request::from_root(&root)
}

/// Encodes a request as an XML file in `enc`.
pub fn encode_request_xml(req: &Request, enc: Encoding) -> Vec<u8> {
    let mut sink = XmlSink::new(enc, 640);
    req.write(&mut sink);
    finish_xml(sink.into_string(), enc)
}

/// Encodes a request as Web API JSON.
pub fn encode_request_json(req: &Request) -> Vec<u8> {
    let mut sink = JsonSink::new(512);
    req.write(&mut sink);
    sink.finish()
}

/// Encodes a result as an XML file in `enc`. `CharacterCodeIdentifier` is written as
/// `enc`'s code (`0`/`1`), whatever `res.header.character_code_identifier` holds.
pub fn encode_response_xml(res: &Response, enc: Encoding) -> Vec<u8> {
    let mut sink = XmlSink::new(enc, 4096);
    sink.force_character_code(enc.character_code_identifier());
    res.write(&mut sink);
    finish_xml(sink.into_string(), enc)
}

/// Encodes a result as Web API JSON (fields written as given).
pub fn encode_response_json(res: &Response) -> Vec<u8> {
    let mut sink = JsonSink::new(3072);
    res.write(&mut sink);
    sink.finish()
}

/// Decodes a result file (UTF-8 or Shift_JIS); returns it with the encoding it was in.
/// `CharacterCodeIdentifier` is returned as written, not checked against the encoding.
pub fn decode_response_xml(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Response, Encoding), WireError> {
    let (text, encoding) = input::decode_xml_text(bytes, limits)?;
    let root = input::parse_xml(&text, limits, ROOT)?;
    Ok((Response::from_root(&root)?, encoding))
}

/// Decodes a Web API result (`{"XmlMsg":{…}}`, UTF-8).
pub fn decode_response_json(bytes: &[u8], limits: &Limits) -> Result<Response, WireError> {
    let value = input::parse_json_value(bytes, limits)?;
    let root = input::json_root(&value, ROOT)?;
    Response::from_root(&root)
}
