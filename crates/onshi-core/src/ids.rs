//! Identifiers printed on insurance cards and used on the wire.
//!
//! Every type here can only hold a valid value, so code that receives an
//! [`InsurerNumber`] or a [`MedicalInstitutionCode`] never re-checks it. The rules are in
//! `shared/reference/domain.md` §1:
//!
//! - 保険者番号, 公費負担者番号 and 医療機関コード end in a 検証番号 computed with the
//!   "2-1" method of the 保険者番号設定要領, which is exactly Luhn mod 10
//!   ([`luhn_check_digit`]).
//! - 保険者番号 is 8 digits, or 6 digits for 市町村国保. Files pad the 6-digit form to 8
//!   characters with two leading spaces; some systems pad with "00". Both are accepted and
//!   the value is stored as the 6 digits. No 法別番号 is "00", so an 8-digit string starting
//!   with "00" is always a padded 国保 number.
//! - The 不詳 numbers 77777777 and 77777779 (domain.md §1.5) are explicit variants;
//!   77777777 is accepted although it fails the check digit.
//! - 記号 and 番号 are opaque insurer-assigned strings (kanji, kana, full-width digits are
//!   all seen), so they are kept verbatim and only compared through
//!   [`crate::text::normalize_card_text`].
//!
//! Input leniency (decided here, applies to every numeric identifier in this module):
//! full-width digits (`０`–`９`) are accepted and converted to ASCII, and surrounding
//! half-width / full-width spaces are trimmed. Staff type card data with Japanese IMEs,
//! and the wire pads with spaces; neither should cause a false "invalid number".
//! Anything else that is not a digit is refused.

/// Why an identifier was refused. The message is shown to callers (Japanese UI maps it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{field}: empty")]
    Empty { field: &'static str },
    #[error("{field}: must be {expected} digits, got {got:?}")]
    Format {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("{field}: check digit mismatch in {got:?}")]
    CheckDigit { field: &'static str, got: String },
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

/// Luhn (2-1 weights from the right, digit sum) check digit over `digits`.
/// Returns `None` when `digits` holds a non-digit.
///
/// Starting from the rightmost digit, digits are multiplied by 2, 1, 2, 1, …; two-digit
/// products count as the sum of their digits; the check digit is `(10 - sum % 10) % 10`.
/// An empty string gives `Some(0)`.
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    let mut sum: u32 = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        let p = if i % 2 == 0 { d * 2 } else { d };
        sum += p / 10 + p % 10;
    }
    // `sum % 10` is < 10, so the result fits in a u8.
    Some(((10 - sum % 10) % 10) as u8)
}

/// True when the last character of `s` is the Luhn check digit of the rest.
/// `s` must be non-empty ASCII digits; anything else gives `false`.
fn luhn_valid(s: &str) -> bool {
    let Some((body, last)) = s.len().checked_sub(1).map(|n| s.split_at(n)) else {
        return false;
    };
    match (luhn_check_digit(body), last.bytes().next()) {
        (Some(cd), Some(l)) if l.is_ascii_digit() => cd == l - b'0',
        _ => false,
    }
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\u{3000}'
}

/// Trim surrounding half-/full-width spaces and turn full-width digits into ASCII.
/// Other characters are kept so that the caller can refuse them.
fn normalize_digits(s: &str) -> String {
    s.trim_matches(is_space)
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (u32::from(c) - u32::from('０')) as u8),
            other => other,
        })
        .collect()
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse a two-digit 都道府県番号 from the first two bytes of an all-digit string.
fn two_digits(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_digit() || !b[1].is_ascii_digit() {
        return None;
    }
    Some((b[0] - b'0') * 10 + (b[1] - b'0'))
}

fn valid_prefecture(p: u8) -> bool {
    (1..=47).contains(&p)
}

