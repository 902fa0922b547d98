//! `/metrics`: what operators scrape, after real checks.
#![allow(clippy::unwrap_used)]

use onshi_testkit::{spawn_app, test_today};
use onshi_wire::{Encoding, siquc01};

#[tokio::test]
async fn checks_are_counted_by_method_and_result_with_latency_buckets() {
    let app = spawn_app().await;
    let mut conn = app.clinic_connection().await;
    let s = app.sample("valid").clone();
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: s.insurer_number,
            insured_card_symbol: opt(&s.symbol),
            insured_identification_number: s.number,
            insured_branch_number: opt(&s.branch),
            birthdate: s.birthdate,
            ..Default::default()
        },
    };
    for _ in 0..3 {
        let r = conn
            .post(
                "/oqs/v1/qualification",
                "application/xml",
                siquc01::encode_request_xml(&req, Encoding::Utf8),
            )
            .await
            .unwrap();
        assert_eq!(r.status.as_u16(), 200);
    }
    let bad = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            b"<XmlMsg>".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(bad.status.as_u16(), 400);

    let m = conn.get("/metrics").await.unwrap();
    assert_eq!(m.status.as_u16(), 200);
    let text = String::from_utf8(m.body.to_vec()).unwrap();
    assert!(
        text.contains("onshi_checks_total{method=\"insurance_card\",result=\"1\"} 3"),
        "{text}"
    );
    assert!(text.contains("onshi_checks_total{method=\"insurance_card\",result=\"ONS1001\"} 1"));
    assert!(
        text.contains("onshi_requests_total{route=\"/oqs/v1/qualification\",status=\"200\"} 3")
    );
    assert!(
        text.contains("onshi_request_duration_seconds_count{route=\"/oqs/v1/qualification\"} 4")
    );
    // The queue and the pool: every write of the checks above was committed before its
    // answer, so nothing is pending; the pool has its connections.
    assert!(text.contains("onshi_history_pending 0"), "{text}");
    let pool = text
        .lines()
        .find_map(|l| l.strip_prefix("onshi_db_connections "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(pool >= 1.0, "{text}");
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_ids_differ() {
    let app = spawn_app().await;
    let mut conn = app.clinic_connection().await;
    let mut ids = std::collections::HashSet::new();
    for path in ["/health", "/metrics", "/health"] {
        let r = conn.get(path).await.unwrap();
        let id = r
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no x-request-id"))
            .to_string();
        assert!(!id.is_empty());
        assert!(ids.insert(id), "{path}: request id reused");
    }
    // A check keeps its own id, the one of its history row.
    let bad = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            b"<XmlMsg>".to_vec(),
        )
        .await
        .unwrap();
    let id = bad.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert!(ids.insert(id.to_string()));
    app.stop().await;
}
