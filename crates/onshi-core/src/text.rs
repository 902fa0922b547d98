//! Text normalisation for matching card data typed by staff against stored data, and kana
//! conversions. Stored values are always kept verbatim; these functions only make keys.
//!
//! SKELETON: signatures are the contract; bodies to be filled in.

/// Key for matching 記号 / 番号: full-width ASCII (digits, letters, hyphen) → half-width,
/// letters upper-cased, all spaces (half- and full-width) removed, hyphen-like characters
/// (U+2010–2015, U+2212, U+FF0D, U+30FC when between digits) → removed; leading zeros kept.
pub fn normalize_card_text(s: &str) -> String { todo!() }

/// Full-width katakana (and hiragana) to half-width katakana, as カナ氏名 travels on the wire
/// (ﾀﾞ as two characters); full-width space → half-width space.
pub fn to_halfwidth_kana(s: &str) -> String { todo!() }

/// Half-width katakana to full-width, combining voiced marks (ﾀﾞ → ダ).
pub fn to_fullwidth_kana(s: &str) -> String { todo!() }
