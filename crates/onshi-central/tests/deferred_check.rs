//! Card checks signed while central was down, sent when it is back.
#![allow(clippy::unwrap_used)]

use onshi_central::card_client::{self, IdentityMethod};
use onshi_central::client::Reply;
use onshi_core::Ymd;
use onshi_core::date::JstDateTime;
use onshi_pki::{Card, CertProfile, SoftwareCard};
use onshi_testkit::{TestApp, spawn_app, test_now, test_today};
use onshi_wire::{Limits, siquc01};
use std::path::Path;

fn days(d: i64) -> Ymd {
    test_today().add_days(d)
}

fn offline_body(path: &Path, facility: &str, at: JstDateTime) -> Vec<u8> {
    let mut card = SoftwareCard::open(path).unwrap();
    card.verify_pin("1234").unwrap();
    card_client::offline_signed_body(&mut card, facility, at, IdentityMethod::Pin).unwrap()
}

async fn send(app: &TestApp, body: Vec<u8>) -> (Reply, siquc01::Response) {
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post("/oqs/v1/card/deferred-check", "application/json", body)
        .await
        .unwrap();
    let res = siquc01::decode_response_json(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)));
    (reply, res)
}

#[tokio::test]
async fn an_offline_check_is_answered_as_of_its_moment_once() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let clinic = app.clinic().code.as_str().to_string();
    // Signed yesterday evening, during the outage.
    let at = test_now().add_seconds(-15 * 3600);
    let body = offline_body(&path, &clinic, at);
    let (reply, res) = send(&app, body.clone()).await;
    assert_eq!(reply.status.as_u16(), 200, "{res:?}");
    assert_eq!(
        res.header.qualification_confirmation_date.as_deref(),
        Some(at.date().to_wire().as_str())
    );
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    assert_eq!(res.body.results.len(), 1);
    // No consent was or can be given.
    assert_eq!(
        res.body.results[0].pharmacists_info_cons_flg.as_deref(),
        Some("0")
    );
    assert!(card_client::consent_token(&reply).is_none());
    // Recorded with the day of the check.
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
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].confirmation_date.as_deref(),
        Some(at.date().to_wire().as_str())
    );

    // Sent twice (the terminal restarted before marking it done): refused as a replay.
    let (reply, res) = send(&app, body).await;
    assert_eq!(
        (reply.status.as_u16(), res.header.error_code.as_deref()),
        (409, Some("ONS4005"))
    );
    app.stop().await;
}

#[tokio::test]
async fn old_foreign_and_live_nonce_bodies_are_refused() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let clinic = app.clinic().code.as_str().to_string();

    let old = offline_body(&path, &clinic, test_now().add_seconds(-73 * 3600));
    let (reply, res) = send(&app, old).await;
    assert_eq!(
        (reply.status.as_u16(), res.header.error_code.as_deref()),
        (400, Some("ONS4051"))
    );

    let pharmacy = app.facilities[1].code.as_str().to_string();
    let foreign = offline_body(&path, &pharmacy, test_now());
    let (reply, res) = send(&app, foreign).await;
    assert_eq!(
        (reply.status.as_u16(), res.header.error_code.as_deref()),
        (403, Some("ONS4004"))
    );

    // A live nonce is not an offline challenge.
    let mut conn = app.clinic_connection().await;
    let nonce = card_client::nonce(&mut conn).await.unwrap();
    let mut card = SoftwareCard::open(&path).unwrap();
    card.verify_pin("1234").unwrap();
    let body = card_client::signed_body(
        &mut card,
        &nonce,
        IdentityMethod::Pin,
        &Default::default(),
        None,
    )
    .unwrap();
    let (reply, res) = send(&app, body).await;
    assert_eq!(
        (reply.status.as_u16(), res.header.error_code.as_deref()),
        (400, Some("ONS4050"))
    );

    // And an offline challenge is not a live nonce.
    let offline = offline_body(&path, &clinic, test_now());
    let reply = conn
        .post("/oqs/v1/card/check", "application/json", offline)
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 400);

    // A card revoked since the outage is refused.
    let serial = SoftwareCard::open(&path).unwrap().serial_hex().to_string();
    let body = offline_body(&path, &clinic, test_now().add_seconds(-600));
    app.store.revoke_card(&serial, test_now()).await.unwrap();
    let (reply, res) = send(&app, body).await;
    assert_eq!(
        (reply.status.as_u16(), res.header.error_code.as_deref()),
        (403, Some("ONS4012"))
    );
    app.stop().await;
}
