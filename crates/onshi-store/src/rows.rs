//! The SQL text shared by both backends and the mapping from a row to a record.
//!
//! Rows are read through the small [`Row`] trait so that one mapping function serves
//! rusqlite and tokio-postgres alike. Stored values are re-parsed into domain types; a
//! value that no longer parses is reported as [`StoreError::Corrupt`] rather than guessed.

use crate::{CardKey, ConsentRecord, QualificationRecord, Result, StoreError, VerificationRecord};
use onshi_core::burden::IncomeCategory;
use onshi_core::codes::*;
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::*;
use onshi_core::model::*;

pub(crate) const UPSERT_INSURER: &str = "INSERT INTO insurer (number, name, kind) VALUES ($1, $2, $3) \
     ON CONFLICT (number) DO UPDATE SET name = excluded.name, kind = excluded.kind";

pub(crate) const UPSERT_FACILITY: &str = "INSERT INTO facility (code, name, enabled, smartphone_enabled) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (code) DO UPDATE SET name = excluded.name, enabled = excluded.enabled, \
     smartphone_enabled = excluded.smartphone_enabled";

pub(crate) const FACILITY: &str =
    "SELECT code, name, enabled, smartphone_enabled FROM facility WHERE code = $1";

pub(crate) const SET_SMARTPHONE_ENABLED: &str =
    "UPDATE facility SET smartphone_enabled = $1 WHERE code = $2";

pub(crate) const SET_FACILITY_ENABLED: &str = "UPDATE facility SET enabled = $1 WHERE code = $2";

pub(crate) const INSERT_PERSON: &str = "INSERT INTO person (id, name, name_kana, birthdate, sex, address, post_number) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const INSERT_QUALIFICATION: &str = "INSERT INTO qualification (id, person_id, insurer_number, symbol, symbol_norm, number, number_norm, \
     branch, personal_family, insured_name, card_classification, qualification_date, disqualification_date, \
     reason_of_loss, successor_id, certificate_issuance_date, card_valid_from, card_valid_to, income, has_specific) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";

pub(crate) const INSERT_ELDERLY: &str = "INSERT INTO elderly_recipient (qualification_id, certificate_date, valid_start, valid_end, contribution_ratio) \
     VALUES ($1, $2, $3, $4, $5)";

/// Marks a qualification as holding a 高齢受給者証 (after [`INSERT_ELDERLY`] or an upsert).
pub(crate) const FLAG_ELDERLY: &str =
    "UPDATE qualification SET has_elderly = 1 WHERE id = $1 AND has_elderly = 0";

/// Marks a qualification as holding a 限度額適用認定証 (after [`INSERT_LIMIT`] or an upsert).
pub(crate) const FLAG_LIMIT: &str =
    "UPDATE qualification SET has_limit = 1 WHERE id = $1 AND has_limit = 0";

pub(crate) const INSERT_LIMIT: &str = "INSERT INTO limit_certificate (qualification_id, classification, flag, certificate_date, valid_start, valid_end, long_term_date) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const INSERT_SPECIFIC: &str = "INSERT INTO specific_disease (qualification_id, category, certificate_date, valid_start, valid_end, self_pay) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// The columns of a qualification with its person, insurer and certificates, shared by
/// the lookups below (mapped by [`qualification_record`]); [`qualification_joins`] names
/// the tables.
macro_rules! qualification_columns {
    () => {
        "q.id, q.person_id, q.insurer_number, q.symbol, q.number, q.branch, q.personal_family, \
         q.insured_name, q.card_classification, q.qualification_date, q.disqualification_date, q.reason_of_loss, \
         q.successor_id, q.certificate_issuance_date, q.card_valid_from, q.card_valid_to, q.income, q.has_specific, \
         p.name, p.name_kana, p.birthdate, p.sex, p.address, p.post_number, \
         i.name, i.kind, \
         e.certificate_date, e.valid_start, e.valid_end, e.contribution_ratio, \
         l.classification, l.flag, l.certificate_date, l.valid_start, l.valid_end, l.long_term_date"
    };
}

/// The joins after `qualification q` (see [`qualification_columns`]). The certificates
/// are joined only for a qualification whose flag says it has one: otherwise the key is
/// NULL, and neither backend descends an index for a NULL key (migration 0012).
macro_rules! qualification_joins {
    () => {
        " JOIN person p ON p.id = q.person_id \
         JOIN insurer i ON i.number = q.insurer_number \
         LEFT JOIN elderly_recipient e ON e.qualification_id = CASE WHEN q.has_elderly <> 0 THEN q.id END \
         LEFT JOIN limit_certificate l ON l.qualification_id = CASE WHEN q.has_limit <> 0 THEN q.id END "
    };
}

macro_rules! qualification_select {
    () => {
        concat!(
            "SELECT ",
            qualification_columns!(),
            " FROM qualification q",
            qualification_joins!()
        )
    };
}

