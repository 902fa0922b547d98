//! Consents that follow a card check: the reader asks for them once central has answered
//! (the 特定健診 screen depends on the age), with the token central gave the check.
#![allow(clippy::unwrap_used)]

use onshi_central::card_client::{self, CardClientError, CardConsents, IdentityMethod};
use onshi_central::client::{Connection, Reply};
use onshi_central::provision;
use onshi_core::{Clock, Ymd};
use onshi_pki::{Card, CertProfile, SoftwareCard};
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::{Limits, siquc01};
use std::path::Path;

fn days(d: i64) -> Ymd {
    test_today().add_days(d)
}

async fn check_without_consents(app: &TestApp, conn: &mut Connection, path: &Path) -> Reply {
    let mut card = SoftwareCard::open(path).unwrap();
    card.verify_pin("1234").unwrap();
    let reply = card_client::card_check(
        conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(reply.status.as_u16(), 200, "{app:p}");
    reply
}

fn decode(reply: &Reply) -> siquc01::Response {
    siquc01::decode_response_json(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)))
}

fn with_token(check: &Reply, token: &str) -> Reply {
    let mut forged = check.clone();
    forged
        .headers
        .insert("x-consent-token", token.parse().unwrap());
    forged
}

#[tokio::test]
async fn consents_after_the_check_are_recorded_once_and_answered_with_their_flags() {
    let app = spawn_app().await;
    // A person of 70–74: old enough for the 特定健診 screen.
    let person = app.person_of("elderly_70_74").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let mut conn = app.clinic_connection().await;
    let check = check_without_consents(&app, &mut conn, &path).await;
    let first = decode(&check);
    let item = &first.body.results[0];
    assert_eq!(item.pharmacists_info_cons_flg.as_deref(), Some("0"));
    assert!(card_client::consent_token(&check).is_some());

    let consents = CardConsents {
        pharmacists: true,
        specific_health_checkups: true,
        diagnosis: false,
        operation: true,
        limit: true,
        specific_diseases: false,
    };
    let reply = card_client::card_consent(&mut conn, &check, &consents, false)
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 200);
    let res = decode(&reply);
    let item = &res.body.results[0];
    assert_eq!(item.pharmacists_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(
        item.pharmacists_info_cons_time.as_deref(),
        Some("20261123100000")
    );
    assert_eq!(
        item.pharmacists_info_available_time.as_deref(),
        Some("20261124100000")
    );
    assert_eq!(
        item.specific_health_checkups_info_cons_flg.as_deref(),
        Some("1")
    );
    assert_eq!(item.diagnosis_info_cons_flg.as_deref(), Some("0"));
    assert_eq!(item.operation_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(
        item.limit_application_certificate_related_cons_flg
            .as_deref(),
        Some("1")
    );
    assert_eq!(item.name, first.body.results[0].name);

    let facility = &app.clinic().code;
    let stored = app
        .store
        .valid_consents(facility, person, app.clock.now())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].information, ["YZK", "TKK", "SHJ", "GND"]);
    assert_eq!(
        Some(stored[0].check_request_id.as_str()),
        check
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
    );
    // Viewing is allowed for 24 hours, not after.
    app.clock.advance_seconds(24 * 3600);
    let later = app
        .store
        .valid_consents(facility, person, app.clock.now())
        .await
        .unwrap();
    assert!(later.is_empty());

    // Consents are given once per check: the first answer stands.
    let again = card_client::card_consent(&mut conn, &check, &CardConsents::all(), false)
        .await
        .unwrap();
    let res = decode(&again);
    // (The clock moved past the 10 minutes too; a second try inside them is refused as well.)
    assert!(matches!(
        (again.status.as_u16(), res.header.error_code.as_deref()),
        (400, Some("ONS4041")) | (409, Some("ONS4042"))
    ));
    app.stop().await;
}

#[tokio::test]
async fn a_second_consent_inside_the_window_is_refused() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let mut conn = app.clinic_connection().await;
    let check = check_without_consents(&app, &mut conn, &path).await;
    let ok = card_client::card_consent(&mut conn, &check, &CardConsents::default(), false)
        .await
        .unwrap();
    assert_eq!(ok.status.as_u16(), 200);
    let again = card_client::card_consent(&mut conn, &check, &CardConsents::all(), false)
        .await
        .unwrap();
    assert_eq!(again.status.as_u16(), 409);
    assert_eq!(decode(&again).header.error_code.as_deref(), Some("ONS4042"));
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_bound_to_the_facility_expire_and_cannot_be_forged() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let mut conn = app.clinic_connection().await;
    let check = check_without_consents(&app, &mut conn, &path).await;
    let token = card_client::consent_token(&check).unwrap().to_string();

    // Presented by the pharmacy.
    let pharmacy = app.facility_cert(&app.facilities[1].code);
    let mut pconn = app.client_with(Some(&pharmacy)).connect().await.unwrap();
    let reply = card_client::card_consent(&mut pconn, &check, &CardConsents::all(), false)
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), decode(&reply).header.error_code),
        (400, Some("ONS4040".to_string()))
    );

    // One character changed.
    let mut bytes = token.clone().into_bytes();
    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
    let forged = with_token(&check, std::str::from_utf8(&bytes).unwrap());
    let reply = card_client::card_consent(&mut conn, &forged, &CardConsents::all(), false)
        .await
        .unwrap();
    assert_eq!(decode(&reply).header.error_code.as_deref(), Some("ONS4040"));

    // A nonce is not a consent token.
    let nonce = card_client::nonce(&mut conn).await.unwrap();
    let reply = card_client::card_consent(
        &mut conn,
        &with_token(&check, &nonce),
        &CardConsents::all(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(decode(&reply).header.error_code.as_deref(), Some("ONS4040"));

    // Ten minutes after the check.
    app.clock.advance_seconds(600);
    let reply = card_client::card_consent(&mut conn, &check, &CardConsents::all(), false)
        .await
        .unwrap();
    assert_eq!(
        (reply.status.as_u16(), decode(&reply).header.error_code),
        (400, Some("ONS4041".to_string()))
    );
    let stored = app
        .store
        .valid_consents(&app.clinic().code, person, app.clock.now())
        .await
        .unwrap();
    assert!(stored.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_card_in_its_grace_period_gets_no_consent_token() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, days(-10), true)
        .await;
    let mut conn = app.clinic_connection().await;
    let mut card = SoftwareCard::open(&path).unwrap();
    let face = provision::face_template_for(&card);
    card.unlock_with_face(&face, &onshi_pki::EmulatedFaceMatcher)
        .unwrap();
    let check = card_client::card_check(
        &mut conn,
        &mut card,
        IdentityMethod::Face,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(check.status.as_u16(), 200);
    assert_eq!(
        decode(&check).body.processing_result_code.as_deref(),
        Some("ONS0102")
    );
    assert!(card_client::consent_token(&check).is_none());
    let err = card_client::card_consent(&mut conn, &check, &CardConsents::all(), false).await;
    assert!(matches!(err, Err(CardClientError::NoConsentToken)));
    app.stop().await;
}
