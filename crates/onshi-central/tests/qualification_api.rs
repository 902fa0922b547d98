//! End-to-end tests of `POST /oqs/v1/qualification` over mutual TLS, each against its own
//! central and database (SQLite, or PostgreSQL when ONSHI_TEST_BACKEND=postgres).
#![allow(clippy::unwrap_used)]

use onshi_core::codes::QualificationValidity;
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::{Encoding, Limits, siquc01};

fn request_for(app: &TestApp, s: &onshi_synth::Sample, consent: bool) -> siquc01::Request {
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: Some("AFI-0001".into()),
        },
        search: siquc01::SearchInfo {
            insurer_number: s.insurer_number.clone(),
            insured_card_symbol: opt(&s.symbol),
            insured_identification_number: s.number.clone(),
            insured_branch_number: opt(&s.branch),
            birthdate: s.birthdate.clone(),
            limit_application_certificate_related_cons_flg: Some(
                if consent { "1" } else { "0" }.into(),
            ),
            arbitrary_identifier: None,
        },
    }
}

async fn post_xml(app: &TestApp, body: Vec<u8>) -> (u16, siquc01::Response, Encoding) {
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post("/oqs/v1/qualification", "application/xml", body)
        .await
        .unwrap();
    let (res, enc) =
        siquc01::decode_response_xml(&reply.body, &Limits::default()).unwrap_or_else(|e| {
            panic!(
                "undecodable answer ({e}): {}",
                String::from_utf8_lossy(&reply.body)
            )
        });
    (reply.status.as_u16(), res, enc)
}

async fn check_xml(
    app: &TestApp,
    req: &siquc01::Request,
    enc: Encoding,
) -> (u16, siquc01::Response) {
    let (status, res, got) = post_xml(app, siquc01::encode_request_xml(req, enc)).await;
    assert_eq!(got, enc, "answered in the request's encoding");
    (status, res)
}

#[tokio::test]
async fn every_sample_case_answers_its_expected_validity() {
    let app = spawn_app().await;
    let cases = [
        "valid",
        "lost",
        "new_qualification",
        "not_found",
        "multiple",
        "elderly_70_74",
        "late_elderly_75",
        "preschool",
        "limit_certificate",
        "rare_kanji",
    ];
    for case in cases {
        let s = app.sample(case).clone();
        for enc in [Encoding::Utf8, Encoding::ShiftJis] {
            let (status, res) = check_xml(&app, &request_for(&app, &s, false), enc).await;
            assert_eq!(status, 200, "{case}");
            assert_eq!(res.header.segment_of_result, "1", "{case}");
            assert_eq!(res.body.processing_result_status, "1", "{case}");
            assert_eq!(
                res.body.qualification_validity.as_deref(),
                Some(s.expected_validity.as_str()),
                "{case} {enc:?}"
            );
            let v = QualificationValidity::from_code(&s.expected_validity).unwrap();
            let expect_items = matches!(
                v,
                QualificationValidity::Valid
                    | QualificationValidity::Invalid
                    | QualificationValidity::InvalidWithNew
            );
            assert_eq!(res.body.results.len(), usize::from(expect_items), "{case}");
            if expect_items {
                let r = &res.body.results[0];
                assert_eq!(
                    r.name.as_deref(),
                    Some(s.name.as_str()),
                    "{case} {enc:?}: names survive both encodings"
                );
                assert_eq!(r.birthdate.as_deref(), Some(s.birthdate.as_str()));
            }
            assert_eq!(
                res.header.arbitrary_file_identifier.as_deref(),
                Some("AFI-0001")
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn answers_have_the_fields_of_the_real_message() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let (_, res) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
    let h = &res.header;
    // What myclinic-ts's strict result cast requires (ons-interface.md §2.2).
    assert_eq!(h.process_execution_time.len(), 14);
    assert_eq!(
        h.qualification_confirmation_date.as_deref(),
        Some(test_today().to_wire().as_str())
    );
    assert_eq!(
        h.medical_institution_code.as_deref(),
        Some(app.clinic().code.as_str())
    );
    assert_eq!(h.reference_classification.as_deref(), Some("2"));
    assert_eq!(h.character_code_identifier, "0");
    assert!(h.error_code.is_none() && h.error_message.is_none());
    let r = &res.body.results[0];
    for (field, v) in [
        ("InsuredCardClassification", &r.insured_card_classification),
        ("InsurerNumber", &r.insurer_number),
        (
            "InsuredIdentificationNumber",
            &r.insured_identification_number,
        ),
        (
            "PersonalFamilyClassification",
            &r.personal_family_classification,
        ),
        ("Name", &r.name),
        ("NameKana", &r.name_kana),
        ("Sex1", &r.sex1),
        ("Birthdate", &r.birthdate),
        ("Address", &r.address),
        ("PostNumber", &r.post_number),
        ("InsurerName", &r.insurer_name),
        ("QualificationDate", &r.qualification_date),
    ] {
        assert!(
            v.as_deref().is_some_and(|v| !v.is_empty()),
            "{field} missing"
        );
    }
    assert_eq!(
        r.insurer_number.as_deref().unwrap().len(),
        8,
        "insurer number is 8 characters on the wire"
    );
    assert!(r.post_number.as_deref().unwrap().contains('-'));
    // The raw text: declaration, no empty elements.
    let mut conn = app.clinic_connection().await;
    let raw = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&request_for(&app, &s, false), Encoding::Utf8),
        )
        .await
        .unwrap();
    let text = String::from_utf8(raw.body.to_vec()).unwrap();
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>"),
        "{text}"
    );
    assert!(!text.contains("/>"), "no empty elements: {text}");
    assert_eq!(
        raw.headers.get("content-type").unwrap(),
        "application/xml; charset=utf-8"
    );
    assert!(raw.headers.get("x-request-id").is_some());
    app.stop().await;
}

