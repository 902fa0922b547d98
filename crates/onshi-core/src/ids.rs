//! Identifiers printed on insurance cards and used on the wire.
//!
//! SKELETON: signatures are the contract other crates code against; bodies to be filled in.

/// Why an identifier was refused. The message is shown to callers (Japanese UI maps it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{field}: empty")]
    Empty { field: &'static str },
    #[error("{field}: must be {expected} digits, got {got:?}")]
    Format { field: &'static str, expected: &'static str, got: String },
    #[error("{field}: check digit mismatch in {got:?}")]
    CheckDigit { field: &'static str, got: String },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: &'static str },
}

/// Luhn (2-1 weights from the right, digit sum) check digit over `digits`.
/// Returns `None` when `digits` holds a non-digit.
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    todo!()
}

/// 保険者番号. 8 digits (法別 2 + 都道府県 2 + 保険者別 3 + 検証 1), or 6 digits for
/// 市町村国保 (no 法別). Accepts on input: 8 digits; 6 digits; 6 digits left-padded to 8
/// with spaces or with "00". The 不詳 numbers are explicit variants: 77777777 (fails the
/// check digit on purpose) and 77777779 (passes it) — see domain.md §1.5.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InsurerNumber {
    /// 8-digit number with a valid check digit (not a 不詳 number).
    Eight(String),
    /// 6-digit 国保 number with a valid check digit.
    Six(String),
    /// 不詳 "77777777".
    UnknownAllSevens,
    /// 不詳 "77777779" for receipt computers that cannot take 77777777.
    UnknownCheckDigit,
}

impl InsurerNumber {
    pub fn parse(s: &str) -> Result<Self, IdError> { todo!() }
    /// The digits as assigned: 6 for 国保, 8 otherwise. This is the database key.
    pub fn digits(&self) -> &str { todo!() }
    /// 8 characters for files: 6-digit numbers right-aligned with two leading spaces.
    pub fn to_wire(&self) -> String { todo!() }
    /// 法別番号 (first two digits of an 8-digit number); `None` for 6-digit 国保.
    pub fn law_code(&self) -> Option<&str> { todo!() }
    /// 都道府県番号 01–47.
    pub fn prefecture(&self) -> Option<u8> { todo!() }
    pub fn is_unknown(&self) -> bool { todo!() }
    /// Build a valid number from the digits without the check digit (7 or 5 digits).
    pub fn with_check_digit(body: &str) -> Result<Self, IdError> { todo!() }
}

impl std::fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.digits()) }
}

/// 点数表番号 (the third digit of the 10-digit 医療機関コード).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreTable { Medical, Dental, Pharmacy, Other(u8) }

/// 10-digit 医療機関コード: 都道府県 (01–47) + 点数表 (1 医科, 3 歯科, 4 調剤, 5–8 others)
/// + 郡市区 2 + 機関番号 4 + check digit (Luhn over the 9 preceding digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MedicalInstitutionCode(String);

impl MedicalInstitutionCode {
    pub fn parse(s: &str) -> Result<Self, IdError> { todo!() }
    /// Build from the 9 leading digits, appending the check digit.
    pub fn with_check_digit(body: &str) -> Result<Self, IdError> { todo!() }
    pub fn as_str(&self) -> &str { &self.0 }
    pub fn prefecture(&self) -> u8 { todo!() }
    pub fn score_table(&self) -> ScoreTable { todo!() }
}

/// 被保険者証記号: opaque, may be full-width or kanji. Stored verbatim; matching uses
/// [`crate::text::normalize_card_text`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InsuredCardSymbol(String);

impl InsuredCardSymbol {
    /// Refuses empty (after trim), control characters and more than 38 characters.
    pub fn parse(s: &str) -> Result<Self, IdError> { todo!() }
    pub fn as_str(&self) -> &str { &self.0 }
    pub fn normalized(&self) -> String { todo!() }
}

/// 被保険者証番号: opaque like the symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InsuredIdentificationNumber(String);

impl InsuredIdentificationNumber {
    pub fn parse(s: &str) -> Result<Self, IdError> { todo!() }
    pub fn as_str(&self) -> &str { &self.0 }
    pub fn normalized(&self) -> String { todo!() }
}

/// 枝番: exactly 2 digits (full-width digits accepted on input, stored half-width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InsuredBranchNumber(u8);

impl InsuredBranchNumber {
    pub fn parse(s: &str) -> Result<Self, IdError> { todo!() }
    pub fn new(n: u8) -> Result<Self, IdError> { todo!() }
    pub fn value(self) -> u8 { self.0 }
    /// Two digits, zero-padded.
    pub fn to_wire(self) -> String { format!("{:02}", self.0) }
}
