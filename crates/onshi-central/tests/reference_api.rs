//! `POST /oqs/v1/reference-number` (OQSsiimm01) and the ReferenceNumber it puts on check
//! results, on SQLite and (ONSHI_TEST_BACKEND=postgres) PostgreSQL.
#![allow(clippy::unwrap_used)]

use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::{Encoding, Limits, siimm, siquc01};

fn registration(app: &TestApp, case: &str, reference: &str) -> siimm::Request {
    let s = app.sample(case).clone();
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    siimm::Request {
        header: siimm::RequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: Some("AFI-REF".into()),
        },
        body: siimm::RequestBody {
            registration: Some(siimm::ReferenceNumberRegistrationInfo {
                insurer_number: siimm::pad_insurer_number(&s.insurer_number),
                insured_identification_number: s.number.clone(),
                reference_number: reference.into(),
                insured_card_symbol: opt(&s.symbol),
                insured_branch_number: opt(&s.branch),
            }),
        },
    }
}

async fn register(app: &TestApp, req: &siimm::Request, enc: Encoding) -> (u16, siimm::Response) {
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/reference-number",
            "application/xml",
            req.encode_xml(enc),
        )
        .await
        .unwrap();
    let (res, got) = siimm::Response::decode_xml(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)));
    assert_eq!(got, enc, "answered in the request's encoding");
    (reply.status.as_u16(), res)
}

async fn single_check(app: &TestApp, case: &str) -> siquc01::Response {
    let s = app.sample(case).clone();
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: s.insurer_number.clone(),
            insured_card_symbol: opt(&s.symbol),
            insured_identification_number: s.number.clone(),
            insured_branch_number: opt(&s.branch),
            birthdate: s.birthdate.clone(),
            ..Default::default()
        },
    };
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, Encoding::Utf8),
        )
        .await
        .unwrap();
    siquc01::decode_response_xml(&reply.body, &Limits::default())
        .unwrap()
        .0
}

#[tokio::test]
async fn registering_puts_the_number_on_single_checks_and_reregistering_replaces_it() {
    let app = spawn_app().await;
    let before = single_check(&app, "valid").await;
    assert_eq!(before.body.results[0].reference_number, None);

    let (status, res) =
        register(&app, &registration(&app, "valid", "P-0001"), Encoding::Utf8).await;
    assert_eq!(status, 200);
    assert_eq!(res.header.segment_of_result, "1");
    assert_eq!(res.header.error_code, None);
    assert_eq!(res.body.processing_result_status, "1");
    assert_eq!(res.body.processing_result_code, None);
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-REF")
    );
    assert_eq!(
        res.header.medical_institution_code.as_deref(),
        Some(app.clinic().code.as_str())
    );
    let echo = res.body.registration.unwrap();
    assert_eq!(echo.reference_number, "P-0001");
    assert_eq!(
        echo.insurer_number.len(),
        8,
        "insurer number echoed in 8 characters"
    );

    let after = single_check(&app, "valid").await;
    assert_eq!(
        after.body.results[0].reference_number.as_deref(),
        Some("P-0001")
    );

    let (_, res) = register(&app, &registration(&app, "valid", "P-0002"), Encoding::Utf8).await;
    assert_eq!(res.body.processing_result_status, "1");
    let again = single_check(&app, "valid").await;
    assert_eq!(
        again.body.results[0].reference_number.as_deref(),
        Some("P-0002")
    );
    // Someone else's result does not carry it.
    let other = single_check(&app, "elderly_70_74").await;
    assert_eq!(other.body.results[0].reference_number, None);
    app.stop().await;
}

#[tokio::test]
async fn a_reference_number_is_only_shown_to_the_facility_that_registered_it() {
    let app = spawn_app().await;
    register(&app, &registration(&app, "valid", "P-7"), Encoding::Utf8).await;
    // The pharmacy checks the same person.
    let pharmacy = app.facilities[1].code.clone();
    let s = app.sample("valid").clone();
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: pharmacy.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: s.insurer_number.clone(),
            insured_card_symbol: opt(&s.symbol),
            insured_identification_number: s.number.clone(),
            insured_branch_number: opt(&s.branch),
            birthdate: s.birthdate.clone(),
            ..Default::default()
        },
    };
    let cert = app.facility_cert(&pharmacy);
    let mut conn = app.client_with(Some(&cert)).connect().await.unwrap();
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, Encoding::Utf8),
        )
        .await
        .unwrap();
    let (res, _) = siquc01::decode_response_xml(&reply.body, &Limits::default()).unwrap();
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    assert_eq!(res.body.results[0].reference_number, None);
    app.stop().await;
}

#[tokio::test]
async fn unknown_or_lost_people_are_refused_per_person() {
    let app = spawn_app().await;
    for case in ["not_found", "lost"] {
        let (status, res) = register(&app, &registration(&app, case, "P-X"), Encoding::Utf8).await;
        assert_eq!(status, 200, "{case}");
        assert_eq!(res.header.segment_of_result, "1", "{case}");
        assert_eq!(res.body.processing_result_status, "2", "{case}");
        assert_eq!(res.body.processing_result_code.as_deref(), Some("ONS5010"));
        assert!(
            res.body
                .processing_result_message
                .as_deref()
                .unwrap()
                .contains("照会番号を登録できませんでした")
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_messages_are_refused_as_messages() {
    let app = spawn_app().await;
    // Wrong check digit in the insurer number.
    let mut req = registration(&app, "valid", "P-1");
    req.body.registration.as_mut().unwrap().insurer_number = "06139998".into();
    let (status, res) = register(&app, &req, Encoding::Utf8).await;
    assert_eq!(status, 400);
    assert_eq!(res.header.segment_of_result, "9");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS2001"));
    assert_eq!(res.body.processing_result_status, "2");
    // A reference number over 50 characters.
    let req = registration(&app, "valid", &"あ".repeat(51));
    let (status, res) = register(&app, &req, Encoding::ShiftJis).await;
    assert_eq!(
        (status, res.header.error_code.as_deref()),
        (400, Some("ONS5012"))
    );
    // Another facility's code in the message.
    let mut req = registration(&app, "valid", "P-1");
    req.header.medical_institution_code = app.facilities[1].code.as_str().into();
    let (status, res) = register(&app, &req, Encoding::Utf8).await;
    assert_eq!(
        (status, res.header.error_code.as_deref()),
        (403, Some("ONS3003"))
    );
    // Nothing was registered by any of these.
    let check = single_check(&app, "valid").await;
    assert_eq!(check.body.results[0].reference_number, None);
    app.stop().await;
}

#[tokio::test]
async fn shift_jis_registration_round_trips_a_rare_kanji_number() {
    let app = spawn_app().await;
    let (status, res) = register(
        &app,
        &registration(&app, "rare_kanji", "𠮷田-髙"),
        Encoding::ShiftJis,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(res.header.character_code_identifier, "1");
    assert_eq!(res.body.processing_result_status, "1", "{res:?}");
    assert_eq!(res.body.registration.unwrap().reference_number, "𠮷田-髙");
    let check = single_check(&app, "rare_kanji").await;
    assert_eq!(
        check.body.results[0].reference_number.as_deref(),
        Some("𠮷田-髙")
    );
    app.stop().await;
}