#[tokio::test]
async fn lost_and_changed_qualifications_show_the_lost_one() {
    let app = spawn_app().await;
    for (case, validity) in [("lost", "2"), ("new_qualification", "3")] {
        let s = app.sample(case).clone();
        let (_, res) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
        assert_eq!(res.body.qualification_validity.as_deref(), Some(validity));
        let r = &res.body.results[0];
        let lost = r
            .disqualification_date
            .as_deref()
            .expect("DisqualificationDate");
        assert!(
            lost <= test_today().to_wire().as_str(),
            "{case}: lost on or before today"
        );
        assert!(r.reason_of_loss.is_some(), "{case}: ReasonOfLoss");
        assert!(res.body.processing_result_message.is_some());
    }
    app.stop().await;
}

#[tokio::test]
async fn limit_certificate_information_only_with_consent() {
    let app = spawn_app().await;
    let s = app.sample("limit_certificate").clone();
    let (_, without) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
    let r = &without.body.results[0];
    assert!(
        r.limit_info.is_none(),
        "no 限度額 information without consent"
    );
    assert_eq!(
        r.limit_application_certificate_related_cons_flg.as_deref(),
        Some("0")
    );
    let (_, with) = check_xml(&app, &request_for(&app, &s, true), Encoding::Utf8).await;
    let r = &with.body.results[0];
    let info = r
        .limit_info
        .as_ref()
        .expect("限度額 information with consent");
    assert!(
        info.limit_application_certificate_classification_flag
            .as_deref()
            .is_some_and(|f| f.len() == 3)
    );
    assert_eq!(
        r.limit_application_certificate_related_cons_flg.as_deref(),
        Some("1")
    );
    assert_eq!(
        r.limit_application_certificate_related_cons_time
            .as_deref()
            .map(str::len),
        Some(14)
    );
    app.stop().await;
}

#[tokio::test]
async fn elderly_late_elderly_and_preschool_carry_their_ratios() {
    let app = spawn_app().await;
    let s = app.sample("elderly_70_74").clone();
    let (_, res) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
    let e = res.body.results[0]
        .elderly_recipient
        .as_ref()
        .expect("高齢受給者証");
    assert!(matches!(
        e.elderly_recipient_contribution_ratio.as_deref(),
        Some("020" | "030")
    ));
    let s = app.sample("late_elderly_75").clone();
    let (_, res) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
    assert!(matches!(
        res.body.results[0]
            .insured_partial_contribution_ratio
            .as_deref(),
        Some("010" | "020" | "030")
    ));
    let s = app.sample("preschool").clone();
    let (_, res) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
    assert_eq!(
        res.body.results[0].preschool_classification.as_deref(),
        Some("1")
    );
    let s = app.sample("valid").clone();
    let (_, res) = check_xml(&app, &request_for(&app, &s, false), Encoding::Utf8).await;
    assert!(res.body.results[0].preschool_classification.is_none());
    app.stop().await;
}

#[tokio::test]
async fn json_requests_get_json_answers() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/json",
            siquc01::encode_request_json(&request_for(&app, &s, false)),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let body = &json["XmlMsg"]["MessageBody"];
    assert_eq!(body["QualificationValidity"], "1");
    assert!(body["ResultList"].is_array());
    assert_eq!(
        body["ResultList"][0]["ResultOfQualificationConfirmation"]["Name"],
        s.name.as_str()
    );
    let res = siquc01::decode_response_json(&reply.body, &Limits::default()).unwrap();
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    app.stop().await;
}