/// The check-by-card-data lookup. `$5` = 1 when a branch was given, `$6` the branch.
pub(crate) const FIND_BY_CARD: &str = concat!(
    qualification_select!(),
    "WHERE q.insurer_number = $1 AND q.number_norm = $2 AND q.symbol_norm = $3 AND p.birthdate = $4 \
     AND (CAST($5 AS BIGINT) = 0 OR q.branch = $6) ORDER BY q.id"
);

/// The many-keys form of [`FIND_BY_CARD`] (bulk checks): the keys come in a CTE `k(i, ins,
/// num, sym, bd, br)` built per backend, `br` NULL when no branch was given; column 36 is
/// the key's index. `k` drives the join (CROSS JOIN keeps SQLite from reordering it).
macro_rules! find_by_cards {
    ($keys:literal) => {
        concat!(
            $keys,
            " SELECT ",
            qualification_columns!(),
            ", k.i FROM k CROSS JOIN qualification q",
            qualification_joins!(),
            "WHERE q.insurer_number = k.ins AND q.number_norm = k.num AND q.symbol_norm = k.sym \
             AND p.birthdate = k.bd AND (k.br IS NULL OR q.branch = k.br) ORDER BY k.i, q.id"
        )
    };
}

/// SQLite: the keys as one JSON array of `[ins, num, sym, bd, br]` in `$1`.
pub(crate) const FIND_BY_CARDS_SQLITE: &str = find_by_cards!(
    "WITH k AS (SELECT key AS i, json_extract(value, '$[0]') AS ins, json_extract(value, '$[1]') AS num, \
     json_extract(value, '$[2]') AS sym, json_extract(value, '$[3]') AS bd, json_extract(value, '$[4]') AS br \
     FROM json_each($1))"
);

/// PostgreSQL: the keys as parallel arrays.
pub(crate) const FIND_BY_CARDS_PG: &str = find_by_cards!(
    "WITH k AS (SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
     AS k(i, ins, num, sym, bd, br))"
);

/// Index of the key in a [`FIND_BY_CARDS_SQLITE`] / [`FIND_BY_CARDS_PG`] row.
pub(crate) const FIND_BY_CARDS_KEY_COLUMN: usize = 36;

pub(crate) const SPECIFIC_FOR_MANY_SQLITE: &str = "SELECT qualification_id, category, certificate_date, valid_start, valid_end, self_pay \
     FROM specific_disease WHERE qualification_id IN (SELECT value FROM json_each($1)) ORDER BY id";

pub(crate) const SPECIFIC_FOR_MANY_PG: &str = "SELECT qualification_id, category, certificate_date, valid_start, valid_end, self_pay \
     FROM specific_disease WHERE qualification_id = ANY($1::bigint[]) ORDER BY id";

/// Holders of a card (no birthdate: 照会番号 registration). `$4` = 1 when a branch was given.
pub(crate) const HOLDERS: &str = "SELECT q.person_id, q.qualification_date, q.disqualification_date FROM qualification q \
     WHERE q.insurer_number = $1 AND q.number_norm = $2 AND q.symbol_norm = $3 \
     AND (CAST($4 AS BIGINT) = 0 OR q.branch = $5) ORDER BY q.id";

pub(crate) const UPSERT_REFERENCE_NUMBER: &str = "INSERT INTO reference_number (facility_code, person_id, reference_number, registered_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (facility_code, person_id) DO UPDATE \
     SET reference_number = excluded.reference_number, registered_at = excluded.registered_at";

pub(crate) const REFERENCE_NUMBERS_SQLITE: &str = "SELECT person_id, reference_number FROM reference_number \
     WHERE facility_code = $1 AND person_id IN (SELECT value FROM json_each($2))";

/// Whether a facility has registered any 照会番号 (checks skip the probe when not).
pub(crate) const FACILITY_USES_REFERENCE_NUMBERS: &str =
    "SELECT EXISTS (SELECT 1 FROM reference_number WHERE facility_code = $1)";

/// The single-person form, on every single check: one primary-key probe.
pub(crate) const REFERENCE_NUMBER: &str = "SELECT reference_number FROM reference_number \
     WHERE facility_code = $1 AND person_id = $2";

pub(crate) const REFERENCE_NUMBERS_PG: &str = "SELECT person_id, reference_number FROM reference_number \
     WHERE facility_code = $1 AND person_id = ANY($2::bigint[])";

pub(crate) const INSERT_BULK_JOB: &str = "INSERT INTO bulk_job (reception_number, facility_code, received_at, confirmation_date, \
     arbitrary_file_identifier, state, total, normal, errors, error_code, finished_at, request) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

pub(crate) const BULK_JOB: &str = "SELECT reception_number, facility_code, received_at, confirmation_date, \
     arbitrary_file_identifier, state, total, normal, errors, error_code, finished_at \
     FROM bulk_job WHERE reception_number = $1";

pub(crate) const BULK_REQUEST: &str = "SELECT request FROM bulk_job WHERE reception_number = $1";

pub(crate) const UNFINISHED_BULK_JOBS: &str =
    "SELECT reception_number FROM bulk_job WHERE state = 'processing' ORDER BY received_at";

