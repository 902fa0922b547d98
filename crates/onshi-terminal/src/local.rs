//! The terminal's own small database (`DIR/terminal-{code}.sqlite`): the facility's
//! settings today; caches and the outage queue later.
//!
//! Schema changes go through [`MIGRATIONS`], applied in order and recorded in
//! `schema_migrations`; add a table by appending an entry, never by editing an applied one.

use onshi_wire::Encoding;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Ordered schema steps: (name, SQL). Applied once each, in this order.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_settings",
        "CREATE TABLE setting (
         key   TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );",
    ),
    (
        // Staff screens (crate::staff): accounts with argon2 hashes and their lock-out
        // state, sessions (times in unix microseconds of the terminal's clock; `ended` is
        // NULL while open, else logout / idle / forced), and logins waiting for the
        // 「強制的にログインしますか？」 answer.
        "0002_staff",
        "CREATE TABLE staff_account (
         id            TEXT PRIMARY KEY,
         role          TEXT NOT NULL,
         password_hash TEXT NOT NULL,
         failures      INTEGER NOT NULL DEFAULT 0,
         locked_until  INTEGER
     );
     CREATE TABLE staff_session (
         token     TEXT PRIMARY KEY,
         account   TEXT NOT NULL,
         csrf      TEXT NOT NULL,
         started   INTEGER NOT NULL,
         last_seen INTEGER NOT NULL,
         ended     TEXT
     );
     CREATE INDEX staff_session_account ON staff_session (account);
     CREATE TABLE staff_pending (
         token   TEXT PRIMARY KEY,
         account TEXT NOT NULL,
         created INTEGER NOT NULL
     );",
    ),
    (
        // 一括照会 uploaded from the staff screens (crate::staff::bulk): central keeps the
        // job and its results; the terminal remembers which uploads were its own.
        "0003_staff_bulk",
        "CREATE TABLE staff_bulk (
         reception   TEXT PRIMARY KEY,
         uploaded_at INTEGER NOT NULL,
         account     TEXT NOT NULL,
         file_name   TEXT NOT NULL,
         patients    INTEGER NOT NULL
     );",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("local database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("local database: {0}")]
    Poisoned(&'static str),
}

/// Which consent screens the kiosk shows (the facility's choice; each `true` = shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ConsentScreens {
    /// 薬剤情報.
    pub pharmacists: bool,
    /// 特定健診情報 (shown to patients aged 40 and over only).
    pub specific_health_checkups: bool,
    /// 診療情報.
    pub diagnosis: bool,
    /// 手術情報.
    pub operation: bool,
    /// 限度額情報 (「高額療養費制度を利用する方」).
    pub limit: bool,
    /// 特定疾病療養受療証情報.
    pub specific_diseases: bool,
}

impl Default for ConsentScreens {
    /// What the readers ship with (`domain.md` §5.1): 薬剤 and 特定健診 on, 診療 and 手術
    /// off; 限度額 and 特定疾病 on, since 高額療養費 matters to the patient at the counter.
    fn default() -> Self {
        ConsentScreens {
            pharmacists: true,
            specific_health_checkups: true,
            diagnosis: false,
            operation: false,
            limit: true,
            specific_diseases: true,
        }
    }
}

/// The kiosk's settings as staff set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KioskSettings {
    pub consent_screens: ConsentScreens,
    /// 目視 mode: staff confirm the patient's face against the card instead of face or PIN.
    pub visual_mode: bool,
    /// Encoding of the face-result files.
    pub face_encoding: Encoding,
}

impl Default for KioskSettings {
    fn default() -> Self {
        KioskSettings {
            consent_screens: ConsentScreens::default(),
            visual_mode: false,
            face_encoding: Encoding::Utf8,
        }
    }
}

const CONSENT_SCREENS: &str = "kiosk.consent_screens";
const VISUAL_MODE: &str = "kiosk.visual_mode";
const FACE_ENCODING: &str = "kiosk.face_encoding";

pub struct LocalDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl LocalDb {
    /// Opens (creating if needed) and migrates.
    pub fn open(path: &Path) -> Result<Self, LocalError> {
        let err = |source| LocalError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        migrate(&mut conn).map_err(err)?;
        Ok(LocalDb {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection (for modules that add their own tables).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LocalError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| LocalError::Poisoned("connection lock"))?;
        f(&conn).map_err(|source| LocalError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn get(&self, key: &str) -> Result<Option<String>, LocalError> {
        self.with(|c| {
            c.query_row("SELECT value FROM setting WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    fn put(&self, key: &str, value: &str) -> Result<(), LocalError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO setting (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
        })
    }

    /// The settings; defaults for whatever was never set (or cannot be read).
    pub fn kiosk_settings(&self) -> Result<KioskSettings, LocalError> {
        let d = KioskSettings::default();
        let consent_screens = self
            .get(CONSENT_SCREENS)?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or(d.consent_screens);
        let visual_mode = self.get(VISUAL_MODE)?.map_or(d.visual_mode, |v| v == "1");
        let face_encoding = self
            .get(FACE_ENCODING)?
            .and_then(|v| Encoding::from_label(&v))
            .unwrap_or(d.face_encoding);
        Ok(KioskSettings {
            consent_screens,
            visual_mode,
            face_encoding,
        })
    }

    pub fn set_consent_screens(&self, screens: &ConsentScreens) -> Result<(), LocalError> {
        let json = serde_json::to_string(screens).unwrap_or_else(|_| "{}".into());
        self.put(CONSENT_SCREENS, &json)
    }

    pub fn set_visual_mode(&self, on: bool) -> Result<(), LocalError> {
        self.put(VISUAL_MODE, if on { "1" } else { "0" })
    }

    pub fn set_face_encoding(&self, enc: Encoding) -> Result<(), LocalError> {
        self.put(FACE_ENCODING, enc.xml_label())
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             name       TEXT PRIMARY KEY,
             applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
         );",
    )?;
    for (name, sql) in MIGRATIONS {
        let tx = conn.transaction()?;
        let done: Option<String> = tx
            .query_row(
                "SELECT name FROM schema_migrations WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_none() {
            tx.execute_batch(sql)?;
            tx.execute("INSERT INTO schema_migrations (name) VALUES (?1)", [name])?;
        }
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn settings_survive_reopening_and_migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("terminal.sqlite");
        let db = LocalDb::open(&path).unwrap();
        assert_eq!(db.kiosk_settings().unwrap(), KioskSettings::default());
        let screens = ConsentScreens {
            diagnosis: true,
            limit: false,
            ..ConsentScreens::default()
        };
        db.set_consent_screens(&screens).unwrap();
        db.set_visual_mode(true).unwrap();
        db.set_face_encoding(Encoding::ShiftJis).unwrap();
        drop(db);
        let db = LocalDb::open(&path).unwrap();
        let s = db.kiosk_settings().unwrap();
        assert_eq!(s.consent_screens, screens);
        assert!(s.visual_mode);
        assert_eq!(s.face_encoding, Encoding::ShiftJis);
        let applied: i64 = db
            .with(|c| c.query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(applied, MIGRATIONS.len() as i64);
    }
}
