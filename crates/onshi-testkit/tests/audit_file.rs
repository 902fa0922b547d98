//! SQLite: the audit chain lives in its own file (`central-audit.sqlite`); a database made
//! before (the chain in the history file) has its chain moved over on open, unchanged.
#![allow(clippy::unwrap_used)]

use onshi_core::date::JstDateTime;
use onshi_store::{AuditEntry, Store};

fn entry(n: i64) -> AuditEntry {
    AuditEntry {
        at: JstDateTime::from_unix_micros(1_700_000_000_000_000 + n),
        facility_code: "1310000017".into(),
        account: "003".into(),
        person_id: Some(n),
        kind: "view".into(),
        information: "YZK".into(),
        basis: "consent".into(),
        outcome: "allowed".into(),
        detail: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_chain_in_the_history_file_is_moved_to_the_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("central.sqlite");
    {
        let store = Store::open(main.to_str().unwrap()).await.unwrap();
        for n in 1..=5 {
            assert_eq!(store.record_audit(entry(n)).await.unwrap(), n);
        }
    }
    assert!(onshi_store::sqlite_audit_path(&main).exists());
    // Let the dropped store's threads close their connections.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // Put the chain back where earlier versions kept it.
    {
        let conn = rusqlite::Connection::open(&main).unwrap();
        for (path, name) in [
            (onshi_store::sqlite_history_path(&main), "history"),
            (onshi_store::sqlite_audit_path(&main), "audit"),
        ] {
            conn.execute(
                &format!("ATTACH DATABASE $1 AS {name}"),
                [path.to_string_lossy().into_owned()],
            )
            .unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE history.audit_log AS SELECT * FROM audit.audit_log;
             DROP TABLE audit.audit_log;",
        )
        .unwrap();
    }
    let store = Store::open(main.to_str().unwrap()).await.unwrap();
    let (head, _, problem) = store.verify_audit(None).await.unwrap();
    assert_eq!((head, problem), (5, None), "moved with its hashes");
    assert_eq!(
        store.record_audit(entry(6)).await.unwrap(),
        6,
        "the chain goes on"
    );
    assert_eq!(store.verify_audit(None).await.unwrap().2, None);
    let rows = store.audit_of_person(3, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let history = rusqlite::Connection::open(onshi_store::sqlite_history_path(&main)).unwrap();
    let left: i64 = history
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_log'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the history file no longer holds the chain");
}