pub(crate) const BULK_UNITS_DONE: &str =
    "SELECT COUNT(*) FROM bulk_unit WHERE reception_number = $1";

pub(crate) const BULK_UNITS: &str =
    "SELECT unit FROM bulk_unit WHERE reception_number = $1 ORDER BY seq";

pub(crate) const INSERT_BULK_UNIT: &str =
    "INSERT INTO bulk_unit (reception_number, seq, unit) VALUES ($1, $2, $3)";

pub(crate) const INSERT_BULK_UNITS_PG: &str = "INSERT INTO bulk_unit (reception_number, seq, unit) \
     SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[])";

/// Adds a chunk's counts (`$1` normal, `$2` errors); `$3` = 1 finishes the job (at `$4`).
/// (Placeholders are numbered in order of first use, which SQLite requires.)
pub(crate) const ADVANCE_BULK_JOB: &str = "UPDATE bulk_job SET normal = normal + $1, errors = errors + $2, \
     state = CASE WHEN CAST($3 AS BIGINT) = 1 THEN 'done' ELSE state END, finished_at = $4 \
     WHERE reception_number = $5 AND state = 'processing'";

/// `$1` error code, `$2` time, `$3` reception number.
pub(crate) const FAIL_BULK_JOB: &str = "UPDATE bulk_job SET state = 'failed', error_code = $1, finished_at = $2 \
     WHERE reception_number = $3 AND state = 'processing'";

pub(crate) const SPECIFIC_FOR: &str = "SELECT qualification_id, category, certificate_date, valid_start, valid_end, self_pay \
     FROM specific_disease WHERE qualification_id = $1 ORDER BY id";

pub(crate) const INSERT_VERIFICATION: &str = "INSERT INTO verification (request_id, facility_code, checked_at, confirmation_date, reference_classification, \
     insurer_number, symbol, number, branch, birthdate, arbitrary_file_identifier, processing_status, error_code, \
     validity, person_id, qualification_id, identity_method, card_serial, card_profile, consents) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";

pub(crate) const VERIFICATIONS: &str = "SELECT request_id, facility_code, checked_at, confirmation_date, reference_classification, \
     insurer_number, symbol, number, branch, birthdate, arbitrary_file_identifier, processing_status, error_code, \
     validity, person_id, qualification_id, identity_method, card_serial, card_profile, consents \
     FROM verification WHERE facility_code = $1 AND checked_at >= $2 AND checked_at < $3 \
     ORDER BY checked_at DESC, id DESC LIMIT $4";

pub(crate) const SAMPLE_CARD_KEYS: &str = "SELECT q.insurer_number, q.symbol, q.number, q.branch, p.birthdate \
     FROM qualification q JOIN person p ON p.id = q.person_id \
     WHERE q.disqualification_date IS NULL AND q.id % $1 = 0 ORDER BY q.id LIMIT $2";

/// Column access common to rusqlite and tokio-postgres rows.
pub trait Row {
    fn text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<Option<i64>>;
    fn real(&self, i: usize) -> Result<Option<f64>>;
}

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get::<_, Option<String>>(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.get::<_, Option<i64>>(i)?)
    }
    fn real(&self, i: usize) -> Result<Option<f64>> {
        Ok(self.get::<_, Option<f64>>(i)?)
    }
}

impl Row for tokio_postgres::Row {
    fn text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get::<_, Option<String>>(i)?)
    }
    fn int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get::<_, Option<i64>>(i)?)
    }
    fn real(&self, i: usize) -> Result<Option<f64>> {
        Ok(self.try_get::<_, Option<f64>>(i)?)
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) struct Cols<'r, R: Row> {
    pub(crate) row: &'r R,
}

impl<R: Row> Cols<'_, R> {
    pub(crate) fn text(&self, i: usize) -> Result<String> {
        self.row
            .text(i)?
            .ok_or_else(|| corrupt("column", format!("{i} is NULL")))
    }
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.row.text(i)
    }
    pub(crate) fn int(&self, i: usize) -> Result<i64> {
        self.row
            .int(i)?
            .ok_or_else(|| corrupt("column", format!("{i} is NULL")))
    }
    pub(crate) fn ymd(&self, i: usize) -> Result<Ymd> {
        let t = self.text(i)?;
        Ymd::parse(&t).map_err(|e| corrupt("date", e))
    }
    pub(crate) fn opt_ymd(&self, i: usize) -> Result<Option<Ymd>> {
        self.opt_text(i)?
            .map(|t| Ymd::parse(&t).map_err(|e| corrupt("date", e)))
            .transpose()
    }
    pub(crate) fn code<T>(
        &self,
        i: usize,
        parse: fn(&str) -> std::result::Result<T, CodeError>,
    ) -> Result<T> {
        parse(&self.text(i)?).map_err(|e| corrupt("code", e))
    }
    fn opt_code<T>(
        &self,
        i: usize,
        parse: fn(&str) -> std::result::Result<T, CodeError>,
    ) -> Result<Option<T>> {
        self.opt_text(i)?
            .map(|t| parse(&t).map_err(|e| corrupt("code", e)))
            .transpose()
    }
}

