//! `POST /oqs/v1/bulk` and `/oqs/v1/bulk/result` (OQSmuquc01/02), on SQLite and
//! (ONSHI_TEST_BACKEND=postgres) PostgreSQL.
#![allow(clippy::unwrap_used)]

use onshi_core::ids::MedicalInstitutionCode;
use onshi_store::{BulkJob, BulkState};
use onshi_testkit::{TestApp, spawn_app, test_now, test_today};
use onshi_wire::siquc01::{RequestHeader, SearchInfo};
use onshi_wire::{Encoding, Limits, muquc, siimm};
use std::time::Duration;

fn search(app: &TestApp, case: &str, tag: &str) -> SearchInfo {
    let s = app.sample(case).clone();
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    SearchInfo {
        insurer_number: s.insurer_number.clone(),
        insured_card_symbol: opt(&s.symbol),
        insured_identification_number: s.number.clone(),
        insured_branch_number: opt(&s.branch),
        birthdate: s.birthdate.clone(),
        limit_application_certificate_related_cons_flg: Some("0".into()),
        arbitrary_identifier: Some(tag.into()),
    }
}

fn upload(code: &MedicalInstitutionCode, searches: Vec<SearchInfo>) -> muquc::UploadRequest {
    muquc::UploadRequest {
        header: RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: code.as_str().into(),
            arbitrary_file_identifier: Some("AFI-BULK".into()),
        },
        body: muquc::UploadRequestBody { searches },
    }
}

async fn post_upload(
    app: &TestApp,
    req: &muquc::UploadRequest,
    enc: Encoding,
) -> (u16, muquc::UploadResponse) {
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post("/oqs/v1/bulk", "application/xml", req.encode_xml(enc))
        .await
        .unwrap();
    let (res, got) = muquc::UploadResponse::decode_xml(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)));
    assert_eq!(got, enc);
    (reply.status.as_u16(), res)
}

async fn post_result(
    app: &TestApp,
    cert_code: &MedicalInstitutionCode,
    reception: &str,
    enc: Encoding,
) -> (u16, muquc::ResultResponse) {
    let req = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: cert_code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: reception.into(),
        },
    };
    let cert = app.facility_cert(cert_code);
    let mut conn = app.client_with(Some(&cert)).connect().await.unwrap();
    let reply = conn
        .post(
            "/oqs/v1/bulk/result",
            "application/xml",
            req.encode_xml(enc),
        )
        .await
        .unwrap();
    let (res, got) = muquc::ResultResponse::decode_xml(&reply.body, &Limits::bulk())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)));
    assert_eq!(got, enc);
    (reply.status.as_u16(), res)
}

