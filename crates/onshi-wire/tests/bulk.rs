//! Bulk check (`OQSmuquc`) and reference-number registration (`OQSsiimm01`) messages:
//! round trips in both encodings and JSON, exact layout, limits.
#![allow(clippy::unwrap_used)]

mod common;

use encoding_rs::SHIFT_JIS;
use onshi_wire::siquc01::{RequestHeader, SearchInfo};
use onshi_wire::{Encoding, Limits, WireError, muquc, siimm};

fn search(i: usize) -> SearchInfo {
    SearchInfo {
        insurer_number: "  138057".into(),
        insured_card_symbol: Some(format!("記号{i}")),
        insured_identification_number: format!("{i}"),
        insured_branch_number: Some("01".into()),
        birthdate: "19600101".into(),
        limit_application_certificate_related_cons_flg: Some("0".into()),
        arbitrary_identifier: Some(format!("patient-{i}")),
    }
}

fn upload(n: usize) -> muquc::UploadRequest {
    muquc::UploadRequest {
        header: RequestHeader {
            qualification_confirmation_date: "20261124".into(),
            medical_institution_code: "1311111111".into(),
            arbitrary_file_identifier: Some("202611230001".into()),
        },
        body: muquc::UploadRequestBody {
            searches: (0..n).map(search).collect(),
        },
    }
}

fn result_response() -> muquc::ResultResponse {
    let mut item = common::typical_response().body.results[0].clone();
    item.name = Some("𠮷野　髙子".into());
    item.reference_number = Some("P-0042".into());
    let units = vec![
        muquc::BulkConfirmUnit {
            search_info: Some(search(1)),
            processing_result_status: "1".into(),
            qualification_validity: Some("1".into()),
            results: vec![item],
            reference_number: Some("P-0042".into()),
            ..Default::default()
        },
        muquc::BulkConfirmUnit {
            search_info: Some(search(2)),
            processing_result_status: "1".into(),
            processing_result_message: Some("該当する資格情報がありません。".into()),
            qualification_validity: Some("4".into()),
            ..Default::default()
        },
        muquc::BulkConfirmUnit {
            search_info: Some(search(3)),
            processing_result_status: "2".into(),
            processing_result_code: Some("ONS2001".into()),
            processing_result_message: Some("保険者番号の値が正しくありません".into()),
            ..Default::default()
        },
    ];
    muquc::ResultResponse {
        header: muquc::ResultResponseHeader {
            process_execution_time: "20261123100501".into(),
            character_code_identifier: "0".into(),
            segment_of_result: "1".into(),
            qualification_confirmation_date: Some("20261124".into()),
            arbitrary_file_identifier: Some("202611230001".into()),
            medical_institution_code: Some("1311111111".into()),
            reception_number: Some("R20261123100000123456".into()),
            number_of_processing_result: Some("3".into()),
            number_of_normal_processing: Some("2".into()),
            number_of_error: Some("1".into()),
            ..Default::default()
        },
        body: muquc::ResultResponseBody { units },
    }
}

fn registration() -> siimm::Request {
    siimm::Request {
        header: siimm::RequestHeader {
            medical_institution_code: "1311111111".into(),
            arbitrary_file_identifier: Some("202611230002".into()),
        },
        body: siimm::RequestBody {
            registration: Some(siimm::ReferenceNumberRegistrationInfo {
                insurer_number: siimm::pad_insurer_number("138057"),
                insured_identification_number: "12345".into(),
                reference_number: "P-0042".into(),
                insured_card_symbol: Some("記号１".into()),
                insured_branch_number: Some("01".into()),
            }),
        },
    }
}

#[test]
fn upload_round_trips_in_both_encodings_and_json() {
    let req = upload(3);
    for enc in [Encoding::Utf8, Encoding::ShiftJis] {
        let bytes = req.encode_xml(enc);
        let (back, got) = muquc::UploadRequest::decode_xml(&bytes, &Limits::default()).unwrap();
        assert_eq!(got, enc);
        assert_eq!(back, req);
    }
    let json = req.encode_json();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let arr = v["XmlMsg"]["MessageBody"]["QualificationConfirmSearchInfo"]
        .as_array()
        .unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[2]["ArbitraryIdentifier"], "patient-2");
    assert_eq!(
        muquc::UploadRequest::decode_json(&json, &Limits::default()).unwrap(),
        req
    );
}

