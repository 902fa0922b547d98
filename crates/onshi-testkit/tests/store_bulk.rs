//! Repository tests of the bulk-check and 照会番号 tables, on SQLite and (with
//! ONSHI_TEST_BACKEND=postgres) on PostgreSQL.
#![allow(clippy::unwrap_used)]

use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::text::normalize_card_text;
use onshi_store::{
    BulkChunk, BulkJob, BulkState, CardQuery, HolderQuery, PopulationSlice, Store,
    VerificationRecord,
};
use onshi_synth::{Batch, SynthConfig};
use onshi_testkit::{SEED, test_db, test_now, test_today};

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

fn facility(i: usize) -> MedicalInstitutionCode {
    onshi_synth::facilities(SEED)[i].code.clone()
}

/// A card query for every qualification of `batches`; every other one without its branch
/// (families then share a card).
fn card_queries(batches: &[Batch]) -> Vec<CardQuery> {
    let mut queries = Vec::new();
    for b in batches {
        for q in &b.qualifications {
            let birth = b
                .persons
                .iter()
                .find(|p| p.id == q.person_id)
                .unwrap()
                .birthdate;
            queries.push(CardQuery {
                insurer_number: q.insurer_number.digits().into(),
                symbol_norm: q
                    .symbol
                    .as_ref()
                    .map(|s| s.normalized())
                    .unwrap_or_default(),
                number_norm: q.number.normalized(),
                branch: (q.id % 2 == 0)
                    .then(|| q.branch.map(|b| b.value()))
                    .flatten(),
                birthdate: birth,
            });
        }
    }
    queries
}

