//! encode → decode gives back the original, in XML (UTF-8, Shift_JIS) and JSON; and the
//! input rules (empty = absent, no trimming, unknown elements, list shapes, labels).
#![allow(clippy::unwrap_used)]

mod common;

use encoding_rs::SHIFT_JIS;
use onshi_wire::siquc01::*;
use onshi_wire::{Encoding, Limits, cp932_equivalent};
use proptest::prelude::*;

fn limits() -> Limits {
    Limits::default()
}

fn check_request(req: &Request) {
    for enc in [Encoding::Utf8, Encoding::ShiftJis] {
        let bytes = encode_request_xml(req, enc);
        let (back, got_enc) = decode_request_xml(&bytes, &limits()).unwrap();
        assert_eq!(got_enc, enc);
        assert_eq!(&back, req, "{enc:?}");
    }
    let json = encode_request_json(req);
    assert_eq!(&decode_request_json(&json, &limits()).unwrap(), req);
}

fn check_response(res: &Response) {
    for enc in [Encoding::Utf8, Encoding::ShiftJis] {
        let mut expected = res.clone();
        expected.header.character_code_identifier = enc.character_code_identifier().into();
        let bytes = encode_response_xml(&expected, enc);
        let (back, got_enc) = decode_response_xml(&bytes, &limits()).unwrap();
        assert_eq!(got_enc, enc);
        assert_eq!(back, expected, "{enc:?}");
    }
    let json = encode_response_json(res);
    assert_eq!(&decode_response_json(&json, &limits()).unwrap(), res);
}

#[test]
fn fixtures_round_trip() {
    check_request(&common::request());
    check_request(&common::minimal_request());
    check_response(&common::full_response());
    check_response(&common::typical_response());
}

#[test]
fn insurer_number_spaces_are_kept() {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<XmlMsg><MessageHeader>\
        <QualificationConfirmationDate>20260401</QualificationConfirmationDate>\
        <MedicalInstitutionCode>1311111111</MedicalInstitutionCode></MessageHeader>\
        <MessageBody><QualificationConfirmSearchInfo><InsurerNumber>  138057</InsurerNumber>\
        <InsuredIdentificationNumber> 1 </InsuredIdentificationNumber><Birthdate>19600101</Birthdate>\
        </QualificationConfirmSearchInfo></MessageBody></XmlMsg>";
    let (req, enc) = decode_request_xml(xml.as_bytes(), &limits()).unwrap();
    assert_eq!(enc, Encoding::Utf8);
    assert_eq!(req.search.insurer_number, "  138057");
    assert_eq!(req.search.insured_identification_number, " 1 ");
    let json = br#"{"XmlMsg":{"MessageHeader":{"QualificationConfirmationDate":"20260401","MedicalInstitutionCode":"1311111111"},
        "MessageBody":{"QualificationConfirmSearchInfo":{"InsurerNumber":"  138057","InsuredIdentificationNumber":"1","Birthdate":"19600101"}}}}"#;
    assert_eq!(
        decode_request_json(json, &limits())
            .unwrap()
            .search
            .insurer_number,
        "  138057"
    );
}

fn request_with_symbol(symbol_element: &str) -> String {
    format!(
        "<XmlMsg>\n  <MessageHeader>\n    <QualificationConfirmationDate>20260401</QualificationConfirmationDate>\n    \
         <MedicalInstitutionCode>1311111111</MedicalInstitutionCode>\n    <ArbitraryFileIdentifier> \t\n</ArbitraryFileIdentifier>\n  </MessageHeader>\n  \
         <MessageBody>\n    <QualificationConfirmSearchInfo>\n      <InsurerNumber>06139999</InsurerNumber>\n      {symbol_element}\n      \
         <InsuredIdentificationNumber>1</InsuredIdentificationNumber>\n      <InsuredBranchNumber/>\n      <Birthdate>20000229</Birthdate>\n    \
         </QualificationConfirmSearchInfo>\n  </MessageBody>\n</XmlMsg>\n"
    )
}

#[test]
fn empty_or_blank_elements_are_absent() {
    for sym in [
        "<InsuredCardSymbol/>",
        "<InsuredCardSymbol />",
        "<InsuredCardSymbol></InsuredCardSymbol>",
        "<InsuredCardSymbol>   </InsuredCardSymbol>",
        "<InsuredCardSymbol>\n\t</InsuredCardSymbol>",
        "",
    ] {
        let (req, _) = decode_request_xml(request_with_symbol(sym).as_bytes(), &limits()).unwrap();
        assert_eq!(req, common::minimal_request(), "{sym}");
    }
    let (req, _) = decode_request_xml(
        request_with_symbol("<InsuredCardSymbol>&#x20;A&amp;B<![CDATA[<c>]]></InsuredCardSymbol>")
            .as_bytes(),
        &limits(),
    )
    .unwrap();
    assert_eq!(req.search.insured_card_symbol.as_deref(), Some(" A&B<c>"));
}

