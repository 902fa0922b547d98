//! System-failure mode (システム障害時モード): what the terminal does while central cannot
//! be reached, and how it catches up afterwards.
//!
//! - Every answer central gives is remembered as the patient's *last known*
//!   qualification, keyed by the insurance-card data and by the card's certificate serial.
//! - While central is down, a check is still accepted: the terminal answers from the last
//!   known qualification, marked as such (`ProcessingResultCode` ONS0190), or says that
//!   nothing is known and the 被保険者資格申立書 is needed (ONS9100); either way the
//!   check goes into the *outbox*.
//! - The [`Reconciler`] sends queued checks to central when it is back and writes the
//!   real results: file checks to `res/reconciled/` under the name the provisional answer
//!   had, kiosk checks as new face-result files. Retries back off exponentially with
//!   jitter, and the outbox is a SQLite file, so nothing queued is lost across a restart.
//!
//! Writing the real result beside, not over, the provisional one is our decision: a
//! receipt computer that pairs by name has already read (and usually removed) the
//! provisional file, and a second file under the same name would look like an answer to
//! a request it never sent again.

use onshi_central::client::{CentralClient, Connection};
use onshi_core::Clock;
use onshi_core::date::JstDateTime;
use onshi_core::text::normalize_card_text;
use onshi_wire::{Encoding, Limits, siquc01};
use rusqlite::{Connection as Db, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// 付帯 code of an answer given from the last known qualification.
pub const LAST_KNOWN_CODE: &str = "ONS0190";
/// Error code of a check that could not be answered at all while central was down.
pub const NOTHING_KNOWN_CODE: &str = "ONS9100";

#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    #[error("terminal database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The tables of the outbox, created if missing (part of the terminal's local database).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS last_known (
    key TEXT PRIMARY KEY,
    response_json BLOB NOT NULL,
    checked_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    target TEXT NOT NULL,
    encoding TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    reconciled_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (reconciled_at, next_attempt_at);
-- A check queued twice (the terminal stopped between queueing and answering) is one.
CREATE UNIQUE INDEX IF NOT EXISTS outbox_target ON outbox (target);
-- 被保険者資格申立書 items a patient entered at the kiosk for a queued check.
CREATE TABLE IF NOT EXISTS declaration (
    outbox_id INTEGER PRIMARY KEY REFERENCES outbox (id),
    items_json TEXT NOT NULL,
    declared_at INTEGER NOT NULL
);
";

/// The items of a 被保険者資格申立書 captured at the kiosk while central was down.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Declaration {
    /// 氏名.
    pub name: String,
    /// フリガナ.
    pub kana: String,
    /// 生年月日 (YYYYMMDD).
    pub birthdate: String,
    /// 性別: "1" 男, "2" 女.
    pub sex: String,
    /// 住所.
    pub address: String,
    /// 保険者名 or 保険者番号, as far as the patient knows it.
    pub insurer: String,
    /// 記号・番号, as far as the patient knows it.
    pub card_numbers: String,
}

/// What is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedKind {
    /// An `OQSsiquc01req` file: the payload is the request as it was written.
    FileCheck,
    /// A kiosk check signed while central was down: the payload is the JSON body of
    /// `POST /oqs/v1/card/deferred-check`.
    CardCheck,
}

impl QueuedKind {
    fn as_str(self) -> &'static str {
        match self {
            QueuedKind::FileCheck => "file",
            QueuedKind::CardCheck => "card",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(QueuedKind::FileCheck),
            "card" => Some(QueuedKind::CardCheck),
            _ => None,
        }
    }
}

/// One queued check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub kind: QueuedKind,
    pub payload: Vec<u8>,
    /// Where the real result goes, relative to the file-interface root.
    pub target: String,
    pub encoding: Encoding,
    pub accepted_at: JstDateTime,
    pub attempts: u32,
}

/// The last known answers and the queue, in the terminal's local SQLite.
pub struct Outbox {
    db: Mutex<Db>,
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Utf8 => "utf-8",
        Encoding::ShiftJis => "shift_jis",
    }
}