#[test]
fn upload_layout_is_exact() {
    let text = String::from_utf8(upload(2).encode_xml(Encoding::Utf8)).unwrap();
    let one = |i: usize| {
        format!(
            "        <QualificationConfirmSearchInfo>\n\
            \x20           <InsurerNumber>  138057</InsurerNumber>\n\
            \x20           <InsuredCardSymbol>記号{i}</InsuredCardSymbol>\n\
            \x20           <InsuredIdentificationNumber>{i}</InsuredIdentificationNumber>\n\
            \x20           <InsuredBranchNumber>01</InsuredBranchNumber>\n\
            \x20           <Birthdate>19600101</Birthdate>\n\
            \x20           <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>\n\
            \x20           <ArbitraryIdentifier>patient-{i}</ArbitraryIdentifier>\n\
            \x20       </QualificationConfirmSearchInfo>\n"
        )
    };
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<XmlMsg>\n    <MessageHeader>\n\
        \x20       <QualificationConfirmationDate>20261124</QualificationConfirmationDate>\n\
        \x20       <MedicalInstitutionCode>1311111111</MedicalInstitutionCode>\n\
        \x20       <ArbitraryFileIdentifier>202611230001</ArbitraryFileIdentifier>\n\
        \x20   </MessageHeader>\n    <MessageBody>\n{}{}    </MessageBody>\n</XmlMsg>\n",
        one(0),
        one(1)
    );
    assert_eq!(text, expected);
}

