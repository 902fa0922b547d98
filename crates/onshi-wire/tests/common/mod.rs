//! Shared fixtures for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use onshi_wire::siquc01::*;

/// A realistic request (values synthetic).
pub fn request() -> Request {
    Request {
        header: RequestHeader {
            qualification_confirmation_date: "20260401".into(),
            medical_institution_code: "1311111111".into(),
            arbitrary_file_identifier: Some("202604010001".into()),
        },
        search: SearchInfo {
            insurer_number: "  138057".into(),
            insured_card_symbol: Some("記号１".into()),
            insured_identification_number: "12345".into(),
            insured_branch_number: Some("01".into()),
            birthdate: "19600101".into(),
            limit_application_certificate_related_cons_flg: Some("1".into()),
            arbitrary_identifier: Some("patient-42".into()),
        },
    }
}

/// A request with only the required fields.
pub fn minimal_request() -> Request {
    Request {
        header: RequestHeader {
            qualification_confirmation_date: "20260401".into(),
            medical_institution_code: "1311111111".into(),
            arbitrary_file_identifier: None,
        },
        search: SearchInfo {
            insurer_number: "06139999".into(),
            insured_identification_number: "1".into(),
            birthdate: "20000229".into(),
            ..SearchInfo::default()
        },
    }
}

/// A result with every element present, each leaf holding a recognisable value
/// (mostly `v:<ElementName>`, with a few realistic ones).
pub fn full_response() -> Response {
    let mut r = ResultOfQualificationConfirmation::default();
    r.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("v:{tag}")));
    r.name = Some("診療　髙太郎".into());
    r.name_kana = Some("ｼﾝﾘｮｳ ﾀｶﾀﾛｳ".into());
    r.insurer_number = Some("  138057".into());
    r.address = Some("東京都千代田区1-2-3 & <ビル>".into());
    let mut elderly = ElderlyRecipientCertificateInfo::default();
    elderly.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("v:{tag}")));
    r.elderly_recipient = Some(elderly);
    let mut limit = LimitApplicationCertificateRelatedInfo::default();
    limit.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("v:{tag}")));
    r.limit_info = Some(limit);
    r.specific_diseases = (1..=2)
        .map(|i| {
            let mut s = SpecificDiseasesCertificateInfo::default();
            s.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("{i}:{tag}")));
            s
        })
        .collect();
    let mut ticket = MedicalTicketInfo::default();
    ticket.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("v:{tag}")));
    r.medical_tickets = vec![ticket];

    let mut header = ResponseHeader {
        process_execution_time: "20260401093015".into(),
        character_code_identifier: "0".into(),
        segment_of_result: "1".into(),
        ..ResponseHeader::default()
    };
    header.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("v:{tag}")));
    let mut body = ResponseBody {
        results: vec![r],
        processing_result_status: "1".into(),
        search_info: Some(request().search),
        ..ResponseBody::default()
    };
    body.for_each_leaf_mut(&mut |tag, v| *v = Some(format!("v:{tag}")));
    Response { header, body }
}

/// A typical successful single result (fewer elements).
pub fn typical_response() -> Response {
    Response {
        header: ResponseHeader {
            process_execution_time: "20260401093015".into(),
            qualification_confirmation_date: Some("20260401".into()),
            medical_institution_code: Some("1311111111".into()),
            arbitrary_file_identifier: Some("202604010001".into()),
            reference_classification: Some("2".into()),
            segment_of_result: "1".into(),
            character_code_identifier: "0".into(),
            ..ResponseHeader::default()
        },
        body: ResponseBody {
            processing_result_status: "1".into(),
            qualification_validity: Some("1".into()),
            results: vec![ResultOfQualificationConfirmation {
                insured_card_classification: Some("01".into()),
                insurer_number: Some("  138057".into()),
                insured_identification_number: Some("12345".into()),
                insured_branch_number: Some("01".into()),
                personal_family_classification: Some("1".into()),
                name: Some("診療　太郎".into()),
                name_kana: Some("ｼﾝﾘｮｳ ﾀﾛｳ".into()),
                sex1: Some("1".into()),
                birthdate: Some("19600101".into()),
                insurer_name: Some("テスト市".into()),
                insured_partial_contribution_ratio: Some("030".into()),
                ..ResultOfQualificationConfirmation::default()
            }],
            ..ResponseBody::default()
        },
    }
}
