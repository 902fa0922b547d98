//! Repository tests of `onshi-store`, run on SQLite and (with ONSHI_TEST_BACKEND=postgres)
//! on PostgreSQL. They live in the test kit because both backends need its throw-away
//! databases.
#![allow(clippy::unwrap_used)]

use onshi_core::codes::QualificationValidity;
use onshi_core::date::JstDateTime;
use onshi_core::ids::InsuredBranchNumber;
use onshi_core::text::normalize_card_text;
use onshi_store::{CardQuery, CountedTable, PopulationSlice, Store, VerificationRecord};
use onshi_synth::{Batch, SynthConfig};
use onshi_testkit::{SEED, test_db, test_today};

async fn load(store: &Store, people: usize) -> Vec<Batch> {
    store
        .upsert_insurers(&onshi_synth::insurers(SEED))
        .await
        .unwrap();
    store
        .upsert_facilities(&onshi_synth::facilities(SEED))
        .await
        .unwrap();
    let mut batches = Vec::new();
    let cfg = SynthConfig {
        seed: SEED,
        people,
        today: test_today(),
    };
    onshi_synth::generate(
        &cfg,
        50,
        |b| -> Result<(), ()> {
            batches.push(b);
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    for b in &batches {
        store
            .load_population(PopulationSlice {
                persons: &b.persons,
                qualifications: &b.qualifications,
                elderly: &b.elderly,
                limit_certificates: &b.limit_certificates,
                specific_diseases: &b.specific_diseases,
            })
            .await
            .unwrap();
    }
    batches
}

fn query_for(
    q: &onshi_core::model::Qualification,
    birth: onshi_core::Ymd,
    with_branch: bool,
) -> CardQuery {
    CardQuery {
        insurer_number: q.insurer_number.digits().into(),
        symbol_norm: q
            .symbol
            .as_ref()
            .map(|s| s.normalized())
            .unwrap_or_default(),
        number_norm: q.number.normalized(),
        branch: if with_branch {
            q.branch.map(InsuredBranchNumber::value)
        } else {
            None
        },
        birthdate: birth,
    }
}

#[tokio::test]
async fn population_round_trips_through_the_store() {
    let db = test_db().await;
    let batches = load(&db.store, 600).await;
    let persons: usize = batches.iter().map(|b| b.persons.len()).sum();
    let quals: usize = batches.iter().map(|b| b.qualifications.len()).sum();
    assert_eq!(
        db.store.count(CountedTable::Person).await.unwrap(),
        persons as i64
    );
    assert_eq!(
        db.store.count(CountedTable::Qualification).await.unwrap(),
        quals as i64
    );

    // Every qualification is found by its own card data, with its own person.
    let people: std::collections::HashMap<i64, &onshi_core::model::Person> = batches
        .iter()
        .flat_map(|b| &b.persons)
        .map(|p| (p.id, p))
        .collect();
    for q in batches.iter().flat_map(|b| &b.qualifications).step_by(7) {
        let p = people[&q.person_id];
        let found = db
            .store
            .find_by_card(&query_for(q, p.birthdate, true))
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{q:?}");
        let r = &found[0];
        assert_eq!(&r.qualification, q);
        assert_eq!(&r.person, p);
        assert_eq!(r.insurer.number, q.insurer_number);
        // The wrong birth date finds nothing.
        let wrong = query_for(q, p.birthdate.add_days(1), true);
        assert!(db.store.find_by_card(&wrong).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn certificates_come_back_with_their_qualification() {
    let db = test_db().await;
    let batches = load(&db.store, 3000).await;
    let all: Vec<_> = batches.iter().flat_map(|b| &b.qualifications).collect();
    let persons: std::collections::HashMap<i64, onshi_core::Ymd> = batches
        .iter()
        .flat_map(|b| &b.persons)
        .map(|p| (p.id, p.birthdate))
        .collect();
    let find = |id: i64| *all.iter().find(|q| q.id == id).unwrap();

    let d = batches
        .iter()
        .flat_map(|b| &b.specific_diseases)
        .next()
        .expect("a specific-disease holder");
    let q = find(d.qualification_id);
    let r = &db
        .store
        .find_by_card(&query_for(q, persons[&q.person_id], true))
        .await
        .unwrap()[0];
    assert!(r.specific_diseases.contains(d));

    let l = batches
        .iter()
        .flat_map(|b| &b.limit_certificates)
        .next()
        .expect("a limit-certificate holder");
    let q = find(l.qualification_id);
    let r = &db
        .store
        .find_by_card(&query_for(q, persons[&q.person_id], true))
        .await
        .unwrap()[0];
    assert_eq!(r.limit.as_ref(), Some(l));

    let e = batches
        .iter()
        .flat_map(|b| &b.elderly)
        .next()
        .expect("an elderly recipient");
    let q = find(e.qualification_id);
    let r = &db
        .store
        .find_by_card(&query_for(q, persons[&q.person_id], true))
        .await
        .unwrap()[0];
    assert_eq!(r.elderly.as_ref(), Some(e));
}

#[tokio::test]
async fn matching_ignores_width_and_spacing_of_card_text() {
    let db = test_db().await;
    let batches = load(&db.store, 300).await;
    let q = batches
        .iter()
        .flat_map(|b| &b.qualifications)
        .find(|q| q.symbol.is_some())
        .unwrap();
    let birth = batches
        .iter()
        .flat_map(|b| &b.persons)
        .find(|p| p.id == q.person_id)
        .unwrap()
        .birthdate;
    let wide: String = q
        .number
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap()
            } else {
                c
            }
        })
        .collect();
    let mut query = query_for(q, birth, true);
    query.number_norm = normalize_card_text(&format!(" {wide} "));
    assert_eq!(db.store.find_by_card(&query).await.unwrap().len(), 1);
}

#[tokio::test]
async fn history_writes_are_committed_and_listed_newest_first() {
    let db = test_db().await;
    load(&db.store, 50).await;
    let facility = onshi_synth::facilities(SEED)[0].code.clone();
    let base = JstDateTime::parse_wire("20261123090000").unwrap();
    let mut writes = Vec::new();
    for i in 0..300 {
        let store = db.store.clone();
        let rec = VerificationRecord {
            request_id: format!("r{i}"),
            facility_code: facility.as_str().into(),
            checked_at: base.add_seconds(i),
            confirmation_date: Some("20261123".into()),
            reference_classification: "2".into(),
            insurer_number: Some("01130012".into()),
            symbol: None,
            number: Some(format!("{i}")),
            branch: None,
            birthdate: Some("19800101".into()),
            arbitrary_file_identifier: None,
            processing_status: "1".into(),
            error_code: None,
            validity: Some(QualificationValidity::NotFound),
            person_id: None,
            qualification_id: None,
            identity_method: None,
            card_serial: None,
            card_profile: None,
            consents: None,
        };
        writes.push(tokio::spawn(
            async move { store.record_verification(rec).await },
        ));
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    assert_eq!(
        db.store.count(CountedTable::Verification).await.unwrap(),
        300
    );
    let page = db
        .store
        .verifications(&facility, base, base.add_seconds(1000), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0].request_id, "r299");
    assert_eq!(page[0].validity, Some(QualificationValidity::NotFound));
    let other = onshi_synth::facilities(SEED)[1].code.clone();
    assert!(
        db.store
            .verifications(&other, base, base.add_seconds(1000), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn facilities_can_be_suspended() {
    let db = test_db().await;
    load(&db.store, 10).await;
    let code = onshi_synth::facilities(SEED)[0].code.clone();
    assert!(db.store.facility(&code).await.unwrap().unwrap().enabled);
    assert!(db.store.set_facility_enabled(&code, false).await.unwrap());
    assert!(!db.store.facility(&code).await.unwrap().unwrap().enabled);
    let unknown = onshi_core::ids::MedicalInstitutionCode::with_check_digit("131999999").unwrap();
    assert!(db.store.facility(&unknown).await.unwrap().is_none());
    assert!(
        !db.store
            .set_facility_enabled(&unknown, false)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_migrate_twice() {
    let db = test_db().await;
    load(&db.store, 20).await;
    let n = db.store.count(CountedTable::Person).await.unwrap();
    let again = Store::open(&db.url).await.unwrap();
    assert_eq!(again.count(CountedTable::Person).await.unwrap(), n);
}

/// 資格確認履歴照会: keyset pages stay exact when many rows share one instant (a bulk
/// check records all its patients at the same time) and never show another facility's.
#[tokio::test]
async fn history_pages_break_ties_by_id_and_stay_within_the_facility() {
    let db = test_db().await;
    load(&db.store, 10).await;
    let facilities = onshi_synth::facilities(SEED);
    let (mine, other) = (facilities[0].code.clone(), facilities[1].code.clone());
    let at = JstDateTime::parse_wire("20261123100000").unwrap();
    for i in 0..7 {
        for (code, tag) in [(&mine, "m"), (&other, "o")] {
            let mut rec = VerificationRecord::new(&format!("{tag}{i}"), code.as_str(), at, "2");
            // Two rows a little later, so the pages cross instants too.
            if i >= 5 {
                rec.checked_at = at.add_seconds(1);
            }
            rec.person_id = Some(1);
            db.store.record_verification(rec).await.unwrap();
        }
    }
    // The consents given at the reader after the check "m6" (and another facility's
    // row under the same request id, which must not leak into it).
    for code in [&mine, &other] {
        db.store
            .record_consent(&onshi_store::ConsentRecord {
                check_request_id: "m6".into(),
                facility_code: code.as_str().into(),
                person_id: 1,
                consented_at: at,
                available_until: at.add_seconds(86_400),
                information: if *code == mine {
                    vec!["YZK".into(), "GND".into()]
                } else {
                    vec!["TKK".into()]
                },
            })
            .await
            .unwrap();
    }
    let (from, to) = (at, at.add_seconds(60));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .store
            .history_page(&mine, from, to, cursor, 3)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        let last = page.last().unwrap();
        cursor = Some(onshi_store::HistoryCursor {
            checked_at: last.record.checked_at,
            id: last.id,
        });
        seen.extend(page);
    }
    let ids: Vec<&str> = seen.iter().map(|e| e.record.request_id.as_str()).collect();
    assert_eq!(ids, ["m6", "m5", "m4", "m3", "m2", "m1", "m0"]);
    assert_eq!(seen[0].card_consents.as_deref(), Some("YZK,GND"));
    assert_eq!(seen[1].card_consents, None);
    let person = db.store.person(1).await.unwrap().unwrap();
    assert_eq!(seen[0].name.as_deref(), Some(person.name.as_str()));
    // One row by id, for its facility only.
    let one = db.store.history_entry(&mine, seen[2].id).await.unwrap();
    assert_eq!(one.unwrap().record.request_id, "m4");
    assert!(
        db.store
            .history_entry(&other, seen[2].id)
            .await
            .unwrap()
            .is_none()
    );
    // The period bounds hold: [at, at + 1 s) has the five earlier rows.
    let first = db
        .store
        .history_page(&mine, at, at.add_seconds(1), None, 100)
        .await
        .unwrap();
    assert_eq!(first.len(), 5);
}