/// The key of the last known answer for insurance-card data.
pub fn insurance_key(search: &siquc01::SearchInfo) -> String {
    let n = |s: &str| normalize_card_text(s).trim().to_string();
    format!(
        "ins:{}|{}|{}|{}",
        n(&search.insurer_number),
        n(search.insured_card_symbol.as_deref().unwrap_or("")),
        n(&search.insured_identification_number),
        n(search.insured_branch_number.as_deref().unwrap_or("")),
    )
}

/// The key of the last known answer for a card (or smartphone) certificate.
pub fn card_key(serial_hex: &str) -> String {
    format!("card:{}", serial_hex.to_ascii_lowercase())
}

impl Outbox {
    pub fn open(path: &Path) -> Result<Self, OutageError> {
        let db = Db::open(path)?;
        db.busy_timeout(Duration::from_secs(5))?;
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        Self::on(db)
    }

    /// Uses an open connection (the terminal's local database).
    pub fn on(db: Db) -> Result<Self, OutageError> {
        db.execute_batch(SCHEMA)?;
        Ok(Outbox { db: Mutex::new(db) })
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers central's answer for `key`.
    pub fn remember(
        &self,
        key: &str,
        response: &siquc01::Response,
        at: JstDateTime,
    ) -> Result<(), OutageError> {
        self.db().execute(
            "INSERT INTO last_known (key, response_json, checked_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET response_json = excluded.response_json, \
             checked_at = excluded.checked_at",
            params![
                key,
                siquc01::encode_response_json(response),
                at.unix_micros()
            ],
        )?;
        Ok(())
    }

    /// The last answer central gave for `key`, and when.
    pub fn last_known(
        &self,
        key: &str,
    ) -> Result<Option<(siquc01::Response, JstDateTime)>, OutageError> {
        let row: Option<(Vec<u8>, i64)> = self
            .db()
            .query_row(
                "SELECT response_json, checked_at FROM last_known WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(json, at)| {
            siquc01::decode_response_json(&json, &Limits::default())
                .ok()
                .map(|r| (r, JstDateTime::from_unix_micros(at)))
        }))
    }

    /// Queues a check; returns its id.
    pub fn enqueue(
        &self,
        kind: QueuedKind,
        payload: &[u8],
        target: &str,
        encoding: Encoding,
        accepted_at: JstDateTime,
    ) -> Result<i64, OutageError> {
        let db = self.db();
        db.execute(
            "INSERT INTO outbox (kind, payload, target, encoding, accepted_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (target) DO NOTHING",
            params![
                kind.as_str(),
                payload,
                target,
                encoding_name(encoding),
                accepted_at.unix_micros()
            ],
        )?;
        Ok(
            db.query_row("SELECT id FROM outbox WHERE target = ?1", [target], |r| {
                r.get(0)
            })?,
        )
    }

    /// Keeps the 被保険者資格申立書 items entered for queued check `outbox_id`.
    pub fn declare(
        &self,
        outbox_id: i64,
        items: &Declaration,
        at: JstDateTime,
    ) -> Result<(), OutageError> {
        let json = serde_json::to_string(items).unwrap_or_default();
        self.db().execute(
            "INSERT INTO declaration (outbox_id, items_json, declared_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (outbox_id) DO UPDATE SET items_json = excluded.items_json",
            params![outbox_id, json, at.unix_micros()],
        )?;
        Ok(())
    }

    /// The declaration kept for queued check `outbox_id`.
    pub fn declaration(&self, outbox_id: i64) -> Result<Option<Declaration>, OutageError> {
        let json: Option<String> = self
            .db()
            .query_row(
                "SELECT items_json FROM declaration WHERE outbox_id = ?1",
                [outbox_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// Checks not yet reconciled whose next attempt is due at `now_ms` (Unix ms).
    pub fn due(&self, now_ms: i64, limit: i64) -> Result<Vec<Queued>, OutageError> {
        let db = self.db();
        let mut stmt = db.prepare_cached(
            "SELECT id, kind, payload, target, encoding, accepted_at, attempts FROM outbox \
             WHERE reconciled_at IS NULL AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![now_ms, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, payload, target, encoding, at, attempts) = row?;
            let Some(kind) = QueuedKind::parse(&kind) else {
                continue;
            };
            out.push(Queued {
                id,
                kind,
                payload,
                target,
                encoding: if encoding == "shift_jis" {
                    Encoding::ShiftJis
                } else {
                    Encoding::Utf8
                },
                accepted_at: JstDateTime::from_unix_micros(at),
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            });
        }
        Ok(out)
    }

    /// How many checks wait for central.
    pub fn pending(&self) -> Result<i64, OutageError> {
        Ok(self.db().query_row(
            "SELECT COUNT(*) FROM outbox WHERE reconciled_at IS NULL",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn mark_reconciled(&self, id: i64, at: JstDateTime) -> Result<(), OutageError> {
        self.db().execute(
            "UPDATE outbox SET reconciled_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, at.unix_micros()],
        )?;
        Ok(())
    }

    /// Pushes the next attempts of `ids` back by [`backoff`] of their attempt counts.
    pub fn retry_later(
        &self,
        ids: &[(i64, u32)],
        now_ms: i64,
        error: &str,
    ) -> Result<(), OutageError> {
        let db = self.db();
        for &(id, attempts) in ids {
            let wait = backoff(attempts + 1, jitter_unit());
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 \
                 WHERE id = ?1",
                params![
                    id,
                    now_ms + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
                    error
                ],
            )?;
        }
        Ok(())
    }
}

/// Exponential back-off with jitter: the n-th retry waits 0.5–1.5 × min(2ⁿ⁻¹ s, 60 s);
/// `unit` in [0, 1) picks the point in that range (so terminals that lost central at the
/// same moment do not all come back in the same millisecond).
pub fn backoff(attempt: u32, unit: f64) -> Duration {
    let base_ms = 1000u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(60_000);
    let factor = 0.5 + unit.clamp(0.0, 1.0);
    Duration::from_millis((base_ms as f64 * factor) as u64)
}

fn jitter_unit() -> f64 {
    rand::random::<f64>()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The provisional answer to a check while central is down: the last known answer
/// marked as such, or a refusal that says what to do.
pub fn provisional_answer(
    last: Option<(siquc01::Response, JstDateTime)>,
    echo: &siquc01::RequestHeader,
    now: JstDateTime,
) -> siquc01::Response {
    match last {
        Some((mut res, at)) => {
            res.header.process_execution_time = now.to_wire();
            res.header.qualification_confirmation_date =
                Some(echo.qualification_confirmation_date.clone());
            res.header.arbitrary_file_identifier = echo.arbitrary_file_identifier.clone();
            res.body.processing_result_code = Some(LAST_KNOWN_CODE.into());
            res.body.processing_result_message = Some(format!(
                "システム障害時モード：中央システムに接続できないため、前回確認時（{}）の資格情報を表示しています。復旧後に自動で再照会します。",
                display_time(at)
            ));
            res
        }
        None => {
            let mut res = siquc01::Response::refusal(
                now.to_wire(),
                NOTHING_KNOWN_CODE,
                "システム障害時モード：中央システムに接続できず、前回の資格情報もありません。被保険者資格申立書により受付してください。復旧後に自動で再照会します。"
                    .into(),
            );
            res.header.qualification_confirmation_date =
                Some(echo.qualification_confirmation_date.clone());
            res.header.medical_institution_code = Some(echo.medical_institution_code.clone());
            res.header.arbitrary_file_identifier = echo.arbitrary_file_identifier.clone();
            res
        }
    }
}

/// A kiosk check while central is down: the (unlocked) card signs an offline challenge,
/// the signed body is queued for `POST /oqs/v1/card/deferred-check` with `face_target`
/// (a face-result file name under the file-interface root) as the place of the real
/// result, and the provisional answer is the card's last known qualification (or the
/// advice to take a 被保険者資格申立書).
pub fn offline_card_check(
    outbox: &Outbox,
    card: &mut dyn onshi_pki::Card,
    facility: &onshi_core::ids::MedicalInstitutionCode,
    method: onshi_central::card_client::IdentityMethod,
    now: JstDateTime,
    face_target: &str,
    encoding: Encoding,
) -> Result<(i64, siquc01::Response), OfflineCardError> {
    let serial = serial_of(card)?;
    let body =
        onshi_central::card_client::offline_signed_body(card, facility.as_str(), now, method)?;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| OfflineCardError::Body(e.to_string()))?;
    // For the last known answer once the real one arrives (central ignores it).
    payload["serial"] = serde_json::Value::String(serial.clone());
    let id = outbox.enqueue(
        QueuedKind::CardCheck,
        payload.to_string().as_bytes(),
        face_target,
        encoding,
        now,
    )?;
    let echo = siquc01::RequestHeader {
        qualification_confirmation_date: now.date().to_wire(),
        medical_institution_code: facility.as_str().to_string(),
        arbitrary_file_identifier: None,
    };
    let mut answer = provisional_answer(outbox.last_known(&card_key(&serial))?, &echo, now);
    answer.header.reference_classification = Some("1".into());
    Ok((id, answer))
}

/// The serial of the card's authentication certificate (hex, lower case).
pub fn serial_of(card: &mut dyn onshi_pki::Card) -> Result<String, OfflineCardError> {
    let der = card.auth_certificate()?;
    onshi_pki::certificate_serial_hex(&der)
        .ok_or_else(|| OfflineCardError::Body("the card's certificate cannot be read".into()))
}

#[derive(Debug, thiserror::Error)]
pub enum OfflineCardError {
    #[error(transparent)]
    Outbox(#[from] OutageError),
    #[error(transparent)]
    Card(#[from] onshi_pki::CardError),
    #[error(transparent)]
    Client(#[from] onshi_central::card_client::CardClientError),
    #[error("offline check body: {0}")]
    Body(String),
}

/// `2026年11月23日 10時05分` style, for messages.
pub fn display_time(t: JstDateTime) -> String {
    let w = t.to_wire();
    if w.len() < 12 {
        return w;
    }
    format!(
        "{}年{}月{}日 {}時{}分",
        &w[0..4],
        w[4..6].trim_start_matches('0'),
        w[6..8].trim_start_matches('0'),
        &w[8..10],
        &w[10..12]
    )
}

/// What one reconciliation pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Written real results (paths).
    pub reconciled: Vec<PathBuf>,
    /// Checks still waiting (central still down).
    pub waiting: usize,
}

/// Sends queued checks to central once it answers again.
pub struct Reconciler {
    outbox: Arc<Outbox>,
    client: CentralClient,
    conn: Option<Connection>,
    root: PathBuf,
    clock: Arc<dyn Clock>,
}

impl Reconciler {
    pub fn new(
        outbox: Arc<Outbox>,
        client: CentralClient,
        root: impl Into<PathBuf>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Reconciler {
            outbox,
            client,
            conn: None,
            root: root.into(),
            clock,
        }
    }

    /// Runs passes until dropped; idles for `every` between passes.
    pub async fn run(mut self, every: Duration) {
        loop {
            match self.pass().await {
                Ok(p) if !p.reconciled.is_empty() => {
                    tracing::info!(
                        reconciled = p.reconciled.len(),
                        waiting = p.waiting,
                        "outbox reconciled"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox pass failed"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Sends every due check; stops at the first sign that central is still down and
    /// backs the rest off.
    pub async fn pass(&mut self) -> Result<Pass, OutageError> {
        let now = now_ms();
        let due = self.outbox.due(now, 500)?;
        let mut pass = Pass::default();
        for (i, item) in due.iter().enumerate() {
            match self.send(item).await {
                Some(body) => {
                    let path = self.write_result(item, &body)?;
                    self.outbox.mark_reconciled(item.id, self.clock.now())?;
                    pass.reconciled.push(path);
                }
                None => {
                    let rest: Vec<(i64, u32)> =
                        due[i..].iter().map(|q| (q.id, q.attempts)).collect();
                    self.outbox
                        .retry_later(&rest, now, "central could not be reached")?;
                    break;
                }
            }
        }
        pass.waiting = usize::try_from(self.outbox.pending()?).unwrap_or(0);
        Ok(pass)
    }

    async fn send(&mut self, item: &Queued) -> Option<Vec<u8>> {
        let (path, content_type) = match item.kind {
            QueuedKind::FileCheck => ("/oqs/v1/qualification", "application/xml"),
            QueuedKind::CardCheck => ("/oqs/v1/card/deferred-check", "application/json"),
        };
        for _ in 0..2 {
            if self.conn.is_none() {
                self.conn = self.client.connect().await.ok();
            }
            let conn = self.conn.as_mut()?;
            match conn
                .post_with_accept(path, content_type, "application/xml", item.payload.clone())
                .await
            {
                Ok(reply) if reply.status.as_u16() == 503 => return None,
                Ok(reply) => return Some(reply.body.to_vec()),
                Err(_) => self.conn = None,
            }
        }
        None
    }

    /// Writes central's answer where the queued check said, in its encoding, and
    /// remembers it as the last known answer.
    fn write_result(&self, item: &Queued, body: &[u8]) -> Result<PathBuf, OutageError> {
        let limits = Limits::default();
        let decoded = siquc01::decode_response_xml(body, &limits).ok();
        let bytes = match (&decoded, item.encoding) {
            (Some((res, enc)), want) if *enc != want => siquc01::encode_response_xml(res, want),
            _ => body.to_vec(),
        };
        if let Some((res, _)) = &decoded
            && res.header.segment_of_result == "1"
        {
            let key = match item.kind {
                QueuedKind::FileCheck => siquc01::decode_request_xml(&item.payload, &limits)
                    .ok()
                    .map(|(r, _)| insurance_key(&r.search)),
                QueuedKind::CardCheck => serde_json::from_slice::<serde_json::Value>(&item.payload)
                    .ok()
                    .and_then(|v| v.get("serial").and_then(|s| s.as_str()).map(card_key)),
            };
            if let Some(k) = key {
                self.outbox.remember(&k, res, self.clock.now())?;
            }
        }
        let path = self.root.join(&item.target);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| OutageError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        crate::files::write_atomically(&path, &bytes).map_err(|e| OutageError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_minute_with_jitter_around_it() {
        assert_eq!(backoff(1, 0.5), Duration::from_millis(1000));
        assert_eq!(backoff(2, 0.5), Duration::from_millis(2000));
        assert_eq!(backoff(3, 0.0), Duration::from_millis(2000));
        assert_eq!(backoff(3, 1.0), Duration::from_millis(6000));
        assert_eq!(backoff(30, 0.5), Duration::from_millis(60_000));
        assert_eq!(backoff(30, 1.0), Duration::from_millis(90_000));
    }

    #[test]
    fn insurance_keys_ignore_width_and_padding() {
        let a = siquc01::SearchInfo {
            insurer_number: "06139993".into(),
            insured_card_symbol: Some("１２".into()),
            insured_identification_number: "３４５".into(),
            insured_branch_number: Some("01".into()),
            ..Default::default()
        };
        let b = siquc01::SearchInfo {
            insurer_number: "06139993".into(),
            insured_card_symbol: Some("12".into()),
            insured_identification_number: "345".into(),
            insured_branch_number: Some("01".into()),
            ..Default::default()
        };
        assert_eq!(insurance_key(&a), insurance_key(&b));
    }

    #[test]
    fn the_outbox_survives_reopening_and_backs_off() {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("t.sqlite");
        let at = JstDateTime::from_unix_micros(1_700_000_000_000_000);
        let id = {
            let o = Outbox::open(&path).expect("open");
            o.enqueue(
                QueuedKind::FileCheck,
                b"<x/>",
                "res/reconciled/a.xml",
                Encoding::ShiftJis,
                at,
            )
            .expect("enqueue")
        };
        let o = Outbox::open(&path).expect("reopen");
        let due = o.due(0, 10).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, id);
        assert_eq!(due[0].encoding, Encoding::ShiftJis);
        o.retry_later(&[(id, 0)], 1_000, "down").expect("retry");
        assert!(o.due(1_000, 10).expect("due").is_empty(), "backed off");
        assert_eq!(o.due(1_000 + 1_600, 10).expect("due").len(), 1);
        o.mark_reconciled(id, at).expect("mark");
        assert_eq!(o.pending().expect("pending"), 0);
        assert!(o.due(i64::MAX / 2, 10).expect("due").is_empty());
    }
}