#[test]
fn unknown_elements_comments_and_prefixes_are_ignored() {
    let xml = request_with_symbol(
        "<!-- note --><Unknown><Deep>x</Deep></Unknown><?pi data?><ns:InsuredCardSymbol xmlns:ns=\"urn:x\">S</ns:InsuredCardSymbol>",
    );
    let (req, _) = decode_request_xml(xml.as_bytes(), &limits()).unwrap();
    assert_eq!(req.search.insured_card_symbol.as_deref(), Some("S"));
}

#[test]
fn declaration_labels_and_bom() {
    let req = common::request();
    let utf8 = encode_request_xml(&req, Encoding::Utf8);
    let sjis = encode_request_xml(&req, Encoding::ShiftJis);
    let body_utf8 = &utf8[utf8.iter().position(|&b| b == b'\n').unwrap()..];
    let body_sjis = &sjis[sjis.iter().position(|&b| b == b'\n').unwrap()..];
    for label in [
        "Shift_JIS",
        "SHIFT_JIS",
        "shift_jis",
        "SHIFT-JIS",
        "sjis",
        "windows-31j",
        "cp932",
        "Windows-31J",
    ] {
        let mut doc = format!("<?xml version='1.0' encoding = '{label}'?>").into_bytes();
        doc.extend_from_slice(body_sjis);
        let (back, enc) = decode_request_xml(&doc, &limits()).unwrap();
        assert_eq!((back, enc), (req.clone(), Encoding::ShiftJis), "{label}");
    }
    for label in ["UTF-8", "utf-8", "utf8"] {
        let mut doc = format!("<?xml version=\"1.0\" encoding=\"{label}\"?>").into_bytes();
        doc.extend_from_slice(body_utf8);
        assert_eq!(
            decode_request_xml(&doc, &limits()).unwrap(),
            (req.clone(), Encoding::Utf8),
            "{label}"
        );
    }
    // No declaration: UTF-8. BOM: fine.
    assert_eq!(
        decode_request_xml(&body_utf8[1..], &limits()).unwrap().1,
        Encoding::Utf8
    );
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(&utf8);
    assert_eq!(
        decode_request_xml(&bom, &limits()).unwrap(),
        (req, Encoding::Utf8)
    );
}

/// The Shift_JIS policy: JIS/CP932 pairs normalised, unmappable characters kept as
/// numeric character references, IBM extensions native.
#[test]
fn shift_jis_policy() {
    let mut req = common::request();
    req.search.insured_card_symbol = Some("𠮷髙〜‖−😀".into());
    let bytes = encode_request_xml(&req, Encoding::ShiftJis);
    let needle = |n: &[u8]| bytes.windows(n.len()).any(|w| w == n);
    assert!(needle(b"&#134071;"), "𠮷 as a character reference");
    assert!(needle(b"&#128512;"), "emoji as a character reference");
    assert!(needle(&[0xFB, 0xFC]), "髙 natively");
    assert!(needle(&[0x81, 0x60]), "WAVE DASH as FULLWIDTH TILDE");
    let (back, _) = decode_request_xml(&bytes, &limits()).unwrap();
    assert_eq!(
        back.search.insured_card_symbol.as_deref(),
        Some("𠮷髙～∥－😀")
    );
    // The raw bytes are valid Shift_JIS on their own.
    let (_, _, had_errors) = SHIFT_JIS.decode(&bytes);
    assert!(!had_errors);
}