pub(crate) fn ymd_text(d: Ymd) -> String {
    d.to_wire()
}

pub(crate) fn opt_ymd_text(d: Option<Ymd>) -> Option<String> {
    d.map(Ymd::to_wire)
}

pub(crate) fn insurer_number(s: &str) -> Result<InsurerNumber> {
    InsurerNumber::parse(s).map_err(|e| corrupt("insurer number", e))
}

/// Maps one [`FIND_BY_CARD`] row. Specific diseases are filled in by the caller.
pub(crate) fn qualification_record<R: Row>(row: &R) -> Result<(QualificationRecord, bool)> {
    let c = Cols { row };
    let qualification_id = c.int(0)?;
    let insurer = insurer_number(&c.text(2)?)?;
    let qualification = Qualification {
        id: qualification_id,
        person_id: c.int(1)?,
        insurer_number: insurer.clone(),
        symbol: c
            .opt_text(3)?
            .map(|s| InsuredCardSymbol::parse(&s).map_err(|e| corrupt("symbol", e)))
            .transpose()?,
        number: InsuredIdentificationNumber::parse(&c.text(4)?)
            .map_err(|e| corrupt("number", e))?,
        branch: c
            .row
            .int(5)?
            .map(|b| {
                u8::try_from(b)
                    .map_err(|e| corrupt("branch", e))
                    .and_then(|b| InsuredBranchNumber::new(b).map_err(|e| corrupt("branch", e)))
            })
            .transpose()?,
        personal_family: c.code(6, PersonalFamilyClassification::from_code)?,
        insured_name: c.opt_text(7)?,
        card_classification: c.code(8, InsuredCardClassification::from_code)?,
        qualification_date: c.ymd(9)?,
        disqualification_date: c.opt_ymd(10)?,
        reason_of_loss: c.opt_code(11, ReasonOfLoss::from_code)?,
        successor_id: c.row.int(12)?,
        certificate_issuance_date: c.opt_ymd(13)?,
        card_valid_from: c.opt_ymd(14)?,
        card_valid_to: c.opt_ymd(15)?,
        income: IncomeCategory::from_code(&c.text(16)?)
            .ok_or_else(|| corrupt("income", "unknown code"))?,
    };
    let has_specific = c.int(17)? != 0;
    let person = Person {
        id: qualification.person_id,
        name: c.text(18)?,
        name_kana: c.text(19)?,
        birthdate: c.ymd(20)?,
        sex: c.code(21, Sex::from_code)?,
        address: c.text(22)?,
        post_number: c.text(23)?,
    };
    let insurer = Insurer {
        number: insurer,
        name: c.text(24)?,
        kind: InsurerKind::from_code(&c.text(25)?)
            .ok_or_else(|| corrupt("insurer kind", "unknown code"))?,
    };
    let elderly = match c.opt_text(26)? {
        None => None,
        Some(_) => Some(ElderlyRecipient {
            qualification_id,
            certificate_date: c.ymd(26)?,
            valid_start: c.ymd(27)?,
            valid_end: c.ymd(28)?,
            contribution_ratio: u8::try_from(c.int(29)?).map_err(|e| corrupt("ratio", e))?,
        }),
    };
    let limit = match c.opt_text(30)? {
        None => None,
        Some(_) => Some(LimitCertificate {
            qualification_id,
            classification: c.code(30, LimitCertificateClassification::from_code)?,
            flag: c.code(31, LimitClassificationFlag::from_code)?,
            certificate_date: c.ymd(32)?,
            valid_start: c.ymd(33)?,
            valid_end: c.opt_ymd(34)?,
            long_term_date: c.opt_ymd(35)?,
        }),
    };
    Ok((
        QualificationRecord {
            qualification,
            person,
            insurer,
            elderly,
            limit,
            specific_diseases: Vec::new(),
        },
        has_specific,
    ))
}

pub(crate) fn specific_disease<R: Row>(row: &R) -> Result<SpecificDisease> {
    let c = Cols { row };
    Ok(SpecificDisease {
        qualification_id: c.int(0)?,
        category: c.code(1, SpecificDiseaseCategory::from_code)?,
        certificate_date: c.ymd(2)?,
        valid_start: c.ymd(3)?,
        valid_end: c.opt_ymd(4)?,
        self_pay: u32::try_from(c.int(5)?).map_err(|e| corrupt("self pay", e))?,
    })
}

pub(crate) fn facility<R: Row>(row: &R) -> Result<Facility> {
    let c = Cols { row };
    Ok(Facility {
        code: MedicalInstitutionCode::parse(&c.text(0)?).map_err(|e| corrupt("facility", e))?,
        name: c.text(1)?,
        enabled: c.int(2)? != 0,
        smartphone_enabled: c.int(3)? != 0,
    })
}

