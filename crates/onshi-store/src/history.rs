//! 資格確認履歴照会: a facility's own verification history, searched by period, a page at
//! a time, with the patient's name, and one entry by its id.
//!
//! Pages are keyset pages on `(checked_at, id)`, newest first, through the
//! `verification (facility_code, checked_at)` index: a page costs the same wherever it is
//! in the period, and rows written meanwhile never shift a page. Every query names the
//! facility, so one facility can never read another's rows (not even by guessing an id).

use crate::pg::PgStore;
use crate::rows::{self, Cols};
use crate::sqlite::SqliteStore;
use crate::{Backend, Result, Store, VerificationRecord, blocking};
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;
use rusqlite::params;

/// Most rows one page may ask for.
pub const MAX_HISTORY_PAGE: i64 = 200;

/// One history row, with the name of the person it found (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub id: i64,
    pub record: VerificationRecord,
    pub name: Option<String>,
    pub name_kana: Option<String>,
    /// For a card check, the consents the patient then gave at the reader (OQSCD036
    /// codes, comma-separated), if any.
    pub card_consents: Option<String>,
}

/// Where a page starts: strictly older than this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    pub checked_at: JstDateTime,
    pub id: i64,
}

macro_rules! history_select {
    () => {
        "SELECT v.request_id, v.facility_code, v.checked_at, v.confirmation_date, v.reference_classification, \
         v.insurer_number, v.symbol, v.number, v.branch, v.birthdate, v.arbitrary_file_identifier, \
         v.processing_status, v.error_code, v.validity, v.person_id, v.qualification_id, v.identity_method, \
         v.card_serial, v.card_profile, v.consents, v.id, p.name, p.name_kana, c.information \
         FROM verification v LEFT JOIN person p ON p.id = v.person_id \
         LEFT JOIN card_consent c ON c.check_request_id = v.request_id AND c.facility_code = v.facility_code "
    };
}

/// `$1` facility, `[$2, $3)` the period, `($4, $5)` the cursor (`checked_at`, `id`), `$6`
/// the page size. The first page passes a cursor past the period's end. `checked_at <= $4`
/// is spelled out so that the index range starts at the cursor, not at the period's end.
const HISTORY_PAGE: &str = concat!(
    history_select!(),
    "WHERE v.facility_code = $1 AND v.checked_at >= $2 AND v.checked_at < $3 \
     AND v.checked_at <= $4 AND (v.checked_at < $4 OR v.id < $5) \
     ORDER BY v.checked_at DESC, v.id DESC LIMIT $6"
);

const HISTORY_ENTRY: &str = concat!(
    history_select!(),
    "WHERE v.id = $1 AND v.facility_code = $2"
);

fn entry<R: rows::Row>(row: &R) -> Result<HistoryEntry> {
    let record = rows::verification(row)?;
    let c = Cols { row };
    Ok(HistoryEntry {
        id: c.int(20)?,
        record,
        name: c.opt_text(21)?,
        name_kana: c.opt_text(22)?,
        card_consents: c.opt_text(23)?,
    })
}

fn cursor_or_end(cursor: Option<HistoryCursor>, to: JstDateTime) -> (i64, i64) {
    cursor.map_or((to.unix_micros(), i64::MAX), |c| {
        (c.checked_at.unix_micros(), c.id)
    })
}

impl SqliteStore {
    fn history_page(
        &self,
        facility: &str,
        from: JstDateTime,
        to: JstDateTime,
        cursor: Option<HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>> {
        let (at, id) = cursor_or_end(cursor, to);
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(HISTORY_PAGE)?;
        let mut rs = stmt.query(params![
            facility,
            from.unix_micros(),
            to.unix_micros(),
            at,
            id,
            limit
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rs.next()? {
            out.push(entry(r)?);
        }
        Ok(out)
    }

    fn history_entry(&self, facility: &str, id: i64) -> Result<Option<HistoryEntry>> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(HISTORY_ENTRY)?;
        let mut rs = stmt.query(params![id, facility])?;
        match rs.next()? {
            Some(r) => Ok(Some(entry(r)?)),
            None => Ok(None),
        }
    }
}

impl PgStore {
    async fn history_page(
        &self,
        facility: &str,
        from: JstDateTime,
        to: JstDateTime,
        cursor: Option<HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>> {
        let (at, id) = cursor_or_end(cursor, to);
        let client = self.client().await?;
        let stmt = client.prepare_cached(HISTORY_PAGE).await?;
        let rs = client
            .query(
                &stmt,
                &[
                    &facility,
                    &from.unix_micros(),
                    &to.unix_micros(),
                    &at,
                    &id,
                    &limit,
                ],
            )
            .await?;
        rs.iter().map(entry).collect()
    }

    async fn history_entry(&self, facility: &str, id: i64) -> Result<Option<HistoryEntry>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(HISTORY_ENTRY).await?;
        let rs = client.query(&stmt, &[&id, &facility]).await?;
        rs.first().map(entry).transpose()
    }
}

impl Store {
    /// One page of a facility's history in `[from, to)`, newest first, starting after
    /// `cursor` (the last row of the previous page). `limit` is capped at
    /// [`MAX_HISTORY_PAGE`].
    pub async fn history_page(
        &self,
        facility: &MedicalInstitutionCode,
        from: JstDateTime,
        to: JstDateTime,
        cursor: Option<HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let f = facility.as_str().to_string();
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.history_page(&f, from, to, cursor, limit)).await
            }
            Backend::Postgres(p) => p.history_page(&f, from, to, cursor, limit).await,
        }
    }

    /// One row of the facility's history; `None` for an unknown id or another
    /// facility's row (alike).
    pub async fn history_entry(
        &self,
        facility: &MedicalInstitutionCode,
        id: i64,
    ) -> Result<Option<HistoryEntry>> {
        let f = facility.as_str().to_string();
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.history_entry(&f, id)).await
            }
            Backend::Postgres(p) => p.history_entry(&f, id).await,
        }
    }
}
