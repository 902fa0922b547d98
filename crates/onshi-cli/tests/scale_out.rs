//! Several `onshi central serve` processes (the real binary) on one PostgreSQL database,
//! answering the same clients: what one process issues, another accepts (card nonces,
//! consent tokens, bulk jobs), and the per-facility cache holds to its 1-s bound on
//! every process. See docs/scale-out.md.
//!
//! Runs in the PostgreSQL pass of `scripts/test` (ONSHI_TEST_BACKEND=postgres) only:
//! several processes on one SQLite file is not a supported deployment.
#![allow(clippy::unwrap_used)]

use onshi_central::card_client::{self, CardConsents, IdentityMethod};
use onshi_central::client::{CentralClient, Connection, Reply};
use onshi_pki::{Card, CertProfile, SoftwareCard};
use onshi_testkit::{Options, TestApp, spawn_app_on, test_today, testing_postgres};
use onshi_wire::siquc01::{self, SearchInfo};
use onshi_wire::{Encoding, Limits, muquc};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROCESSES: usize = 3;
const PATIENCE: Duration = Duration::from_secs(30);

/// One `onshi central serve` process, killed on drop.
struct Central {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_central(app: &TestApp, n: usize) -> Central {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .args(["central", "serve", "--data"])
        .arg(app.dir.path())
        .args(["--database", &app.database_url()])
        .args(["--listen", "127.0.0.1:0", "--threads", "1"])
        .env("ONSHI_LOG", "warn")
        .env_remove("ONSHI_REPLICA_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the onshi binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match line
                .strip_prefix("central: https://")
                .and_then(|r| r.strip_suffix(" (mTLS)"))
            {
                Some(addr) => {
                    let _ = tx.send(addr.to_string());
                }
                None => eprintln!("[central {n}] {line}"),
            }
        }
    });
    // Killed on drop from here on, also if it never prints its address.
    let mut central = Central {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
    };
    let addr = rx
        .recv_timeout(PATIENCE)
        .expect("central process started and printed its address");
    central.addr = addr.parse().unwrap();
    central
}

async fn connect(app: &TestApp, addr: SocketAddr) -> Connection {
    let cert = app.facility_cert(&app.clinic().code);
    let tls = onshi_pki::client_config(&app.server_ca_pem(), Some(&cert)).unwrap();
    CentralClient::new(addr, "localhost", tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A check by card data: the validity code (or the error code) and the request id.
async fn check(conn: &mut Connection, app: &TestApp, case: &str) -> (String, String) {
    let req = app.check_request(case, "AFI-SCALE");
    let reply = conn
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
    (answer, request_id(&reply))
}

fn request_id(reply: &Reply) -> String {
    reply.headers["x-request-id"].to_str().unwrap().to_string()
}

fn decode_json(reply: &Reply) -> siquc01::Response {
    siquc01::decode_response_json(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)))
}

fn bulk_search(app: &TestApp, case: &str) -> SearchInfo {
    SearchInfo {
        arbitrary_identifier: Some(case.into()),
        ..app.search_info(case, 0)
    }
}

