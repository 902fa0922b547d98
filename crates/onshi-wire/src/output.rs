//! Writing messages: one walk over the message, two sinks (XML and JSON).
//!
//! The message types describe themselves once (element name, order, nesting) through
//! [`Sink`]; [`XmlSink`] turns that walk into indented XML and [`JsonSink`] into the
//! Web API JSON. Both build a `String` directly, which is simpler and faster than going
//! through a generic serializer, and makes the exact layout (indentation, omitted
//! optionals, list shapes) easy to see and to test.

use std::fmt::Write as _;

use encoding_rs::SHIFT_JIS;

use crate::Encoding;

/// Receives the structure of a message in output order.
pub(crate) trait Sink {
    /// A text leaf.
    fn leaf(&mut self, tag: &str, value: &str);
    /// Start of a nested element (`<tag>` / `"tag":{`).
    fn open(&mut self, tag: &str);
    /// End of a nested element.
    fn close(&mut self, tag: &str);
    /// Start of a list element (`<tag>` / `"tag":[`).
    fn open_list(&mut self, tag: &str);
    /// End of a list element.
    fn close_list(&mut self, tag: &str);
    /// Start of a run of repeated elements without a wrapper: nothing in XML, `"tag":[`
    /// in JSON. Each item is then written with `open_item(tag, false)`.
    fn open_repeat(&mut self, tag: &str);
    /// End of a run of repeated elements.
    fn close_repeat(&mut self, tag: &str);
    /// Start of a list item. XML: `<item_tag>`. JSON: `{` when flat, or
    /// `{"item_tag":{` when `wrapped` (the `ResultList` shape).
    fn open_item(&mut self, item_tag: &str, wrapped: bool);
    /// End of a list item.
    fn close_item(&mut self, item_tag: &str, wrapped: bool);
}

/// Indented XML text (UTF-8 in memory; see [`finish_xml`] for the bytes).
pub(crate) struct XmlSink {
    buf: String,
    depth: usize,
    /// An opening tag was written and its line not yet ended (so an element with no
    /// children can be closed on the same line).
    pending_open: bool,
    /// When set, the value written for `CharacterCodeIdentifier` (so it always agrees
    /// with the declaration).
    character_code: Option<&'static str>,
    /// Normalise text to CP932 forms (Shift_JIS output).
    cp932: bool,
}

impl XmlSink {
    pub fn new(encoding: Encoding, capacity: usize) -> Self {
        let mut buf = String::with_capacity(capacity);
        buf.push_str("<?xml version=\"1.0\" encoding=\"");
        buf.push_str(encoding.xml_label());
        buf.push_str("\" standalone=\"no\"?>\n");
        XmlSink {
            buf,
            depth: 0,
            pending_open: false,
            character_code: None,
            cp932: encoding == Encoding::ShiftJis,
        }
    }

    pub fn force_character_code(&mut self, code: &'static str) {
        self.character_code = Some(code);
    }

    fn indent(&mut self) {
        if self.pending_open {
            self.buf.push('\n');
            self.pending_open = false;
        }
        for _ in 0..self.depth {
            self.buf.push_str("    ");
        }
    }

    fn open_tag(&mut self, tag: &str) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self.pending_open = true;
        self.depth += 1;
    }

    fn close_tag(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        if self.pending_open {
            self.pending_open = false;
        } else {
            self.indent();
        }
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push_str(">\n");
    }

    pub fn into_string(self) -> String {
        self.buf
    }
}

impl Sink for XmlSink {
    fn leaf(&mut self, tag: &str, value: &str) {
        let value = match self.character_code {
            Some(code) if tag == "CharacterCodeIdentifier" => code,
            _ => value,
        };
        self.indent();
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        escape_xml_into(&mut self.buf, value, self.cp932);
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push_str(">\n");
    }
    fn open(&mut self, tag: &str) {
        self.open_tag(tag);
    }
    fn close(&mut self, tag: &str) {
        self.close_tag(tag);
    }
    fn open_list(&mut self, tag: &str) {
        self.open_tag(tag);
    }
    fn close_list(&mut self, tag: &str) {
        self.close_tag(tag);
    }
    fn open_repeat(&mut self, _tag: &str) {}
    fn close_repeat(&mut self, _tag: &str) {}
    fn open_item(&mut self, item_tag: &str, _wrapped: bool) {
        self.open_tag(item_tag);
    }
    fn close_item(&mut self, item_tag: &str, _wrapped: bool) {
        self.close_tag(item_tag);
    }
}

/// Escapes text for element content.
///
/// `& < > "` become entity references and CR becomes `&#13;` (so it survives the
/// parser's line-end normalisation). Characters XML 1.0 cannot carry at all (C0
/// controls other than TAB/LF/CR, U+FFFE, U+FFFF) are replaced by U+FFFD: the output is
/// always well-formed, and such characters have no business in these messages.
/// With `cp932`, characters are also replaced by their [`cp932_equivalent`].
///
/// Works on bytes: every character that needs attention starts with an ASCII byte or
/// one of the lead bytes C2, E2, E3, EF, so the common case is a plain copy.
pub(crate) fn escape_xml_into(out: &mut String, s: &str, cp932: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (rep, len): (&str, usize) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\r' => ("&#13;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1F => ("\u{FFFD}", 1),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => ("\u{FFFD}", 3),
            0xC2 | 0xE2 | 0xE3 if cp932 => {
                let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
                    i += 1;
                    continue;
                };
                let mapped = cp932_equivalent(c);
                if mapped == c {
                    i += c.len_utf8();
                    continue;
                }
                out.push_str(&s[start..i]);
                out.push(mapped);
                i += c.len_utf8();
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// The final bytes of an XML message in the requested encoding.
pub(crate) fn finish_xml(text: String, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => text.into_bytes(),
        Encoding::ShiftJis => {
            // The text was normalised with `cp932_equivalent` while escaping. encoding_rs
            // writes the characters CP932 still lacks as `&#NNNN;`, the policy we want
            // (see `Encoding::ShiftJis`).
            let (bytes, _, _) = SHIFT_JIS.encode(&text);
            bytes.into_owned()
        }
    }
}

