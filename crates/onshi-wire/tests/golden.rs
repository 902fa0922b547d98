//! Exact output text: declaration, order, indentation, CharacterCodeIdentifier.
#![allow(clippy::unwrap_used)]

mod common;

use encoding_rs::SHIFT_JIS;
use onshi_wire::Encoding;
use onshi_wire::siquc01::*;

const FULL_UTF8: &str = include_str!("golden/full_response_utf8.xml");
const FULL_JSON: &str = include_str!("golden/full_response.json");
const REQUEST_UTF8: &str = include_str!("golden/request_utf8.xml");

#[test]
fn full_response_utf8_is_exact() {
    let out = encode_response_xml(&common::full_response(), Encoding::Utf8);
    assert_eq!(String::from_utf8(out).unwrap(), FULL_UTF8);
}

#[test]
fn full_response_shift_jis_is_exact() {
    let out = encode_response_xml(&common::full_response(), Encoding::ShiftJis);
    let expected_text = FULL_UTF8
        .replacen("encoding=\"UTF-8\"", "encoding=\"Shift_JIS\"", 1)
        .replacen(
            "<CharacterCodeIdentifier>0</CharacterCodeIdentifier>",
            "<CharacterCodeIdentifier>1</CharacterCodeIdentifier>",
            1,
        );
    let (expected, _, unmappable) = SHIFT_JIS.encode(&expected_text);
    assert!(!unmappable);
    assert_eq!(out, expected.into_owned());
    assert!(out.starts_with(
        b"<?xml version=\"1.0\" encoding=\"Shift_JIS\" standalone=\"no\"?>\n<XmlMsg>\n"
    ));
    // 髙 (IBM extension) is encoded natively.
    assert!(out.windows(2).any(|w| w == [0xFB, 0xFC]));
}

#[test]
fn full_response_json_is_exact() {
    let out = encode_response_json(&common::full_response());
    assert_eq!(String::from_utf8(out).unwrap(), FULL_JSON);
    // And it is real JSON with the documented shapes.
    let v: serde_json::Value = serde_json::from_str(FULL_JSON).unwrap();
    let body = &v["XmlMsg"]["MessageBody"];
    let first = &body["ResultList"][0]["ResultOfQualificationConfirmation"];
    assert_eq!(first["InsurerNumber"], "  138057");
    let list = first["SpecificDiseasesCertificateList"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[1]["SpecificDiseasesSelfPay"],
        "2:SpecificDiseasesSelfPay"
    );
}

#[test]
fn request_utf8_is_exact() {
    let out = encode_request_xml(&common::request(), Encoding::Utf8);
    assert_eq!(String::from_utf8(out).unwrap(), REQUEST_UTF8);
}

#[test]
fn layout_is_lf_and_four_space_indent() {
    for text in [FULL_UTF8, REQUEST_UTF8] {
        assert!(!text.contains('\r'));
        assert!(text.ends_with("</XmlMsg>\n"));
        let mut depth = 0usize;
        for line in text.lines().skip(1) {
            let trimmed = line.trim_start_matches(' ');
            let indent = line.len() - trimmed.len();
            if trimmed.starts_with("</") {
                depth -= 1;
                assert_eq!(indent, depth * 4, "{line}");
            } else {
                assert_eq!(indent, depth * 4, "{line}");
                if !trimmed.contains("</") {
                    depth += 1;
                }
            }
        }
        assert_eq!(depth, 0);
    }
}

fn position(text: &str, tag: &str) -> usize {
    text.find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("{tag} missing"))
}

#[test]
fn real_output_order() {
    let header = [
        "ProcessExecutionTime",
        "CharacterCodeIdentifier",
        "SegmentOfResult",
        "QualificationConfirmationDate",
        "ReferenceClassification",
        "ArbitraryFileIdentifier",
        "MedicalInstitutionCode",
    ];
    let body = [
        "ResultList",
        "ProcessingResultStatus",
        "QualificationValidity",
    ];
    let face = [
        "Address",
        "SpecificHealthCheckupsInfoConsTime",
        "DiagnosisInfoConsFlg",
        "SpecificHealthCheckupsInfoAvailableTime",
        "PersonalFamilyClassification",
        "Sex1",
        "SpecificDiseasesCertificateRelatedConsFlg",
        "Name",
        "InsurerNumber",
        "InsuredCardSymbol",
        "NameKana",
        "InsuredCardValidDate",
        "LimitApplicationCertificateRelatedConsFlg",
        "InsuredCardClassification",
        "InsuredBranchNumber",
        "Birthdate",
        "InsuredCertificateIssuanceDate",
        "InsuredIdentificationNumber",
        "PharmacistsInfoAvailableTime",
        "SpecificHealthCheckupsInfoConsFlg",
        "PharmacistsInfoConsTime",
        "PharmacistsInfoConsFlg",
        "InsurerName",
        "PostNumber",
    ];
    for seq in [&header[..], &body[..], &face[..]] {
        let positions: Vec<usize> = seq.iter().map(|t| position(FULL_UTF8, t)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seq:?}");
    }
}

#[test]
fn typical_response_omits_absent_elements() {
    let out = String::from_utf8(encode_response_xml(
        &common::typical_response(),
        Encoding::Utf8,
    ))
    .unwrap();
    assert!(!out.contains("/>"));
    assert!(!out.contains("></"));
    assert!(!out.contains("ErrorCode"));
    assert!(!out.contains("SpecificDiseasesCertificateList"));
    assert!(!out.contains("ElderlyRecipientCertificateInfo"));
    assert!(
        out.contains("        <ResultList>\n            <ResultOfQualificationConfirmation>\n")
    );
    let json = String::from_utf8(encode_response_json(&common::typical_response())).unwrap();
    assert!(!json.contains("null"));
    assert!(!json.contains("ErrorCode"));
    assert!(json.contains("\"ResultList\":[{\"ResultOfQualificationConfirmation\":{"));
}

#[test]
fn character_code_identifier_follows_the_encoding() {
    let mut res = common::typical_response();
    res.header.character_code_identifier = "1".into(); // wrong for UTF-8 on purpose
    let utf8 = String::from_utf8(encode_response_xml(&res, Encoding::Utf8)).unwrap();
    assert!(utf8.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"));
    assert!(utf8.contains("<CharacterCodeIdentifier>0</CharacterCodeIdentifier>"));
    let (back, enc) = decode_response_xml(
        &encode_response_xml(&res, Encoding::ShiftJis),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(back.header.character_code_identifier, "1");
    assert_eq!(Encoding::Utf8.character_code_identifier(), "0");
    assert_eq!(Encoding::ShiftJis.character_code_identifier(), "1");
    assert_eq!(
        Encoding::from_character_code_identifier("1"),
        Some(Encoding::ShiftJis)
    );
    assert_eq!(
        Encoding::from_character_code_identifier("0"),
        Some(Encoding::Utf8)
    );
    assert_eq!(Encoding::from_character_code_identifier("2"), None);
}

#[test]
fn several_results_each_in_their_own_element() {
    let mut res = common::typical_response();
    res.body.results.push(res.body.results[0].clone());
    let out = String::from_utf8(encode_response_xml(&res, Encoding::Utf8)).unwrap();
    assert_eq!(out.matches("<ResultList>").count(), 1);
    assert_eq!(
        out.matches("<ResultOfQualificationConfirmation>").count(),
        2
    );
    let json = String::from_utf8(encode_response_json(&res)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["XmlMsg"]["MessageBody"]["ResultList"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
