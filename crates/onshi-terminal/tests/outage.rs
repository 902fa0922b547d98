//! System-failure mode of the file interface: central stops, checks are still accepted
//! (from the last known qualification, or with 申立書 advice), queued, and reconciled
//! when central returns; a terminal restart in between loses and duplicates nothing.
#![allow(clippy::unwrap_used)]

use onshi_core::Clock;
use onshi_terminal::files::{FileInterface, Outcome};
use onshi_terminal::outage::{Outbox, Reconciler};
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::{Encoding, Limits, siquc01};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn terminal(app: &TestApp, root: &Path) -> (FileInterface, Reconciler, Arc<Outbox>) {
    let cert = app.facility_cert(&app.clinic().code);
    std::fs::create_dir_all(root).unwrap();
    let outbox = Arc::new(Outbox::open(&root.join("terminal.sqlite")).unwrap());
    let clock = app.clock.clone() as Arc<dyn Clock>;
    let mut fi = FileInterface::new(root, app.client_with(Some(&cert)))
        .unwrap()
        .with_outbox(outbox.clone(), clock.clone());
    fi.settle = Duration::ZERO;
    let rec = Reconciler::new(outbox.clone(), app.client_with(Some(&cert)), root, clock);
    (fi, rec, outbox)
}

/// The `nth` sample of `case` (several are kept per case).
fn request_nth(app: &TestApp, case: &str, nth: usize, afi: &str) -> siquc01::Request {
    let mut req = app.check_request(case, afi);
    req.search = app.search_info(case, nth);
    req
}

fn request(app: &TestApp, case: &str, afi: &str) -> siquc01::Request {
    request_nth(app, case, 0, afi)
}

fn read(path: &Path) -> siquc01::Response {
    siquc01::decode_response_xml(&std::fs::read(path).unwrap(), &Limits::default())
        .unwrap()
        .0
}

const CASES: [&str; 5] = [
    "valid",
    "lost",
    "elderly_70_74",
    "rare_kanji",
    "new_qualification",
];