/// 保険者番号. 8 digits (法別 2 + 都道府県 2 + 保険者別 3 + 検証 1), or 6 digits for
/// 市町村国保 (no 法別). Accepts on input: 8 digits; 6 digits; 6 digits left-padded to 8
/// with spaces or with "00". The 不詳 numbers are explicit variants: 77777777 (fails the
/// check digit on purpose) and 77777779 (passes it) — see domain.md §1.5.
///
/// The 都道府県 digits of an 8-digit number are not validated on parse (the 不詳 numbers,
/// and possibly some national insurers, do not carry a real prefecture);
/// [`InsurerNumber::prefecture`] returns `None` when they are outside 01–47. A 6-digit
/// 国保 number must start with a prefecture 01–47, which also refuses the all-zero filler.
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
    const FIELD: &'static str = "InsurerNumber";
    /// 不詳 written with 7 in every digit.
    pub const UNKNOWN_ALL_SEVENS: &'static str = "77777777";
    /// 不詳 with a valid check digit.
    pub const UNKNOWN_CHECK_DIGIT: &'static str = "77777779";

    /// Parse from card input or the wire. See the type docs for what is accepted.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let n = normalize_digits(s);
        if n.is_empty() {
            return Err(IdError::Empty { field: Self::FIELD });
        }
        let format_err = || IdError::Format {
            field: Self::FIELD,
            expected: "6 or 8",
            got: s.to_string(),
        };
        if !all_digits(&n) {
            return Err(format_err());
        }
        let digits = match n.len() {
            8 if n == Self::UNKNOWN_ALL_SEVENS => return Ok(InsurerNumber::UnknownAllSevens),
            8 if n == Self::UNKNOWN_CHECK_DIGIT => return Ok(InsurerNumber::UnknownCheckDigit),
            8 if n.starts_with("00") => &n[2..],
            6 | 8 => &n[..],
            _ => return Err(format_err()),
        };
        if !luhn_valid(digits) {
            return Err(IdError::CheckDigit {
                field: Self::FIELD,
                got: s.to_string(),
            });
        }
        // A 国保 number starts with its prefecture; this also refuses "000000" and
        // "00000000", which files use as filler.
        if digits.len() == 6 && !two_digits(digits).is_some_and(valid_prefecture) {
            return Err(IdError::Invalid {
                field: Self::FIELD,
                reason: "6-digit number must start with a prefecture 01-47",
            });
        }
        Ok(if digits.len() == 6 {
            InsurerNumber::Six(digits.to_string())
        } else {
            InsurerNumber::Eight(digits.to_string())
        })
    }

    /// The digits as assigned: 6 for 国保, 8 otherwise. This is the database key.
    pub fn digits(&self) -> &str {
        match self {
            InsurerNumber::Eight(s) | InsurerNumber::Six(s) => s,
            InsurerNumber::UnknownAllSevens => Self::UNKNOWN_ALL_SEVENS,
            InsurerNumber::UnknownCheckDigit => Self::UNKNOWN_CHECK_DIGIT,
        }
    }

    /// 8 characters for files: 6-digit numbers right-aligned with two leading spaces.
    pub fn to_wire(&self) -> String {
        format!("{:>8}", self.digits())
    }

    /// 法別番号 (first two digits of an 8-digit number); `None` for 6-digit 国保 and for
    /// the 不詳 numbers ("77" is not a 法別番号).
    pub fn law_code(&self) -> Option<&str> {
        match self {
            InsurerNumber::Eight(s) => s.get(..2),
            _ => None,
        }
    }

    /// 都道府県番号 01–47 (digits 3–4 of an 8-digit number, 1–2 of a 6-digit one).
    /// `None` for the 不詳 numbers and when the digits are not a prefecture.
    pub fn prefecture(&self) -> Option<u8> {
        let p = match self {
            InsurerNumber::Eight(s) => two_digits(s.get(2..)?)?,
            InsurerNumber::Six(s) => two_digits(s)?,
            _ => return None,
        };
        valid_prefecture(p).then_some(p)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(
            self,
            InsurerNumber::UnknownAllSevens | InsurerNumber::UnknownCheckDigit
        )
    }

    /// Build a valid number from the digits without the check digit (7 or 5 digits).
    /// A 7-digit body starting with "00" gives the 6-digit 国保 number (as on parse), and
    /// "7777777" gives [`InsurerNumber::UnknownCheckDigit`].
    pub fn with_check_digit(body: &str) -> Result<Self, IdError> {
        let n = normalize_digits(body);
        if n.is_empty() {
            return Err(IdError::Empty { field: Self::FIELD });
        }
        if !all_digits(&n) || !(n.len() == 5 || n.len() == 7) {
            return Err(IdError::Format {
                field: Self::FIELD,
                expected: "5 or 7 (without check digit)",
                got: body.to_string(),
            });
        }
        let cd = luhn_check_digit(&n).ok_or_else(|| IdError::Format {
            field: Self::FIELD,
            expected: "5 or 7 (without check digit)",
            got: body.to_string(),
        })?;
        Self::parse(&format!("{n}{cd}"))
    }
}