#[tokio::test]
async fn rare_kanji_survive_shift_jis_as_character_references() {
    let app = spawn_app().await;
    let s = app.sample("rare_kanji").clone();
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&request_for(&app, &s, false), Encoding::ShiftJis),
        )
        .await
        .unwrap();
    let head = String::from_utf8_lossy(&reply.body[..60]).to_string();
    assert!(head.contains("encoding=\"Shift_JIS\""), "{head}");
    let (res, enc) = siquc01::decode_response_xml(&reply.body, &Limits::default()).unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(res.header.character_code_identifier, "1");
    assert_eq!(
        res.body.results[0].name.as_deref(),
        Some(s.name.as_str()),
        "never dropped, never ●"
    );
    app.stop().await;
}

async fn expect_error(
    app: &TestApp,
    content_type: &str,
    body: Vec<u8>,
    status: u16,
    code: &str,
) -> siquc01::Response {
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post("/oqs/v1/qualification", content_type, body)
        .await
        .unwrap();
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{code}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let res = if content_type.contains("json") {
        siquc01::decode_response_json(&reply.body, &Limits::default()).unwrap()
    } else {
        siquc01::decode_response_xml(&reply.body, &Limits::default())
            .unwrap()
            .0
    };
    assert_eq!(res.header.segment_of_result, "9");
    assert_eq!(res.header.error_code.as_deref(), Some(code));
    assert_eq!(res.body.processing_result_status, "2");
    assert_eq!(res.body.processing_result_code.as_deref(), Some(code));
    let msg = res.header.error_message.clone().unwrap();
    assert!(
        msg.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
        "Japanese message: {msg}"
    );
    assert!(res.body.results.is_empty());
    res
}

#[tokio::test]
async fn bad_input_gets_an_error_message_in_kind() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let good = request_for(&app, &s, false);
    let xml = |r: &siquc01::Request| siquc01::encode_request_xml(r, Encoding::Utf8);

    expect_error(
        &app,
        "application/xml",
        b"<XmlMsg><MessageHeader>".to_vec(),
        400,
        "ONS1001",
    )
    .await;
    let doctype = b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><XmlMsg/>".to_vec();
    expect_error(&app, "application/xml", doctype, 400, "ONS1002").await;
    let mut sjis_lie = String::from_utf8(xml(&good))
        .unwrap()
        .replace("UTF-8", "Shift_JIS")
        .into_bytes();
    // 0x82 is a Shift_JIS lead byte; 0xFF can never follow it.
    sjis_lie.extend_from_slice(b"<!-- \x82\xff -->");
    expect_error(&app, "application/xml", sjis_lie, 400, "ONS1003").await;
    let mut huge = xml(&good);
    huge.extend(std::iter::repeat_n(b' ', 2 << 20));
    expect_error(&app, "application/xml", huge, 413, "ONS1004").await;
    let missing = String::from_utf8(xml(&good))
        .unwrap()
        .replace(&format!("<Birthdate>{}</Birthdate>", s.birthdate), "");
    expect_error(
        &app,
        "application/xml",
        missing.into_bytes(),
        400,
        "ONS1005",
    )
    .await;
    expect_error(
        &app,
        "application/json",
        b"{\"XmlMsg\":".to_vec(),
        400,
        "ONS1006",
    )
    .await;

    let mut bad = good.clone();
    let mut digits: Vec<u8> = s.insurer_number.clone().into_bytes();
    let last = digits.len() - 1;
    digits[last] = if digits[last] == b'9' {
        b'0'
    } else {
        digits[last] + 1
    };
    bad.search.insurer_number = String::from_utf8(digits).unwrap();
    let res = expect_error(&app, "application/xml", xml(&bad), 400, "ONS2001").await;
    assert!(res.header.error_message.unwrap().contains("保険者番号"));
    let mut bad = good.clone();
    bad.search.birthdate = "20230230".into();
    expect_error(&app, "application/xml", xml(&bad), 400, "ONS2002").await;
    let mut bad = good.clone();
    bad.search.insured_branch_number = Some("1".into());
    expect_error(&app, "application/xml", xml(&bad), 400, "ONS2003").await;
    let mut bad = good.clone();
    bad.search.limit_application_certificate_related_cons_flg = Some("7".into());
    expect_error(&app, "application/xml", xml(&bad), 400, "ONS2007").await;

    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post("/oqs/v1/qualification", "text/plain", xml(&good))
        .await
        .unwrap();
    assert_eq!(reply.status, 415);

    // The connection and the service are still fine after all that.
    let (status, res) = check_xml(&app, &good, Encoding::Utf8).await;
    assert_eq!(
        (status, res.body.qualification_validity.as_deref()),
        (200, Some("1"))
    );
    app.stop().await;
}

