//! Reference-number registration (照会番号登録, single): `OQSsiimm01req` /
//! `OQSsiimm01res`, `ons-interface.md` §5.1 (interface OQS-IF-003).
//!
//! The facility links its own patient ID (`ReferenceNumber`, ≤ 50 characters) to a
//! person identified by insurance-card data; later check results for that person carry
//! it. The result echoes the registration in the element order of the real sample
//! (§1.4): `InsurerNumber`, `InsuredIdentificationNumber`, `ReferenceNumber`,
//! `InsuredCardSymbol`, `InsuredBranchNumber`; the request uses the same record.
//!
//! `InsurerNumber` is 8 characters on the wire; 6-digit 国保 numbers are left-padded with
//! **spaces** ([`pad_insurer_number`]). Decoding keeps whatever was sent.

record! {
    /// `OQSsiimm01req` `MessageHeader`.
    pub struct RequestHeader = "MessageHeader" {
        req medical_institution_code: "MedicalInstitutionCode",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
    }
}

record! {
    /// `ReferenceNumberRegistrationInfo`, in the order of the real result.
    pub struct ReferenceNumberRegistrationInfo = "ReferenceNumberRegistrationInfo" {
        req insurer_number: "InsurerNumber",
        req insured_identification_number: "InsuredIdentificationNumber",
        req reference_number: "ReferenceNumber",
        leaf insured_card_symbol: "InsuredCardSymbol",
        leaf insured_branch_number: "InsuredBranchNumber",
    }
}

record! {
    /// `OQSsiimm01req` `MessageBody`.
    pub struct RequestBody = "MessageBody" {
        group registration: "ReferenceNumberRegistrationInfo" => ReferenceNumberRegistrationInfo,
    }
}

message! {
    /// `OQSsiimm01req`: register (or replace) one reference number.
    pub struct Request { header: RequestHeader, body: RequestBody, capacity: 640 }
}

record! {
    /// `OQSsiimm01res` `MessageHeader`, in the order of the real sample; `ErrorCode` and
    /// `ErrorMessage` only when `SegmentOfResult` is not 1.
    pub struct ResponseHeader = "MessageHeader" {
        req process_execution_time: "ProcessExecutionTime",
        req character_code_identifier: "CharacterCodeIdentifier",
        req segment_of_result: "SegmentOfResult",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
        leaf medical_institution_code: "MedicalInstitutionCode",
        leaf error_code: "ErrorCode",
        leaf error_message: "ErrorMessage",
    }
}

record! {
    /// `OQSsiimm01res` `MessageBody`. `ProcessingResultStatus` 1 registered, 2 not (with
    /// `ProcessingResultCode` and `ProcessingResultMessage`).
    pub struct ResponseBody = "MessageBody" {
        group registration: "ReferenceNumberRegistrationInfo" => ReferenceNumberRegistrationInfo,
        req processing_result_status: "ProcessingResultStatus",
        leaf processing_result_code: "ProcessingResultCode",
        leaf processing_result_message: "ProcessingResultMessage",
    }
}

message! {
    /// `OQSsiimm01res`.
    pub struct Response { header: ResponseHeader, body: ResponseBody, capacity: 1024 }
}

/// `InsurerNumber` as written in registration files: a 6-digit number right-aligned in 8
/// characters with leading spaces (`"  138057"`); anything else unchanged.
pub fn pad_insurer_number(number: &str) -> String {
    if number.len() == 6 && number.bytes().all(|b| b.is_ascii_digit()) {
        format!("  {number}")
    } else {
        number.to_string()
    }
}