#[test]
fn upload_response_layout_is_exact() {
    let res = muquc::UploadResponse {
        header: muquc::UploadResponseHeader {
            process_execution_time: "20261123100000".into(),
            character_code_identifier: "0".into(),
            segment_of_result: "1".into(),
            arbitrary_file_identifier: Some("202611230001".into()),
            medical_institution_code: Some("1311111111".into()),
            ..Default::default()
        },
        body: muquc::UploadResponseBody {
            reception_number: Some("R1".into()),
            reception_date_time: Some("20261123100000".into()),
        },
    };
    let text = String::from_utf8(res.encode_xml(Encoding::ShiftJis)).unwrap();
    assert_eq!(
        text,
        "<?xml version=\"1.0\" encoding=\"Shift_JIS\" standalone=\"no\"?>\n<XmlMsg>\n    <MessageHeader>\n\
        \x20       <ProcessExecutionTime>20261123100000</ProcessExecutionTime>\n\
        \x20       <CharacterCodeIdentifier>1</CharacterCodeIdentifier>\n\
        \x20       <SegmentOfResult>1</SegmentOfResult>\n\
        \x20       <ArbitraryFileIdentifier>202611230001</ArbitraryFileIdentifier>\n\
        \x20       <MedicalInstitutionCode>1311111111</MedicalInstitutionCode>\n\
        \x20   </MessageHeader>\n    <MessageBody>\n\
        \x20       <ReceptionNumber>R1</ReceptionNumber>\n\
        \x20       <ReceptionDateTime>20261123100000</ReceptionDateTime>\n\
        \x20   </MessageBody>\n</XmlMsg>\n",
        "CharacterCodeIdentifier follows the encoding written"
    );
    let (back, _) = muquc::UploadResponse::decode_xml(text.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(back.body, res.body);
}

#[test]
fn result_response_round_trips_and_keeps_rare_kanji_in_shift_jis() {
    let res = result_response();
    for enc in [Encoding::Utf8, Encoding::ShiftJis] {
        let bytes = res.encode_xml(enc);
        let (back, got) = muquc::ResultResponse::decode_xml(&bytes, &Limits::default()).unwrap();
        assert_eq!(got, enc);
        let mut expected = res.clone();
        expected.header.character_code_identifier = enc.character_code_identifier().into();
        assert_eq!(back, expected, "{enc:?}");
    }
    let sjis = res.encode_xml(Encoding::ShiftJis);
    // 𠮷 (U+20BB7) has no Shift_JIS code: written as a character reference; 髙 is FB FC.
    let (text, _, errors) = SHIFT_JIS.decode(&sjis);
    assert!(!errors);
    assert!(text.contains("<Name>&#134071;野　髙子</Name>"), "{text}");
    assert!(sjis.windows(2).any(|w| w == [0xFB, 0xFC]));
    // Units repeat directly in the body, each with its echo first.
    assert_eq!(text.matches("<BulkConfirmUnit>").count(), 3);
    assert!(!text.contains("<ResultList>"));
    let json = res.encode_json();
    assert_eq!(
        muquc::ResultResponse::decode_json(&json, &Limits::default()).unwrap(),
        res
    );
}

#[test]
fn a_unit_survives_its_stored_json_form() {
    for unit in result_response().body.units {
        let json = unit.to_json();
        assert!(json.starts_with(b"{\"BulkConfirmUnit\":{"));
        assert_eq!(
            muquc::BulkConfirmUnit::from_json(&json, &Limits::default()).unwrap(),
            unit
        );
    }
}

#[test]
fn ten_thousand_patients_fit_the_bulk_limits_only() {
    let req = upload(10_000);
    let bytes = req.encode_xml(Encoding::ShiftJis);
    assert!(matches!(
        muquc::UploadRequest::decode_xml(&bytes, &Limits::default()),
        Err(WireError::TooLarge { .. })
    ));
    let (back, _) = muquc::UploadRequest::decode_xml(&bytes, &Limits::bulk()).unwrap();
    assert_eq!(back.body.searches.len(), 10_000);
    assert_eq!(
        back.body.searches[9_999].arbitrary_identifier.as_deref(),
        Some("patient-9999")
    );
    // The whole result of such an upload (one full unit each) fits too.
    let mut res = result_response();
    let unit = res.body.units[0].clone();
    res.body.units = vec![unit; 10_000];
    let out = res.encode_xml(Encoding::Utf8);
    assert!(out.len() > Limits::default().max_bytes);
    let (back, _) = muquc::ResultResponse::decode_xml(&out, &Limits::bulk()).unwrap();
    assert_eq!(back.body.units.len(), 10_000);
}

#[test]
fn bulk_messages_keep_the_input_hardening() {
    let doctype = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><XmlMsg/>";
    assert_eq!(
        muquc::UploadRequest::decode_xml(doctype, &Limits::bulk()),
        Err(WireError::DoctypeForbidden)
    );
    let missing = b"<XmlMsg><MessageHeader><MedicalInstitutionCode>1311111111</MedicalInstitutionCode></MessageHeader><MessageBody/></XmlMsg>";
    assert_eq!(
        muquc::ResultRequest::decode_xml(missing, &Limits::default()),
        Err(WireError::MissingElement("ReceptionNumber"))
    );
    // A patient without a required element is refused, not skipped.
    let bad = String::from_utf8(upload(2).encode_xml(Encoding::Utf8))
        .unwrap()
        .replacen("<Birthdate>19600101</Birthdate>", "", 1);
    assert_eq!(
        muquc::UploadRequest::decode_xml(bad.as_bytes(), &Limits::default()),
        Err(WireError::MissingElement("Birthdate"))
    );
    // An empty body means no patients (the service refuses that, not the decoder).
    let empty = b"<XmlMsg><MessageHeader><QualificationConfirmationDate>20261124</QualificationConfirmationDate><MedicalInstitutionCode>1311111111</MedicalInstitutionCode></MessageHeader><MessageBody></MessageBody></XmlMsg>";
    let (r, _) = muquc::UploadRequest::decode_xml(empty, &Limits::default()).unwrap();
    assert!(r.body.searches.is_empty());
    // A single JSON object is one patient.
    let one = br#"{"XmlMsg":{"MessageHeader":{"QualificationConfirmationDate":"20261124","MedicalInstitutionCode":"1311111111"},"MessageBody":{"QualificationConfirmSearchInfo":{"InsurerNumber":"06139999","InsuredIdentificationNumber":"1","Birthdate":"20000229"}}}}"#;
    let r = muquc::UploadRequest::decode_json(one, &Limits::default()).unwrap();
    assert_eq!(r.body.searches.len(), 1);
}

#[test]
fn result_request_round_trips() {
    let req = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: "1311111111".into(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: "R20261123100000123456".into(),
        },
    };
    for enc in [Encoding::Utf8, Encoding::ShiftJis] {
        let (back, _) =
            muquc::ResultRequest::decode_xml(&req.encode_xml(enc), &Limits::default()).unwrap();
        assert_eq!(back, req);
    }
}

