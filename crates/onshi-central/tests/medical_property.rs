//! Property: over random timelines of consents (given after checks, for any mix of
//! information types, at either facility), disaster declarations (inside or outside the
//! facilities' prefecture, ended early or not), clock moves and views, central allows a
//! view exactly when a consent window of that facility for that type, or a declared
//! disaster covering the facility (drug and checkup only), holds at that instant; and
//! every view, allowed or refused, leaves exactly one audit row saying so, in a chain that
//! verifies.
#![allow(clippy::unwrap_used)]

use hyper::http::Method;
use onshi_central::client::Connection;
use onshi_core::medical::{DisasterArea, InfoKind};
use onshi_core::{Clock, JstDateTime};
use onshi_store::{ConsentRecord, NewDisaster};
use onshi_testkit::{TestApp, spawn_app};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[derive(Debug, Clone)]
enum Op {
    Consent {
        fac: usize,
        person: i64,
        mask: u8,
    },
    Declare {
        tokyo: bool,
        start: i64,
        len: i64,
    },
    EndLast,
    Advance(i64),
    View {
        fac: usize,
        person: i64,
        kind: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..2, 0i64..3, 0u8..16).prop_map(|(fac, person, mask)| Op::Consent { fac, person, mask }),
        1 => (any::<bool>(), -7_200i64..3_600, 60i64..20_000)
            .prop_map(|(tokyo, start, len)| Op::Declare { tokyo, start, len }),
        1 => Just(Op::EndLast),
        3 => prop_oneof![0i64..600, 0i64..100_000].prop_map(Op::Advance),
        6 => (0usize..2, 0i64..3, 0usize..4).prop_map(|(fac, person, kind)| Op::View { fac, person, kind }),
    ]
}

struct Decl {
    id: i64,
    tokyo: bool,
    start: JstDateTime,
    end: JstDateTime,
}

struct Harness {
    app: TestApp,
    conns: Vec<Connection>,
    case: i64,
    seen_seq: i64,
}

async fn run_case(h: &mut Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    h.case += 1;
    // Each case starts ten days after the last one: earlier consents have expired; earlier
    // declarations are ended.
    h.app.clock.advance_seconds(10 * 86_400);
    let start = h.app.clock.now();
    for d in h.app.store.active_disasters(start).await.unwrap() {
        h.app.store.end_disaster(d.id, start).await.unwrap();
    }
    let base = (h.case * 3) % 390 + 1;
    let mut consents: Vec<(usize, i64, JstDateTime, u8)> = Vec::new();
    let mut decls: Vec<Decl> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let now = h.app.clock.now();
        match op {
            Op::Consent { fac, person, mask } => {
                let info: Vec<String> = InfoKind::ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, k)| k.code().to_string())
                    .collect();
                h.app
                    .store
                    .record_consent(&ConsentRecord {
                        check_request_id: format!("p-{}-{n}", h.case),
                        facility_code: h.app.facilities[*fac].code.as_str().into(),
                        person_id: base + person,
                        consented_at: now,
                        available_until: onshi_core::card::consent_available_until(now),
                        information: info,
                    })
                    .await
                    .unwrap();
                consents.push((*fac, base + person, now, *mask));
            }
            Op::Declare { tokyo, start, len } => {
                let (s, e) = (now.add_seconds(*start), now.add_seconds(start + len));
                let id = h
                    .app
                    .store
                    .declare_disaster(&NewDisaster {
                        name: "性質試験".into(),
                        areas: vec![DisasterArea::parse(if *tokyo { "13" } else { "27" }).unwrap()],
                        starts_at: s,
                        ends_at: e,
                        declared_at: now,
                    })
                    .await
                    .unwrap();
                decls.push(Decl {
                    id,
                    tokyo: *tokyo,
                    start: s,
                    end: e,
                });
            }
            Op::EndLast => {
                if let Some(d) = decls.last_mut()
                    && h.app.store.end_disaster(d.id, now).await.unwrap()
                    && now < d.end
                {
                    d.end = now;
                }
            }
            Op::Advance(s) => h.app.clock.advance_seconds(*s),
            Op::View { fac, person, kind } => {
                let kind = InfoKind::ALL[*kind];
                let person = base + person;
                let by_consent = consents.iter().any(|(f, p, at, mask)| {
                    *f == *fac
                        && *p == person
                        && *at <= now
                        && now < at.add_seconds(86_400)
                        && mask & (1 << InfoKind::ALL.iter().position(|k| *k == kind).unwrap()) != 0
                });
                let by_disaster = kind.viewable_in_disaster()
                    && decls
                        .iter()
                        .any(|d| d.tokyo && d.start <= now && now < d.end);
                let expected = if by_consent {
                    Some("consent")
                } else if by_disaster {
                    Some("disaster")
                } else {
                    None
                };
                let reply = h.conns[*fac]
                    .request(
                        Method::GET,
                        &format!("/oqs/v1/medical/{}?person={person}", kind.segment()),
                        &[("x-onshi-account", "003")],
                        "",
                    )
                    .await
                    .unwrap();
                let status = reply.status.as_u16();
                prop_assert_eq!(
                    status == 200,
                    expected.is_some(),
                    "status {} at op {}",
                    status,
                    n
                );
                if status != 200 {
                    prop_assert_eq!(status, 403);
                }
                let rows = h.app.store.audit_page(h.seen_seq, 100).await.unwrap();
                prop_assert_eq!(rows.len(), 1, "one audit row per view");
                let r = &rows[0].entry;
                h.seen_seq = rows[0].seq;
                prop_assert_eq!(r.person_id, Some(person));
                prop_assert_eq!(r.information.as_str(), kind.code());
                prop_assert_eq!(&r.facility_code, h.app.facilities[*fac].code.as_str());
                match expected {
                    Some(basis) => {
                        prop_assert_eq!(r.outcome.as_str(), "allowed");
                        prop_assert_eq!(r.basis.as_str(), basis);
                    }
                    None => prop_assert_eq!(r.outcome.as_str(), "refused"),
                }
            }
        }
    }
    let (_, _, problem) = h.app.store.verify_audit(None).await.unwrap();
    prop_assert_eq!(problem, None);
    Ok(())
}

#[test]
fn no_view_outside_a_consent_window_or_a_declared_disaster_and_none_unrecorded() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut h = rt.block_on(async {
        let app = spawn_app().await;
        let mut conns = Vec::new();
        for i in 0..2 {
            let cert = app.facility_cert(&app.facilities[i].code);
            conns.push(app.client_with(Some(&cert)).connect().await.unwrap());
        }
        Harness {
            app,
            conns,
            case: 0,
            seen_seq: 0,
        }
    });
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let h = std::cell::RefCell::new(&mut h);
    let result = runner.run(&proptest::collection::vec(op(), 1..30), |ops| {
        rt.block_on(run_case(&mut h.borrow_mut(), &ops))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
