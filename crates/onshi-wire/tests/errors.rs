//! One test per `WireError` variant, plus codes and Japanese messages.
#![allow(clippy::unwrap_used)]

mod common;

use onshi_wire::siquc01::*;
use onshi_wire::{Encoding, Limits, WireError};

fn limits() -> Limits {
    Limits::default()
}

fn request_xml() -> String {
    String::from_utf8(encode_request_xml(&common::request(), Encoding::Utf8)).unwrap()
}

fn req_err(bytes: &[u8]) -> WireError {
    decode_request_xml(bytes, &limits()).unwrap_err()
}

#[test]
fn too_large_before_anything_else() {
    let small = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    let junk = vec![0xFFu8; 101]; // would be InvalidBytes if it were read
    let e = decode_request_xml(&junk, &small).unwrap_err();
    assert_eq!(
        e,
        WireError::TooLarge {
            size: 101,
            max: 100
        }
    );
    assert_eq!(e.code(), "XML_TOO_LARGE");
    assert!(e.message_ja().contains("上限100バイト"));
    assert!(matches!(
        decode_request_json(&junk, &small),
        Err(WireError::TooLarge { .. })
    ));
    assert!(matches!(
        decode_response_xml(&junk, &small),
        Err(WireError::TooLarge { .. })
    ));
    assert!(matches!(
        decode_response_json(&junk, &small),
        Err(WireError::TooLarge { .. })
    ));
    assert_eq!(
        Limits::default(),
        Limits {
            max_bytes: 1 << 20,
            max_depth: 16
        }
    );
}

#[test]
fn malformed() {
    let xml = request_xml();
    let cases = [
        xml.replace("</MessageHeader>", "</MessageHeadr>"), // mismatched end
        xml.replace("</XmlMsg>\n", ""),                     // unclosed root
        xml.replace("記号１", "&nbsp;"),                    // undefined entity
        xml.replace("記号１", "&#xD800;"),                  // bad char reference
        format!("{xml}<XmlMsg/>"),                          // two roots
        format!("{xml}trailing"),                           // text after root
        String::new(),                                      // no root
        "<?xml version=\"1.0\" encoding=\"UTF-8\"".into(),  // unterminated declaration
    ];
    for case in cases {
        let e = req_err(case.as_bytes());
        assert!(matches!(e, WireError::Malformed(_)), "{case:?} → {e:?}");
        assert_eq!(e.code(), "XML_MALFORMED");
        assert!(e.message_ja().starts_with("XMLの形式が正しくありません: "));
    }
}

#[test]
fn doctype_and_entity_are_forbidden() {
    let xml = request_xml();
    let with_doctype = xml.replacen(
        "<XmlMsg>",
        "<!DOCTYPE XmlMsg [<!ENTITY x \"y\">]>\n<XmlMsg>",
        1,
    );
    let with_entity = xml.replacen("<XmlMsg>", "<!ENTITY x \"y\">\n<XmlMsg>", 1);
    let lower = xml.replacen("<XmlMsg>", "<!doctype XmlMsg>\n<XmlMsg>", 1);
    for case in [with_doctype, with_entity, lower] {
        let e = req_err(case.as_bytes());
        assert_eq!(e, WireError::DoctypeForbidden);
        assert_eq!(e.code(), "XML_DOCTYPE");
        assert!(e.message_ja().contains("DOCTYPE"));
    }
    // Checked before the encoding: even undecodable bytes report the DOCTYPE.
    let mut bytes = b"<!DOCTYPE x>".to_vec();
    bytes.push(0xFF);
    assert_eq!(req_err(&bytes), WireError::DoctypeForbidden);
}