pub(crate) fn verification<R: Row>(row: &R) -> Result<VerificationRecord> {
    let c = Cols { row };
    Ok(VerificationRecord {
        request_id: c.text(0)?,
        facility_code: c.text(1)?,
        checked_at: JstDateTime::from_unix_micros(c.int(2)?),
        confirmation_date: c.opt_text(3)?,
        reference_classification: c.text(4)?,
        insurer_number: c.opt_text(5)?,
        symbol: c.opt_text(6)?,
        number: c.opt_text(7)?,
        branch: c.opt_text(8)?,
        birthdate: c.opt_text(9)?,
        arbitrary_file_identifier: c.opt_text(10)?,
        processing_status: c.text(11)?,
        error_code: c.opt_text(12)?,
        validity: c.opt_code(13, QualificationValidity::from_code)?,
        person_id: c.row.int(14)?,
        qualification_id: c.row.int(15)?,
        identity_method: c.opt_text(16)?,
        card_serial: c.opt_text(17)?,
        card_profile: c.opt_text(18)?,
        consents: c.opt_text(19)?,
    })
}

pub(crate) const INSERT_CARD: &str = "INSERT INTO card_certificate (serial, person_id, profile, not_after, issued_at, revoked_at, registered_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const CARD_BY_SERIAL: &str = "SELECT serial, person_id, profile, not_after, issued_at, revoked_at, registered_at \
     FROM card_certificate WHERE serial = $1";

pub(crate) const CARDS_OF_PERSON: &str = "SELECT serial, person_id, profile, not_after, issued_at, revoked_at, registered_at \
     FROM card_certificate WHERE person_id = $1 ORDER BY issued_at";

pub(crate) const LIST_CARDS: &str = "SELECT serial, person_id, profile, not_after, issued_at, revoked_at, registered_at \
     FROM card_certificate ORDER BY issued_at, serial LIMIT $1";

pub(crate) const REVOKED_CARDS: &str =
    "SELECT serial FROM card_certificate WHERE revoked_at IS NOT NULL ORDER BY serial";

pub(crate) const REGISTER_CARD: &str =
    "UPDATE card_certificate SET registered_at = $1 WHERE serial = $2 AND registered_at IS NULL";

pub(crate) const REVOKE_CARD: &str =
    "UPDATE card_certificate SET revoked_at = $1 WHERE serial = $2 AND revoked_at IS NULL";

/// The qualifications of one person (card checks).
pub(crate) const FIND_BY_PERSON: &str = concat!(
    qualification_select!(),
    "WHERE q.person_id = $1 ORDER BY q.id"
);

pub(crate) const PERSON: &str =
    "SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person WHERE id = $1";

/// Whether a person has checked in with a physical card at a facility before.
pub(crate) const USED_PHYSICAL_CARD_AT: &str =
    "SELECT COUNT(*) FROM physical_card_use WHERE person_id = $1 AND facility_code = $2";

pub(crate) const INSERT_CARD_USE: &str = "INSERT INTO physical_card_use (person_id, facility_code, first_used_at) \
     VALUES ($1, $2, $3) ON CONFLICT (person_id, facility_code) DO NOTHING";

/// A successful check with a physical card, which the smartphone rule remembers.
pub(crate) fn physical_card_use(r: &VerificationRecord) -> Option<(i64, &str, i64)> {
    match (
        r.person_id,
        r.card_profile.as_deref(),
        r.processing_status.as_str(),
    ) {
        (Some(person), Some("card"), "1") => {
            Some((person, r.facility_code.as_str(), r.checked_at.unix_micros()))
        }
        _ => None,
    }
}

pub(crate) const INSERT_USED_NONCE: &str = "INSERT INTO used_nonce (nonce, facility_code, expires_at, used_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING";

pub(crate) const SECRET: &str = "SELECT value FROM central_secret WHERE name = $1";

pub(crate) const INSERT_SECRET: &str =
    "INSERT INTO central_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

pub(crate) fn card<R: Row>(row: &R) -> Result<crate::CardRecord> {
    let c = Cols { row };
    Ok(crate::CardRecord {
        serial: c.text(0)?,
        person_id: c.int(1)?,
        profile: c.text(2)?,
        not_after: c.ymd(3)?,
        issued_at: JstDateTime::from_unix_micros(c.int(4)?),
        revoked_at: c.row.int(5)?.map(JstDateTime::from_unix_micros),
        registered_at: c.row.int(6)?.map(JstDateTime::from_unix_micros),
    })
}

pub(crate) fn person<R: Row>(row: &R) -> Result<Person> {
    let c = Cols { row };
    Ok(Person {
        id: c.int(0)?,
        name: c.text(1)?,
        name_kana: c.text(2)?,
        birthdate: c.ymd(3)?,
        sex: c.code(4, Sex::from_code)?,
        address: c.text(5)?,
        post_number: c.text(6)?,
    })
}

pub(crate) fn card_key<R: Row>(row: &R) -> Result<CardKey> {
    let c = Cols { row };
    Ok(CardKey {
        insurer_number: c.text(0)?,
        symbol: c.opt_text(1)?,
        number: c.text(2)?,
        branch: c.row.int(3)?.and_then(|b| u8::try_from(b).ok()),
        birthdate: c.text(4)?,
    })
}

