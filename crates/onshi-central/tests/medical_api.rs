//! Medical information at central: consent gating per information type and window,
//! disaster declarations, the audit chain and its verification.
#![allow(clippy::unwrap_used)]

use hyper::http::Method;
use onshi_central::card_client::{self, CardConsents, IdentityMethod};
use onshi_central::client::{Connection, Reply};
use onshi_core::medical::DisasterArea;
use onshi_core::{Clock, Ymd};
use onshi_pki::{Card, CertProfile, SoftwareCard};
use onshi_store::{ChainProblem, ConsentRecord, NewDisaster};
use onshi_testkit::{TestApp, spawn_app, test_today, testing_postgres};
use serde_json::Value;

const ACCOUNT: &str = "003";

async fn get(conn: &mut Connection, path: &str) -> (u16, Value) {
    let r = conn
        .request(Method::GET, path, &[("x-onshi-account", ACCOUNT)], "")
        .await
        .unwrap();
    (r.status.as_u16(), body(&r))
}

async fn post(conn: &mut Connection, path: &str, json: Value) -> (u16, Value) {
    let r = conn
        .request(
            Method::POST,
            path,
            &[
                ("x-onshi-account", ACCOUNT),
                ("content-type", "application/json"),
            ],
            json.to_string(),
        )
        .await
        .unwrap();
    (r.status.as_u16(), body(&r))
}

fn body(r: &Reply) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

async fn view(conn: &mut Connection, kind: &str, person: i64) -> (u16, Value) {
    get(conn, &format!("/oqs/v1/medical/{kind}?person={person}")).await
}

async fn consent(app: &TestApp, facility_index: usize, person: i64, codes: &[&str], id: &str) {
    let now = app.clock.now();
    let fresh = app
        .store
        .record_consent(&ConsentRecord {
            check_request_id: id.to_string(),
            facility_code: app.facilities[facility_index].code.as_str().to_string(),
            person_id: person,
            consented_at: now,
            available_until: onshi_core::card::consent_available_until(now),
            information: codes.iter().map(|c| c.to_string()).collect(),
        })
        .await
        .unwrap();
    assert!(fresh);
}

async fn facility_connection(app: &TestApp, index: usize) -> Connection {
    let cert = app.facility_cert(&app.facilities[index].code);
    app.client_with(Some(&cert)).connect().await.unwrap()
}

async fn declare(app: &TestApp, areas: &[&str], from_s: i64, to_s: i64) -> i64 {
    let now = app.clock.now();
    app.store
        .declare_disaster(&NewDisaster {
            name: "テスト地震".into(),
            areas: areas
                .iter()
                .map(|a| DisasterArea::parse(a).unwrap())
                .collect(),
            starts_at: now.add_seconds(from_s),
            ends_at: now.add_seconds(to_s),
            declared_at: now,
        })
        .await
        .unwrap()
}

/// Allowed audit rows of views, as (person, information, basis).
async fn allowed_views(app: &TestApp) -> Vec<(Option<i64>, String, String)> {
    app.store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == "view" && r.entry.outcome == "allowed")
        .map(|r| (r.entry.person_id, r.entry.information, r.entry.basis))
        .collect()
}

/// A person with drug history and checkups (someone over 40 with a chronic condition).
async fn person_with_history(app: &TestApp) -> i64 {
    for id in 1..400 {
        let since = Ymd::from_ymd(2020, 1, 1).unwrap();
        if !app.store.drugs(id, since).await.unwrap().is_empty()
            && !app.store.checkups(id, since).await.unwrap().is_empty()
        {
            return id;
        }
    }
    panic!("no person with drug and checkup history");
}