#[test]
fn specific_diseases_list_shapes() {
    let full = common::full_response();
    let expected = &full.body.results[0].specific_diseases;
    // XML nested (what we write) is covered by the round trip; the flat XML shape, with
    // the List element repeated, is accepted too.
    let xml = String::from_utf8(encode_response_xml(&full, Encoding::Utf8)).unwrap();
    let start = xml.find("<SpecificDiseasesCertificateList>").unwrap();
    let end = xml.find("</SpecificDiseasesCertificateList>").unwrap()
        + "</SpecificDiseasesCertificateList>".len();
    let flat: String = expected
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let n = i + 1;
            format!(
                "<SpecificDiseasesCertificateList><SpecificDiseasesDiseaseCategory>{n}:SpecificDiseasesDiseaseCategory</SpecificDiseasesDiseaseCategory>\
                 <SpecificDiseasesCertificateDate>{n}:SpecificDiseasesCertificateDate</SpecificDiseasesCertificateDate>\
                 <SpecificDiseasesValidStartDate>{n}:SpecificDiseasesValidStartDate</SpecificDiseasesValidStartDate>\
                 <SpecificDiseasesValidEndDate>{n}:SpecificDiseasesValidEndDate</SpecificDiseasesValidEndDate>\
                 <SpecificDiseasesSelfPay>{n}:SpecificDiseasesSelfPay</SpecificDiseasesSelfPay></SpecificDiseasesCertificateList>"
            )
        })
        .collect();
    let flat_xml = format!("{}{}{}", &xml[..start], flat, &xml[end..]);
    let (back, _) = decode_response_xml(flat_xml.as_bytes(), &limits()).unwrap();
    assert_eq!(&back.body.results[0].specific_diseases, expected);
    // JSON: a flat array of objects.
    let json = String::from_utf8(encode_response_json(&full)).unwrap();
    assert!(json.contains(
        "\"SpecificDiseasesCertificateList\":[{\"SpecificDiseasesDiseaseCategory\":\"1:"
    ));
}

#[test]
fn json_accepts_bom_nulls_and_single_result_object() {
    let json = "\u{FEFF}{\"XmlMsg\":{\"MessageHeader\":{\"ProcessExecutionTime\":\"20260401093015\",\"SegmentOfResult\":\"1\",\
        \"CharacterCodeIdentifier\":\"0\",\"ErrorCode\":null},\"MessageBody\":{\"ProcessingResultStatus\":\"1\",\
        \"ResultList\":{\"ResultOfQualificationConfirmation\":{\"Name\":\"診療　太郎\",\"Sex1\":\"\"}}}}}";
    let res = decode_response_json(json.as_bytes(), &limits()).unwrap();
    assert_eq!(res.header.error_code, None);
    assert_eq!(res.body.results.len(), 1);
    assert_eq!(res.body.results[0].name.as_deref(), Some("診療　太郎"));
    assert_eq!(res.body.results[0].sex1, None);
}

// ---- property tests -------------------------------------------------------------

fn xml_legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9A-Za-z ]{1,12}",
        "[髙𠮷😀&<>\"'ｱｶﾞ〜−‖—¥‾¢£¬ー　\t\n\r a1]{1,10}",
        any::<String>().prop_map(|s| s.chars().filter(|&c| xml_legal(c)).collect()),
    ]
    .prop_filter("blank means absent", |s| {
        !s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    })
}