/// Asks for the result until it is no longer "processing".
async fn wait_result(app: &TestApp, reception: &str, enc: Encoding) -> muquc::ResultResponse {
    for _ in 0..600 {
        let (status, res) = post_result(app, &app.clinic().code, reception, enc).await;
        assert_eq!(status, 200, "{res:?}");
        if res.header.segment_of_result != "2" {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bulk check {reception} did not finish");
}

#[tokio::test]
async fn a_mixed_bulk_answers_each_patient_in_order_with_counts_and_history() {
    let app = spawn_app().await;
    let mut bad = search(&app, "valid", "bad-digit");
    bad.insurer_number = "06139998".into();
    let cases = [
        "valid",
        "lost",
        "new_qualification",
        "not_found",
        "multiple",
        "rare_kanji",
    ];
    let mut searches: Vec<SearchInfo> = cases
        .iter()
        .map(|c| search(&app, c, &format!("id-{c}")))
        .collect();
    searches.insert(2, bad);
    let req = upload(&app.clinic().code, searches.clone());
    let (status, accepted) = post_upload(&app, &req, Encoding::Utf8).await;
    assert_eq!(status, 200);
    assert_eq!(accepted.header.segment_of_result, "1");
    assert_eq!(
        accepted.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-BULK")
    );
    let reception = accepted.body.reception_number.unwrap();
    assert_eq!(
        accepted.body.reception_date_time.as_deref(),
        Some(test_now().to_wire().as_str())
    );
    // Persisted before the answer.
    let job = app.store.bulk_job(&reception).await.unwrap().unwrap();
    assert_eq!(job.total, 7);

    let res = wait_result(&app, &reception, Encoding::Utf8).await;
    let h = &res.header;
    assert_eq!(h.segment_of_result, "1");
    assert_eq!(h.reception_number.as_deref(), Some(reception.as_str()));
    assert_eq!(h.arbitrary_file_identifier.as_deref(), Some("AFI-BULK"));
    assert_eq!(
        h.qualification_confirmation_date.as_deref(),
        Some(test_today().to_wire().as_str())
    );
    assert_eq!(h.number_of_processing_result.as_deref(), Some("7"));
    assert_eq!(h.number_of_normal_processing.as_deref(), Some("6"));
    assert_eq!(h.number_of_error.as_deref(), Some("1"));
    let units = &res.body.units;
    assert_eq!(units.len(), 7);
    for (unit, sent) in units.iter().zip(&searches) {
        assert_eq!(
            unit.search_info.as_ref(),
            Some(sent),
            "echo in upload order"
        );
    }
    let by_case = |c: &str| {
        units
            .iter()
            .find(|u| {
                u.search_info
                    .as_ref()
                    .unwrap()
                    .arbitrary_identifier
                    .as_deref()
                    == Some(format!("id-{c}").as_str())
            })
            .unwrap()
    };
    for c in cases {
        let u = by_case(c);
        let s = app.sample(c);
        assert_eq!(u.processing_result_status, "1", "{c}");
        assert_eq!(
            u.qualification_validity.as_deref(),
            Some(s.expected_validity.as_str()),
            "{c}"
        );
        let has_item = matches!(s.expected_validity.as_str(), "1" | "2" | "3");
        assert_eq!(u.results.len(), usize::from(has_item), "{c}");
        if has_item {
            assert_eq!(u.results[0].name.as_deref(), Some(s.name.as_str()), "{c}");
        }
    }
    let bad = &units[2];
    assert_eq!(bad.processing_result_status, "2");
    assert_eq!(bad.processing_result_code.as_deref(), Some("ONS2001"));
    assert!(bad.results.is_empty() && bad.qualification_validity.is_none());

    // Each patient is in the history like a single check.
    let rows = app
        .store
        .verifications(
            &app.clinic().code,
            test_now(),
            test_now().add_seconds(1),
            100,
        )
        .await
        .unwrap();
    let mut mine: Vec<_> = rows
        .iter()
        .filter(|r| r.request_id.starts_with(&reception))
        .collect();
    mine.sort_by_key(|r| r.request_id.clone());
    assert_eq!(mine.len(), 7);
    assert_eq!(
        mine.iter().filter(|r| r.processing_status == "2").count(),
        1
    );
    assert!(
        mine.iter()
            .all(|r| r.arbitrary_file_identifier.as_deref() == Some("AFI-BULK"))
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_units_carry_the_facilitys_reference_number() {
    let app = spawn_app().await;
    let s = app.sample("valid").clone();
    let reg = siimm::Request {
        header: siimm::RequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        body: siimm::RequestBody {
            registration: Some(siimm::ReferenceNumberRegistrationInfo {
                insurer_number: siimm::pad_insurer_number(&s.insurer_number),
                insured_identification_number: s.number.clone(),
                reference_number: "KARTE-42".into(),
                insured_card_symbol: (!s.symbol.is_empty()).then(|| s.symbol.clone()),
                insured_branch_number: (!s.branch.is_empty()).then(|| s.branch.clone()),
            }),
        },
    };
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/reference-number",
            "application/xml",
            reg.encode_xml(Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 200);
    let req = upload(
        &app.clinic().code,
        vec![
            search(&app, "valid", "a"),
            search(&app, "elderly_70_74", "b"),
        ],
    );
    let (_, accepted) = post_upload(&app, &req, Encoding::Utf8).await;
    let res = wait_result(
        &app,
        &accepted.body.reception_number.unwrap(),
        Encoding::Utf8,
    )
    .await;
    let units = &res.body.units;
    assert_eq!(units[0].reference_number.as_deref(), Some("KARTE-42"));
    assert_eq!(
        units[0].results[0].reference_number.as_deref(),
        Some("KARTE-42")
    );
    assert_eq!(units[1].reference_number, None);
    assert_eq!(units[1].results[0].reference_number, None);
    app.stop().await;
}

#[tokio::test]
async fn another_facilitys_or_an_unknown_reception_number_is_refused() {
    let app = spawn_app().await;
    let req = upload(&app.clinic().code, vec![search(&app, "valid", "a")]);
    let (_, accepted) = post_upload(&app, &req, Encoding::Utf8).await;
    let reception = accepted.body.reception_number.unwrap();
    wait_result(&app, &reception, Encoding::Utf8).await;
    let pharmacy = app.facilities[1].code.clone();
    let (status, res) = post_result(&app, &pharmacy, &reception, Encoding::Utf8).await;
    assert_eq!(status, 404);
    assert_eq!(res.header.segment_of_result, "9");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS5001"));
    assert!(res.body.units.is_empty());
    let (status, res) = post_result(
        &app,
        &app.clinic().code,
        "99999999999999999999",
        Encoding::Utf8,
    )
    .await;
    assert_eq!(
        (status, res.header.error_code.as_deref()),
        (404, Some("ONS5001"))
    );
    app.stop().await;
}

#[tokio::test]
async fn uploads_are_refused_as_messages_when_they_cannot_be_accepted() {
    let app = spawn_app().await;
    let (status, res) =
        post_upload(&app, &upload(&app.clinic().code, vec![]), Encoding::Utf8).await;
    assert_eq!(
        (status, res.header.error_code.as_deref()),
        (400, Some("ONS5002"))
    );
    assert!(res.body.reception_number.is_none());
    let other = app.facilities[1].code.clone();
    let (status, res) = post_upload(
        &app,
        &upload(&other, vec![search(&app, "valid", "a")]),
        Encoding::ShiftJis,
    )
    .await;
    assert_eq!(
        (status, res.header.error_code.as_deref()),
        (403, Some("ONS3003"))
    );
    assert_eq!(res.header.segment_of_result, "9");
    app.stop().await;
}

fn stored_job(app: &TestApp, reception: &str, total: i64) -> BulkJob {
    BulkJob {
        reception_number: reception.into(),
        facility_code: app.clinic().code.as_str().into(),
        received_at: test_now(),
        confirmation_date: test_today().to_wire(),
        arbitrary_file_identifier: Some("AFI-OLD".into()),
        state: BulkState::Processing,
        total,
        normal: 0,
        errors: 0,
        error_code: None,
        finished_at: None,
    }
}

#[tokio::test]
async fn an_unfinished_job_reads_as_processing_and_is_resumed_by_a_restart() {
    let mut app = spawn_app().await;
    // A job accepted by a central that stopped before checking anyone: stored, no task.
    let searches = vec![search(&app, "valid", "a"), search(&app, "not_found", "b")];
    let req = upload(&app.clinic().code, searches);
    app.store
        .create_bulk_job(
            &stored_job(&app, "20261123095959000001", 2),
            &req.encode_xml(Encoding::ShiftJis),
        )
        .await
        .unwrap();
    let (status, res) = post_result(
        &app,
        &app.clinic().code,
        "20261123095959000001",
        Encoding::Utf8,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(res.header.segment_of_result, "2", "still processing");
    assert!(res.body.units.is_empty());
    assert_eq!(res.header.error_code, None);

    app.stop_central().await;
    app.start_central().await;
    let res = wait_result(&app, "20261123095959000001", Encoding::ShiftJis).await;
    assert_eq!(res.header.segment_of_result, "1");
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-OLD")
    );
    let validity: Vec<_> = res
        .body
        .units
        .iter()
        .map(|u| u.qualification_validity.clone().unwrap())
        .collect();
    assert_eq!(validity, vec!["1", "4"]);
    app.stop().await;
}

#[tokio::test]
async fn a_shift_jis_bulk_keeps_rare_kanji_names() {
    let app = spawn_app().await;
    let req = upload(
        &app.clinic().code,
        vec![search(&app, "rare_kanji", "髙-𠮷")],
    );
    let (status, accepted) = post_upload(&app, &req, Encoding::ShiftJis).await;
    assert_eq!(status, 200);
    assert_eq!(accepted.header.character_code_identifier, "1");
    let res = wait_result(
        &app,
        &accepted.body.reception_number.unwrap(),
        Encoding::ShiftJis,
    )
    .await;
    assert_eq!(res.header.character_code_identifier, "1");
    let unit = &res.body.units[0];
    assert_eq!(
        unit.search_info
            .as_ref()
            .unwrap()
            .arbitrary_identifier
            .as_deref(),
        Some("髙-𠮷")
    );
    assert_eq!(
        unit.results[0].name.as_deref(),
        Some(app.sample("rare_kanji").name.as_str())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_large_bulk_is_processing_at_first_and_complete_at_the_end() {
    let app = spawn_app().await;
    let cases = ["valid", "lost", "not_found", "elderly_70_74", "preschool"];
    let searches: Vec<SearchInfo> = (0..12_000)
        .map(|i| search(&app, cases[i % cases.len()], &format!("p{i}")))
        .collect();
    let req = upload(&app.clinic().code, searches);
    let (status, accepted) = post_upload(&app, &req, Encoding::Utf8).await;
    assert_eq!(status, 200);
    let reception = accepted.body.reception_number.unwrap();
    let mut seen_processing = false;
    let res = loop {
        let (_, res) = post_result(&app, &app.clinic().code, &reception, Encoding::Utf8).await;
        if res.header.segment_of_result != "2" {
            break res;
        }
        seen_processing = true;
        assert!(res.body.units.is_empty());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        seen_processing,
        "12,000 patients are not done before the first 02req"
    );
    assert_eq!(res.body.units.len(), 12_000);
    assert_eq!(
        res.header.number_of_processing_result.as_deref(),
        Some("12000")
    );
    assert_eq!(
        res.body.units[11_999]
            .search_info
            .as_ref()
            .unwrap()
            .arbitrary_identifier
            .as_deref(),
        Some("p11999")
    );
    app.stop().await;
}