#[tokio::test]
async fn a_drug_consent_opens_drugs_only_and_only_for_24_hours() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    consent(&app, 0, person, &["YZK"], "check-1").await;
    let mut conn = app.clinic_connection().await;

    let (status, drugs) = view(&mut conn, "drug", person).await;
    assert_eq!(status, 200, "{drugs}");
    assert_eq!(drugs["basis"], "consent");
    assert_eq!(drugs["information"], "YZK");
    assert_eq!(drugs["patient"]["person_id"], person);
    let months = drugs["months"].as_array().unwrap();
    assert!(!months.is_empty());
    // Newest month first, nothing older than the 3-year horizon.
    let ms: Vec<&str> = months
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert!(ms.windows(2).all(|w| w[0] > w[1]), "{ms:?}");
    assert!(ms.iter().all(|m| *m >= "202312"), "{ms:?}");
    let d = &months[0]["dispensings"][0]["drugs"][0];
    assert_eq!(d["code"].as_str().unwrap().len(), 9);
    assert!(d["days"].as_i64().unwrap() > 0);

    // A drug consent does not open checkups, treatment or surgery.
    for kind in ["checkup", "treatment", "surgery"] {
        let (status, err) = view(&mut conn, kind, person).await;
        assert_eq!(status, 403, "{kind}: {err}");
        assert_eq!(err["error_code"], "ONS6010");
        assert!(err["error_message"].as_str().unwrap().contains("同意"));
    }

    // Still open one second before the window closes, closed at 24 hours.
    app.clock.advance_seconds(24 * 3600 - 1);
    assert_eq!(view(&mut conn, "drug", person).await.0, 200);
    app.clock.advance_seconds(1);
    let (status, err) = view(&mut conn, "drug", person).await;
    assert_eq!(status, 403);
    assert_eq!(err["error_code"], "ONS6010");

    let allowed = allowed_views(&app).await;
    assert_eq!(
        allowed,
        vec![
            (Some(person), "YZK".to_string(), "consent".to_string()),
            (Some(person), "YZK".to_string(), "consent".to_string())
        ]
    );
    let all = app.store.audit_page(0, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(
        all.iter().filter(|r| r.entry.outcome == "refused").count(),
        4
    );
    assert!(all.iter().all(|r| r.entry.account == ACCOUNT));
}

#[tokio::test]
async fn checkup_treatment_and_surgery_views_carry_codes_values_and_ranges() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    consent(&app, 0, person, &["TKK", "SRJ", "SHJ"], "check-2").await;
    let mut conn = app.clinic_connection().await;

    let (status, v) = view(&mut conn, "checkup", person).await;
    assert_eq!(status, 200, "{v}");
    let checkups = v["checkups"].as_array().unwrap();
    assert!(!checkups.is_empty() && checkups.len() <= 5);
    let items = checkups[0]["items"].as_array().unwrap();
    let hba1c = items
        .iter()
        .find(|i| i["code"] == "3D046000001906202")
        .unwrap();
    assert_eq!(hba1c["name"], "HbA1c（NGSP値）");
    assert_eq!(hba1c["unit"], "%");
    assert_eq!(hba1c["high"], 5.6);
    assert!(hba1c["value"].as_str().unwrap().parse::<f64>().is_ok());
    let sbp = items
        .iter()
        .find(|i| i["code"] == "9A751000000000001")
        .unwrap();
    assert_eq!(sbp["unit"], "mmHg");
    let trend = v["trends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "3D046000001906202")
        .unwrap();
    assert_eq!(trend["points"].as_array().unwrap().len(), checkups.len());

    let (status, t) = view(&mut conn, "treatment", person).await;
    assert_eq!(status, 200, "{t}");
    assert!(!t["visits"].as_array().unwrap().is_empty());
    let (status, s) = view(&mut conn, "surgery", person).await;
    assert_eq!(status, 200, "{s}");
    assert!(!s["diagnoses"].as_array().unwrap().is_empty());
    assert!(s["diagnoses"][0]["code"].as_str().is_some());

    // Views need the staff account.
    let r = conn
        .request(
            Method::GET,
            &format!("/oqs/v1/medical/drug?person={person}"),
            &[],
            "",
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 400);
    assert_eq!(body(&r)["error_code"], "ONS6001");
}

#[tokio::test]
async fn another_facilitys_consent_opens_nothing_here() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    // The consent was given at the pharmacy.
    consent(&app, 1, person, &["YZK", "TKK"], "check-3").await;
    let mut clinic = app.clinic_connection().await;
    let (status, err) = view(&mut clinic, "drug", person).await;
    assert_eq!(status, 403);
    assert_eq!(err["error_code"], "ONS6010");
    let mut pharmacy = facility_connection(&app, 1).await;
    assert_eq!(view(&mut pharmacy, "drug", person).await.0, 200);
    let (_, list) = get(&mut clinic, "/oqs/v1/medical/patients").await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 0);
    let (_, list) = get(&mut pharmacy, "/oqs/v1/medical/patients").await;
    assert_eq!(list["patients"][0]["person_id"], person);
}

