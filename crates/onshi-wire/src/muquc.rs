//! Bulk qualification check (一括照会): `OQSmuquc01req` / `OQSmuquc01res` (upload, answered
//! with a `ReceptionNumber`) and `OQSmuquc02req` / `OQSmuquc02res` (download of the
//! results), `ons-interface.md` §3.1.
//!
//! Each patient's query is the single check's [`SearchInfo`] (with `ArbitraryIdentifier`),
//! and each result unit carries the single check's
//! [`ResultOfQualificationConfirmation`]. The patients (`QualificationConfirmSearchInfo`)
//! and the units (`BulkConfirmUnit`) repeat directly inside `MessageBody`, without a
//! wrapper element; in JSON they are arrays under those names.
//!
//! Header element order: no real bulk output has been seen. The elements the bulk
//! headers share with the two real headers (§1.4: `ProcessExecutionTime`,
//! `CharacterCodeIdentifier`, `SegmentOfResult`, …, `ArbitraryFileIdentifier`,
//! `MedicalInstitutionCode`) come in that order; the others follow in the §3.1 order.
//!
//! Decode bulk messages with [`crate::Limits::bulk`]: the defaults (1 MiB) are sized for
//! one patient.

use crate::record::Record as _;
use crate::siquc01::{RequestHeader, ResultOfQualificationConfirmation, SearchInfo};
use crate::{Limits, WireError};

record! {
    /// `OQSmuquc01req` `MessageBody`: one `QualificationConfirmSearchInfo` per patient.
    pub struct UploadRequestBody = "MessageBody" {
        repeat searches: "QualificationConfirmSearchInfo" => SearchInfo,
    }
}

message! {
    /// `OQSmuquc01req`: the patients to check. The header is the single check's
    /// (`QualificationConfirmationDate`, `MedicalInstitutionCode`, `ArbitraryFileIdentifier`).
    pub struct UploadRequest { header: RequestHeader, body: UploadRequestBody, capacity: 1 << 16 }
}

record! {
    /// `OQSmuquc01res` `MessageHeader`.
    pub struct UploadResponseHeader = "MessageHeader" {
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
    /// `OQSmuquc01res` `MessageBody` (both absent when the upload was refused).
    pub struct UploadResponseBody = "MessageBody" {
        leaf reception_number: "ReceptionNumber",
        /// `YYYYMMDDHHmmss`.
        leaf reception_date_time: "ReceptionDateTime",
    }
}

message! {
    /// `OQSmuquc01res`: the upload was accepted (`ReceptionNumber`) or refused.
    pub struct UploadResponse { header: UploadResponseHeader, body: UploadResponseBody, capacity: 768 }
}

record! {
    /// `OQSmuquc02req` `MessageHeader`.
    pub struct ResultRequestHeader = "MessageHeader" {
        req medical_institution_code: "MedicalInstitutionCode",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
    }
}

record! {
    /// `OQSmuquc02req` `MessageBody`.
    pub struct ResultRequestBody = "MessageBody" {
        req reception_number: "ReceptionNumber",
    }
}

message! {
    /// `OQSmuquc02req`: asks for the results of one upload.
    pub struct ResultRequest { header: ResultRequestHeader, body: ResultRequestBody, capacity: 384 }
}

record! {
    /// `OQSmuquc02res` `MessageHeader`. `SegmentOfResult`: 1 done, 2 still processing
    /// (ask again later), 9 error (`ErrorCode`, `ErrorMessage`).
    pub struct ResultResponseHeader = "MessageHeader" {
        req process_execution_time: "ProcessExecutionTime",
        req character_code_identifier: "CharacterCodeIdentifier",
        req segment_of_result: "SegmentOfResult",
        leaf qualification_confirmation_date: "QualificationConfirmationDate",
        leaf arbitrary_file_identifier: "ArbitraryFileIdentifier",
        leaf medical_institution_code: "MedicalInstitutionCode",
        leaf reception_number: "ReceptionNumber",
        leaf error_code: "ErrorCode",
        leaf error_message: "ErrorMessage",
        leaf number_of_processing_result: "NumberOfProcessingResult",
        leaf number_of_normal_processing: "NumberOfNormalProcessing",
        leaf number_of_error: "NumberOfError",
    }
}

record! {
    /// `BulkConfirmUnit`: one patient's result, in the order of the upload.
    pub struct BulkConfirmUnit = "BulkConfirmUnit" {
        /// The patient's query as uploaded (with `ArbitraryIdentifier`).
        group search_info: "QualificationConfirmSearchInfo" => SearchInfo,
        req processing_result_status: "ProcessingResultStatus",
        leaf processing_result_code: "ProcessingResultCode",
        leaf processing_result_message: "ProcessingResultMessage",
        leaf qualification_validity: "QualificationValidity",
        repeat results: "ResultOfQualificationConfirmation" => ResultOfQualificationConfirmation,
        /// 照会番号 registered by the facility for this person, if any.
        leaf reference_number: "ReferenceNumber",
    }
}

const UNIT_ROOT: &str = "BulkConfirmUnit";

impl BulkConfirmUnit {
    /// The unit in the JSON form (`{"BulkConfirmUnit":{…}}`), for storing a finished unit
    /// until its download.
    pub fn to_json(&self) -> Vec<u8> {
        let mut sink = crate::output::JsonSink::new(2048);
        crate::output::Sink::open(&mut sink, UNIT_ROOT);
        self.write_fields(&mut sink);
        crate::output::Sink::close(&mut sink, UNIT_ROOT);
        sink.finish()
    }

    /// Reads a unit written by [`BulkConfirmUnit::to_json`].
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<BulkConfirmUnit, WireError> {
        let value = crate::input::parse_json_value(bytes, limits)?;
        let root = crate::input::json_root(&value, UNIT_ROOT)?;
        BulkConfirmUnit::from_node(&root)
    }
}

record! {
    /// `OQSmuquc02res` `MessageBody`.
    pub struct ResultResponseBody = "MessageBody" {
        repeat units: "BulkConfirmUnit" => BulkConfirmUnit,
    }
}

message! {
    /// `OQSmuquc02res`: the results of one upload, or "still processing", or an error.
    pub struct ResultResponse { header: ResultResponseHeader, body: ResultResponseBody, capacity: 1 << 16 }
}
