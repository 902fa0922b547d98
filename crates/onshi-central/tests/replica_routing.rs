//! Reads of qualification data from a streaming replica within a bound on staleness
//! (`Store::open_with`, `onshi central serve --replica`): a real primary and replica are
//! brought up on this machine (initdb, pg_basebackup -R) for the test.
//!
//! Runs in the PostgreSQL pass of `scripts/test` (ONSHI_TEST_BACKEND=postgres) only; it
//! needs the PostgreSQL server programs, and fails (does not skip) without them.
#![allow(clippy::unwrap_used)]

use onshi_central::RunningCentral;
use onshi_central::card_client::{self, CardConsents, IdentityMethod};
use onshi_central::client::{CentralClient, Connection};
use onshi_store::{ReplicaOptions, Store};
use onshi_testkit::pgcluster::Replicated;
use onshi_testkit::{Options, TestApp, spawn_app_on, start_central_on, testing_postgres};
use onshi_wire::{Encoding, Limits, muquc, siquc01};
use std::time::{Duration, Instant};

/// The bound of the central under test: short, so the test sees it exceeded.
const STRICT: Duration = Duration::from_millis(300);
/// A second central whose bound the test never exceeds: while the replica is paused it
/// must keep answering from the replica, i.e. with the replica's (old) data.
const LENIENT: Duration = Duration::from_secs(120);
/// How long anything the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(20);

struct Node {
    central: Option<RunningCentral>,
    conn: Connection,
}

async fn node(app: &TestApp, replica_url: &str, bound: Duration) -> Node {
    let store = Store::open_with(
        &app.database_url(),
        Some(ReplicaOptions {
            url: replica_url.to_string(),
            max_staleness: bound,
        }),
    )
    .await
    .unwrap();
    let central = start_central_on(&app.data, &store, &app.clock)
        .await
        .unwrap();
    let cert = app.facility_cert(&app.clinic().code);
    let tls = onshi_pki::client_config(&app.server_ca_pem(), Some(&cert)).unwrap();
    let conn = CentralClient::new(central.addr, "localhost", tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    Node {
        central: Some(central),
        conn,
    }
}

/// A check by card data; the validity code (or error code) and the request id.
async fn check(node: &mut Node, search: &siquc01::SearchInfo, app: &TestApp) -> (String, String) {
    let mut req = app.check_request("valid", "AFI-REPLICA");
    req.search = search.clone();
    let reply = node
        .conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, Encoding::Utf8),
        )
        .await
        .unwrap();
    let (res, _) = siquc01::decode_response_xml(&reply.body, &Limits::default()).unwrap();
    let answer = res
        .body
        .qualification_validity
        .or(res.header.error_code)
        .unwrap_or_default();
    let id = reply.headers["x-request-id"].to_str().unwrap().to_string();
    (answer, id)
}

