//! 薬剤情報 (`YZKsiquc01`) and 特定健診情報 (`TKKsiquc01`) requests through the file interface
//! and the REST form, against a real central: data only under a consent in its window,
//! otherwise the refusal result; a malformed file gets its `.err`.
#![allow(clippy::unwrap_used)]

use onshi_core::{Clock, Ymd};
use onshi_store::ConsentRecord;
use onshi_terminal::files::{FileInterface, Outcome};
use onshi_terminal::relay::Relay;
use onshi_testkit::{TestApp, spawn_app};
use onshi_wire::medinfo::{self, TkkResponse, YzkResponse};
use onshi_wire::{Encoding, Limits};
use std::sync::Arc;
use std::time::Duration;

fn interface(app: &TestApp) -> FileInterface {
    let cert = app.facility_cert(&app.clinic().code);
    let mut fi =
        FileInterface::new(app.dir.path().join("oqs"), app.client_with(Some(&cert))).unwrap();
    fi.settle = Duration::ZERO;
    fi
}

/// Someone with drug history and checkups.
async fn person_with_history(app: &TestApp) -> i64 {
    let since = Ymd::from_ymd(2020, 1, 1).unwrap();
    for id in 1..400 {
        if !app.store.drugs(id, since).await.unwrap().is_empty()
            && !app.store.checkups(id, since).await.unwrap().is_empty()
        {
            return id;
        }
    }
    panic!("no person with drug history and checkups");
}

async fn consent(app: &TestApp, person: i64, codes: &[&str], id: &str) {
    let now = app.clock.now();
    app.store
        .record_consent(&ConsentRecord {
            check_request_id: id.into(),
            facility_code: app.clinic().code.as_str().into(),
            person_id: person,
            consented_at: now,
            available_until: onshi_core::card::consent_available_until(now),
            information: codes.iter().map(|c| c.to_string()).collect(),
        })
        .await
        .unwrap();
}

/// The request of §7.1 for `person`'s current insurance data, as OQSDrug2 writes it
/// (Shift_JIS).
async fn request(app: &TestApp, person: i64, category: &str, afi: &str) -> Vec<u8> {
    let recs = app.store.find_by_person(person).await.unwrap();
    let q = &recs[0].qualification;
    let r = medinfo::Request {
        header: medinfo::RequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            insurer_number: q.insurer_number.digits().into(),
            insurance_card_symbol: q.symbol.as_ref().map(|s| s.as_str().to_string()),
            insured_person_identification_number: q.number.as_str().into(),
            branch_number: q.branch.map(|b| b.to_wire()),
            arbitrary_file_identifier: Some(afi.into()),
        },
        body: medinfo::RequestBody {
            file_category: category.into(),
            pr_di_inf_classification: Some("1".into()),
            medical_treatment_flag: Some("1".into()),
            ..Default::default()
        },
    };
    r.encode_xml(Encoding::ShiftJis)
}

async fn audit_rows(app: &TestApp) -> Vec<onshi_store::AuditRow> {
    app.store.audit_page(0, 10_000).await.unwrap()
}

/// Writes `req/{name}`, runs one pass, returns the result file's bytes.
async fn answer(fi: &mut FileInterface, name: &str, bytes: &[u8]) -> Vec<u8> {
    std::fs::write(fi.req_dir().join(name), bytes).unwrap();
    let out = fi.pass().await.unwrap();
    let res = fi.res_dir().join(name.replacen("req_", "res_", 1));
    assert_eq!(out, vec![Outcome::Answered(res.clone())]);
    assert!(!fi.req_dir().join(name).exists(), "request consumed");
    std::fs::read(res).unwrap()
}