#[tokio::test]
async fn many_card_lookups_in_one_query_match_the_single_lookup() {
    let db = test_db().await;
    let batches = load(&db.store, 1500).await;
    let mut queries = card_queries(&batches);
    // And keys that match nothing, in between.
    queries.insert(
        3,
        CardQuery {
            insurer_number: "06139999".into(),
            symbol_norm: normalize_card_text("なし"),
            number_norm: "0".into(),
            branch: None,
            birthdate: test_today(),
        },
    );
    let many = db.store.find_by_cards(&queries).await.unwrap();
    assert_eq!(many.len(), queries.len());
    assert!(many[3].is_empty());
    let mut with_specific = 0;
    for (q, found) in queries.iter().zip(&many) {
        let one = db.store.find_by_card(q).await.unwrap();
        assert_eq!(&one, found, "{q:?}");
        with_specific += found
            .iter()
            .filter(|r| !r.specific_diseases.is_empty())
            .count();
    }
    assert!(
        with_specific > 0,
        "the population has 特定疾病 certificates"
    );
    assert!(db.store.find_by_cards(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn reference_numbers_are_per_facility_and_replaced_on_reregistration() {
    let db = test_db().await;
    let batches = load(&db.store, 50).await;
    let (a, b) = (batches[0].persons[0].id, batches[0].persons[1].id);
    let (clinic, pharmacy) = (facility(0), facility(1));
    let s = &db.store;
    s.register_reference_number(&clinic, a, "P-1", test_now())
        .await
        .unwrap();
    s.register_reference_number(&pharmacy, a, "薬-9", test_now())
        .await
        .unwrap();
    let got = s.reference_numbers(&clinic, &[a, b]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[&a], "P-1");
    s.register_reference_number(&clinic, a, "P-2", test_now())
        .await
        .unwrap();
    s.register_reference_number(&clinic, b, "P-3", test_now())
        .await
        .unwrap();
    let got = s.reference_numbers(&clinic, &[a, b]).await.unwrap();
    assert_eq!((got[&a].as_str(), got[&b].as_str()), ("P-2", "P-3"));
    assert_eq!(
        s.reference_numbers(&pharmacy, &[a]).await.unwrap()[&a],
        "薬-9"
    );
    assert!(s.reference_numbers(&clinic, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn holders_are_found_without_a_birthdate() {
    let db = test_db().await;
    let batches = load(&db.store, 50).await;
    let q = &batches[0].qualifications[0];
    let query = HolderQuery {
        insurer_number: q.insurer_number.digits().into(),
        symbol_norm: q
            .symbol
            .as_ref()
            .map(|s| s.normalized())
            .unwrap_or_default(),
        number_norm: q.number.normalized(),
        branch: q.branch.map(|b| b.value()),
    };
    let found = db.store.holders(&query).await.unwrap();
    assert!(
        found
            .iter()
            .any(|h| h.person_id == q.person_id && h.qualification_date == q.qualification_date)
    );
    let none = HolderQuery {
        number_norm: "999999999".into(),
        ..query
    };
    assert!(db.store.holders(&none).await.unwrap().is_empty());
}

fn job(reception: &str, total: i64) -> BulkJob {
    BulkJob {
        reception_number: reception.into(),
        facility_code: facility(0).as_str().into(),
        received_at: test_now(),
        confirmation_date: test_today().to_wire(),
        arbitrary_file_identifier: Some("AFI".into()),
        state: BulkState::Processing,
        total,
        normal: 0,
        errors: 0,
        error_code: None,
        finished_at: None,
    }
}

fn chunk(reception: &str, first: i64, n: i64, finish: bool) -> BulkChunk {
    BulkChunk {
        reception_number: reception.into(),
        first_seq: first,
        units: (first..first + n)
            .map(|i| format!("unit {i}").into_bytes())
            .collect(),
        records: (first..first + n)
            .map(|i| {
                VerificationRecord::new(
                    &format!("{reception}-{i}"),
                    facility(0).as_str(),
                    test_now(),
                    "2",
                )
            })
            .collect(),
        normal: n - 1,
        errors: 1,
        finished_at: finish.then(|| JstDateTime::parse_wire("20261123100001").unwrap()),
    }
}

#[tokio::test]
async fn a_bulk_job_advances_chunk_by_chunk_and_each_unit_is_written_once() {
    let db = test_db().await;
    let s = &db.store;
    let request = b"<XmlMsg>upload as received</XmlMsg>".to_vec();
    s.create_bulk_job(&job("R1", 5), &request).await.unwrap();
    s.create_bulk_job(&job("R2", 1), b"other").await.unwrap();
    assert!(
        s.create_bulk_job(&job("R1", 5), b"again").await.is_err(),
        "reception numbers are unique"
    );
    assert_eq!(s.bulk_request("R1").await.unwrap().unwrap(), request);
    assert_eq!(s.unfinished_bulk_jobs().await.unwrap(), vec!["R1", "R2"]);
    assert_eq!(s.bulk_units_done("R1").await.unwrap(), 0);

    s.write_bulk_chunk(chunk("R1", 0, 3, false)).await.unwrap();
    assert_eq!(s.bulk_units_done("R1").await.unwrap(), 3);
    let j = s.bulk_job("R1").await.unwrap().unwrap();
    assert_eq!((j.state, j.normal, j.errors), (BulkState::Processing, 2, 1));
    // The same units again (a second process resuming the job) are refused whole.
    assert!(s.write_bulk_chunk(chunk("R1", 2, 3, true)).await.is_err());
    assert_eq!(s.bulk_units_done("R1").await.unwrap(), 3);
    s.write_bulk_chunk(chunk("R1", 3, 2, true)).await.unwrap();
    let j = s.bulk_job("R1").await.unwrap().unwrap();
    assert_eq!((j.state, j.normal, j.errors), (BulkState::Done, 3, 2));
    assert_eq!(j.finished_at.unwrap().to_wire(), "20261123100001");
    assert_eq!(j.arbitrary_file_identifier.as_deref(), Some("AFI"));
    let units = s.bulk_units("R1").await.unwrap();
    let expected: Vec<Vec<u8>> = (0..5).map(|i| format!("unit {i}").into_bytes()).collect();
    assert_eq!(units, expected);
    // A finished job takes no more chunks.
    assert!(s.write_bulk_chunk(chunk("R1", 5, 1, true)).await.is_err());
    // Each unit has its history row.
    let rows = s
        .verifications(&facility(0), test_now(), test_now().add_seconds(1), 100)
        .await
        .unwrap();
    let mut ids: Vec<String> = rows.into_iter().map(|r| r.request_id).collect();
    ids.sort();
    assert_eq!(ids, vec!["R1-0", "R1-1", "R1-2", "R1-3", "R1-4"]);

    s.fail_bulk_job("R2", "ONS9002", test_now()).await.unwrap();
    let j = s.bulk_job("R2").await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.error_code.as_deref()),
        (BulkState::Failed, Some("ONS9002"))
    );
    assert!(s.unfinished_bulk_jobs().await.unwrap().is_empty());
    assert!(s.bulk_job("R3").await.unwrap().is_none());
}

/// Checks by card data that arrive together are answered, on PostgreSQL, by shared lookup
/// statements (the store's coalescer); each must still get exactly its own answer, the
/// one the many-keys statement gives for its key.
#[tokio::test]
async fn coalesced_lookups_answer_as_single_ones() {
    let db = test_db().await;
    let batches = load(&db.store, 400).await;
    let queries = card_queries(&batches);
    let expected = db.store.find_by_cards(&queries).await.unwrap();
    let before = db.store.pool_status();
    let mut set = tokio::task::JoinSet::new();
    for (i, q) in queries.iter().cloned().enumerate() {
        let store = db.store.clone();
        set.spawn(async move { (i, store.find_by_card(&q).await.unwrap()) });
    }
    let mut answered = 0;
    while let Some(done) = set.join_next().await {
        let (i, found) = done.unwrap();
        assert_eq!(found, expected[i], "{:?}", queries[i]);
        answered += 1;
    }
    assert_eq!(answered, queries.len());
    assert!(
        expected.iter().any(|f| f.len() > 1),
        "some cards have several holders"
    );
    let after = db.store.pool_status();
    let statements = after.lookup_statements - before.lookup_statements;
    let checks = after.lookup_checks - before.lookup_checks;
    if db.store.backend_name() == "postgres" {
        assert_eq!(checks, queries.len() as u64);
        assert!(
            statements < checks / 4,
            "{statements} statements for {checks} concurrent checks"
        );
    } else {
        assert_eq!((statements, checks), (0, 0));
    }
}

/// A shared lookup whose statement fails must not fail the checks it carried: each is
/// retried alone and gets its own answer, and only the key at fault gets an error. The
/// fault here is a NUL in the number, which PostgreSQL text cannot hold (SQLite stores
/// it, so there that check simply finds nobody).
#[tokio::test]
async fn a_failed_shared_lookup_answers_each_check_alone() {
    let db = test_db().await;
    let batches = load(&db.store, 400).await;
    let mut queries = card_queries(&batches);
    let expected = db.store.find_by_cards(&queries).await.unwrap();
    let bad = queries.len() / 2;
    queries[bad].number_norm.push('\0');
    let before = db.store.pool_status();
    let mut set = tokio::task::JoinSet::new();
    for (i, q) in queries.iter().cloned().enumerate() {
        let store = db.store.clone();
        set.spawn(async move { (i, store.find_by_card(&q).await) });
    }
    let postgres = db.store.backend_name() == "postgres";
    let mut answered = 0;
    while let Some(done) = set.join_next().await {
        let (i, found) = done.unwrap();
        match (i == bad, found) {
            (false, Ok(found)) => assert_eq!(found, expected[i], "{:?}", queries[i]),
            (true, Err(_)) if postgres => {}
            (true, Ok(found)) if !postgres => assert!(found.is_empty()),
            (_, other) => panic!("check {i} (bad: {}): {other:?}", i == bad),
        }
        answered += 1;
    }
    assert_eq!(answered, queries.len());
    let after = db.store.pool_status();
    let failed = after.lookup_failed_batches - before.lookup_failed_batches;
    if postgres {
        assert_eq!(failed, 1, "the bad key's batch failed once");
    } else {
        assert_eq!(failed, 0);
    }
}

/// Every holder of a 高齢受給者証 or 限度額適用認定証 is found with it, and nobody else
/// with one: the lookups join the certificates only for qualifications the loader flagged
/// as holding them (migration 0012), so a flag missed by a writer would show here.
#[tokio::test]
async fn each_qualification_is_found_with_exactly_its_certificates() {
    let db = test_db().await;
    let batches = load(&db.store, 600).await;
    let elderly: std::collections::HashMap<i64, _> = batches
        .iter()
        .flat_map(|b| &b.elderly)
        .map(|e| (e.qualification_id, e))
        .collect();
    let limits: std::collections::HashMap<i64, _> = batches
        .iter()
        .flat_map(|b| &b.limit_certificates)
        .map(|l| (l.qualification_id, l))
        .collect();
    assert!(!elderly.is_empty() && !limits.is_empty());
    let queries = card_queries(&batches);
    let found = db.store.find_by_cards(&queries).await.unwrap();
    let mut seen = 0;
    for rec in found.iter().flatten() {
        let id = rec.qualification.id;
        assert_eq!(rec.elderly.as_ref(), elderly.get(&id).copied(), "{id}");
        assert_eq!(rec.limit.as_ref(), limits.get(&id).copied(), "{id}");
        seen += 1;
    }
    assert!(seen >= queries.len());
    for q in queries.iter().take(50) {
        for rec in db.store.find_by_card(q).await.unwrap() {
            let id = rec.qualification.id;
            assert_eq!(rec.elderly.as_ref(), elderly.get(&id).copied(), "{id}");
            assert_eq!(rec.limit.as_ref(), limits.get(&id).copied(), "{id}");
        }
    }
}