#[tokio::test]
async fn every_answer_is_in_the_history_before_it_is_sent() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let req = request_for(&app, &s, false);
    let (_, res) = check_xml(&app, &req, Encoding::Utf8).await;
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    let mut bad = req.clone();
    bad.search.birthdate = "2023".into();
    expect_error(
        &app,
        "application/xml",
        siquc01::encode_request_xml(&bad, Encoding::Utf8),
        400,
        "ONS2002",
    )
    .await;

    let history = app
        .store
        .verifications(
            &app.clinic().code,
            JstDateTime::from_unix_micros(0),
            JstDateTime::MAX,
            10,
        )
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    let ok = history.iter().find(|h| h.processing_status == "1").unwrap();
    assert_eq!(ok.validity, Some(QualificationValidity::Valid));
    assert_eq!(
        ok.insurer_number.as_deref(),
        Some(s.insurer_number.as_str())
    );
    assert!(ok.person_id.is_some() && ok.qualification_id.is_some());
    assert_eq!(ok.arbitrary_file_identifier.as_deref(), Some("AFI-0001"));
    let err = history.iter().find(|h| h.processing_status == "2").unwrap();
    assert_eq!(err.error_code.as_deref(), Some("ONS2002"));

    // When the history cannot be written, the answer is withheld.
    app.break_history().await;
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    let (res, _) = siquc01::decode_response_xml(&reply.body, &Limits::default()).unwrap();
    assert_eq!(res.header.error_code.as_deref(), Some("ONS9001"));
    assert!(
        res.body.results.is_empty(),
        "no personal data in a withheld answer"
    );
    assert!(res.body.qualification_validity.is_none());
    app.stop().await;
}

#[tokio::test]
async fn only_registered_enabled_facilities_with_their_own_certificate_may_check() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let req = request_for(&app, &s, false);
    let body = siquc01::encode_request_xml(&req, Encoding::Utf8);

    // No client certificate: the TLS handshake (or the first request) fails.
    let anonymous = app.client_with(None);
    let refused = match anonymous.connect().await {
        Err(_) => true,
        Ok(mut c) => c
            .post("/oqs/v1/qualification", "application/xml", body.clone())
            .await
            .is_err(),
    };
    assert!(refused, "a request without a client certificate is refused");

    // A certificate from a CA central does not trust.
    let rogue_ca = onshi_pki::new_ca("rogue", "rogue").unwrap();
    let rogue = onshi_pki::issue_facility_cert(&rogue_ca, &app.clinic().code, "偽医院").unwrap();
    let refused = match app.client_with(Some(&rogue)).connect().await {
        Err(_) => true,
        Ok(mut c) => c
            .post("/oqs/v1/qualification", "application/xml", body.clone())
            .await
            .is_err(),
    };
    assert!(refused, "a certificate from another CA is refused");

    // A genuine certificate for a facility that is not registered.
    let stranger = MedicalInstitutionCode::with_check_digit("131999999").unwrap();
    let cert = app.issue_facility_cert(&stranger);
    let mut conn = app.client_with(Some(&cert)).connect().await.unwrap();
    let mut r = req.clone();
    r.header.medical_institution_code = stranger.as_str().into();
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&r, Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 403);
    assert!(String::from_utf8_lossy(&reply.body).contains("ONS3001"));

    // The clinic's certificate but another facility's code in the message.
    let mut r = req.clone();
    r.header.medical_institution_code = app.facilities[1].code.as_str().into();
    expect_error(
        &app,
        "application/xml",
        siquc01::encode_request_xml(&r, Encoding::Utf8),
        403,
        "ONS3003",
    )
    .await;

    // Suspended facility: refused once the facility cache's bound has passed, and
    // accepted again the same way.
    let (status, _) = check_xml(&app, &req, Encoding::Utf8).await;
    assert_eq!(status, 200);
    assert!(
        app.store
            .set_facility_enabled(&app.clinic().code, false)
            .await
            .unwrap()
    );
    app.clock
        .advance_seconds(onshi_central::FACILITY_CACHE_SECONDS + 1);
    expect_error(&app, "application/xml", body.clone(), 403, "ONS3002").await;
    app.store
        .set_facility_enabled(&app.clinic().code, true)
        .await
        .unwrap();
    app.clock
        .advance_seconds(onshi_central::FACILITY_CACHE_SECONDS + 1);
    let (status, _) = check_xml(&app, &req, Encoding::Utf8).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn symbols_and_numbers_match_across_full_width_input() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let mut req = request_for(&app, &s, false);
    fn widen(t: &str) -> String {
        t.chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap()
                } else {
                    c
                }
            })
            .collect()
    }
    req.search.insured_identification_number = widen(&s.number);
    req.search.insured_card_symbol = req.search.insured_card_symbol.as_deref().map(widen);
    let (_, res) = check_xml(&app, &req, Encoding::Utf8).await;
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    app.stop().await;
}