#[test]
fn encoding_mismatch() {
    // Declared Shift_JIS, bytes invalid as Shift_JIS (0x81 followed by 0x20 is no pair).
    let sjis = String::from_utf8(encode_request_xml(
        &common::minimal_request(),
        Encoding::Utf8,
    ))
    .unwrap()
    .replacen("UTF-8", "Shift_JIS", 1)
    .replacen("06139999", "\u{1}", 1);
    let mut bad_sjis = sjis.into_bytes();
    let pos = bad_sjis.iter().position(|&b| b == 1).unwrap();
    bad_sjis[pos] = 0x81;
    bad_sjis.insert(pos + 1, b' ');
    let e = req_err(&bad_sjis);
    assert!(
        matches!(&e, WireError::EncodingMismatch { declared, .. } if declared == "Shift_JIS"),
        "{e:?}"
    );
    assert_eq!(e.code(), "XML_ENCODING");
    assert!(e.message_ja().contains("Shift_JIS"));

    // Declared UTF-8 but the bytes are Shift_JIS.
    let mut utf8_declared = encode_request_xml(&common::request(), Encoding::ShiftJis);
    let decl_end = utf8_declared.iter().position(|&b| b == b'\n').unwrap();
    utf8_declared.splice(
        ..decl_end,
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            .iter()
            .copied(),
    );
    let e = req_err(&utf8_declared);
    assert!(
        matches!(&e, WireError::EncodingMismatch { declared, .. } if declared == "UTF-8"),
        "{e:?}"
    );

    // A UTF-8 BOM on a document that says Shift_JIS.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(encode_request_xml(&common::request(), Encoding::ShiftJis));
    assert!(matches!(req_err(&bom), WireError::EncodingMismatch { .. }));
}

#[test]
fn unsupported_encoding() {
    let xml = request_xml().replacen("UTF-8", "EUC-JP", 1);
    let e = req_err(xml.as_bytes());
    assert_eq!(e, WireError::UnsupportedEncoding("EUC-JP".into()));
    assert_eq!(e.code(), "XML_ENCODING_UNSUPPORTED");
    assert!(e.message_ja().contains("EUC-JP"));
    assert!(matches!(
        req_err(b"\xFF\xFE<\x00"),
        WireError::UnsupportedEncoding(_)
    ));
}

#[test]
fn invalid_bytes() {
    // No declaration: UTF-8 assumed, and these bytes are Shift_JIS.
    let sjis = encode_request_xml(&common::request(), Encoding::ShiftJis);
    let body = &sjis[sjis.iter().position(|&b| b == b'\n').unwrap() + 1..];
    let e = req_err(body);
    assert!(matches!(e, WireError::InvalidBytes(_)), "{e:?}");
    assert_eq!(e.code(), "XML_INVALID_BYTES");
    // JSON must be UTF-8.
    let e = decode_request_json(b"{\"XmlMsg\":\"\xFF\"}", &limits()).unwrap_err();
    assert!(matches!(e, WireError::InvalidBytes(_)), "{e:?}");
}

#[test]
fn missing_required_elements() {
    let xml = request_xml();
    for (tag, value) in [
        ("QualificationConfirmationDate", "20260401"),
        ("MedicalInstitutionCode", "1311111111"),
        ("InsurerNumber", "  138057"),
        ("InsuredIdentificationNumber", "12345"),
        ("Birthdate", "19600101"),
    ] {
        let element = format!("<{tag}>{value}</{tag}>");
        for replacement in [
            String::new(),
            format!("<{tag}/>"),
            format!("<{tag}>  </{tag}>"),
        ] {
            let e = req_err(xml.replacen(&element, &replacement, 1).as_bytes());
            assert_eq!(e, WireError::MissingElement(tag));
        }
    }
    let e = req_err(b"<XmlMsg><MessageHeader/></XmlMsg>");
    assert_eq!(
        e,
        WireError::MissingElement("QualificationConfirmationDate")
    );
    assert_eq!(e.code(), "XML_MISSING_ELEMENT");
    assert_eq!(
        e.message_ja(),
        "必須項目がありません: QualificationConfirmationDate"
    );
    assert_eq!(
        req_err(b"<XmlMsg/>"),
        WireError::MissingElement("MessageHeader")
    );

    let json = String::from_utf8(encode_request_json(&common::request())).unwrap();
    let e = decode_request_json(
        json.replace("\"Birthdate\":\"19600101\",", "").as_bytes(),
        &limits(),
    )
    .unwrap_err();
    assert_eq!(e, WireError::MissingElement("Birthdate"));

    // Responses: the required header/body elements.
    let res = String::from_utf8(encode_response_xml(
        &common::typical_response(),
        Encoding::Utf8,
    ))
    .unwrap();
    let e = decode_response_xml(
        res.replace("<ProcessingResultStatus>1</ProcessingResultStatus>", "")
            .as_bytes(),
        &limits(),
    )
    .unwrap_err();
    assert_eq!(e, WireError::MissingElement("ProcessingResultStatus"));
}

