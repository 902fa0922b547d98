//! Migrations, one folder per backend with the same file names (a test keeps them in step).
//! Applied in name order inside a transaction each, recorded in `schema_migrations`.

pub const MIGRATION_NAMES: &[&str] = &["0001_init"];

pub(crate) const SQLITE: &[(&str, &str)] = &[(
    "0001_init",
    include_str!("../migrations/sqlite/0001_init.sql"),
)];

pub(crate) const POSTGRES: &[(&str, &str)] = &[(
    "0001_init",
    include_str!("../migrations/postgres/0001_init.sql"),
)];

pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)";

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
        assert_eq!(super::SQLITE.len(), listed.len());
        assert_eq!(super::POSTGRES.len(), listed.len());
    }
}