async fn bulk_result(
    conn: &mut Connection,
    app: &TestApp,
    reception: &str,
) -> muquc::ResultResponse {
    let req = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: reception.into(),
        },
    };
    let reply = conn
        .post(
            "/oqs/v1/bulk/result",
            "application/xml",
            req.encode_xml(Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 200);
    muquc::ResultResponse::decode_xml(&reply.body, &Limits::bulk())
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_processes_on_one_database_share_nonces_consents_bulk_jobs_and_suspensions() {
    if !testing_postgres() {
        eprintln!("runs in the PostgreSQL pass (ONSHI_TEST_BACKEND=postgres)");
        return;
    }
    let admin = std::env::var("ONSHI_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut app = spawn_app_on(Options { people: 200 }, Some(&admin))
        .await
        .unwrap();
    // The test app's own central created the shared secret; only the processes answer.
    app.stop_central().await;
    let centrals: Vec<Central> = (0..PROCESSES).map(|n| spawn_central(&app, n)).collect();
    let mut conns = Vec::new();
    for c in &centrals {
        conns.push(connect(&app, c.addr).await);
    }
    let facility = app.clinic().code.clone();

    // 1. Checks sent to each process in turn: the same answers, every one recorded once,
    //    with request ids unique across the processes.
    let mut ids = Vec::new();
    for round in 0..2 {
        for (n, conn) in conns.iter_mut().enumerate() {
            for case in ["valid", "lost", "not_found"] {
                let (answer, id) = check(conn, &app, case).await;
                assert_eq!(
                    answer,
                    app.sample(case).expected_validity,
                    "{case} at process {n}, round {round}"
                );
                ids.push(id);
            }
        }
    }
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "request ids unique across processes"
    );
    let real_now = onshi_core::Clock::now(&onshi_core::SystemClock);
    let history = app
        .store
        .verifications(
            &facility,
            real_now.add_seconds(-3600),
            real_now.add_seconds(3600),
            1000,
        )
        .await
        .unwrap();
    for id in &ids {
        assert_eq!(
            history.iter().filter(|r| &r.request_id == id).count(),
            1,
            "history row of {id}"
        );
    }

    // 2. A card check: the nonce from process 0, the signed check at process 1, the
    //    consents (with process 1's token) at process 2. The nonce is single-use across
    //    processes, and so is the token.
    let person = app.person_of("valid").await;
    let (card_path, _) = app
        .issue_card(person, CertProfile::Card, test_today().add_days(1000), true)
        .await;
    let mut card = SoftwareCard::open(&card_path).unwrap();
    card.verify_pin("1234").unwrap();
    let nonce = card_client::nonce(&mut conns[0]).await.unwrap();
    let body = card_client::signed_body(
        &mut card as &mut dyn Card,
        &nonce,
        IdentityMethod::Pin,
        &CardConsents::default(),
        Some(&test_today().to_wire()),
    )
    .unwrap();
    let checked = conns[1]
        .post("/oqs/v1/card/check", "application/json", body.clone())
        .await
        .unwrap();
    assert_eq!(
        checked.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&checked.body)
    );
    assert_eq!(
        decode_json(&checked).body.qualification_validity.as_deref(),
        Some("1")
    );
    let replayed = conns[2]
        .post("/oqs/v1/card/check", "application/json", body)
        .await
        .unwrap();
    assert_eq!(
        replayed.status.as_u16(),
        409,
        "a nonce is used once, anywhere"
    );
    assert_eq!(
        decode_json(&replayed).header.error_code.as_deref(),
        Some("ONS4005")
    );
    let consents = CardConsents {
        pharmacists: true,
        ..CardConsents::default()
    };
    let given = card_client::card_consent(&mut conns[2], &checked, &consents, false)
        .await
        .unwrap();
    assert_eq!(
        given.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&given.body)
    );
    assert_eq!(
        decode_json(&given).body.results[0]
            .pharmacists_info_cons_flg
            .as_deref(),
        Some("1")
    );
    let again = card_client::card_consent(&mut conns[0], &checked, &consents, false)
        .await
        .unwrap();
    assert_eq!(
        again.status.as_u16(),
        409,
        "consents are given once, anywhere"
    );
    let stored = app
        .store
        .valid_consents(
            &facility,
            person,
            onshi_core::Clock::now(&onshi_core::SystemClock),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].check_request_id, request_id(&checked));

    // 3. A bulk check uploaded at process 0 is answered by processes 1 and 2.
    let cases = ["valid", "lost", "not_found", "multiple"];
    let upload = muquc::UploadRequest {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: facility.as_str().into(),
            arbitrary_file_identifier: Some("AFI-SCALE-BULK".into()),
        },
        body: muquc::UploadRequestBody {
            searches: cases.iter().map(|c| bulk_search(&app, c)).collect(),
        },
    };
    let reply = conns[0]
        .post(
            "/oqs/v1/bulk",
            "application/xml",
            upload.encode_xml(Encoding::Utf8),
        )
        .await
        .unwrap();
    let (accepted, _) = muquc::UploadResponse::decode_xml(&reply.body, &Limits::default()).unwrap();
    let reception = accepted.body.reception_number.expect("reception number");
    let started = Instant::now();
    let done = loop {
        let res = bulk_result(&mut conns[1], &app, &reception).await;
        if res.header.segment_of_result != "2" {
            break res;
        }
        assert!(started.elapsed() < PATIENCE, "bulk check never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done.header.segment_of_result, "1");
    let validities: Vec<_> = done
        .body
        .units
        .iter()
        .map(|u| u.qualification_validity.clone().unwrap_or_default())
        .collect();
    let expected: Vec<_> = cases
        .iter()
        .map(|c| app.sample(c).expected_validity.clone())
        .collect();
    assert_eq!(validities, expected);
    let elsewhere = bulk_result(&mut conns[2], &app, &reception).await;
    assert_eq!(elsewhere.body.units, done.body.units);

    // 4. A suspension (written to the database behind the processes' backs) is in force
    //    on every process within the facility cache's bound of 1 s; checks sent later
    //    than that are all refused. Lifting it takes effect within the same bound.
    for enabled in [false, true] {
        let expected = if enabled { "1" } else { "ONS3002" };
        assert!(
            app.store
                .set_facility_enabled(&facility, enabled)
                .await
                .unwrap()
        );
        let changed = Instant::now();
        let bound = Duration::from_secs(onshi_central::FACILITY_CACHE_SECONDS as u64);
        let mut seen = [false; PROCESSES];
        loop {
            for (n, conn) in conns.iter_mut().enumerate() {
                let sent = Instant::now();
                let (answer, _) = check(conn, &app, "valid").await;
                if answer == expected {
                    seen[n] = true;
                } else {
                    assert!(
                        sent < changed + bound,
                        "process {n} answered {answer} {:?} after the change",
                        sent - changed
                    );
                }
            }
            if seen.iter().all(|s| *s) && changed.elapsed() > bound {
                break;
            }
            assert!(changed.elapsed() < PATIENCE);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // 5. Views of medical information at all processes at once (the consent of step 2
    //    allows drug information): one audit chain, no fork, a row per view.
    let mut views = Vec::new();
    for mut conn in conns.drain(..) {
        views.push(tokio::spawn(async move {
            for _ in 0..5 {
                let r = conn
                    .request(
                        hyper::http::Method::GET,
                        &format!("/oqs/v1/medical/drug?person={person}"),
                        &[("x-onshi-account", "003")],
                        "",
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    r.status.as_u16(),
                    200,
                    "{}",
                    String::from_utf8_lossy(&r.body)
                );
            }
            conn
        }));
    }
    for v in views {
        conns.push(v.await.unwrap());
    }
    let allowed = 5 * PROCESSES;
    let (rows, _, problem) = app.store.verify_audit(None).await.unwrap();
    assert_eq!(problem, None, "the audit chain did not fork");
    assert!(
        rows >= allowed as i64,
        "{rows} audit rows for {allowed} views"
    );

    drop(conns);
    drop(centrals);
}