#[test]
fn wrong_root() {
    let xml = request_xml().replace("XmlMsg>", "Message>");
    let e = req_err(xml.as_bytes());
    assert_eq!(
        e,
        WireError::WrongRoot {
            expected: "XmlMsg",
            found: "Message".into()
        }
    );
    assert_eq!(e.code(), "XML_WRONG_ROOT");
    assert!(e.message_ja().contains("Message"));
    assert!(matches!(req_err(b"<Other/>"), WireError::WrongRoot { .. }));
    let e = decode_request_json(b"{\"Message\":{}}", &limits()).unwrap_err();
    assert!(matches!(e, WireError::WrongRoot { .. }), "{e:?}");
}

#[test]
fn too_deep() {
    let mut xml = String::from("<XmlMsg>");
    for _ in 0..20 {
        xml.push_str("<a>");
    }
    let e = req_err(xml.as_bytes());
    assert_eq!(e, WireError::TooDeep);
    assert_eq!(e.code(), "XML_TOO_DEEP");
    // A full response fits in a depth of 7; the limit is what it says.
    let full = encode_response_xml(&common::full_response(), Encoding::Utf8);
    assert!(
        decode_response_xml(
            &full,
            &Limits {
                max_depth: 7,
                ..Limits::default()
            }
        )
        .is_ok()
    );
    assert_eq!(
        decode_response_xml(
            &full,
            &Limits {
                max_depth: 6,
                ..Limits::default()
            }
        )
        .unwrap_err(),
        WireError::TooDeep
    );
    let json = "[".repeat(100_000);
    assert_eq!(
        decode_request_json(json.as_bytes(), &limits()).unwrap_err(),
        WireError::TooDeep
    );
}

#[test]
fn json_errors() {
    for bad in [
        &b"{"[..],
        b"[]",
        b"\"XmlMsg\"",
        b"{\"XmlMsg\":[]}",
        b"{\"XmlMsg\":{\"MessageHeader\":{\"QualificationConfirmationDate\":20260401}}}",
    ] {
        let e = decode_request_json(bad, &limits()).unwrap_err();
        assert!(
            matches!(e, WireError::Json(_)),
            "{:?} → {e:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(e.code(), "JSON_MALFORMED");
        assert!(e.message_ja().starts_with("JSONの形式が正しくありません: "));
    }
}

#[test]
fn every_variant_has_a_distinct_code_and_a_japanese_message() {
    let all = [
        WireError::TooLarge { size: 2, max: 1 },
        WireError::Malformed("x".into()),
        WireError::DoctypeForbidden,
        WireError::EncodingMismatch {
            declared: "Shift_JIS".into(),
            reason: "x".into(),
        },
        WireError::UnsupportedEncoding("x".into()),
        WireError::InvalidBytes("x".into()),
        WireError::MissingElement("Birthdate"),
        WireError::WrongRoot {
            expected: "XmlMsg",
            found: "x".into(),
        },
        WireError::TooDeep,
        WireError::Json("x".into()),
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(WireError::code).collect();
    assert_eq!(codes.len(), all.len());
    for e in &all {
        assert!(
            e.message_ja()
                .chars()
                .any(|c| ('\u{3040}'..='\u{30FF}').contains(&c)),
            "{e:?}"
        );
        assert!(!e.to_string().is_empty());
    }
}
