//! Text normalisation for matching card data typed by staff against stored data, and kana
//! conversions. Stored values are always kept verbatim; these functions only make keys.
//!
//! Why this exists: 記号 and 番号 are printed in whatever script the insurer chose
//! (full-width digits, kana, kanji, hyphens of several kinds), and staff retype them with
//! Japanese IMEs. Two spellings of the same card must give the same key, so matching goes
//! through [`normalize_card_text`]. カナ氏名 travels on the wire as half-width katakana
//! (`ｼﾝﾘｮｳ ﾀﾛｳ`, ons-interface.md §6) while people type full-width, hence the two kana
//! conversions. Everything is table-driven and needs no Unicode normalisation library.

/// Full-width equivalents of the half-width katakana block U+FF61–U+FF9F, in code point
/// order (63 characters, ﾞ/ﾟ become the spacing marks ゛/゜).
const HALF_BLOCK_FULL: [char; 63] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー',
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン', '゛', '゜',
];
const HALF_BLOCK_START: u32 = 0xFF61;
const HALF_VOICED: char = 'ﾞ';
const HALF_SEMI_VOICED: char = 'ﾟ';

/// (voiced full-width, its unvoiced base). Half-width writes base + ﾞ.
const VOICED: [(char, char); 23] = [
    ('ガ', 'カ'),
    ('ギ', 'キ'),
    ('グ', 'ク'),
    ('ゲ', 'ケ'),
    ('ゴ', 'コ'),
    ('ザ', 'サ'),
    ('ジ', 'シ'),
    ('ズ', 'ス'),
    ('ゼ', 'セ'),
    ('ゾ', 'ソ'),
    ('ダ', 'タ'),
    ('ヂ', 'チ'),
    ('ヅ', 'ツ'),
    ('デ', 'テ'),
    ('ド', 'ト'),
    ('バ', 'ハ'),
    ('ビ', 'ヒ'),
    ('ブ', 'フ'),
    ('ベ', 'ヘ'),
    ('ボ', 'ホ'),
    ('ヴ', 'ウ'),
    ('ヷ', 'ワ'),
    ('ヺ', 'ヲ'),
];

/// (semi-voiced full-width, its base). Half-width writes base + ﾟ.
const SEMI_VOICED: [(char, char); 5] = [
    ('パ', 'ハ'),
    ('ピ', 'ヒ'),
    ('プ', 'フ'),
    ('ペ', 'ヘ'),
    ('ポ', 'ホ'),
];

/// Katakana with no half-width form, written with the nearest one (lossy; these are
/// rare in names: small ヮヵヶ and the historical ヰヱ).
const LOSSY: [(char, &str); 7] = [
    ('ヮ', "ﾜ"),
    ('ヵ', "ｶ"),
    ('ヶ', "ｹ"),
    ('ヰ', "ｲ"),
    ('ヱ', "ｴ"),
    ('ヸ', "ｲﾞ"),
    ('ヹ', "ｴﾞ"),
];

/// The half-width character for a full-width character of [`HALF_BLOCK_FULL`].
fn half_of_plain(full: char) -> Option<char> {
    let i = HALF_BLOCK_FULL.iter().position(|&c| c == full)?;
    char::from_u32(HALF_BLOCK_START + i as u32)
}

/// The full-width character for a half-width katakana block character.
fn full_of_half(half: char) -> Option<char> {
    let i = u32::from(half).checked_sub(HALF_BLOCK_START)?;
    HALF_BLOCK_FULL.get(i as usize).copied()
}

/// Hiragana ぁ–ゖ (U+3041–U+3096) to the katakana 0x60 above; other characters unchanged.
fn hiragana_to_katakana(c: char) -> char {
    if ('\u{3041}'..='\u{3096}').contains(&c) {
        char::from_u32(u32::from(c) + 0x60).unwrap_or(c)
    } else {
        c
    }
}

fn is_digit_like_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}')
}