/// One sample of `/metrics` (the value of the line starting with `series`).
async fn metric(node: &mut Node, series: &str) -> f64 {
    let reply = node.conn.get("/metrics").await.unwrap();
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

const TO_REPLICA: &str = "onshi_replica_reads_total{target=\"replica\",reason=\"within_bound\"}";
const STALE: &str = "onshi_replica_reads_total{target=\"primary\",reason=\"stale\"}";

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Inserts on the primary a copy of `like`'s qualification under a new insurance-card
/// number; returns the card data to check it with.
async fn insert_qualification(
    primary: &tokio_postgres::Client,
    app: &TestApp,
    like: &siquc01::SearchInfo,
    number: &str,
) -> siquc01::SearchInfo {
    let s = app.sample("valid");
    let q = onshi_store::CardQuery {
        insurer_number: like.insurer_number.clone(),
        symbol_norm: onshi_core::text::normalize_card_text(&s.symbol),
        number_norm: onshi_core::text::normalize_card_text(&s.number),
        branch: (!s.branch.is_empty()).then(|| s.branch.parse().unwrap()),
        birthdate: onshi_core::Ymd::parse(&s.birthdate).unwrap(),
    };
    let id = app.store.find_by_card(&q).await.unwrap()[0]
        .qualification
        .id;
    let norm = onshi_core::text::normalize_card_text(number);
    primary
        .batch_execute(&format!(
            "BEGIN;
             CREATE TEMP TABLE fresh ON COMMIT DROP AS SELECT * FROM qualification WHERE id = {id};
             UPDATE fresh SET id = (SELECT max(id) + 1 FROM qualification),
                              number = '{number}', number_norm = '{norm}';
             INSERT INTO qualification SELECT * FROM fresh;
             COMMIT;"
        ))
        .await
        .unwrap();
    siquc01::SearchInfo {
        insured_identification_number: number.to_string(),
        ..like.clone()
    }
}

/// Checks `search` at `node` until it is found (validity 1), asserting that every check
/// sent at least `bound` after `committed` finds it. Returns how long that took.
async fn visible_within(
    node: &mut Node,
    app: &TestApp,
    search: &siquc01::SearchInfo,
    committed: Instant,
    bound: Duration,
) -> Duration {
    loop {
        let sent = Instant::now();
        let (answer, _) = check(node, search, app).await;
        if answer == "1" {
            return sent - committed;
        }
        assert_eq!(answer, "4", "not yet visible means not found");
        assert!(
            sent < committed + bound,
            "a check sent {:?} after the commit (bound {bound:?}) answered the stale {answer}",
            sent - committed
        );
        assert!(sent - committed < PATIENCE, "never visible");
    }
}

async fn history_row_count(primary: &tokio_postgres::Client, request_id: &str) -> i64 {
    primary
        .query_one(
            "SELECT COUNT(*) FROM verification WHERE request_id = $1",
            &[&request_id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qualification_reads_use_the_replica_only_within_the_staleness_bound() {
    if !testing_postgres() {
        eprintln!("runs in the PostgreSQL pass (ONSHI_TEST_BACKEND=postgres)");
        return;
    }
    let cluster = tokio::task::spawn_blocking(Replicated::start)
        .await
        .unwrap()
        .expect("a primary and a streaming replica on this machine");
    let app = spawn_app_on(
        Options { people: 200 },
        Some(&cluster.primary_url("postgres")),
    )
    .await
    .unwrap();
    let db = app.database_url();
    let db_name = db.rsplit('/').next().unwrap().to_string();
    let replica_url = cluster.replica_url(&db_name);
    let primary = pg(&db).await;

    // The replica has the new database once its creation is replayed.
    let started = Instant::now();
    let replica = loop {
        if let Ok((c, conn)) = tokio_postgres::connect(&replica_url, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            break c;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the replica never had {db_name}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let in_recovery: bool = replica
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(in_recovery, "the replica is a read-only standby");

    let mut strict = node(&app, &replica_url, STRICT).await;
    let mut lenient = node(&app, &replica_url, LENIENT).await;
    let valid = app.search_info("valid", 0);

    // 1. Within the bound, reads go to the replica; the history row is on the primary.
    let started = Instant::now();
    loop {
        let before = metric(&mut strict, TO_REPLICA).await;
        let (answer, id) = check(&mut strict, &valid, &app).await;
        assert_eq!(answer, "1");
        assert_eq!(
            history_row_count(&primary, &id).await,
            1,
            "history on the primary"
        );
        if metric(&mut strict, TO_REPLICA).await > before {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "reads never went to the replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let staleness = metric(&mut strict, "onshi_replica_staleness_seconds").await;
    assert!(staleness <= STRICT.as_secs_f64(), "measured {staleness} s");
    assert_eq!(metric(&mut strict, "onshi_replica_up").await, 1.0);
    assert_eq!(
        metric(&mut strict, "onshi_replica_max_staleness_seconds").await,
        STRICT.as_secs_f64()
    );

    // The card check's and the bulk check's lookups take the same route.
    let before = metric(&mut strict, TO_REPLICA).await;
    let person = app.person_of("valid").await;
    let (card_path, _) = app
        .issue_card(
            person,
            onshi_pki::CertProfile::Card,
            onshi_testkit::test_today().add_days(1000),
            true,
        )
        .await;
    let mut card = onshi_pki::SoftwareCard::open(&card_path).unwrap();
    onshi_pki::Card::verify_pin(&mut card, "1234").unwrap();
    let reply = card_client::card_check(
        &mut strict.conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    let res = siquc01::decode_response_json(&reply.body, &Limits::default()).unwrap();
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    let upload = muquc::UploadRequest {
        header: app.check_request("valid", "AFI-REPLICA-BULK").header,
        body: muquc::UploadRequestBody {
            searches: vec![valid.clone(), app.search_info("not_found", 0)],
        },
    };
    let reply = strict
        .conn
        .post(
            "/oqs/v1/bulk",
            "application/xml",
            upload.encode_xml(Encoding::Utf8),
        )
        .await
        .unwrap();
    let (accepted, _) = muquc::UploadResponse::decode_xml(&reply.body, &Limits::default()).unwrap();
    let ask = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: accepted.body.reception_number.unwrap(),
        },
    };
    let started = Instant::now();
    let done = loop {
        let reply = strict
            .conn
            .post(
                "/oqs/v1/bulk/result",
                "application/xml",
                ask.encode_xml(Encoding::Utf8),
            )
            .await
            .unwrap();
        let (res, _) = muquc::ResultResponse::decode_xml(&reply.body, &Limits::bulk()).unwrap();
        if res.header.segment_of_result != "2" {
            break res;
        }
        assert!(started.elapsed() < PATIENCE, "bulk check never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let validities: Vec<_> = done
        .body
        .units
        .iter()
        .map(|u| u.qualification_validity.clone())
        .collect();
    assert_eq!(validities, [Some("1".to_string()), Some("4".to_string())]);
    assert!(
        metric(&mut strict, TO_REPLICA).await >= before + 2.0,
        "the card check and the bulk lookup read the replica"
    );

    // 2. A qualification inserted on the primary is visible within the bound.
    let first = insert_qualification(&primary, &app, &valid, "77001").await;
    let took = visible_within(&mut strict, &app, &first, Instant::now(), STRICT).await;
    eprintln!("visible through the replica after {took:?}");

    // 3. Replay paused: the replica falls behind the primary (every check writes history
    //    there). The lenient central keeps reading the replica and answers from its old
    //    data; the strict one reads from the primary once the lag exceeds its bound.
    replica
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let started = Instant::now();
    while replica
        .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
        .await
        .unwrap()
        .get::<_, String>(0)
        != "paused"
    {
        assert!(started.elapsed() < PATIENCE, "replay never paused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stale_before = metric(&mut strict, STALE).await;
    let second = insert_qualification(&primary, &app, &valid, "77002").await;
    let committed = Instant::now();
    let (answer, id) = check(&mut lenient, &second, &app).await;
    assert_eq!(answer, "4", "the paused replica does not have it yet");
    assert_eq!(
        history_row_count(&primary, &id).await,
        1,
        "history on the primary"
    );
    let took = visible_within(&mut strict, &app, &second, committed, STRICT).await;
    eprintln!("visible through the primary after {took:?} (replica paused)");
    assert!(metric(&mut strict, STALE).await > stale_before);
    assert!(metric(&mut strict, "onshi_replica_staleness_seconds").await > STRICT.as_secs_f64());
    assert_eq!(metric(&mut strict, "onshi_replica_up").await, 1.0);
    assert!(metric(&mut strict, "onshi_replica_lag_bytes").await > 0.0);
    let (answer, _) = check(&mut lenient, &second, &app).await;
    assert_eq!(
        answer, "4",
        "still within the lenient bound: still the replica's answer"
    );

    // 4. Replay resumed: the strict central goes back to the replica.
    replica
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let before = metric(&mut strict, TO_REPLICA).await;
        let (answer, _) = check(&mut strict, &second, &app).await;
        assert_eq!(answer, "1");
        if metric(&mut strict, TO_REPLICA).await > before {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "never back on the replica");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    visible_within(&mut lenient, &app, &second, Instant::now(), LENIENT).await;

    // 5. Replica stopped: both answer from the primary.
    drop(replica);
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop_replica().expect("stop the replica");
        cluster
    })
    .await
    .unwrap();
    let third = insert_qualification(&primary, &app, &valid, "77003").await;
    for node in [&mut strict, &mut lenient] {
        let (answer, id) = check(node, &third, &app).await;
        assert_eq!(answer, "1", "answered from the primary");
        assert_eq!(history_row_count(&primary, &id).await, 1);
    }
    let started = Instant::now();
    while metric(&mut lenient, "onshi_replica_up").await != 0.0 {
        assert!(
            started.elapsed() < PATIENCE,
            "the stopped replica still counts as up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let down = "onshi_replica_reads_total{target=\"primary\",reason=\"replica_down\"}";
    let before = metric(&mut lenient, down).await;
    let (answer, _) = check(&mut lenient, &third, &app).await;
    assert_eq!(answer, "1");
    assert!(metric(&mut lenient, down).await > before);

    for n in [&mut strict, &mut lenient] {
        if let Some(c) = n.central.take() {
            c.shutdown().await;
        }
    }
    drop((strict, lenient));
    app.stop().await;
    drop(cluster);
}