/// The CP932 form of a character that JIS-based software writes differently.
pub fn cp932_equivalent(c: char) -> char {
    match c {
        '\u{301C}' => '\u{FF5E}', // WAVE DASH → FULLWIDTH TILDE
        '\u{2016}' => '\u{2225}', // DOUBLE VERTICAL LINE → PARALLEL TO
        '\u{2212}' => '\u{FF0D}', // MINUS SIGN → FULLWIDTH HYPHEN-MINUS
        '\u{00A2}' => '\u{FFE0}', // CENT SIGN → FULLWIDTH CENT SIGN
        '\u{00A3}' => '\u{FFE1}', // POUND SIGN → FULLWIDTH POUND SIGN
        '\u{00AC}' => '\u{FFE2}', // NOT SIGN → FULLWIDTH NOT SIGN
        '\u{2014}' => '\u{2015}', // EM DASH → HORIZONTAL BAR
        // Shift_JIS encoders map these to the ASCII bytes 0x5C / 0x7E, which decode as
        // `\` and `~`; the full-width forms survive the round trip.
        '\u{00A5}' => '\u{FFE5}', // YEN SIGN → FULLWIDTH YEN SIGN
        '\u{203E}' => '\u{FFE3}', // OVERLINE → FULLWIDTH MACRON
        c => c,
    }
}

/// Compact JSON text.
pub(crate) struct JsonSink {
    buf: String,
    need_comma: bool,
}

impl JsonSink {
    pub fn new(capacity: usize) -> Self {
        let mut buf = String::with_capacity(capacity);
        buf.push('{');
        JsonSink {
            buf,
            need_comma: false,
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push('}');
        self.buf.into_bytes()
    }

    fn comma(&mut self) {
        if self.need_comma {
            self.buf.push(',');
        }
    }

    fn key(&mut self, tag: &str) {
        self.comma();
        escape_json_into(&mut self.buf, tag);
        self.buf.push(':');
    }
}

impl Sink for JsonSink {
    fn leaf(&mut self, tag: &str, value: &str) {
        self.key(tag);
        escape_json_into(&mut self.buf, value);
        self.need_comma = true;
    }
    fn open(&mut self, tag: &str) {
        self.key(tag);
        self.buf.push('{');
        self.need_comma = false;
    }
    fn close(&mut self, _tag: &str) {
        self.buf.push('}');
        self.need_comma = true;
    }
    fn open_list(&mut self, tag: &str) {
        self.key(tag);
        self.buf.push('[');
        self.need_comma = false;
    }
    fn close_list(&mut self, _tag: &str) {
        self.buf.push(']');
        self.need_comma = true;
    }
    fn open_repeat(&mut self, tag: &str) {
        self.open_list(tag);
    }
    fn close_repeat(&mut self, tag: &str) {
        self.close_list(tag);
    }
    fn open_item(&mut self, item_tag: &str, wrapped: bool) {
        self.comma();
        self.buf.push('{');
        self.need_comma = false;
        if wrapped {
            self.key(item_tag);
            self.buf.push('{');
        }
    }
    fn close_item(&mut self, _item_tag: &str, wrapped: bool) {
        self.buf.push('}');
        if wrapped {
            self.buf.push('}');
        }
        self.need_comma = true;
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn escape_json_into(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if rep.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(rep);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Is `c` allowed in XML 1.0 character data (`Char` production)?
    fn xml_char_allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }

    /// Every character either survives Shift_JIS output (after the CP932 normalisation)
    /// or becomes a numeric character reference: nothing is dropped or silently changed.
    #[test]
    fn every_char_survives_shift_jis_or_becomes_ncr() {
        for c in (0x20u32..=0x10FFFF).filter_map(char::from_u32) {
            if matches!(c, '&' | '<' | '>' | '"') || !xml_char_allowed(c) {
                continue;
            }
            let mut text = String::new();
            escape_xml_into(&mut text, c.encode_utf8(&mut [0; 4]), true);
            let bytes = finish_xml(text, Encoding::ShiftJis);
            let (back, had_errors) = SHIFT_JIS.decode_without_bom_handling(&bytes);
            assert!(!had_errors, "{c:?}");
            let normalised = cp932_equivalent(c);
            if back.starts_with("&#") {
                assert_eq!(back, format!("&#{};", normalised as u32), "{c:?}");
            } else {
                assert_eq!(back.chars().collect::<Vec<_>>(), vec![normalised], "{c:?}");
            }
        }
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        escape_xml_into(
            &mut s,
            "a&b<c>d\"e'f\rg\u{1}h\u{FFFF}i\u{FFFE}\u{FFFD}\t\n〜é",
            false,
        );
        assert_eq!(
            s,
            "a&amp;b&lt;c&gt;d&quot;e'f&#13;g\u{FFFD}h\u{FFFD}i\u{FFFD}\u{FFFD}\t\n〜é"
        );
        let mut s = String::new();
        escape_xml_into(&mut s, "〜‖−¢£¬—¥‾<髙", true);
        assert_eq!(s, "～∥－￠￡￢―￥￣&lt;髙");
        let mut j = String::new();
        escape_json_into(&mut j, "a\"b\\c\nd\u{1}é");
        assert_eq!(j, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }
}
