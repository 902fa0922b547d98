//! Linkage safety: an insurer's registration names the person by the resident registry's
//! items (漢字氏名, カナ氏名, 生年月日, 性別, 住所) and must match all of them against the
//! registry held at central. The real system found 7,312 cards linked to someone else's
//! record because registrations were accepted on partial matches; here a registration is
//! linked only when every item matches, and a mismatch names the items that differ.
//!
//! Comparison is on normalised forms, so that the same item written two ways (full- or
//! half-width kana, full- or half-width digits in an address, one or two spaces between
//! family and given name) is the same item; different characters (𠮷 and 吉, 髙 and 高)
//! stay different, because the registry distinguishes them.

use crate::codes::Sex;
use crate::date::Ymd;
use crate::model::Person;
use crate::text::to_halfwidth_kana;

/// One item of the resident registry a registration must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityField {
    Name,
    NameKana,
    Birthdate,
    Sex,
    Address,
}

impl IdentityField {
    pub const ALL: [IdentityField; 5] = [
        IdentityField::Name,
        IdentityField::NameKana,
        IdentityField::Birthdate,
        IdentityField::Sex,
        IdentityField::Address,
    ];

    /// The column name in batch files and reports.
    pub fn key(self) -> &'static str {
        match self {
            IdentityField::Name => "name",
            IdentityField::NameKana => "name_kana",
            IdentityField::Birthdate => "birthdate",
            IdentityField::Sex => "sex",
            IdentityField::Address => "address",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            IdentityField::Name => "漢字氏名",
            IdentityField::NameKana => "カナ氏名",
            IdentityField::Birthdate => "生年月日",
            IdentityField::Sex => "性別",
            IdentityField::Address => "住所",
        }
    }
}

/// The person as an insurer names them, in the registry's canonical forms (see
/// [`Identity::new`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// 漢字氏名: family and given name separated by one U+3000.
    pub name: String,
    /// カナ氏名 in half-width katakana with one half-width space.
    pub name_kana: String,
    pub birthdate: Ymd,
    pub sex: Sex,
    /// 住所 as given (compared through [`normalize_address`]).
    pub address: String,
}

impl Identity {
    /// Canonicalises the name forms the way the registry stores them.
    pub fn new(name: &str, name_kana: &str, birthdate: Ymd, sex: Sex, address: &str) -> Self {
        Identity {
            name: canonical_name(name),
            name_kana: canonical_kana(name_kana),
            birthdate,
            sex,
            address: address.trim().to_string(),
        }
    }

    /// The registry items that differ between this claim and a registry person; empty
    /// means a full match (and only then may a registration be linked to that person).
    pub fn differences(&self, p: &Person) -> Vec<IdentityField> {
        let mut out = Vec::new();
        if self.name != canonical_name(&p.name) {
            out.push(IdentityField::Name);
        }
        if self.name_kana != canonical_kana(&p.name_kana) {
            out.push(IdentityField::NameKana);
        }
        if self.birthdate != p.birthdate {
            out.push(IdentityField::Birthdate);
        }
        if self.sex != p.sex {
            out.push(IdentityField::Sex);
        }
        if normalize_address(&self.address) != normalize_address(&p.address) {
            out.push(IdentityField::Address);
        }
        out
    }
}

/// 漢字氏名: trimmed, every run of white space (half- or full-width) → one U+3000.
pub fn canonical_name(s: &str) -> String {
    join_words(s, '\u{3000}')
}

/// カナ氏名: half-width katakana, every run of white space → one half-width space.
pub fn canonical_kana(s: &str) -> String {
    join_words(&to_halfwidth_kana(s), ' ')
}

fn join_words(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(sep);
        }
        out.push_str(word);
    }
    out
}

/// Key for comparing addresses: white space removed, full-width ASCII → half-width, and
/// hyphen-like marks (incl. ー between digits) → `-`. Kanji are kept as they are.
pub fn normalize_address(s: &str) -> String {
    let chars: Vec<char> = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let hyphen = matches!(
            c,
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | 'ｰ'
        ) || (c == 'ー'
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()));
        out.push(if hyphen { '-' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn person() -> Person {
        Person {
            id: 1,
            name: "山田\u{3000}花子".into(),
            name_kana: "ﾔﾏﾀﾞ ﾊﾅｺ".into(),
            birthdate: Ymd::parse("19850412").unwrap(),
            sex: Sex::Female,
            address: "東京都千代田区霞が関１丁目２－３".into(),
            post_number: "100-0013".into(),
        }
    }

    #[test]
    fn the_same_items_written_differently_match() {
        let claim = Identity::new(
            " 山田  花子 ",
            "ヤマダ　ハナコ",
            Ymd::parse("19850412").unwrap(),
            Sex::Female,
            "東京都千代田区霞が関1丁目2-3",
        );
        assert_eq!(claim.differences(&person()), vec![]);
    }

    #[test]
    fn each_changed_item_is_named() {
        let p = person();
        let base = || Identity::new(&p.name, &p.name_kana, p.birthdate, p.sex, &p.address);
        let mut c = base();
        c.name = canonical_name("山田　華子");
        assert_eq!(c.differences(&p), vec![IdentityField::Name]);
        let mut c = base();
        c.name_kana = canonical_kana("ﾔﾏﾀ ﾊﾅｺ");
        assert_eq!(c.differences(&p), vec![IdentityField::NameKana]);
        let mut c = base();
        c.birthdate = Ymd::parse("19850413").unwrap();
        assert_eq!(c.differences(&p), vec![IdentityField::Birthdate]);
        let mut c = base();
        c.sex = Sex::Male;
        assert_eq!(c.differences(&p), vec![IdentityField::Sex]);
        let mut c = base();
        c.address = "東京都千代田区霞が関１丁目２－４".into();
        assert_eq!(c.differences(&p), vec![IdentityField::Address]);
        // Different kanji are different names, however alike they look.
        let mut c = base();
        c.name = canonical_name("𠮷田　花子");
        let mut q = p.clone();
        q.name = "吉田\u{3000}花子".into();
        assert_eq!(c.differences(&q), vec![IdentityField::Name]);
    }
}
