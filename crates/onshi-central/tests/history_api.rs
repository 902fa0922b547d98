//! `/oqs/v1/history` (資格確認履歴照会) and `/oqs/v1/facility/settings` against a real
//! central, on the store backend of the environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hyper::http::Method;
use onshi_central::client::Connection;
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::siquc01;
use serde_json::Value;

async fn get(conn: &mut Connection, path: &str) -> (u16, Value) {
    let r = conn
        .request(Method::GET, path, &[("x-onshi-account", "002")], "")
        .await
        .unwrap();
    (
        r.status.as_u16(),
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

async fn check(app: &TestApp, case: &str, afi: &str) {
    let mut conn = app.clinic_connection().await;
    let req = app.check_request(case, afi);
    let r = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, onshi_wire::Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
}

async fn other_facility(app: &TestApp) -> Connection {
    let other = app
        .facilities
        .iter()
        .find(|f| f.code != app.clinic().code && f.enabled)
        .unwrap();
    app.client_with(Some(&app.facility_cert(&other.code)))
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn history_pages_a_facilitys_own_checks_newest_first_with_details() {
    let app = spawn_app().await;
    for (i, case) in ["valid", "elderly_70_74", "not_found", "rare_kanji", "lost"]
        .iter()
        .enumerate()
    {
        check(&app, case, &format!("h{i}")).await;
        app.clock.advance_seconds(60);
    }
    let today = test_today().to_wire();
    let mut conn = app.clinic_connection().await;
    let (status, v) = get(
        &mut conn,
        &format!("/oqs/v1/history?from={today}&to={today}&limit=2"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let mut seen: Vec<Value> = v["entries"].as_array().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let mut next = v["next"].as_str().map(str::to_string);
    while let Some(after) = next {
        let (_, v) = get(
            &mut conn,
            &format!("/oqs/v1/history?from={today}&to={today}&limit=2&after={after}"),
        )
        .await;
        seen.extend(v["entries"].as_array().unwrap().iter().cloned());
        next = v["next"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    // Newest first, each once.
    let times: Vec<&str> = seen
        .iter()
        .map(|e| e["checked_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    assert!(seen.iter().all(|e| e["method"] == "insurance_card"));
    let rare = &seen[1];
    let rare_person = app.person_of("rare_kanji").await;
    let name = app.store.person(rare_person).await.unwrap().unwrap().name;
    assert_eq!(rare["name"].as_str().unwrap(), name);
    assert_eq!(seen[2]["state"], "4");
    assert_eq!(seen[2]["state_label"], "該当資格なし");

    // The elderly patient's detail: the result item as a check answers it.
    let elderly = &seen[3];
    let (status, d) = get(
        &mut conn,
        &format!("/oqs/v1/history/{}", elderly["id"].as_i64().unwrap()),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let res =
        siquc01::decode_response_json(d["result"].to_string().as_bytes(), &Default::default())
            .unwrap();
    let r = &res.body.results[0];
    // 6-digit numbers are right-aligned in 8 columns on the wire.
    assert_eq!(
        r.insurer_number.as_deref().map(str::trim),
        Some(app.sample("elderly_70_74").insurer_number.trim())
    );
    assert!(r.elderly_recipient.is_some());
    assert!(r.personal_family_classification.is_some());

    // 限度額 consent given with a check by card data shows the certificate in the detail.
    let mut req = app.check_request("limit_certificate", "limit");
    req.search.limit_application_certificate_related_cons_flg = Some("1".into());
    let r = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, onshi_wire::Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let (_, v) = get(
        &mut conn,
        &format!("/oqs/v1/history?from={today}&to={today}"),
    )
    .await;
    let newest = &v["entries"][0];
    assert_eq!(newest["consents"], "GND");
    let (_, d) = get(
        &mut conn,
        &format!("/oqs/v1/history/{}", newest["id"].as_i64().unwrap()),
    )
    .await;
    let res =
        siquc01::decode_response_json(d["result"].to_string().as_bytes(), &Default::default())
            .unwrap();
    assert!(res.body.results[0].limit_info.is_some(), "{d}");

    // Another facility sees none of it, not even by id.
    let mut other = other_facility(&app).await;
    let (_, v) = get(
        &mut other,
        &format!("/oqs/v1/history?from={today}&to={today}"),
    )
    .await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 0);
    let (status, v) = get(
        &mut other,
        &format!("/oqs/v1/history/{}", elderly["id"].as_i64().unwrap()),
    )
    .await;
    assert_eq!((status, v["error_code"].as_str()), (404, Some("ONS6042")));

    // Two years back at most; periods must be real and in order.
    let too_old = test_today().add_months(-25).to_wire();
    let (status, v) = get(&mut conn, &format!("/oqs/v1/history?from={too_old}")).await;
    assert_eq!((status, v["error_code"].as_str()), (400, Some("ONS6041")));
    assert!(v["error_message"].as_str().unwrap().contains("過去2年間"));
    let (status, v) = get(&mut conn, "/oqs/v1/history?from=20261301").await;
    assert_eq!((status, v["error_code"].as_str()), (400, Some("ONS6040")));
    // Without a staff account the terminal is not speaking for anyone.
    let r = conn
        .request(Method::GET, "/oqs/v1/history", &[], "")
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 400);
    app.stop().await;
}

#[tokio::test]
async fn a_facility_switches_smartphones_on_and_off_for_itself_only() {
    let app = spawn_app().await;
    let mut conn = app.clinic_connection().await;
    let (_, before) = get(&mut conn, "/oqs/v1/facility/settings").await;
    let was = before["smartphone_enabled"].as_bool().unwrap();
    let r = conn
        .request(
            Method::POST,
            "/oqs/v1/facility/settings",
            &[
                ("x-onshi-account", "admin"),
                ("content-type", "application/json"),
            ],
            serde_json::json!({ "smartphone_enabled": !was }).to_string(),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    let stored = app
        .store
        .facility(&app.clinic().code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.smartphone_enabled, !was);
    // The change is in the audit chain, with who made it.
    let audit: Vec<_> = app
        .store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == "setting")
        .collect();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.account, "admin");
    assert_eq!(audit[0].entry.facility_code, app.clinic().code.as_str());
    assert_eq!(
        audit[0].entry.detail,
        format!("smartphone_enabled={}", !was)
    );
    let (_, after) = get(&mut conn, "/oqs/v1/facility/settings").await;
    assert_eq!(after["smartphone_enabled"].as_bool(), Some(!was));
    let r = conn
        .request(
            Method::POST,
            "/oqs/v1/facility/settings",
            &[
                ("x-onshi-account", "admin"),
                ("content-type", "application/json"),
            ],
            "{\"smartphone_enabled\": \"yes\"}".to_string(),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 400);
    app.stop().await;
}
