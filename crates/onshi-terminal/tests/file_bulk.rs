//! Bulk checks (OQSmuquc01/02) and reference-number registration (OQSsiimm01) through
//! the file interface, against a real central.
#![allow(clippy::unwrap_used)]

use onshi_terminal::files::{FileInterface, Outcome};
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::siquc01::{RequestHeader, SearchInfo};
use onshi_wire::{Encoding, Limits, muquc, siimm, siquc01};
use std::time::Duration;

fn interface(app: &TestApp) -> FileInterface {
    let cert = app.facility_cert(&app.clinic().code);
    let root = app.dir.path().join("oqs");
    let mut fi = FileInterface::new(root, app.client_with(Some(&cert))).unwrap();
    fi.settle = Duration::ZERO;
    fi
}

fn search(app: &TestApp, case: &str, tag: &str) -> SearchInfo {
    let mut s = app.search_info(case, 0);
    s.arbitrary_identifier = Some(tag.into());
    s
}

#[tokio::test]
async fn a_reference_number_file_registers_and_later_checks_carry_it() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    let s = search(&app, "valid", "");
    let reg = siimm::Request {
        header: siimm::RequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: Some("AFI-REF".into()),
        },
        body: siimm::RequestBody {
            registration: Some(siimm::ReferenceNumberRegistrationInfo {
                insurer_number: siimm::pad_insurer_number(&s.insurer_number),
                insured_identification_number: s.insured_identification_number.clone(),
                reference_number: "P-000123".into(),
                insured_card_symbol: s.insured_card_symbol.clone(),
                insured_branch_number: s.insured_branch_number.clone(),
            }),
        },
    };
    std::fs::write(
        fi.req_dir().join("OQSsiimm01req_202611230001.xml"),
        reg.encode_xml(Encoding::ShiftJis),
    )
    .unwrap();
    let out = fi.pass().await.unwrap();
    assert!(matches!(out.as_slice(), [Outcome::Answered(_)]), "{out:?}");
    let (res, enc) = siimm::Response::decode_xml(
        &std::fs::read(fi.res_dir().join("OQSsiimm01res_202611230001.xml")).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(res.body.processing_result_status, "1");
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-REF")
    );

    let check = siquc01::Request {
        header: RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: search(&app, "valid", ""),
    };
    std::fs::write(
        fi.req_dir().join("OQSsiquc01req_202611230002.xml"),
        siquc01::encode_request_xml(&check, Encoding::Utf8),
    )
    .unwrap();
    fi.pass().await.unwrap();
    let (res, _) = siquc01::decode_response_xml(
        &std::fs::read(fi.res_dir().join("OQSsiquc01res_202611230002.xml")).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        res.body.results[0].reference_number.as_deref(),
        Some("P-000123")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bulk_upload_file_gets_a_reception_number_and_the_result_file_every_unit() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    let cases = ["valid", "lost", "not_found", "rare_kanji"];
    let upload = muquc::UploadRequest {
        header: RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: Some("AFI-BULK".into()),
        },
        body: muquc::UploadRequestBody {
            searches: cases
                .iter()
                .enumerate()
                .map(|(i, c)| search(&app, c, &format!("P{i}")))
                .collect(),
        },
    };
    std::fs::write(
        fi.req_dir().join("OQSmuquc01req_202611230001.xml"),
        upload.encode_xml(Encoding::ShiftJis),
    )
    .unwrap();
    fi.pass().await.unwrap();
    let (accepted, _) = muquc::UploadResponse::decode_xml(
        &std::fs::read(fi.res_dir().join("OQSmuquc01res_202611230001.xml")).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    let reception = accepted.body.reception_number.clone().unwrap();
    assert_eq!(
        accepted.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-BULK")
    );

    // The receipt computer asks for the result until it is complete.
    let ask = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: reception.clone(),
        },
    };
    let res_path = fi.res_dir().join("OQSmuquc02res_202611230002.xml");
    let mut done = None;
    for _ in 0..50 {
        std::fs::write(
            fi.req_dir().join("OQSmuquc02req_202611230002.xml"),
            ask.encode_xml(Encoding::Utf8),
        )
        .unwrap();
        fi.pass().await.unwrap();
        let (res, _) =
            muquc::ResultResponse::decode_xml(&std::fs::read(&res_path).unwrap(), &Limits::bulk())
                .unwrap();
        std::fs::remove_file(&res_path).unwrap();
        if res.header.segment_of_result == "1" {
            done = Some(res);
            break;
        }
        assert_eq!(res.header.segment_of_result, "2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = done.expect("bulk completes");
    assert_eq!(
        res.header.reception_number.as_deref(),
        Some(reception.as_str())
    );
    assert_eq!(res.body.units.len(), cases.len());
    for (i, unit) in res.body.units.iter().enumerate() {
        assert_eq!(
            unit.search_info
                .as_ref()
                .unwrap()
                .arbitrary_identifier
                .as_deref(),
            Some(format!("P{i}").as_str())
        );
    }
    assert_eq!(
        res.body.units[1].qualification_validity.as_deref(),
        Some("2")
    );

    // A malformed upload gets its .err; nothing is sent.
    std::fs::write(
        fi.req_dir().join("OQSmuquc01req_202611230003.xml"),
        b"<XmlMsg/>",
    )
    .unwrap();
    let out = fi.pass().await.unwrap();
    assert!(
        matches!(out.as_slice(), [Outcome::Refused { .. }]),
        "{out:?}"
    );
    let err = std::fs::read_to_string(fi.res_dir().join("OQSmuquc01req_202611230003.err")).unwrap();
    assert!(err.starts_with("ErrorCode=ONS1005"), "{err}");
    app.stop().await;
}