/// Key for matching 記号 / 番号: full-width ASCII (digits, letters, hyphen) → half-width,
/// letters upper-cased, all spaces (half- and full-width) removed, hyphen-like characters
/// (U+2010–2015, U+2212, U+FF0D, U+30FC when between digits) → removed; leading zeros kept.
///
/// Also: ASCII `-` and U+FE63 count as hyphens (so `123-4` and `123－4` give the same
/// key), every Unicode white space is removed, and half-width katakana is first widened
/// with [`to_fullwidth_kana`] (so `ｱｲ` and `アイ` match; a half-width `ｰ` between digits is
/// removed like `ー`). Other characters (kanji, kana) are kept. The function is idempotent.
pub fn normalize_card_text(s: &str) -> String {
    let widened = to_fullwidth_kana(s);
    let mut chars: Vec<char> = Vec::with_capacity(widened.len());
    for c in widened.chars() {
        if c.is_whitespace() {
            continue;
        }
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if is_digit_like_hyphen(c) {
            continue;
        }
        chars.push(c.to_ascii_uppercase());
    }
    // Remove runs of ー that sit between two ASCII digits ("12ー34" → "1234"); elsewhere
    // ー is a long-vowel mark and is kept ("カード").
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == 'ー' {
            let start = i;
            while i < chars.len() && chars[i] == 'ー' {
                i += 1;
            }
            let before = start.checked_sub(1).and_then(|j| chars.get(j));
            let after = chars.get(i);
            let flanked = matches!((before, after), (Some(b), Some(a)) if b.is_ascii_digit() && a.is_ascii_digit());
            if !flanked {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Full-width katakana (and hiragana) to half-width katakana, as カナ氏名 travels on the wire
/// (ﾀﾞ as two characters); full-width space → half-width space.
///
/// Also converted: ヴ → ｳﾞ, small kana (ァ → ｧ …), ー → ｰ, 。「」、・ and the marks ゛゜
/// (spacing or combining U+3099/U+309A) → ﾞﾟ. Kana without a half-width form use the
/// nearest one (ヮ → ﾜ, ヵ → ｶ, ヶ → ｹ, ヰ → ｲ, ヱ → ｴ, ヸ → ｲﾞ, ヹ → ｴﾞ). Everything else
/// (kanji, ASCII, the iteration marks ゝゞヽヾ) is unchanged.
pub fn to_halfwidth_kana(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let k = hiragana_to_katakana(c);
        if k == '\u{3000}' {
            out.push(' ');
        } else if k == '\u{3099}' {
            out.push(HALF_VOICED);
        } else if k == '\u{309A}' {
            out.push(HALF_SEMI_VOICED);
        } else if let Some(h) = half_of_plain(k) {
            out.push(h);
        } else if let Some(&(_, base)) = VOICED.iter().find(|(v, _)| *v == k) {
            out.extend(half_of_plain(base));
            out.push(HALF_VOICED);
        } else if let Some(&(_, base)) = SEMI_VOICED.iter().find(|(v, _)| *v == k) {
            out.extend(half_of_plain(base));
            out.push(HALF_SEMI_VOICED);
        } else if let Some(&(_, h)) = LOSSY.iter().find(|(f, _)| *f == k) {
            out.push_str(h);
        } else {
            out.push(c);
        }
    }
    out
}

/// Half-width katakana to full-width, combining voiced marks (ﾀﾞ → ダ).
///
/// Half-width space → full-width space (the inverse of [`to_halfwidth_kana`] on カナ氏名).
/// A ﾞ/ﾟ that cannot combine with the previous character becomes the spacing mark ゛/゜.
/// Other characters are unchanged.
pub fn to_fullwidth_kana(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == ' ' {
            out.push('\u{3000}');
            continue;
        }
        let Some(full) = full_of_half(c) else {
            out.push(c);
            continue;
        };
        let combined = match it.peek() {
            Some(&HALF_VOICED) => VOICED.iter().find(|(_, b)| *b == full).map(|(v, _)| *v),
            Some(&HALF_SEMI_VOICED) => SEMI_VOICED
                .iter()
                .find(|(_, b)| *b == full)
                .map(|(v, _)| *v),
            _ => None,
        };
        match combined {
            Some(v) => {
                out.push(v);
                it.next();
            }
            None => out.push(full),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_the_half_width_block() {
        assert_eq!(full_of_half('｡'), Some('。'));
        assert_eq!(full_of_half('ｦ'), Some('ヲ'));
        assert_eq!(full_of_half('ｰ'), Some('ー'));
        assert_eq!(full_of_half('ｱ'), Some('ア'));
        assert_eq!(full_of_half('ﾝ'), Some('ン'));
        assert_eq!(full_of_half('ﾟ'), Some('゜'));
        assert_eq!(full_of_half('A'), None);
        assert_eq!(half_of_plain('ン'), Some('ﾝ'));
    }

    #[test]
    fn halfwidth_examples() {
        assert_eq!(to_halfwidth_kana("シンリョウ　タロウ"), "ｼﾝﾘｮｳ ﾀﾛｳ");
        assert_eq!(to_halfwidth_kana("しんりょう　たろう"), "ｼﾝﾘｮｳ ﾀﾛｳ");
        assert_eq!(to_halfwidth_kana("ダイゴ"), "ﾀﾞｲｺﾞ");
        assert_eq!(to_halfwidth_kana("パピプペポ"), "ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ");
        assert_eq!(to_halfwidth_kana("ヴァイオリン"), "ｳﾞｧｲｵﾘﾝ");
        assert_eq!(to_halfwidth_kana("ゔ"), "ｳﾞ");
        assert_eq!(to_halfwidth_kana("ラーメン"), "ﾗｰﾒﾝ");
        assert_eq!(to_halfwidth_kana("ァィゥェォッャュョ"), "ｧｨｩｪｫｯｬｭｮ");
        assert_eq!(to_halfwidth_kana("ヰヱヶヮ"), "ｲｴｹﾜ");
        assert_eq!(to_halfwidth_kana("カ\u{3099}"), "ｶﾞ");
        assert_eq!(to_halfwidth_kana("山田 ABC ヽ"), "山田 ABC ヽ");
        assert_eq!(to_halfwidth_kana("ｶﾞ"), "ｶﾞ");
    }

    #[test]
    fn fullwidth_examples() {
        assert_eq!(to_fullwidth_kana("ｼﾝﾘｮｳ ﾀﾛｳ"), "シンリョウ　タロウ");
        assert_eq!(to_fullwidth_kana("ﾀﾞｲｺﾞ"), "ダイゴ");
        assert_eq!(to_fullwidth_kana("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ"), "パピプペポ");
        assert_eq!(to_fullwidth_kana("ｳﾞｧｲｵﾘﾝ"), "ヴァイオリン");
        assert_eq!(to_fullwidth_kana("ﾜﾞｦﾞ"), "ヷヺ");
        assert_eq!(to_fullwidth_kana("ｱﾞﾏﾟ"), "ア゛マ゜");
        assert_eq!(to_fullwidth_kana("ﾞA1"), "゛A1");
        assert_eq!(to_fullwidth_kana("ﾗｰﾒﾝ｡"), "ラーメン。");
        assert_eq!(to_fullwidth_kana("漢字"), "漢字");
    }

    #[test]
    fn card_text_keys() {
        assert_eq!(normalize_card_text("ＡＢ１２３"), "AB123");
        assert_eq!(normalize_card_text("ab 123"), "AB123");
        assert_eq!(normalize_card_text("　０１２　３４ "), "01234");
        assert_eq!(normalize_card_text("123-4567"), "1234567");
        assert_eq!(normalize_card_text("123－4567"), "1234567");
        assert_eq!(normalize_card_text("123‐4567"), "1234567");
        assert_eq!(normalize_card_text("123―4567"), "1234567");
        assert_eq!(normalize_card_text("123−4567"), "1234567");
        assert_eq!(normalize_card_text("123ー4567"), "1234567");
        assert_eq!(normalize_card_text("123ｰ4567"), "1234567");
        assert_eq!(normalize_card_text("1ーー2"), "12");
        // ー as a long-vowel mark stays.
        assert_eq!(normalize_card_text("カード1"), "カード1");
        assert_eq!(normalize_card_text("1ーア"), "1ーア");
        assert_eq!(normalize_card_text("ｶｰﾄﾞ"), "カード");
        assert_eq!(normalize_card_text("京都 いろは"), "京都いろは");
        assert_eq!(normalize_card_text("0001"), "0001");
        assert_eq!(normalize_card_text(""), "");
    }
}