#[tokio::test]
async fn consented_drug_and_checkup_files_get_the_data_with_the_real_element_names() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    let person = person_with_history(&app).await;
    consent(&app, person, &["YZK", "TKK"], "check-1").await;
    let p = app.store.person(person).await.unwrap().unwrap();

    let raw = answer(
        &mut fi,
        "YZKsiquc01req_022611231000P0001.xml",
        &request(&app, person, "2", "P0001").await,
    )
    .await;
    let (res, enc) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(
        enc,
        Encoding::ShiftJis,
        "answered in the request's encoding"
    );
    assert_eq!(res.header.result_code, "1");
    assert_eq!(
        res.header.arbitrary_file_identifier.as_deref(),
        Some("P0001")
    );
    let qua = res.header.qua_inf.as_ref().unwrap();
    assert_eq!(qua.name.as_deref(), Some(p.name.as_str()));
    assert_eq!(qua.birth.as_deref(), Some(p.birthdate.to_wire().as_str()));
    let drugs = app
        .store
        .drugs(
            person,
            onshi_core::medical::InfoKind::Drug.horizon_start(app.clock.now().date()),
        )
        .await
        .unwrap();
    let lines: usize = res
        .body
        .months
        .iter()
        .flat_map(|m| &m.dates)
        .map(|d| d.drugs.len())
        .sum();
    assert_eq!(lines, drugs.len(), "every drug line of the horizon");
    assert!(lines > 0);
    let first = &res.body.months[0];
    assert!(first.me_tr_month.is_some() && first.me_tr_di_h_nm.is_some());
    assert!(first.dates[0].drugs[0].drug_c.as_deref().unwrap().len() == 9);
    assert!(
        res.body
            .months
            .iter()
            .all(|m| m.dates.iter().all(|d| d.treatments.is_empty())),
        "FileCategory 2: drugs only"
    );
    let text = encoding_rs::SHIFT_JIS.decode(&raw).0;
    for tag in [
        "<QuaInf>",
        "<MeTrMonthInf>",
        "<DiDateInfs>",
        "<DrugInf>",
        "<DrugN>",
        "<UsageN>",
    ] {
        assert!(text.contains(tag), "{tag}");
    }

    let raw = answer(
        &mut fi,
        "TKKsiquc01req_022611231000P0001.xml",
        &request(&app, person, "2", "P0001-T").await,
    )
    .await;
    let (res, _) = TkkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "1");
    assert_eq!(
        res.header
            .qualifications_info
            .as_ref()
            .unwrap()
            .name
            .as_deref(),
        Some(p.name.as_str())
    );
    assert!(!res.body.checkups.is_empty());
    let hba1c = res.body.checkups[0]
        .items
        .iter()
        .find(|i| i.item_code.as_deref() == Some("3D046000001906202"))
        .unwrap();
    assert!(hba1c.item_name.as_deref().unwrap().contains("HbA1c"));
    assert!(hba1c.data_value.is_some() && hba1c.unit.as_deref() == Some("%"));

    let allowed: Vec<_> = audit_rows(&app)
        .await
        .into_iter()
        .filter(|r| r.entry.outcome == "allowed")
        .map(|r| {
            (
                r.entry.person_id,
                r.entry.information,
                r.entry.basis,
                r.entry.account,
            )
        })
        .collect();
    assert_eq!(
        allowed,
        vec![
            (
                Some(person),
                "YZK".into(),
                "consent".into(),
                "ONSRenkei".into()
            ),
            (
                Some(person),
                "TKK".into(),
                "consent".into(),
                "ONSRenkei".into()
            ),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn without_consent_the_answer_is_the_refusal_never_the_data() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    let person = person_with_history(&app).await;
    // A checkup consent does not open drugs.
    consent(&app, person, &["TKK"], "check-1").await;
    let raw = answer(
        &mut fi,
        "YZKsiquc01req_022611231000P0002.xml",
        &request(&app, person, "2", "P0002").await,
    )
    .await;
    let (res, _) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "2");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS6010"));
    assert!(
        res.header
            .message_contents
            .as_deref()
            .unwrap()
            .contains("同意"),
        "{:?}",
        res.header.message_contents
    );
    assert!(res.body.months.is_empty() && res.header.qua_inf.is_none());
    let rows = audit_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.outcome, "refused");
    assert_eq!(rows[0].entry.person_id, Some(person));
    assert_eq!(rows[0].entry.detail, "ONS6010");

    // Unknown insurance data: the same refusal (no one's existence is told).
    let other = &medinfo::Request {
        header: medinfo::RequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            insurer_number: "06139999".into(),
            insured_person_identification_number: "999999".into(),
            ..Default::default()
        },
        body: medinfo::RequestBody {
            file_category: "2".into(),
            ..Default::default()
        },
    }
    .encode_xml(Encoding::Utf8);
    let raw = answer(&mut fi, "TKKsiquc01req_x1.xml", other).await;
    let (res, _) = TkkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "2");
    assert!(res.body.checkups.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_consent_opens_the_files_for_24_hours_only() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    let person = person_with_history(&app).await;
    consent(&app, person, &["YZK"], "check-1").await;
    app.clock.advance_seconds(24 * 3600 - 1);
    let raw = answer(
        &mut fi,
        "YZKsiquc01req_a.xml",
        &request(&app, person, "2", "A").await,
    )
    .await;
    let (res, _) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "1", "still inside the window");
    app.clock.advance_seconds(1);
    let raw = answer(
        &mut fi,
        "YZKsiquc01req_b.xml",
        &request(&app, person, "2", "B").await,
    )
    .await;
    let (res, _) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "2", "24 hours after the consent");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS6010"));
    assert!(res.body.months.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn pdf_categories_and_missing_treatment_consent_are_answered_clearly() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    let person = person_with_history(&app).await;
    consent(&app, person, &["YZK", "TKK"], "check-1").await;
    // PDF: a clear refusal, as XML.
    let raw = answer(
        &mut fi,
        "YZKsiquc01req_pdf.xml",
        &request(&app, person, "1", "PDF").await,
    )
    .await;
    let (res, _) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "2");
    assert_eq!(res.header.error_code.as_deref(), Some("ONS6003"));
    assert!(res.header.message_contents.unwrap().contains("PDF"));
    // 薬剤+診療 without a 診療 consent: drugs, and a note that 診療 was left out.
    let raw = answer(
        &mut fi,
        "YZKsiquc01req_c4.xml",
        &request(&app, person, "4", "C4").await,
    )
    .await;
    let (res, _) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "1");
    assert!(
        res.header
            .message_contents
            .unwrap()
            .contains("診療情報は含まれていません")
    );
    assert!(
        res.body
            .months
            .iter()
            .all(|m| m.dates.iter().all(|d| d.treatments.is_empty()))
    );
    // With it: the 診療行為 too.
    consent(&app, person, &["SRJ"], "check-2").await;
    let raw = answer(
        &mut fi,
        "YZKsiquc01req_c4b.xml",
        &request(&app, person, "4", "C4B").await,
    )
    .await;
    let (res, _) = YzkResponse::decode_xml(&raw, &Limits::default()).unwrap();
    assert_eq!(res.header.result_code, "1");
    assert!(res.header.message_contents.is_none());
    assert!(
        res.body
            .months
            .iter()
            .any(|m| m.dates.iter().any(|d| !d.treatments.is_empty()))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_medical_request_gets_an_err_file() {
    let app = spawn_app().await;
    let mut fi = interface(&app);
    // No FileCategory.
    let bad = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageHeader>\
        <MedicalInstitutionCode>1310000017</MedicalInstitutionCode><InsurerNumber>06130012</InsurerNumber>\
        <InsuredPersonIdentificationNumber>1</InsuredPersonIdentificationNumber></MessageHeader>\
        <MessageBody></MessageBody></XmlMsg>";
    std::fs::write(fi.req_dir().join("YZKsiquc01req_bad.xml"), bad).unwrap();
    std::fs::write(
        fi.req_dir().join("TKKsiquc01req_cut.xml"),
        "<XmlMsg><MessageHeader>",
    )
    .unwrap();
    let out = fi.pass().await.unwrap();
    assert_eq!(out.len(), 2);
    for (name, code) in [
        ("TKKsiquc01req_cut", "ONS1001"),
        ("YZKsiquc01req_bad", "ONS1005"),
    ] {
        assert!(
            out.contains(&Outcome::Refused {
                request: fi.res_dir().join(format!("{name}.xml")),
                err: fi.res_dir().join(format!("{name}.err")),
            }),
            "{out:?}"
        );
        let text = std::fs::read_to_string(fi.res_dir().join(format!("{name}.err"))).unwrap();
        assert!(text.starts_with(&format!("ErrorCode={code}\r\n")), "{text}");
    }
    assert!(audit_rows(&app).await.is_empty(), "nothing reached central");
    app.stop().await;
}

#[tokio::test]
async fn the_rest_form_answers_the_same_way() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    let cert = app.facility_cert(&app.clinic().code);
    let relay = Arc::new(Relay::new(app.client_with(Some(&cert))));
    let router = onshi_terminal::rest::router(relay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let post = |body: Vec<u8>| async move {
        let client = reqwest_free_post(addr, "/api/v1/YZKsiquc01", &body).await;
        YzkResponse::decode_xml(&client, &Limits::default())
            .unwrap()
            .0
    };
    let refused = post(request(&app, person, "2", "R1").await).await;
    assert_eq!(refused.header.result_code, "2");
    assert!(refused.body.months.is_empty());
    consent(&app, person, &["YZK"], "check-1").await;
    let ok = post(request(&app, person, "2", "R2").await).await;
    assert_eq!(ok.header.result_code, "1");
    assert!(!ok.body.months.is_empty());
    app.stop().await;
}

/// One HTTP/1.1 POST with `Connection: close`; returns the body.
async fn reqwest_free_post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        // De-chunk.
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        return out;
    }
    body
}
