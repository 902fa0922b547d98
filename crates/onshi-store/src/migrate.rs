//! Migrations, one folder per backend with the same names (a test keeps them in step).
//!
//! On SQLite a migration `N` has a main part (`N.sql`, applied to `central.sqlite`) and
//! optionally a history part (`N.history.sql`, applied to the attached history file);
//! each file records what it has applied in its own `schema_migrations` table. On
//! PostgreSQL, `N.sql` holds both parts. Each part is applied in one transaction.

pub struct SqliteMigration {
    pub name: &'static str,
    pub main: &'static str,
    pub history: Option<&'static str>,
}

pub const MIGRATION_NAMES: &[&str] = &[
    "0001_init",
    "0002_cards",
    "0003_card_use",
    "0004_reference_bulk",
    "0005_consent",
    "0006_medical",
    "0007_insurer",
    "0008_scale",
    "0009_revoked_cards",
    "0010_consent_list",
    "0011_consent_person",
    "0012_certificate_flags",
];

pub(crate) const SQLITE: &[SqliteMigration] = &[
    SqliteMigration {
        name: "0001_init",
        main: include_str!("../migrations/sqlite/0001_init.sql"),
        history: Some(include_str!("../migrations/sqlite/0001_init.history.sql")),
    },
    SqliteMigration {
        name: "0002_cards",
        main: include_str!("../migrations/sqlite/0002_cards.sql"),
        history: Some(include_str!("../migrations/sqlite/0002_cards.history.sql")),
    },
    SqliteMigration {
        name: "0003_card_use",
        main: include_str!("../migrations/sqlite/0003_card_use.sql"),
        history: Some(include_str!(
            "../migrations/sqlite/0003_card_use.history.sql"
        )),
    },
    SqliteMigration {
        name: "0004_reference_bulk",
        main: include_str!("../migrations/sqlite/0004_reference_bulk.sql"),
        history: Some(include_str!(
            "../migrations/sqlite/0004_reference_bulk.history.sql"
        )),
    },
    SqliteMigration {
        name: "0005_consent",
        main: include_str!("../migrations/sqlite/0005_consent.sql"),
        history: Some(include_str!(
            "../migrations/sqlite/0005_consent.history.sql"
        )),
    },
    SqliteMigration {
        name: "0006_medical",
        main: include_str!("../migrations/sqlite/0006_medical.sql"),
        history: Some(include_str!(
            "../migrations/sqlite/0006_medical.history.sql"
        )),
    },
    SqliteMigration {
        name: "0007_insurer",
        main: include_str!("../migrations/sqlite/0007_insurer.sql"),
        history: None,
    },
    SqliteMigration {
        name: "0008_scale",
        main: include_str!("../migrations/sqlite/0008_scale.sql"),
        history: Some(include_str!("../migrations/sqlite/0008_scale.history.sql")),
    },
    SqliteMigration {
        name: "0009_revoked_cards",
        main: include_str!("../migrations/sqlite/0009_revoked_cards.sql"),
        history: None,
    },
    SqliteMigration {
        name: "0010_consent_list",
        main: include_str!("../migrations/sqlite/0010_consent_list.sql"),
        history: Some(include_str!(
            "../migrations/sqlite/0010_consent_list.history.sql"
        )),
    },
    SqliteMigration {
        name: "0011_consent_person",
        main: include_str!("../migrations/sqlite/0011_consent_person.sql"),
        history: Some(include_str!(
            "../migrations/sqlite/0011_consent_person.history.sql"
        )),
    },
    SqliteMigration {
        name: "0012_certificate_flags",
        main: include_str!("../migrations/sqlite/0012_certificate_flags.sql"),
        history: None,
    },
];

pub(crate) const POSTGRES: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_cards",
        include_str!("../migrations/postgres/0002_cards.sql"),
    ),
    (
        "0003_card_use",
        include_str!("../migrations/postgres/0003_card_use.sql"),
    ),
    (
        "0004_reference_bulk",
        include_str!("../migrations/postgres/0004_reference_bulk.sql"),
    ),
    (
        "0005_consent",
        include_str!("../migrations/postgres/0005_consent.sql"),
    ),
    (
        "0006_medical",
        include_str!("../migrations/postgres/0006_medical.sql"),
    ),
    (
        "0007_insurer",
        include_str!("../migrations/postgres/0007_insurer.sql"),
    ),
    (
        "0008_scale",
        include_str!("../migrations/postgres/0008_scale.sql"),
    ),
    (
        "0009_revoked_cards",
        include_str!("../migrations/postgres/0009_revoked_cards.sql"),
    ),
    (
        "0010_consent_list",
        include_str!("../migrations/postgres/0010_consent_list.sql"),
    ),
    (
        "0011_consent_person",
        include_str!("../migrations/postgres/0011_consent_person.sql"),
    ),
    (
        "0012_certificate_flags",
        include_str!("../migrations/postgres/0012_certificate_flags.sql"),
    ),
];

/// The bookkeeping table; `{schema}` is `main` or `history` on SQLite, `public` on PostgreSQL.
pub(crate) fn create_table(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
    )
}

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migrations() {
        let names = |dir: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .expect("migrations folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".history.sql"))
                .collect();
            v.sort();
            v
        };
        let base = env!("CARGO_MANIFEST_DIR");
        let sqlite = names(&format!("{base}/migrations/sqlite"));
        let postgres = names(&format!("{base}/migrations/postgres"));
        assert_eq!(sqlite, postgres);
        let listed: Vec<String> = super::MIGRATION_NAMES
            .iter()
            .map(|n| format!("{n}.sql"))
            .collect();
        assert_eq!(sqlite, listed);
        let sqlite_listed: Vec<&str> = super::SQLITE.iter().map(|m| m.name).collect();
        let pg_listed: Vec<&str> = super::POSTGRES.iter().map(|m| m.0).collect();
        assert_eq!(sqlite_listed, super::MIGRATION_NAMES);
        assert_eq!(pg_listed, super::MIGRATION_NAMES);
    }
}