impl std::fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.digits())
    }
}

impl std::str::FromStr for InsurerNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

/// 点数表番号 (the third digit of the 10-digit 医療機関コード).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoreTable {
    Medical,
    Dental,
    Pharmacy,
    Other(u8),
}

impl ScoreTable {
    /// The digit as written in the code.
    pub fn digit(self) -> u8 {
        match self {
            ScoreTable::Medical => 1,
            ScoreTable::Dental => 3,
            ScoreTable::Pharmacy => 4,
            ScoreTable::Other(d) => d,
        }
    }

    /// 1 医科, 3 歯科, 4 調剤, 5–8 others (訪問看護 etc.); 0, 2 and 9 are not used.
    pub fn from_digit(d: u8) -> Option<Self> {
        match d {
            1 => Some(ScoreTable::Medical),
            3 => Some(ScoreTable::Dental),
            4 => Some(ScoreTable::Pharmacy),
            5..=8 => Some(ScoreTable::Other(d)),
            _ => None,
        }
    }
}

/// 10-digit 医療機関コード: 都道府県 (01–47) + 点数表 (1 医科, 3 歯科, 4 調剤, 5–8 others)
/// + 郡市区 2 + 機関番号 4 + check digit (Luhn over the 9 preceding digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MedicalInstitutionCode(String);

impl MedicalInstitutionCode {
    const FIELD: &'static str = "MedicalInstitutionCode";

    /// Check everything but the check digit of a 9- or 10-digit all-digit string.
    fn check_layout(n: &str) -> Result<(), IdError> {
        let pref = two_digits(n).unwrap_or(0);
        if !valid_prefecture(pref) {
            return Err(IdError::Invalid {
                field: Self::FIELD,
                reason: "prefecture must be 01-47",
            });
        }
        let table = n.as_bytes().get(2).map_or(0, |b| b - b'0');
        if ScoreTable::from_digit(table).is_none() {
            return Err(IdError::Invalid {
                field: Self::FIELD,
                reason: "score table digit must be 1, 3, 4, 5, 6, 7 or 8",
            });
        }
        Ok(())
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let n = normalize_digits(s);
        if n.is_empty() {
            return Err(IdError::Empty { field: Self::FIELD });
        }
        if n.len() != 10 || !all_digits(&n) {
            return Err(IdError::Format {
                field: Self::FIELD,
                expected: "10",
                got: s.to_string(),
            });
        }
        Self::check_layout(&n)?;
        if !luhn_valid(&n) {
            return Err(IdError::CheckDigit {
                field: Self::FIELD,
                got: s.to_string(),
            });
        }
        Ok(MedicalInstitutionCode(n))
    }