#[tokio::test]
async fn ten_checks_while_central_is_down_are_answered_queued_and_reconciled() {
    let mut app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let (mut fi, mut rec, outbox) = terminal(&app, &root);

    // Yesterday, with central up: the first five patients were checked once.
    for (i, case) in CASES.iter().enumerate() {
        let name = format!("OQSsiquc01req_20261122000{i}.xml");
        let body = siquc01::encode_request_xml(&request(&app, case, "PRE"), Encoding::Utf8);
        std::fs::write(fi.req_dir().join(name), body).unwrap();
    }
    let out = fi.pass().await.unwrap();
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|o| matches!(o, Outcome::Answered(_))));

    app.stop_central().await;
    // Ten checks while central is down: the five returning patients, in Shift_JIS, and
    // five unknown to this terminal.
    let mut names = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let name = format!("OQSsiquc01req_20261123010{i}.xml");
        let body =
            siquc01::encode_request_xml(&request(&app, case, &format!("R{i}")), Encoding::ShiftJis);
        std::fs::write(fi.req_dir().join(&name), body).unwrap();
        names.push(name);
    }
    // Five other patients, never seen by this terminal.
    let seen: Vec<String> = CASES.iter().map(|c| app.sample(c).number.clone()).collect();
    let mut others: Vec<(String, usize)> = Vec::new();
    let mut per_case = std::collections::HashMap::new();
    for s in &app.summary.samples {
        let n = per_case.entry(s.case.clone()).or_insert(0usize);
        if !seen.contains(&s.number) && others.len() < 5 {
            others.push((s.case.clone(), *n));
        }
        *n += 1;
    }
    assert_eq!(others.len(), 5);
    for (i, (case, nth)) in others.iter().enumerate() {
        let name = format!("OQSsiquc01req_20261123020{i}.xml");
        let req = request_nth(&app, case, *nth, &format!("N{i}"));
        let body = siquc01::encode_request_xml(&req, Encoding::Utf8);
        std::fs::write(fi.req_dir().join(&name), body).unwrap();
        names.push(name);
    }
    let out = fi.pass().await.unwrap();
    assert_eq!(out.len(), 10);
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Provisional(_))),
        "{out:?}"
    );
    for (i, name) in names.iter().enumerate() {
        let res = read(&fi.res_dir().join(name.replacen("req_", "res_", 1)));
        if i < 5 {
            assert_eq!(res.header.segment_of_result, "1");
            assert_eq!(res.body.processing_result_code.as_deref(), Some("ONS0190"));
            assert!(
                res.body
                    .processing_result_message
                    .as_deref()
                    .unwrap()
                    .contains("システム障害時モード")
            );
            assert_eq!(
                res.header.arbitrary_file_identifier.as_deref(),
                Some(&*format!("R{i}"))
            );
            assert_eq!(res.body.results.len(), 1, "the last known qualification");
        } else {
            assert_eq!(res.header.segment_of_result, "9", "{name}");
            assert_eq!(res.header.error_code.as_deref(), Some("ONS9100"));
            assert!(
                res.header
                    .error_message
                    .as_deref()
                    .unwrap()
                    .contains("申立書")
            );
        }
    }
    assert_eq!(outbox.pending().unwrap(), 10);

    // Still down: a pass backs off and loses nothing.
    let pass = rec.pass().await.unwrap();
    assert!(pass.reconciled.is_empty());
    assert_eq!(pass.waiting, 10);

    // The terminal restarts while central is down.
    drop((fi, rec, outbox));
    let (_fi, mut rec, outbox) = terminal(&app, &root);
    assert_eq!(outbox.pending().unwrap(), 10);

    app.restart_central().await;
    // Due again after the back-off (at most 1.5 s after the first failure).
    let mut reconciled = Vec::new();
    for _ in 0..40 {
        reconciled.extend(rec.pass().await.unwrap().reconciled);
        if reconciled.len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reconciled.len(), 10, "all ten reconciled");
    assert_eq!(outbox.pending().unwrap(), 0);
    for (i, name) in names.iter().enumerate() {
        let path = root
            .join("res/reconciled")
            .join(name.replacen("req_", "res_", 1));
        let bytes = std::fs::read(&path).unwrap();
        let (res, enc) = siquc01::decode_response_xml(&bytes, &Limits::default()).unwrap();
        // The real answer, in the request's encoding.
        assert_eq!(
            enc,
            if i < 5 {
                Encoding::ShiftJis
            } else {
                Encoding::Utf8
            }
        );
        assert_ne!(res.body.processing_result_code.as_deref(), Some("ONS0190"));
        assert_eq!(
            res.header
                .error_code
                .as_deref()
                .filter(|c| c.starts_with("ONS91")),
            None
        );
        assert!(res.header.segment_of_result == "1", "{name}: {res:?}");
    }
    // Central recorded each reconciled check once (5 before + 10 now).
    let history = app
        .store
        .verifications(
            &app.clinic().code,
            onshi_core::date::JstDateTime::from_unix_micros(0),
            onshi_core::date::JstDateTime::MAX,
            1000,
        )
        .await
        .unwrap();
    assert_eq!(history.len(), 15);
    // Nothing more to do.
    assert!(rec.pass().await.unwrap().reconciled.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn kiosk_checks_while_central_is_down_become_face_files_when_it_returns() {
    use onshi_central::card_client::{self, CardConsents, IdentityMethod};
    use onshi_pki::{Card, CertProfile, SoftwareCard};
    use onshi_terminal::outage;

    let mut app = spawn_app().await;
    let root = app.dir.path().join("oqs");
    let (_fi, mut rec, outbox) = terminal(&app, &root);
    let until = test_today().add_days(1000);
    let returning = app.person_of("valid").await;
    let (known_path, _) = app
        .issue_card(returning, CertProfile::Card, until, true)
        .await;
    let newcomer = app.person_of("elderly_70_74").await;
    let (new_path, _) = app
        .issue_card(newcomer, CertProfile::Card, until, true)
        .await;

    // A live check of the returning patient, remembered by the terminal.
    let mut card = SoftwareCard::open(&known_path).unwrap();
    card.verify_pin("1234").unwrap();
    let mut conn = app.clinic_connection().await;
    let reply = card_client::card_check(
        &mut conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    let live = siquc01::decode_response_json(&reply.body, &Limits::default()).unwrap();
    outbox
        .remember(&outage::card_key(card.serial_hex()), &live, app.clock.now())
        .unwrap();
    drop(conn);

    app.stop_central().await;
    let facility = app.clinic().code.clone();
    let mut answers = Vec::new();
    for (i, path) in [&known_path, &new_path].into_iter().enumerate() {
        let mut card = SoftwareCard::open(path).unwrap();
        card.verify_pin("1234").unwrap();
        let target = format!(
            "face/OQSsiquc01res_face_{}{:020x}_20261123100000.xml",
            facility.as_str(),
            i
        );
        answers.push(
            outage::offline_card_check(
                &outbox,
                &mut card,
                &facility,
                IdentityMethod::Pin,
                app.clock.now(),
                &target,
                Encoding::ShiftJis,
            )
            .unwrap()
            .1,
        );
    }
    assert_eq!(
        answers[0].body.processing_result_code.as_deref(),
        Some("ONS0190")
    );
    assert_eq!(answers[0].body.results[0].name, live.body.results[0].name);
    assert_eq!(answers[1].header.error_code.as_deref(), Some("ONS9100"));
    assert_eq!(outbox.pending().unwrap(), 2);

    app.restart_central().await;
    let mut written = Vec::new();
    for _ in 0..40 {
        written.extend(rec.pass().await.unwrap().reconciled);
        if written.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(written.len(), 2);
    for path in &written {
        let (res, enc) =
            siquc01::decode_response_xml(&std::fs::read(path).unwrap(), &Limits::default())
                .unwrap();
        assert_eq!(enc, Encoding::ShiftJis);
        assert_eq!(res.header.segment_of_result, "1", "{res:?}");
        assert_eq!(res.header.reference_classification.as_deref(), Some("1"));
        assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
        assert!(path.starts_with(root.join("face")));
    }
    // The newcomer is now known to the terminal too.
    let mut card = SoftwareCard::open(&new_path).unwrap();
    let serial = outage::serial_of(&mut card).unwrap();
    assert!(
        outbox
            .last_known(&outage::card_key(&serial))
            .unwrap()
            .is_some()
    );
    app.stop().await;
}
