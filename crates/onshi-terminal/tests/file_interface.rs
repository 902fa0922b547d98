//! The file interface against a real central: request files in, result or `.err` files out.
#![allow(clippy::unwrap_used)]

use onshi_core::date::JstDateTime;
use onshi_terminal::files::{FileInterface, Outcome};
use onshi_testkit::{TestApp, spawn_app};
use onshi_wire::{Encoding, Limits, siquc01};
use std::time::Duration;

fn interface(app: &TestApp, root: &std::path::Path) -> FileInterface {
    let cert = app.facility_cert(&app.clinic().code);
    let mut fi = FileInterface::new(root, app.client_with(Some(&cert))).unwrap();
    fi.settle = Duration::ZERO;
    fi
}

fn request(app: &TestApp, case: &str, afi: &str) -> siquc01::Request {
    app.check_request(case, afi)
}

async fn history_len(app: &TestApp) -> usize {
    app.store
        .verifications(
            &app.clinic().code,
            JstDateTime::from_unix_micros(0),
            JstDateTime::MAX,
            1000,
        )
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_request_file_gets_its_result_file_in_its_own_encoding() {
    let app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let mut fi = interface(&app, &root);
    let req = request(&app, "rare_kanji", "AFI-RARE-1");
    std::fs::write(
        fi.req_dir().join("OQSsiquc01req_202611230001.xml"),
        siquc01::encode_request_xml(&req, Encoding::ShiftJis),
    )
    .unwrap();
    let out = fi.pass().await.unwrap();
    let res_path = fi.res_dir().join("OQSsiquc01res_202611230001.xml");
    assert_eq!(out, vec![Outcome::Answered(res_path.clone())]);
    assert!(
        !fi.req_dir().join("OQSsiquc01req_202611230001.xml").exists(),
        "the request is consumed"
    );
    let (res, enc) =
        siquc01::decode_response_xml(&std::fs::read(&res_path).unwrap(), &Limits::default())
            .unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-RARE-1"),
        "echoed for pairing by content"
    );
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    assert_eq!(
        res.body.results[0].name.as_deref(),
        Some(app.sample("rare_kanji").name.as_str())
    );
    assert_eq!(history_len(&app).await, 1);
    // Nothing left: a second pass does nothing.
    assert!(fi.pass().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn invalid_requests_are_moved_to_res_with_an_err_file() {
    let app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let mut fi = interface(&app, &root);
    std::fs::write(
        fi.req_dir().join("OQSsiquc01req_000000000001.xml"),
        b"<XmlMsg><MessageHeader>",
    )
    .unwrap();
    let sjis_doctype = encoding_rs::SHIFT_JIS
        .encode("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><!DOCTYPE x [<!ENTITY a \"b\">]><XmlMsg/>")
        .0
        .into_owned();
    std::fs::write(
        fi.req_dir().join("OQSsiquc01req_000000000002.xml"),
        sjis_doctype,
    )
    .unwrap();
    std::fs::write(
        fi.req_dir().join("OQSmutic01req_000000000003.xml"),
        b"<XmlMsg/>",
    )
    .unwrap();
    let out = fi.pass().await.unwrap();
    assert_eq!(out.len(), 3);
    for (id, code, sjis) in [
        ("000000000001", "ONS1001", false),
        ("000000000002", "ONS1002", true),
    ] {
        let name = format!("OQSsiquc01req_{id}");
        assert!(
            fi.res_dir().join(format!("{name}.xml")).exists(),
            "request moved to res/"
        );
        let raw = std::fs::read(fi.res_dir().join(format!("{name}.err"))).unwrap();
        let text = if sjis {
            encoding_rs::SHIFT_JIS.decode(&raw).0.into_owned()
        } else {
            String::from_utf8(raw).unwrap()
        };
        assert!(text.starts_with(&format!("ErrorCode={code}\r\n")), "{text}");
        assert!(
            text.contains("ErrorMessage=")
                && text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
            "{text}"
        );
    }
    let text =
        std::fs::read_to_string(fi.res_dir().join("OQSmutic01req_000000000003.err")).unwrap();
    assert!(text.contains("ONS1010"));
    assert_eq!(std::fs::read_dir(fi.req_dir()).unwrap().count(), 0);
    assert_eq!(history_len(&app).await, 0, "nothing reached central");
    app.stop().await;
}

#[tokio::test]
async fn central_refusals_come_back_as_result_files() {
    let app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let mut fi = interface(&app, &root);
    let mut req = request(&app, "valid", "AFI-BAD");
    req.search.insurer_number = "01130013".into();
    std::fs::write(
        fi.req_dir().join("OQSsiquc01req_000000000009.xml"),
        siquc01::encode_request_xml(&req, Encoding::Utf8),
    )
    .unwrap();
    fi.pass().await.unwrap();
    let raw = std::fs::read(fi.res_dir().join("OQSsiquc01res_000000000009.xml")).unwrap();
    let (res, _) = siquc01::decode_response_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.segment_of_result, "9");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS2001"));
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("AFI-BAD")
    );
    app.stop().await;
}

