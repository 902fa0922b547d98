//! 「ご本人の情報」 (`/patient`) in a real headless Chromium against a real central: the
//! patient authenticates with their own card (PIN + signature over central's nonce) and
//! sees their qualification, drugs, checkups and who viewed what; their own look is
//! audited with basis `patient`; three wrong PINs lock the card.
//!
//! Needs `chromium` and `chromium-driver`; without them these tests fail and say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Served, Setup, browser, file_name};

use axum::http::Method;
use onshi_core::{Clock, Ymd};
use onshi_pki::{Card, CertProfile, SoftwareCard};
use onshi_store::ConsentRecord;
use onshi_testkit::browser::{Browser, DEFAULT_WAIT};
use onshi_testkit::{TestApp, spawn_app, test_today};
use std::path::Path;

async fn start_terminal(app: &TestApp) -> Served {
    common::start_terminal(
        app,
        Setup {
            wallet: true,
            ..Setup::default()
        },
    )
    .await
}

/// Someone with drug history and checkups.
async fn person_with_history(app: &TestApp) -> i64 {
    let since = Ymd::from_ymd(2020, 1, 1).unwrap();
    for id in 1..400 {
        if !app.store.drugs(id, since).await.unwrap().is_empty()
            && !app.store.checkups(id, since).await.unwrap().is_empty()
            && !app.store.find_by_person(id).await.unwrap().is_empty()
        {
            return id;
        }
    }
    panic!("no person with drug history and checkups");
}

fn submit(b: &Browser, t: &Served, card: &Path, pin: &str, goto: bool) {
    if goto {
        b.goto(&format!("{}/patient", t.url)).unwrap();
    }
    b.click(&format!(
        "input[name=\"card\"][value=\"{}\"]",
        file_name(card)
    ))
    .unwrap();
    b.type_into("#pin", pin).unwrap();
    b.click("#show").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_sees_their_own_information_and_who_viewed_it() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    let p = app.store.person(person).await.unwrap().unwrap();
    let (card, record) = app
        .issue_card(person, CertProfile::Card, test_today().add_days(1000), true)
        .await;
    // The clinic's doctor looked at the drugs yesterday under a consent.
    let now = app.clock.now();
    app.store
        .record_consent(&ConsentRecord {
            check_request_id: "check-1".into(),
            facility_code: app.clinic().code.as_str().into(),
            person_id: person,
            consented_at: now,
            available_until: onshi_core::card::consent_available_until(now),
            information: vec!["YZK".into()],
        })
        .await
        .unwrap();
    let mut conn = app.clinic_connection().await;
    let r = conn
        .request(
            Method::GET,
            &format!("/oqs/v1/medical/drug?person={person}"),
            &[("x-onshi-account", "003")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    app.clock.advance_seconds(3600);

    let t = start_terminal(&app).await;
    let b = browser();
    // From the start page.
    b.goto(&t.url).unwrap();
    b.click("a[href=\"/patient\"] button").unwrap();
    b.wait_for_text("h1", "ご本人の情報を見る", DEFAULT_WAIT)
        .unwrap();
    submit(&b, &t, &card, "1234", false);
    let name = b
        .wait_for_text("#patient-name", "様", DEFAULT_WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", b.body_text().unwrap_or_default()));
    assert!(name.contains(&p.name), "{name}");
    assert!(!name.contains('●'));
    let q = b.text("#qualification").unwrap();
    assert!(q.contains("有効"), "{q}");
    let drugs = b.find_all("#drug tr.drug").unwrap();
    assert!(!drugs.is_empty());
    let checkups = b.find_all("#checkup h3.checkup").unwrap();
    assert!(!checkups.is_empty());
    assert!(b.text("#checkup").unwrap().contains("HbA1c"));
    let views = b.text("#views").unwrap();
    assert!(views.contains(&app.clinic().name), "{views}");
    assert!(
        views.contains("患者の同意") && views.contains("ご本人"),
        "{views}"
    );
    assert!(
        views.contains("薬剤情報") && views.contains("特定健診情報"),
        "{views}"
    );

    // Recorded: the patient's own views, basis patient, with the card.
    let rows = app.store.audit_page(0, 1000).await.unwrap();
    let own: Vec<_> = rows
        .iter()
        .filter(|r| r.entry.basis == "patient")
        .map(|r| {
            (
                r.entry.person_id,
                r.entry.information.as_str(),
                r.entry.account.as_str(),
                r.entry.detail.clone(),
            )
        })
        .collect();
    let detail = format!("card={}", record.serial);
    assert_eq!(
        own,
        vec![
            (Some(person), "YZK", "patient", detail.clone()),
            (Some(person), "TKK", "patient", detail),
        ]
    );
    assert!(app.store.verify_audit(None).await.unwrap().2.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_pins_lock_the_card_and_nothing_is_shown() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, test_today().add_days(1000), true)
        .await;
    let t = start_terminal(&app).await;
    let b = browser();
    submit(&b, &t, &card, "9999", true);
    b.wait_for_text("#wrong_pin", "あと2回", DEFAULT_WAIT)
        .unwrap();
    submit(&b, &t, &card, "0000", false);
    b.wait_for_text("#wrong_pin", "あと1回", DEFAULT_WAIT)
        .unwrap();
    submit(&b, &t, &card, "1111", false);
    let msg = b
        .wait_for_text("#pin_locked", "ロック", DEFAULT_WAIT)
        .unwrap();
    assert!(msg.contains("市区町村"), "{msg}");
    // The right PIN no longer helps: the card is locked for good.
    submit(&b, &t, &card, "1234", false);
    b.wait_for("#pin_locked", DEFAULT_WAIT).unwrap();
    // Let the post's answer arrive (it would show the name if it had got through).
    std::thread::sleep(std::time::Duration::from_millis(700));
    b.wait_for("#pin_locked", DEFAULT_WAIT).unwrap();
    assert!(b.find_all("#patient-name").unwrap().is_empty());
    let mut sc = SoftwareCard::open(&card).unwrap();
    assert!(sc.is_locked() || sc.pin_tries_left().unwrap() == 0);
    assert!(
        app.store
            .audit_page(0, 100)
            .await
            .unwrap()
            .iter()
            .all(|r| r.entry.basis != "patient"),
        "nothing viewed"
    );
    app.stop().await;
}