/// Values of one qualification insert, in [`INSERT_QUALIFICATION`] order, as text or ints.
pub(crate) struct QualificationValues {
    pub id: i64,
    pub person_id: i64,
    pub insurer_number: String,
    pub symbol: Option<String>,
    pub symbol_norm: String,
    pub number: String,
    pub number_norm: String,
    pub branch: Option<i64>,
    pub personal_family: &'static str,
    pub insured_name: Option<String>,
    pub card_classification: &'static str,
    pub qualification_date: String,
    pub disqualification_date: Option<String>,
    pub reason_of_loss: Option<&'static str>,
    pub successor_id: Option<i64>,
    pub certificate_issuance_date: Option<String>,
    pub card_valid_from: Option<String>,
    pub card_valid_to: Option<String>,
    pub income: &'static str,
    pub has_specific: i64,
}

impl QualificationValues {
    pub(crate) fn new(q: &Qualification, has_specific: bool) -> Self {
        QualificationValues {
            id: q.id,
            person_id: q.person_id,
            insurer_number: q.insurer_number.digits().to_string(),
            symbol: q.symbol.as_ref().map(|s| s.as_str().to_string()),
            symbol_norm: q
                .symbol
                .as_ref()
                .map(|s| s.normalized())
                .unwrap_or_default(),
            number: q.number.as_str().to_string(),
            number_norm: q.number.normalized(),
            branch: q.branch.map(|b| i64::from(b.value())),
            personal_family: q.personal_family.code(),
            insured_name: q.insured_name.clone(),
            card_classification: q.card_classification.code(),
            qualification_date: ymd_text(q.qualification_date),
            disqualification_date: opt_ymd_text(q.disqualification_date),
            reason_of_loss: q.reason_of_loss.map(|r| r.code()),
            successor_id: q.successor_id,
            certificate_issuance_date: opt_ymd_text(q.certificate_issuance_date),
            card_valid_from: opt_ymd_text(q.card_valid_from),
            card_valid_to: opt_ymd_text(q.card_valid_to),
            income: q.income.code(),
            has_specific: i64::from(has_specific),
        }
    }
}

pub(crate) const INSERT_CONSENT: &str = "INSERT INTO card_consent \
     (check_request_id, facility_code, person_id, consented_at, available_until, information) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (check_request_id) DO NOTHING";

pub(crate) const VALID_CONSENTS: &str = "SELECT check_request_id, facility_code, person_id, consented_at, \
     available_until, information FROM card_consent \
     WHERE facility_code = $1 AND person_id = $2 AND available_until > $3 AND consented_at <= $3 \
     ORDER BY consented_at DESC";

pub(crate) fn consent_information(c: &ConsentRecord) -> String {
    c.information.join(",")
}