#[tokio::test]
async fn each_request_is_answered_once_across_a_restart() {
    let app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let mut fi = interface(&app, &root);
    let req = request(&app, "valid", "AFI-1");
    let body = siquc01::encode_request_xml(&req, Encoding::Utf8);
    std::fs::write(fi.req_dir().join("OQSsiquc01req_000000000010.xml"), &body).unwrap();
    fi.pass().await.unwrap();
    assert_eq!(history_len(&app).await, 1);
    // The terminal stopped after writing the result but before removing the request:
    // the request is still there when it starts again.
    std::fs::write(fi.req_dir().join("OQSsiquc01req_000000000010.xml"), &body).unwrap();
    let mut restarted = interface(&app, &root);
    let out = restarted.pass().await.unwrap();
    assert!(matches!(out.as_slice(), [Outcome::AlreadyAnswered(_)]));
    assert_eq!(history_len(&app).await, 1, "not sent twice");
    assert!(
        !restarted
            .req_dir()
            .join("OQSsiquc01req_000000000010.xml")
            .exists()
    );
    app.stop().await;
}

#[tokio::test]
async fn without_an_outbox_requests_wait_while_central_is_down() {
    let mut app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let mut fi = interface(&app, &root);
    let req = request(&app, "valid", "AFI-S");
    let path = fi.req_dir().join("OQSsiquc01req_000000000020.xml");
    std::fs::write(&path, siquc01::encode_request_xml(&req, Encoding::Utf8)).unwrap();
    app.stop_central().await;
    let out = fi.pass().await.unwrap();
    assert_eq!(
        out,
        vec![Outcome::Deferred(path.clone())],
        "central is down: kept for later"
    );
    assert!(path.exists());
}

#[tokio::test]
async fn complete_requests_are_taken_at_once_and_partial_ones_refused_only_when_stable() {
    let app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let mut fi = interface(&app, &root);
    fi.settle = Duration::from_millis(150);
    let body = siquc01::encode_request_xml(&request(&app, "valid", "AFI-P"), Encoding::Utf8);
    let half = &body[..body.len() / 2];

    // A writer is still writing: half a message is not read, and not refused either.
    let growing = fi.req_dir().join("OQSsiquc01req_000000000030.xml");
    std::fs::write(&growing, half).unwrap();
    assert!(fi.pass().await.unwrap().is_empty());
    // The writer finishes: the complete message is answered on the next pass, at once.
    std::fs::write(&growing, &body).unwrap();
    let out = fi.pass().await.unwrap();
    assert!(matches!(out.as_slice(), [Outcome::Answered(_)]), "{out:?}");

    // A writer that stopped half-way: refused once the file has been stable for `settle`.
    let stuck = fi.req_dir().join("OQSsiquc01req_000000000031.xml");
    std::fs::write(&stuck, half).unwrap();
    assert!(fi.pass().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = fi.pass().await.unwrap();
    assert!(
        matches!(out.as_slice(), [Outcome::Refused { .. }]),
        "{out:?}"
    );
    assert!(fi.res_dir().join("OQSsiquc01req_000000000031.err").exists());
    app.stop().await;
}
