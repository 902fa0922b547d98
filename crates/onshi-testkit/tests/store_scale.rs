//! Issue 7 at the store level: the resumable bulk load, monthly partitions of the history
//! and the audit trail (PostgreSQL), and retention with the audit chain checkpoint. On
//! SQLite and (ONSHI_TEST_BACKEND=postgres) on PostgreSQL.
#![allow(clippy::unwrap_used)]

use onshi_central::scale_load::{LoadOptions, load_resumable};
use onshi_core::date::JstDateTime;
use onshi_store::scale::month_start;
use onshi_store::{AuditEntry, Store, VerificationRecord};
use onshi_testkit::{SEED, test_db, test_now, test_today, testing_postgres};

fn options(people: usize) -> LoadOptions {
    LoadOptions {
        seed: SEED,
        people,
        today: test_today(),
        medical_every: 7,
        cards: true,
        history: true,
        defer_indexes: true,
        stop_after_chunks: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_load_resumes_without_duplicates_and_counts_are_exact() {
    // A few thousand people a chunk: 12,000 people are several chunks.
    let people = 12_000;
    let reference = test_db().await;
    let full = load_resumable(&reference.store, &options(people), |_| {})
        .await
        .unwrap();
    assert!(full.completed);
    let chunks = full.progress.chunks_loaded;
    assert!(chunks >= 3, "{chunks} chunks");
    let expected = reference.store.table_counts().await.unwrap();
    let count = |c: &[(&str, i64)], t: &str| c.iter().find(|(n, _)| *n == t).unwrap().1;
    assert_eq!(count(&expected, "person"), full.summary.persons as i64);
    assert_eq!(
        count(&expected, "qualification"),
        full.summary.qualifications as i64
    );
    assert!(count(&expected, "card_certificate") > people as i64 * 7 / 10);
    assert!(count(&expected, "verification") > people as i64 / 8);
    assert!(count(&expected, "claim_drug") > 0);
    let total_rows: i64 = expected
        .iter()
        .filter(|(t, _)| *t != "load_chunk")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(full.progress.rows, total_rows);

    // Sparse histories (every 7th person) are found by seeking, not by probing each id.
    let since = onshi_core::Ymd::from_ymd(2000, 1, 1).unwrap();
    let first_with = reference
        .store
        .next_person_with_drugs(1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_with % 7, 0, "{first_with}");
    assert!(
        !reference
            .store
            .drugs(first_with, since)
            .await
            .unwrap()
            .is_empty()
    );
    for id in 1..first_with {
        assert!(reference.store.drugs(id, since).await.unwrap().is_empty());
    }
    let next = reference
        .store
        .next_person_with_drugs(first_with + 1)
        .await
        .unwrap()
        .unwrap();
    assert!(next > first_with && next % 7 == 0, "{next}");
    assert_eq!(
        reference
            .store
            .next_person_with_drugs(i64::MAX / 2)
            .await
            .unwrap(),
        None
    );

    // The same load, "killed" after one chunk, then after one more, then run to the end.
    let db = test_db().await;
    let mut opts = options(people);
    opts.stop_after_chunks = Some(1);
    let first = load_resumable(&db.store, &opts, |_| {}).await.unwrap();
    assert!(!first.completed);
    assert_eq!(db.store.loaded_chunks().await.unwrap(), vec![0]);
    let second = load_resumable(&db.store, &opts, |_| {}).await.unwrap();
    assert!(!second.completed);
    assert_eq!(second.progress.chunks_skipped, 1);
    assert_eq!(db.store.loaded_chunks().await.unwrap(), vec![0, 1]);
    opts.stop_after_chunks = None;
    let last = load_resumable(&db.store, &opts, |_| {}).await.unwrap();
    assert!(last.completed);
    assert_eq!(last.progress.chunks_skipped, 2);
    assert_eq!(last.progress.chunks_loaded, chunks - 2);
    assert_eq!(last.summary.persons, full.summary.persons);
    assert_eq!(db.store.table_counts().await.unwrap(), expected);
    assert_eq!(
        first.progress.rows + second.progress.rows + last.progress.rows,
        total_rows
    );
    let run = db.store.load_run().await.unwrap().unwrap();
    assert!(run.finished);

    // The deferred indexes are back: a check by card data finds people again.
    let sample = &full.summary.samples[0];
    let q = onshi_store::CardQuery {
        insurer_number: sample.insurer_number.clone(),
        symbol_norm: onshi_core::text::normalize_card_text(&sample.symbol),
        number_norm: onshi_core::text::normalize_card_text(&sample.number),
        branch: None,
        birthdate: onshi_core::date::Ymd::parse(&sample.birthdate).unwrap(),
    };
    assert!(!db.store.find_by_card(&q).await.unwrap().is_empty());

    // A rerun of a finished load adds nothing; other parameters are refused.
    let again = load_resumable(&db.store, &options(people), |_| {})
        .await
        .unwrap();
    assert_eq!(again.progress.chunks_loaded, 0);
    assert_eq!(db.store.table_counts().await.unwrap(), expected);
    assert!(
        load_resumable(&db.store, &options(people + 1), |_| {})
            .await
            .is_err()
    );
}

fn clinic() -> String {
    onshi_synth::facilities(SEED)[0].code.as_str().to_string()
}

fn check_at(at: JstDateTime, n: u32) -> VerificationRecord {
    VerificationRecord::new(&format!("req-{n}"), &clinic(), at, "2")
}

fn audit_at(at: JstDateTime, n: i64) -> AuditEntry {
    AuditEntry {
        at,
        facility_code: clinic(),
        account: "doctor".into(),
        person_id: Some(n),
        kind: "view".into(),
        information: "YZK".into(),
        basis: "consent".into(),
        outcome: "allowed".into(),
        detail: String::new(),
    }
}

fn jst(s: &str) -> JstDateTime {
    JstDateTime::parse_wire(s).unwrap()
}

async fn partition_of(store: &Store, table: &str) -> Vec<(String, i64)> {
    store.partition_counts(table).await.unwrap()
}

#[tokio::test]
async fn history_and_audit_rows_land_in_their_month_and_a_month_without_a_partition_loses_nothing()
{
    let db = test_db().await;
    let s = &db.store;
    // The clock moves across the end of November 2026 (JST).
    s.ensure_partitions(jst("20261130120000"), 1).await.unwrap();
    let before = JstDateTime::from_unix_micros(jst("20261201000000").unix_micros() - 1);
    let after = jst("20261201000000");
    s.record_verification(check_at(before, 1)).await.unwrap();
    s.record_verification(check_at(after, 2)).await.unwrap();
    s.record_audit(audit_at(before, 1)).await.unwrap();
    s.record_audit(audit_at(after, 2)).await.unwrap();
    // May 2031 has no partition: the rows go to the default one and are kept.
    let far = jst("20310515093000");
    s.record_verification(check_at(far, 3)).await.unwrap();
    s.record_audit(audit_at(far, 3)).await.unwrap();
    assert_eq!(
        s.count(onshi_store::CountedTable::Verification)
            .await
            .unwrap(),
        3
    );
    if testing_postgres() {
        assert_eq!(
            partition_of(s, "verification").await,
            vec![
                ("verification_default".to_string(), 1),
                ("verification_y2026m11".to_string(), 1),
                ("verification_y2026m12".to_string(), 1),
            ]
        );
        assert_eq!(
            partition_of(s, "audit_log").await,
            vec![
                ("audit_log_default".to_string(), 1),
                ("audit_log_y2026m11".to_string(), 1),
                ("audit_log_y2026m12".to_string(), 1),
            ]
        );
        // Making the partitions later (central does it hourly) moves the rows out of the
        // default partition into their month.
        let made = s.ensure_partitions(jst("20261201000000"), 0).await.unwrap();
        assert!(
            made.contains(&"verification_y2031m05".to_string()),
            "{made:?}"
        );
        assert!(made.contains(&"audit_log_y2031m05".to_string()), "{made:?}");
        assert_eq!(
            partition_of(s, "verification").await,
            vec![
                ("verification_y2026m11".to_string(), 1),
                ("verification_y2026m12".to_string(), 1),
                ("verification_y2031m05".to_string(), 1),
            ]
        );
        assert_eq!(
            partition_of(s, "audit_log").await[2],
            ("audit_log_y2031m05".to_string(), 1)
        );
    }
    // The facility's history by period still reads across partitions.
    let rows = s
        .verifications(
            &onshi_core::ids::MedicalInstitutionCode::parse(&clinic()).unwrap(),
            jst("20261101000000"),
            jst("20320101000000"),
            10,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].request_id, "req-3");
    let (head, _, problem) = s.verify_audit(None).await.unwrap();
    assert_eq!((head, problem), (3, None));
}

#[tokio::test]
async fn retention_removes_old_months_and_the_audit_chain_still_verifies() {
    let db = test_db().await;
    let s = &db.store;
    let now = test_now(); // 2026-11-23
    // Two rows in each of the four months August–November 2026.
    s.ensure_partitions(jst("20260801000000"), 4).await.unwrap();
    let mut n = 0;
    for month in -3..=0 {
        let start = month_start(now, month);
        for k in 0..2 {
            n += 1;
            let at = start.add_seconds(86_400 * (3 + k));
            s.record_verification(check_at(at, n as u32)).await.unwrap();
            s.record_audit(audit_at(at, n)).await.unwrap();
        }
    }
    let (head_before, hash_before, problem) = s.verify_audit(None).await.unwrap();
    assert_eq!((head_before, problem), (8, None));

    // Keep one whole month before the current one (October; November is current):
    // August and September go.
    let report = s.retention(now, 1, false).await.unwrap();
    assert_eq!(report.cutoff, month_start(now, -1).unix_micros());
    assert_eq!(report.verification_rows, 4);
    assert_eq!(report.audit_rows, 4);
    let (cp_seq, _) = report.checkpoint.clone().unwrap();
    assert_eq!(cp_seq, 4);
    if testing_postgres() {
        let mut detached = report.partitions.clone();
        detached.sort();
        assert_eq!(
            detached,
            vec![
                "audit_log_y2026m08",
                "audit_log_y2026m09",
                "verification_y2026m08",
                "verification_y2026m09"
            ]
        );
        let left: Vec<String> = s
            .partitions("audit_log")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert!(
            !left
                .iter()
                .any(|p| p.ends_with("m08") || p.ends_with("m09"))
        );
    }
    assert_eq!(
        s.count(onshi_store::CountedTable::Verification)
            .await
            .unwrap(),
        4
    );
    assert_eq!(s.audit_checkpoint().await.unwrap(), report.checkpoint);
    // The kept chain verifies from the checkpoint, with the same head, and the head kept
    // before the retention still matches.
    let (head, hash, problem) = s.verify_audit(None).await.unwrap();
    assert_eq!((head, &hash, problem), (8, &hash_before, None));
    let (_, _, problem) = s
        .verify_audit(Some((8, hash_before.clone())))
        .await
        .unwrap();
    assert_eq!(problem, None);
    // Appending continues the chain.
    s.record_audit(audit_at(now, 99)).await.unwrap();
    let (head, _, problem) = s.verify_audit(None).await.unwrap();
    assert_eq!((head, problem), (9, None));

    // A second run removes nothing and keeps the checkpoint.
    let again = s.retention(now, 1, true).await.unwrap();
    assert_eq!((again.verification_rows, again.audit_rows), (0, 0));
    assert_eq!(s.audit_checkpoint().await.unwrap(), report.checkpoint);
    // One more month (only the current one is kept), dropped this time.
    let third = s.retention(now, 0, true).await.unwrap();
    assert_eq!((third.verification_rows, third.audit_rows), (2, 2));
    assert_eq!(third.checkpoint.as_ref().unwrap().0, 6);
    let (head, _, problem) = s.verify_audit(None).await.unwrap();
    assert_eq!((head, problem), (9, None));
}