fn opt() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn fill<F: FnOnce(&mut dyn FnMut(&'static str, &mut Option<String>))>(
    values: &[Option<String>],
    visit: F,
) {
    let mut it = values.iter().cycle();
    visit(&mut |_, slot| *slot = it.next().cloned().flatten());
}

prop_compose! {
    fn arb_request()(t in proptest::collection::vec(text(), 5), o in proptest::collection::vec(opt(), 5)) -> Request {
        Request {
            header: RequestHeader {
                qualification_confirmation_date: t[0].clone(),
                medical_institution_code: t[1].clone(),
                arbitrary_file_identifier: o[0].clone(),
            },
            search: SearchInfo {
                insurer_number: t[2].clone(),
                insured_card_symbol: o[1].clone(),
                insured_identification_number: t[3].clone(),
                insured_branch_number: o[2].clone(),
                birthdate: t[4].clone(),
                limit_application_certificate_related_cons_flg: o[3].clone(),
                arbitrary_identifier: o[4].clone(),
            },
        }
    }
}

prop_compose! {
    fn arb_result()(v in proptest::collection::vec(opt(), 80), n_sd in 0usize..3, groups in any::<(bool, bool, bool)>())
        -> ResultOfQualificationConfirmation {
        let mut r = ResultOfQualificationConfirmation::default();
        fill(&v, |f| r.for_each_leaf_mut(f));
        if groups.0 {
            let mut g = ElderlyRecipientCertificateInfo::default();
            fill(&v[7..], |f| g.for_each_leaf_mut(f));
            r.elderly_recipient = Some(g);
        }
        if groups.1 {
            let mut g = LimitApplicationCertificateRelatedInfo::default();
            fill(&v[3..], |f| g.for_each_leaf_mut(f));
            r.limit_info = Some(g);
        }
        if groups.2 {
            let mut g = MedicalTicketInfo::default();
            fill(&v[11..], |f| g.for_each_leaf_mut(f));
            r.medical_tickets.push(g);
        }
        for i in 0..n_sd {
            let mut g = SpecificDiseasesCertificateInfo::default();
            fill(&v[i * 5..], |f| g.for_each_leaf_mut(f));
            r.specific_diseases.push(g);
        }
        r
    }
}

prop_compose! {
    fn arb_response()(t in proptest::collection::vec(text(), 3), o in proptest::collection::vec(opt(), 12),
                      results in proptest::collection::vec(arb_result(), 0..3), echo in proptest::option::of(arb_request()))
        -> Response {
        let mut header = ResponseHeader {
            process_execution_time: t[0].clone(),
            segment_of_result: t[1].clone(),
            character_code_identifier: "0".into(),
            ..ResponseHeader::default()
        };
        fill(&o, |f| header.for_each_leaf_mut(f));
        let mut body = ResponseBody {
            processing_result_status: t[2].clone(),
            results,
            search_info: echo.map(|r| r.search),
            ..ResponseBody::default()
        };
        fill(&o[6..], |f| body.for_each_leaf_mut(f));
        Response { header, body }
    }
}

/// What Shift_JIS output gives back: the CP932 normalisation applied to every leaf.
fn sjis_expected(s: &str) -> String {
    s.chars().map(cp932_equivalent).collect()
}

fn normalise_request(mut r: Request) -> Request {
    r.header.qualification_confirmation_date =
        sjis_expected(&r.header.qualification_confirmation_date);
    r.header.medical_institution_code = sjis_expected(&r.header.medical_institution_code);
    r.header
        .for_each_leaf_mut(&mut |_, v| *v = v.as_deref().map(sjis_expected));
    r.search = normalise_search(r.search);
    r
}

fn normalise_search(mut s: SearchInfo) -> SearchInfo {
    s.insurer_number = sjis_expected(&s.insurer_number);
    s.insured_identification_number = sjis_expected(&s.insured_identification_number);
    s.birthdate = sjis_expected(&s.birthdate);
    s.for_each_leaf_mut(&mut |_, v| *v = v.as_deref().map(sjis_expected));
    s
}

fn normalise_response(mut r: Response) -> Response {
    let n = &mut |_: &'static str, v: &mut Option<String>| *v = v.as_deref().map(sjis_expected);
    r.header.process_execution_time = sjis_expected(&r.header.process_execution_time);
    r.header.segment_of_result = sjis_expected(&r.header.segment_of_result);
    r.header.character_code_identifier = "1".into();
    r.header.for_each_leaf_mut(n);
    r.body.processing_result_status = sjis_expected(&r.body.processing_result_status);
    r.body.for_each_leaf_mut(n);
    r.body.search_info = r.body.search_info.map(normalise_search);
    for res in &mut r.body.results {
        res.for_each_leaf_mut(n);
        if let Some(g) = &mut res.elderly_recipient {
            g.for_each_leaf_mut(n);
        }
        if let Some(g) = &mut res.limit_info {
            g.for_each_leaf_mut(n);
        }
        res.specific_diseases
            .iter_mut()
            .for_each(|g| g.for_each_leaf_mut(n));
        res.medical_tickets
            .iter_mut()
            .for_each(|g| g.for_each_leaf_mut(n));
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_request_round_trips(req in arb_request()) {
        let (back, _) = decode_request_xml(&encode_request_xml(&req, Encoding::Utf8), &limits()).unwrap();
        prop_assert_eq!(&back, &req);
        let (back, _) = decode_request_xml(&encode_request_xml(&req, Encoding::ShiftJis), &limits()).unwrap();
        prop_assert_eq!(back, normalise_request(req.clone()));
        prop_assert_eq!(decode_request_json(&encode_request_json(&req), &limits()).unwrap(), req);
    }

    #[test]
    fn prop_response_round_trips(res in arb_response()) {
        let (back, _) = decode_response_xml(&encode_response_xml(&res, Encoding::Utf8), &limits()).unwrap();
        prop_assert_eq!(&back, &res);
        let (back, _) = decode_response_xml(&encode_response_xml(&res, Encoding::ShiftJis), &limits()).unwrap();
        prop_assert_eq!(back, normalise_response(res.clone()));
        prop_assert_eq!(decode_response_json(&encode_response_json(&res), &limits()).unwrap(), res);
    }
}