pub(crate) fn consent(
    check_request_id: String,
    facility_code: String,
    person_id: i64,
    consented_at: i64,
    available_until: i64,
    information: String,
) -> ConsentRecord {
    ConsentRecord {
        check_request_id,
        facility_code,
        person_id,
        consented_at: JstDateTime::from_unix_micros(consented_at),
        available_until: JstDateTime::from_unix_micros(available_until),
        information: information
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

pub(crate) fn bulk_job<R: Row>(row: &R) -> Result<crate::BulkJob> {
    let c = Cols { row };
    let state = c.text(5)?;
    Ok(crate::BulkJob {
        reception_number: c.text(0)?,
        facility_code: c.text(1)?,
        received_at: JstDateTime::from_unix_micros(c.int(2)?),
        confirmation_date: c.text(3)?,
        arbitrary_file_identifier: c.opt_text(4)?,
        state: crate::BulkState::from_code(&state)
            .ok_or_else(|| corrupt("bulk job state", state))?,
        total: c.int(6)?,
        normal: c.int(7)?,
        errors: c.int(8)?,
        error_code: c.opt_text(9)?,
        finished_at: c.row.int(10)?.map(JstDateTime::from_unix_micros),
    })
}

pub(crate) fn holder<R: Row>(row: &R) -> Result<crate::Holder> {
    let c = Cols { row };
    Ok(crate::Holder {
        person_id: c.int(0)?,
        qualification_date: c.ymd(1)?,
        disqualification_date: c.opt_ymd(2)?,
    })
}

/// A JSON string literal (for the SQLite `json_each` parameters).
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The keys of a bulk lookup as the JSON array [`FIND_BY_CARDS_SQLITE`] reads.
pub(crate) fn card_queries_json(queries: &[crate::CardQuery]) -> String {
    let mut out = String::with_capacity(queries.len() * 48 + 2);
    out.push('[');
    for (n, q) in queries.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('[');
        json_string(&mut out, &q.insurer_number);
        out.push(',');
        json_string(&mut out, &q.number_norm);
        out.push(',');
        json_string(&mut out, &q.symbol_norm);
        out.push(',');
        json_string(&mut out, &q.birthdate.to_wire());
        out.push(',');
        match q.branch {
            Some(b) => out.push_str(&b.to_string()),
            None => out.push_str("null"),
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// Integers as a JSON array.
pub(crate) fn ids_json(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('[');
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

// ---- Insurer registrations (migration 0007_insurer) ----

pub(crate) const INSURER_BY_NUMBER: &str =
    "SELECT number, name, kind FROM insurer WHERE number = $1";

macro_rules! person_select {
    ($where:literal) => {
        concat!(
            "SELECT id, name, name_kana, birthdate, sex, address, post_number FROM person WHERE ",
            $where
        )
    };
}

/// Registry candidates: an exact (漢字氏名, 生年月日) lookup first; the two others find the
/// nearest person when one item differs, so that a refusal can name the items.
pub(crate) const PERSONS_BY_NAME_BIRTH: &str = person_select!("name = $1 AND birthdate = $2");
pub(crate) const PERSONS_BY_KANA_BIRTH: &str = person_select!("name_kana = $1 AND birthdate = $2");
pub(crate) const PERSONS_BY_NAME_KANA: &str = person_select!("name = $1 AND name_kana = $2");

/// Every qualification under (insurer, 記号, 番号), all branches, lost ones included.
pub(crate) const QUALIFICATIONS_BY_PREFIX: &str = concat!(
    qualification_select!(),
    "WHERE q.insurer_number = $1 AND q.number_norm = $2 AND q.symbol_norm = $3 ORDER BY q.id"
);

pub(crate) const NEXT_QUALIFICATION_ID: &str = "SELECT COALESCE(MAX(id), 0) + 1 FROM qualification";

pub(crate) const UPDATE_QUALIFICATION: &str = "UPDATE qualification SET symbol = $1, symbol_norm = $2, number = $3, \
     number_norm = $4, branch = $5, personal_family = $6, insured_name = $7, card_classification = $8, \
     qualification_date = $9, disqualification_date = $10, reason_of_loss = $11, successor_id = $12, \
     certificate_issuance_date = $13, card_valid_from = $14, card_valid_to = $15, income = $16, has_specific = $17 \
     WHERE id = $18";

pub(crate) const UPSERT_ELDERLY: &str = "INSERT INTO elderly_recipient (qualification_id, certificate_date, valid_start, valid_end, contribution_ratio) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (qualification_id) DO UPDATE SET certificate_date = excluded.certificate_date, \
     valid_start = excluded.valid_start, valid_end = excluded.valid_end, contribution_ratio = excluded.contribution_ratio";

pub(crate) const UPSERT_LIMIT: &str = "INSERT INTO limit_certificate (qualification_id, classification, flag, certificate_date, valid_start, valid_end, long_term_date) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (qualification_id) DO UPDATE SET classification = excluded.classification, \
     flag = excluded.flag, certificate_date = excluded.certificate_date, valid_start = excluded.valid_start, \
     valid_end = excluded.valid_end, long_term_date = excluded.long_term_date";

pub(crate) const UPDATE_SPECIFIC: &str = "UPDATE specific_disease SET certificate_date = $1, valid_end = $2, self_pay = $3 \
     WHERE qualification_id = $4 AND category = $5 AND valid_start = $6";

macro_rules! hold_columns {
    () => {
        "insurer_number, symbol_norm, number_norm, branch, birthdate, name, registration, differences, \
         candidate_person_id, received_at"
    };
}

pub(crate) const HOLDS_BY_PREFIX: &str = concat!(
    "SELECT ",
    hold_columns!(),
    " FROM registration_hold WHERE insurer_number = $1 AND number_norm = $2 AND symbol_norm = $3"
);

/// The operator's report; `$1` = '' for every insurer.
pub(crate) const SUSPENDED: &str = concat!(
    "SELECT ",
    hold_columns!(),
    " FROM registration_hold WHERE (CAST($1 AS TEXT) = '' OR insurer_number = $1) \
     ORDER BY received_at, insurer_number, number_norm"
);

pub(crate) const INSERT_HOLD: &str = concat!(
    "INSERT INTO registration_hold (",
    hold_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

pub(crate) const DELETE_HOLD: &str = "DELETE FROM registration_hold WHERE insurer_number = $1 AND symbol_norm = $2 \
     AND number_norm = $3 AND COALESCE(branch, -1) = $4";

pub(crate) const PENDING_OF_PERSON: &str = "SELECT insurer_number, person_id, symbol_norm, number_norm, branch, \
     received_date, registered_at FROM registration_pending WHERE person_id = $1";

pub(crate) const UPSERT_PENDING: &str = "INSERT INTO registration_pending (insurer_number, person_id, symbol_norm, \
     number_norm, branch, received_date, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (insurer_number, person_id) DO UPDATE SET symbol_norm = excluded.symbol_norm, \
     number_norm = excluded.number_norm, branch = excluded.branch, received_date = excluded.received_date, \
     registered_at = excluded.registered_at";

pub(crate) const DELETE_PENDING: &str =
    "DELETE FROM registration_pending WHERE insurer_number = $1 AND person_id = $2";

pub(crate) const INSERT_NOTICE: &str = "INSERT INTO registration_notice (person_id, qualification_id, insurer_number, kind, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

pub(crate) const INSERT_INSURER_BATCH: &str = "INSERT INTO insurer_batch (insurer_number, received_at, format, row_count, applied, \
     unchanged, suspended, refused) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

macro_rules! notice_select {
    ($where:literal) => {
        concat!(
            "SELECT n.id, n.person_id, n.qualification_id, n.insurer_number, n.kind, n.created_at, p.name, \
             q.symbol, q.number, q.branch, q.qualification_date FROM registration_notice n \
             JOIN person p ON p.id = n.person_id JOIN qualification q ON q.id = n.qualification_id WHERE ",
            $where
        )
    };
}

/// Notices from id `$1` on (exclusive), of insurer `$2` ('' = all), at most `$3`.
pub(crate) const NOTICES: &str = notice_select!(
    "n.id > $1 AND (CAST($2 AS TEXT) = '' OR n.insurer_number = $2) ORDER BY n.id LIMIT $3"
);

pub(crate) const NOTICES_OF_PERSON: &str = notice_select!("n.person_id = $1 ORDER BY n.id");

/// Why a check found nothing, when a registration is on its way: a pending 取得届 of the
/// person with this card data (flag 0), or a registration kept suspended (flag 1).
pub(crate) const PENDING_BY_CARD: &str = "SELECT r.insurer_number, r.received_date, CAST(0 AS BIGINT) FROM registration_pending r \
     JOIN person s ON s.id = r.person_id WHERE r.insurer_number = $1 AND r.number_norm = $2 AND r.symbol_norm = $3 \
     AND s.birthdate = $4 \
     UNION ALL SELECT h.insurer_number, NULL, CAST(1 AS BIGINT) FROM registration_hold h \
     WHERE h.insurer_number = $1 AND h.number_norm = $2 AND h.symbol_norm = $3 AND h.birthdate = $4";

pub(crate) const PENDING_BY_PERSON: &str = "SELECT insurer_number, received_date, CAST(0 AS BIGINT) FROM registration_pending \
     WHERE person_id = $1 ORDER BY received_date";

pub(crate) fn insurer<R: Row>(row: &R) -> Result<Insurer> {
    let c = Cols { row };
    Ok(Insurer {
        number: insurer_number(&c.text(0)?)?,
        name: c.text(1)?,
        kind: InsurerKind::from_code(&c.text(2)?)
            .ok_or_else(|| corrupt("insurer kind", "unknown code"))?,
    })
}

pub(crate) fn hold<R: Row>(row: &R) -> Result<crate::insurer::Hold> {
    let c = Cols { row };
    Ok(crate::insurer::Hold {
        insurer_number: c.text(0)?,
        symbol_norm: c.text(1)?,
        number_norm: c.text(2)?,
        branch: c.row.int(3)?.and_then(|b| u8::try_from(b).ok()),
        birthdate: c.text(4)?,
        name: c.text(5)?,
        registration: c.text(6)?,
        differences: c.text(7)?,
        candidate_person_id: c.row.int(8)?,
        received_at: JstDateTime::from_unix_micros(c.int(9)?),
    })
}

pub(crate) fn pending<R: Row>(row: &R) -> Result<crate::insurer::PendingRegistration> {
    let c = Cols { row };
    Ok(crate::insurer::PendingRegistration {
        insurer_number: c.text(0)?,
        person_id: c.int(1)?,
        symbol_norm: c.text(2)?,
        number_norm: c.text(3)?,
        branch: c.row.int(4)?.and_then(|b| u8::try_from(b).ok()),
        received_date: c.ymd(5)?,
        registered_at: JstDateTime::from_unix_micros(c.int(6)?),
    })
}

pub(crate) fn pending_info<R: Row>(row: &R) -> Result<crate::insurer::PendingInfo> {
    let c = Cols { row };
    Ok(crate::insurer::PendingInfo {
        insurer_number: c.text(0)?,
        received_date: c.opt_ymd(1)?,
        suspended: c.int(2)? != 0,
    })
}

pub(crate) fn notice<R: Row>(row: &R) -> Result<crate::insurer::NoticeRow> {
    let c = Cols { row };
    Ok(crate::insurer::NoticeRow {
        id: c.int(0)?,
        person_id: c.int(1)?,
        qualification_id: c.int(2)?,
        insurer_number: c.text(3)?,
        kind: c.text(4)?,
        created_at: JstDateTime::from_unix_micros(c.int(5)?),
        name: c.text(6)?,
        symbol: c.opt_text(7)?,
        number: c.text(8)?,
        branch: c.row.int(9)?.and_then(|b| u8::try_from(b).ok()),
        qualification_date: c.ymd(10)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_parameters_escape_what_json_needs() {
        let mut s = String::new();
        super::json_string(&mut s, "a\"b\\c\u{1}記号");
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001記号\"");
        assert_eq!(super::ids_json(&[1, 22, 333]), "[1,22,333]");
        assert_eq!(super::ids_json(&[]), "[]");
    }
}