    /// Build from the 9 leading digits, appending the check digit.
    pub fn with_check_digit(body: &str) -> Result<Self, IdError> {
        let n = normalize_digits(body);
        if n.is_empty() {
            return Err(IdError::Empty { field: Self::FIELD });
        }
        if n.len() != 9 || !all_digits(&n) {
            return Err(IdError::Format {
                field: Self::FIELD,
                expected: "9 (without check digit)",
                got: body.to_string(),
            });
        }
        Self::check_layout(&n)?;
        let cd = luhn_check_digit(&n).ok_or_else(|| IdError::Format {
            field: Self::FIELD,
            expected: "9 (without check digit)",
            got: body.to_string(),
        })?;
        Ok(MedicalInstitutionCode(format!("{n}{cd}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 都道府県番号 01–47.
    pub fn prefecture(&self) -> u8 {
        // Validated on construction.
        two_digits(&self.0).unwrap_or(0)
    }

    pub fn score_table(&self) -> ScoreTable {
        let d = self.0.as_bytes().get(2).map_or(0, |b| b - b'0');
        // Validated on construction; `Other` only as a fallback that cannot happen.
        ScoreTable::from_digit(d).unwrap_or(ScoreTable::Other(d))
    }

    /// The 7-digit code printed on receipts (郡市区 2 + 機関番号 4 + check digit).
    pub fn short_code(&self) -> &str {
        self.0.get(3..).unwrap_or("")
    }
}

impl std::fmt::Display for MedicalInstitutionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for MedicalInstitutionCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

/// Maximum length (in characters) of 記号 and 番号. The レセ電 record conditions are
/// believed to allow 38 bytes (domain.md §1.4, not confirmed); counting characters is the
/// lenient reading.
pub const CARD_TEXT_MAX_CHARS: usize = 38;

/// Shared rules of the two opaque card strings: trim surrounding half-/full-width spaces,
/// refuse empty, control characters and more than [`CARD_TEXT_MAX_CHARS`] characters.
fn parse_card_text(s: &str, field: &'static str) -> Result<String, IdError> {
    let t = s.trim_matches(is_space);
    if t.is_empty() {
        return Err(IdError::Empty { field });
    }
    if t.chars().any(char::is_control) {
        return Err(IdError::Invalid {
            field,
            reason: "contains a control character",
        });
    }
    if t.chars().count() > CARD_TEXT_MAX_CHARS {
        return Err(IdError::Invalid {
            field,
            reason: "longer than 38 characters",
        });
    }
    Ok(t.to_string())
}

/// 被保険者証記号: opaque, may be full-width or kanji. Stored verbatim; matching uses
/// [`crate::text::normalize_card_text`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InsuredCardSymbol(String);

impl InsuredCardSymbol {
    /// Refuses empty (after trim), control characters and more than 38 characters.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_card_text(s, "InsuredCardSymbol").map(InsuredCardSymbol)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn normalized(&self) -> String {
        crate::text::normalize_card_text(&self.0)
    }
}

impl std::fmt::Display for InsuredCardSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// 被保険者証番号: opaque like the symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InsuredIdentificationNumber(String);

impl InsuredIdentificationNumber {
    /// Refuses empty (after trim), control characters and more than 38 characters.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_card_text(s, "InsuredIdentificationNumber").map(InsuredIdentificationNumber)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn normalized(&self) -> String {
        crate::text::normalize_card_text(&self.0)
    }
}

impl std::fmt::Display for InsuredIdentificationNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// 枝番: exactly 2 digits (full-width digits accepted on input, stored half-width).
/// Surrounding spaces are trimmed like for the other identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InsuredBranchNumber(u8);

impl InsuredBranchNumber {
    const FIELD: &'static str = "InsuredBranchNumber";

    pub fn parse(s: &str) -> Result<Self, IdError> {
        let n = normalize_digits(s);
        if n.is_empty() {
            return Err(IdError::Empty { field: Self::FIELD });
        }
        match two_digits(&n) {
            Some(v) if n.len() == 2 => Ok(InsuredBranchNumber(v)),
            _ => Err(IdError::Format {
                field: Self::FIELD,
                expected: "2",
                got: s.to_string(),
            }),
        }
    }
    /// 0–99.
    pub fn new(n: u8) -> Result<Self, IdError> {
        if n <= 99 {
            Ok(InsuredBranchNumber(n))
        } else {
            Err(IdError::Invalid {
                field: Self::FIELD,
                reason: "must be 00-99",
            })
        }
    }
    pub fn value(self) -> u8 {
        self.0
    }
    /// Two digits, zero-padded.
    pub fn to_wire(self) -> String {
        format!("{:02}", self.0)
    }
}

impl std::fmt::Display for InsuredBranchNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_wire())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert_eq!(luhn_check_digit("3312001"), Some(5));
        assert_eq!(luhn_check_digit("0113001"), Some(2));
        assert_eq!(luhn_check_digit("13805"), Some(7));
        assert_eq!(luhn_check_digit("7777777"), Some(9));
        assert_eq!(luhn_check_digit("011011371"), Some(9));
        assert_eq!(luhn_check_digit(""), Some(0));
        assert_eq!(luhn_check_digit("12a"), None);
        assert_eq!(luhn_check_digit("１２"), None);
    }

    #[test]
    fn insurer_examples_pass() {
        for s in ["33120015", "01130012", "01320027", "06132013", "54016027"] {
            let n = InsurerNumber::parse(s).unwrap();
            assert_eq!(n, InsurerNumber::Eight(s.to_string()));
            assert_eq!(n.digits(), s);
            assert_eq!(n.to_wire(), s);
            assert!(!n.is_unknown());
        }
        let n = InsurerNumber::parse("138057").unwrap();
        assert_eq!(n, InsurerNumber::Six("138057".into()));
        assert_eq!(n.to_wire(), "  138057");
        assert_eq!(n.law_code(), None);
        assert_eq!(n.prefecture(), Some(13));
    }

    #[test]
    fn insurer_padding_forms() {
        let six = InsurerNumber::Six("138057".into());
        assert_eq!(InsurerNumber::parse("  138057").unwrap(), six);
        assert_eq!(InsurerNumber::parse("00138057").unwrap(), six);
        assert_eq!(InsurerNumber::parse("　　１３８０５７").unwrap(), six);
        assert_eq!(InsurerNumber::parse("138057 ").unwrap(), six);
        assert_eq!(InsurerNumber::parse(&six.to_wire()).unwrap(), six);
    }

    #[test]
    fn insurer_parts() {
        let n = InsurerNumber::parse("06132013").unwrap();
        assert_eq!(n.law_code(), Some("06"));
        assert_eq!(n.prefecture(), Some(13));
        assert_eq!(n.to_string(), "06132013");
    }

    #[test]
    fn insurer_unknown_variants() {
        let a = InsurerNumber::parse("77777777").unwrap();
        assert_eq!(a, InsurerNumber::UnknownAllSevens);
        assert!(a.is_unknown());
        assert_eq!(a.digits(), "77777777");
        assert_eq!(a.to_wire(), "77777777");
        assert_eq!(a.law_code(), None);
        assert_eq!(a.prefecture(), None);
        let b = InsurerNumber::parse("77777779").unwrap();
        assert_eq!(b, InsurerNumber::UnknownCheckDigit);
        assert!(b.is_unknown());
        assert_eq!(
            InsurerNumber::with_check_digit("7777777").unwrap(),
            InsurerNumber::UnknownCheckDigit
        );
        // 77777777 really does fail Luhn: it is accepted only as the explicit variant.
        assert!(!luhn_valid("77777777"));
        // Other all-7 lengths are not special.
        assert!(matches!(
            InsurerNumber::parse("777777"),
            Err(IdError::CheckDigit { .. })
        ));
    }

    #[test]
    fn insurer_rejections() {
        assert_eq!(
            InsurerNumber::parse("   "),
            Err(IdError::Empty {
                field: "InsurerNumber"
            })
        );
        assert!(matches!(
            InsurerNumber::parse("3312001X"),
            Err(IdError::Format { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("3312001"),
            Err(IdError::Format { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("331200155"),
            Err(IdError::Format { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("33120016"),
            Err(IdError::CheckDigit { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("138058"),
            Err(IdError::CheckDigit { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("00138058"),
            Err(IdError::CheckDigit { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("3312 0015"),
            Err(IdError::Format { .. })
        ));
        assert!(matches!(
            InsurerNumber::parse("-3312001"),
            Err(IdError::Format { .. })
        ));
        for filler in ["00000000", "000000", "  000000"] {
            assert!(
                matches!(InsurerNumber::parse(filler), Err(IdError::Invalid { .. })),
                "{filler}"
            );
        }
        // 480004 passes Luhn but 48 is no prefecture.
        assert_eq!(luhn_check_digit("48000"), Some(4));
        assert!(matches!(
            InsurerNumber::parse("480004"),
            Err(IdError::Invalid { .. })
        ));
        assert!(matches!(
            InsurerNumber::with_check_digit("123456"),
            Err(IdError::Format { .. })
        ));
    }

    #[test]
    fn insurer_with_check_digit() {
        assert_eq!(
            InsurerNumber::with_check_digit("3312001").unwrap(),
            InsurerNumber::Eight("33120015".into())
        );
        assert_eq!(
            InsurerNumber::with_check_digit("13805").unwrap(),
            InsurerNumber::Six("138057".into())
        );
        assert_eq!(
            InsurerNumber::with_check_digit("0013805").unwrap(),
            InsurerNumber::Six("138057".into())
        );
    }

    #[test]
    fn medical_institution_code() {
        let c = MedicalInstitutionCode::parse("0110113719").unwrap();
        assert_eq!(c.as_str(), "0110113719");
        assert_eq!(c.prefecture(), 1);
        assert_eq!(c.score_table(), ScoreTable::Medical);
        assert_eq!(c.short_code(), "0113719");
        assert_eq!(
            MedicalInstitutionCode::with_check_digit("011011371").unwrap(),
            c
        );
        assert_eq!(
            MedicalInstitutionCode::parse("０１１０１１３７１９").unwrap(),
            c
        );
        assert!(matches!(
            MedicalInstitutionCode::parse("0110113718"),
            Err(IdError::CheckDigit { .. })
        ));
        assert!(matches!(
            MedicalInstitutionCode::parse("011011371"),
            Err(IdError::Format { .. })
        ));
        assert!(matches!(
            MedicalInstitutionCode::parse(""),
            Err(IdError::Empty { .. })
        ));
        // prefecture 00 and 48
        for body in ["000011371", "481011371"] {
            let cd = luhn_check_digit(body).unwrap();
            assert!(matches!(
                MedicalInstitutionCode::parse(&format!("{body}{cd}")),
                Err(IdError::Invalid { .. })
            ));
            assert!(MedicalInstitutionCode::with_check_digit(body).is_err());
        }
        // score table 0, 2, 9 refused; 1, 3–8 accepted
        for t in 0..=9u8 {
            let body = format!("13{t}011371");
            let cd = luhn_check_digit(&body).unwrap();
            let r = MedicalInstitutionCode::parse(&format!("{body}{cd}"));
            if matches!(t, 0 | 2 | 9) {
                assert!(matches!(r, Err(IdError::Invalid { .. })), "{t}");
            } else {
                let c = r.unwrap();
                assert_eq!(c.score_table().digit(), t);
                assert_eq!(c.prefecture(), 13);
            }
        }
        assert_eq!(
            MedicalInstitutionCode::with_check_digit("133011371")
                .unwrap()
                .score_table(),
            ScoreTable::Dental
        );
        assert_eq!(
            MedicalInstitutionCode::with_check_digit("134011371")
                .unwrap()
                .score_table(),
            ScoreTable::Pharmacy
        );
    }

    #[test]
    fn card_texts() {
        let s = InsuredCardSymbol::parse("　ＡＢ１２３ ").unwrap();
        assert_eq!(s.as_str(), "ＡＢ１２３");
        assert_eq!(s.normalized(), "AB123");
        let n = InsuredIdentificationNumber::parse("0004321").unwrap();
        assert_eq!(n.as_str(), "0004321");
        assert_eq!(n.normalized(), "0004321");
        assert!(matches!(
            InsuredCardSymbol::parse(" 　 "),
            Err(IdError::Empty { .. })
        ));
        assert!(matches!(
            InsuredIdentificationNumber::parse("12\t34"),
            Err(IdError::Invalid { .. })
        ));
        assert!(matches!(
            InsuredIdentificationNumber::parse("12\n"),
            Err(IdError::Invalid { .. })
        ));
        let ok = "あ".repeat(38);
        assert!(InsuredCardSymbol::parse(&ok).is_ok());
        assert!(matches!(
            InsuredCardSymbol::parse(&"あ".repeat(39)),
            Err(IdError::Invalid { .. })
        ));
        // Inner spaces and kanji are kept verbatim.
        assert_eq!(InsuredCardSymbol::parse("京 都").unwrap().as_str(), "京 都");
    }

    #[test]
    fn branch_numbers() {
        assert_eq!(InsuredBranchNumber::parse("00").unwrap().value(), 0);
        assert_eq!(InsuredBranchNumber::parse("07").unwrap().to_wire(), "07");
        assert_eq!(InsuredBranchNumber::parse("９９").unwrap().value(), 99);
        assert_eq!(InsuredBranchNumber::parse("０1").unwrap().value(), 1);
        for bad in ["1", "001", "1a", "-1", "１"] {
            assert!(
                matches!(InsuredBranchNumber::parse(bad), Err(IdError::Format { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            InsuredBranchNumber::parse(""),
            Err(IdError::Empty { .. })
        ));
        assert_eq!(InsuredBranchNumber::new(42).unwrap().to_wire(), "42");
        assert!(InsuredBranchNumber::new(100).is_err());
    }
}