#[tokio::test]
async fn the_consented_patient_list_shows_valid_consents_newest_first() {
    let app = spawn_app().await;
    consent(&app, 0, 1, &["YZK"], "a").await;
    app.clock.advance_seconds(600);
    consent(&app, 0, 2, &["TKK", "YZK"], "b").await;
    app.clock.advance_seconds(600);
    // Only 限度額: not a medical-information consent.
    consent(&app, 0, 3, &["GND"], "c").await;
    consent(&app, 0, 1, &["SRJ"], "d").await;
    let mut conn = app.clinic_connection().await;
    let (status, v) = get(&mut conn, "/oqs/v1/medical/patients").await;
    assert_eq!(status, 200, "{v}");
    let ps = v["patients"].as_array().unwrap();
    let ids: Vec<i64> = ps
        .iter()
        .map(|p| p["person_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(ps[0]["information"], serde_json::json!(["YZK", "SRJ"]));
    assert_eq!(ps[1]["information"], serde_json::json!(["YZK", "TKK"]));
    assert!(ps[0]["name"].as_str().unwrap().contains('\u{3000}'));
    assert!(ps[0]["birthdate"].as_str().unwrap().len() == 8);
    // Person 2's window closes 24 hours after their consent; person 1's later one stays.
    app.clock.advance_seconds(24 * 3600 - 600);
    let (_, v) = get(&mut conn, "/oqs/v1/medical/patients").await;
    let ids: Vec<i64> = v["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1]);
}

fn person_ids(v: &serde_json::Value) -> Vec<i64> {
    v["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_consented_patient_list_pages_by_person_and_shows_nobody_twice() {
    let app = spawn_app().await;
    for person in 1..=5 {
        consent(&app, 0, person, &["YZK"], &format!("c{person}")).await;
        app.clock.advance_seconds(60);
    }
    // Person 2 consents again: now the newest, one line with both consents' information.
    consent(&app, 0, 2, &["TKK"], "c2-again").await;
    let mut conn = app.clinic_connection().await;
    let mut pages = Vec::new();
    let mut path = "/oqs/v1/medical/patients?limit=2".to_string();
    loop {
        let (status, v) = get(&mut conn, &path).await;
        assert_eq!(status, 200, "{v}");
        pages.push(person_ids(&v));
        if pages.len() == 1 {
            assert_eq!(
                v["patients"][0]["information"],
                serde_json::json!(["YZK", "TKK"])
            );
        }
        match v["next"].as_str() {
            Some(next) => path = format!("/oqs/v1/medical/patients?limit=2&before={next}"),
            None => break,
        }
        assert!(pages.len() < 10, "the cursor does not advance: {pages:?}");
    }
    assert_eq!(pages, vec![vec![2, 5], vec![4, 3], vec![1]]);
    // Without a limit the first page holds everyone here, and says there is no next page.
    let (_, v) = get(&mut conn, "/oqs/v1/medical/patients").await;
    assert_eq!(person_ids(&v), vec![2, 5, 4, 3, 1]);
    assert!(v.get("next").is_none(), "{v}");
    // A page that holds exactly the people left says there is no next page either.
    let (_, v) = get(&mut conn, "/oqs/v1/medical/patients?limit=5").await;
    assert_eq!(person_ids(&v).len(), 5);
    assert!(v.get("next").is_none(), "{v}");
    for bad in ["?before=garbage", "?limit=0", "?limit=501"] {
        let (status, v) = get(&mut conn, &format!("/oqs/v1/medical/patients{bad}")).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["error_code"], "ONS6002", "{bad}");
    }
}

#[tokio::test]
async fn a_card_in_its_grace_period_gives_no_medical_consent() {
    let app = spawn_app().await;
    let person = app.person_of("elderly_70_74").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, test_today().add_days(-20), true)
        .await;
    let mut conn = app.clinic_connection().await;
    let mut card = SoftwareCard::open(&path).unwrap();
    card.verify_pin("1234").unwrap();
    let check = card_client::card_check(
        &mut conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::all(),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!(check.status.as_u16(), 200);
    assert!(card_client::consent_token(&check).is_none());
    let (status, err) = view(&mut conn, "drug", person).await;
    assert_eq!(status, 403);
    assert_eq!(err["error_code"], "ONS6010");
}

#[tokio::test]
async fn a_consent_given_at_the_reader_opens_the_views_it_names() {
    let app = spawn_app().await;
    let person = app.person_of("elderly_70_74").await;
    let (path, _) = app
        .issue_card(person, CertProfile::Card, test_today().add_days(900), true)
        .await;
    let mut conn = app.clinic_connection().await;
    let mut card = SoftwareCard::open(&path).unwrap();
    card.verify_pin("1234").unwrap();
    let check = card_client::card_check(
        &mut conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    let consents = CardConsents {
        pharmacists: false,
        specific_health_checkups: true,
        ..Default::default()
    };
    let reply = card_client::card_consent(&mut conn, &check, &consents, false)
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(view(&mut conn, "checkup", person).await.0, 200);
    assert_eq!(view(&mut conn, "drug", person).await.0, 403);

    // The patient sees who looked (after a fresh card check at the reader).
    let mut card = SoftwareCard::open(&path).unwrap();
    card.verify_pin("1234").unwrap();
    let again = card_client::card_check(
        &mut conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    let token = card_client::consent_token(&again).unwrap().to_string();
    let (status, log) = post(
        &mut conn,
        "/oqs/v1/patient/access-log",
        serde_json::json!({ "consent_token": token }),
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let views = log["views"].as_array().unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["information"], "TKK");
    assert_eq!(views[0]["facility_name"], app.clinic().name.as_str());
    assert_eq!(views[0]["basis"], "consent");
}

#[tokio::test]
async fn a_disaster_opens_drugs_and_checkups_inside_its_area_and_period_only() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    let mut conn = app.clinic_connection().await;
    assert_eq!(view(&mut conn, "drug", person).await.0, 403);

    // Elsewhere (大阪府): the Tokyo clinic is outside.
    declare(&app, &["27"], -3600, 3600).await;
    let (status, err) = view(&mut conn, "drug", person).await;
    assert_eq!((status, err["error_code"].as_str()), (403, Some("ONS6010")));

    // Tokyo, from an hour ago for two hours.
    let id = declare(&app, &["13"], -3600, 3600).await;
    let (status, v) = view(&mut conn, "drug", person).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["basis"], "disaster");
    assert_eq!(
        view(&mut conn, "checkup", person).await.1["basis"],
        "disaster"
    );
    let (status, err) = view(&mut conn, "surgery", person).await;
    assert_eq!((status, err["error_code"].as_str()), (403, Some("ONS6011")));
    let (_, st) = get(&mut conn, "/oqs/v1/medical/disaster").await;
    assert_eq!(st["covered"], true);

    // After the period.
    app.clock.advance_seconds(3600);
    assert_eq!(view(&mut conn, "drug", person).await.0, 403);

    // A municipality: only facilities recorded there.
    app.clock.advance_seconds(-3600);
    assert!(app.store.end_disaster(id, app.clock.now()).await.unwrap());
    assert_eq!(view(&mut conn, "drug", person).await.0, 403);
    declare(&app, &["13101"], -60, 3600).await;
    assert_eq!(view(&mut conn, "drug", person).await.0, 403);
    app.store
        .set_facility_municipality(&app.clinic().code, "13102")
        .await
        .unwrap();
    assert_eq!(view(&mut conn, "drug", person).await.0, 403);
    app.store
        .set_facility_municipality(&app.clinic().code, "13101")
        .await
        .unwrap();
    assert_eq!(view(&mut conn, "drug", person).await.0, 200);

    let allowed = allowed_views(&app).await;
    assert_eq!(allowed.len(), 3);
    assert!(allowed.iter().all(|(_, _, b)| b == "disaster"));
}

#[tokio::test]
async fn disaster_search_finds_patients_by_name_or_card_only_in_a_declared_area() {
    let app = spawn_app().await;
    let person = app.store.person(5).await.unwrap().unwrap();
    let mut conn = app.clinic_connection().await;
    let by_name = serde_json::json!({
        "name": person.name.replace('\u{3000}', " "),
        "birthdate": person.birthdate.to_wire(),
        "sex": person.sex.code(),
    });
    let (status, err) = post(
        &mut conn,
        "/oqs/v1/medical/disaster/search",
        by_name.clone(),
    )
    .await;
    assert_eq!((status, err["error_code"].as_str()), (403, Some("ONS6020")));

    declare(&app, &["13"], 0, 86_400).await;
    let (status, v) = post(&mut conn, "/oqs/v1/medical/disaster/search", by_name).await;
    assert_eq!(status, 200, "{v}");
    let ids: Vec<i64> = v["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["person_id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&person.id), "{v}");
    // By kana and a piece of the address.
    let town: String = person.address.chars().take(6).collect();
    let by_kana = serde_json::json!({
        "name": person.name_kana, "birthdate": person.birthdate.to_wire(),
        "sex": person.sex.code(), "address": town,
    });
    let (_, v) = post(&mut conn, "/oqs/v1/medical/disaster/search", by_kana).await;
    assert!(
        v["patients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["person_id"] == person.id)
    );
    // By insurance numbers.
    let s = app.sample("valid").clone();
    let by_card = serde_json::json!({
        "insurer_number": s.insurer_number, "symbol": s.symbol, "number": s.number, "branch": s.branch,
    });
    let (status, v) = post(&mut conn, "/oqs/v1/medical/disaster/search", by_card).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["patients"].as_array().unwrap().len(), 1);

    let searches: Vec<_> = app
        .store
        .audit_page(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == "search")
        .map(|r| (r.entry.outcome, r.entry.basis))
        .collect();
    assert_eq!(searches.len(), 4);
    assert_eq!(searches[0].0, "refused");
    assert!(
        searches[1..]
            .iter()
            .all(|(o, b)| o == "allowed" && b == "disaster")
    );
}

#[tokio::test]
async fn tampering_with_the_audit_trail_is_detected() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    consent(&app, 0, person, &["YZK", "TKK"], "t").await;
    let mut conn = app.clinic_connection().await;
    for _ in 0..3 {
        assert_eq!(view(&mut conn, "drug", person).await.0, 200);
        assert_eq!(view(&mut conn, "checkup", person).await.0, 200);
    }
    let (status, v) = post(
        &mut conn,
        "/oqs/v1/audit/login",
        serde_json::json!({ "account": "002", "outcome": "failed", "detail": "password" }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["seq"], 7);
    let (rows, head, problem) = app.store.verify_audit(None).await.unwrap();
    assert_eq!((rows, problem), (7, None));
    assert_eq!(head.len(), 64);

    // Plain SQL cannot change or delete a row.
    let refused = app
        .execute_history_sql("UPDATE audit_log SET account = 'x' WHERE seq = 3")
        .await;
    assert!(refused.is_err());
    assert!(
        app.execute_history_sql("DELETE FROM audit_log WHERE seq = 3")
            .await
            .is_err()
    );

    // Someone who can drop the guard can, but verification finds it.
    let unguard = if testing_postgres() {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"
    } else {
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
    };
    app.execute_history_sql(unguard).await.unwrap();
    app.execute_history_sql("UPDATE audit_log SET account = 'x' WHERE seq = 3")
        .await
        .unwrap();
    let (_, _, problem) = app.store.verify_audit(None).await.unwrap();
    assert_eq!(problem, Some(ChainProblem::Changed { seq: 3 }));
    app.execute_history_sql("UPDATE audit_log SET account = '003' WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(app.store.verify_audit(None).await.unwrap().2, None);

    app.execute_history_sql("DELETE FROM audit_log WHERE seq = 5")
        .await
        .unwrap();
    let (_, _, problem) = app.store.verify_audit(None).await.unwrap();
    assert_eq!(problem, Some(ChainProblem::Deleted { from: 5, to: 5 }));

    // Cutting the tail shows only against a kept head.
    let anchor = (7, head);
    app.execute_history_sql("DELETE FROM audit_log WHERE seq >= 5")
        .await
        .unwrap();
    assert_eq!(app.store.verify_audit(None).await.unwrap().2, None);
    assert_eq!(
        app.store.verify_audit(Some(anchor)).await.unwrap().2,
        Some(ChainProblem::AnchorMissing { seq: 7 })
    );
}

#[tokio::test]
async fn concurrent_views_each_get_their_own_audit_row_in_one_chain() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    consent(&app, 0, person, &["YZK"], "c").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut conn = app.clinic_connection().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                assert_eq!(view(&mut conn, "drug", person).await.0, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(allowed_views(&app).await.len(), 40);
    let (rows, _, problem) = app.store.verify_audit(None).await.unwrap();
    assert_eq!((rows, problem), (40, None));
}
