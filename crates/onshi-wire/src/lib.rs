//! The `XmlMsg` messages of the qualification interface (オンライン資格確認), as bytes.
//!
//! Receipt computers talk to the system with `XmlMsg` envelopes: XML files in UTF-8 or
//! Shift_JIS on the file interface, and the same tree as JSON on the Web API
//! (`ons-interface.md` §1–§2). This crate turns those bytes into plain Rust structs and
//! back. It deliberately does **not** validate domain rules: every leaf is a `String`
//! (or `Option<String>` where the element is optional) holding exactly what was on the
//! wire, leading zeros and space padding included. The central service parses the
//! strings into domain types; keeping the two apart means a wrong insurer number is a
//! domain error with a domain message, not an XML error.
//!
//! # Input rules (all decoders)
//!
//! * The size limit ([`Limits::max_bytes`]) is checked before anything else.
//! * `<!DOCTYPE` and `<!ENTITY` anywhere in the bytes are refused
//!   ([`WireError::DoctypeForbidden`]) before parsing: there is no legitimate use for a
//!   DTD here and refusing it closes the entity-expansion family of attacks.
//! * The encoding comes from the XML declaration (UTF-8, or Shift_JIS under any of its
//!   usual labels); no declaration means UTF-8, and a UTF-8 BOM is accepted. Bytes that
//!   do not decode cleanly in the declared encoding are an error, never replaced.
//! * Nesting deeper than [`Limits::max_depth`] is refused.
//! * Empty and whitespace-only elements (XML white space: space, tab, CR, LF) mean
//!   "absent". Nothing else is trimmed: `"  138057"` stays `"  138057"`.
//! * Unknown elements are ignored; the first non-empty occurrence of a repeated leaf
//!   wins; namespace prefixes are ignored (the local name is used).
//! * No decoder panics on any input (there is a property test for it).
//!
//! # Output rules
//!
//! * `<?xml version="1.0" encoding="UTF-8" standalone="no"?>` (or `Shift_JIS`), LF line
//!   ends, 4-space indentation, absent optionals omitted entirely, as in real outputs.
//! * Element order follows the real outputs where they are known (`ons-interface.md`
//!   §1.4); elements not seen in a real output follow, in the §2.2/§4 order.
//! * Shift_JIS output policy: see [`Encoding::ShiftJis`].
//!
//! The hot path (decode a request, encode a response) is hand-written on top of
//! `quick_xml::Reader` events and plain string building: it costs a few microseconds,
//! see `examples/wire_speed.rs`.

mod error;
pub(crate) mod input;
pub(crate) mod output;
#[macro_use]
pub(crate) mod record;
#[macro_use]
pub(crate) mod envelope;
pub mod insurer;
pub mod medinfo;
pub mod muquc;
pub mod siimm;
pub mod siquc01;

pub use error::WireError;
pub use output::cp932_equivalent;

/// The character encoding of an XML message.
///
/// Both are accepted on input. On output:
///
/// * [`Encoding::Utf8`] writes the text as is.
/// * [`Encoding::ShiftJis`] writes Windows-31J (CP932, which is what `encoding_rs` calls
///   Shift_JIS, and what the Windows-based terminals and receipt computers use). Before
///   encoding, the characters that JIS and CP932 map differently are normalised to their
///   CP932 form: U+301C WAVE DASH → U+FF5E, U+2016 → U+2225, U+2212 → U+FF0D,
///   U+00A2/U+00A3/U+00AC → U+FFE0/U+FFE1/U+FFE2, U+2014 → U+2015, and U+00A5 → U+FFE5,
///   U+203E → U+FFE3 (which would otherwise come back as `\` and `~`); see
///   [`cp932_equivalent`]. Characters that
///   still have no CP932 code (e.g. 𠮷 U+20BB7, emoji) are **not dropped**: they are
///   written as XML numeric character references (`&#134071;`), which every XML parser
///   (including this crate's) turns back into the character. IBM extension kanji such
///   as 髙 U+9AD9 are encoded natively (`FB FC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// UTF-8 (`CharacterCodeIdentifier` 0).
    #[default]
    Utf8,
    /// Shift_JIS as Windows-31J / CP932 (`CharacterCodeIdentifier` 1).
    ShiftJis,
}

impl Encoding {
    /// The OQSCD005 code: `"0"` UTF-8, `"1"` Shift_JIS (`ons-interface.md` §11).
    pub fn character_code_identifier(self) -> &'static str {
        match self {
            Encoding::Utf8 => "0",
            Encoding::ShiftJis => "1",
        }
    }

    /// The encoding named by an OQSCD005 code (`"0"` or `"1"`).
    pub fn from_character_code_identifier(code: &str) -> Option<Encoding> {
        match code {
            "0" => Some(Encoding::Utf8),
            "1" => Some(Encoding::ShiftJis),
            _ => None,
        }
    }

    /// The label written in the XML declaration.
    pub fn xml_label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS",
        }
    }

    /// The encoding for a declaration label (case-insensitive): `UTF-8`, `utf8`,
    /// `Shift_JIS`, `SHIFT-JIS`, `sjis`, `windows-31j`, `cp932`, `ms932`, … .
    pub fn from_label(label: &str) -> Option<Encoding> {
        let l = label.trim().to_ascii_lowercase();
        match l.as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "shift_jis" | "shift-jis" | "shiftjis" | "sjis" | "s-jis" | "x-sjis"
            | "windows-31j" | "cp932" | "ms932" | "ms_kanji" | "csshiftjis" | "cswindows31j" => {
                Some(Encoding::ShiftJis)
            }
            _ => None,
        }
    }
}

/// Resource limits for decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes (checked before any parsing).
    pub max_bytes: usize,
    /// Deepest accepted element nesting (the root element is depth 1; for JSON each
    /// object or array is one level).
    pub max_depth: usize,
}

impl Limits {
    /// Limits for bulk messages (`OQSmuquc`): 32 MiB, depth 16. A 10,000-patient
    /// `OQSmuquc01req` is about 4 MiB and the matching `OQSmuquc02res` about 20 MiB.
    pub fn bulk() -> Self {
        Limits {
            max_bytes: 32 * 1024 * 1024,
            max_depth: 16,
        }
    }
}

impl Default for Limits {
    /// 1 MiB and depth 16: a result with every element is about 14 KiB and 7 levels deep.
    fn default() -> Self {
        Limits {
            max_bytes: 1024 * 1024,
            max_depth: 16,
        }
    }
}