#[test]
fn registration_pads_six_digit_insurers_with_spaces_and_round_trips() {
    assert_eq!(siimm::pad_insurer_number("138057"), "  138057");
    assert_eq!(siimm::pad_insurer_number("06139999"), "06139999");
    assert_eq!(siimm::pad_insurer_number("  138057"), "  138057");
    let req = registration();
    let text = String::from_utf8(req.encode_xml(Encoding::Utf8)).unwrap();
    assert!(text.contains("<InsurerNumber>  138057</InsurerNumber>"));
    for enc in [Encoding::Utf8, Encoding::ShiftJis] {
        let (back, got) =
            siimm::Request::decode_xml(&req.encode_xml(enc), &Limits::default()).unwrap();
        assert_eq!((back, got), (req.clone(), enc));
    }
}

#[test]
fn registration_result_has_the_real_sample_order() {
    let res = siimm::Response {
        header: siimm::ResponseHeader {
            process_execution_time: "20261123100000".into(),
            character_code_identifier: "0".into(),
            segment_of_result: "1".into(),
            arbitrary_file_identifier: Some("202611230002".into()),
            medical_institution_code: Some("1311111111".into()),
            ..Default::default()
        },
        body: siimm::ResponseBody {
            registration: registration().body.registration,
            processing_result_status: "1".into(),
            ..Default::default()
        },
    };
    let text = String::from_utf8(res.encode_xml(Encoding::Utf8)).unwrap();
    assert_eq!(
        text,
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<XmlMsg>\n    <MessageHeader>\n\
        \x20       <ProcessExecutionTime>20261123100000</ProcessExecutionTime>\n\
        \x20       <CharacterCodeIdentifier>0</CharacterCodeIdentifier>\n\
        \x20       <SegmentOfResult>1</SegmentOfResult>\n\
        \x20       <ArbitraryFileIdentifier>202611230002</ArbitraryFileIdentifier>\n\
        \x20       <MedicalInstitutionCode>1311111111</MedicalInstitutionCode>\n\
        \x20   </MessageHeader>\n    <MessageBody>\n\
        \x20       <ReferenceNumberRegistrationInfo>\n\
        \x20           <InsurerNumber>  138057</InsurerNumber>\n\
        \x20           <InsuredIdentificationNumber>12345</InsuredIdentificationNumber>\n\
        \x20           <ReferenceNumber>P-0042</ReferenceNumber>\n\
        \x20           <InsuredCardSymbol>記号１</InsuredCardSymbol>\n\
        \x20           <InsuredBranchNumber>01</InsuredBranchNumber>\n\
        \x20       </ReferenceNumberRegistrationInfo>\n\
        \x20       <ProcessingResultStatus>1</ProcessingResultStatus>\n\
        \x20   </MessageBody>\n</XmlMsg>\n"
    );
    let (back, _) = siimm::Response::decode_xml(text.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(back, res);
}

#[test]
fn registration_with_a_rare_kanji_reference_survives_shift_jis() {
    let mut req = registration();
    if let Some(r) = req.body.registration.as_mut() {
        r.reference_number = "𠮷田-髙-〜".into();
    }
    let bytes = req.encode_xml(Encoding::ShiftJis);
    let (back, enc) = siimm::Request::decode_xml(&bytes, &Limits::default()).unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    // WAVE DASH is written in its CP932 form (FULLWIDTH TILDE); the rest is exact.
    assert_eq!(
        back.body.registration.unwrap().reference_number,
        "𠮷田-髙-～"
    );
}
