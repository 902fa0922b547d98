//! From untrusted bytes to a small element tree.
//!
//! Both XML and JSON are read into the same [`Node`] tree (name, text, children), and
//! the message types are read from that tree by one piece of code per type. That is
//! what keeps the XML and JSON forms from drifting apart. The tree borrows from the
//! (decoded) input wherever it can, so a request costs a handful of small allocations.
//!
//! JSON arrays become nodes whose children have an empty name (`""`); the readers in
//! [`crate::record`] accept those as list items, which is how the flat JSON
//! `SpecificDiseasesCertificateList` and the nested XML form meet.
//!
//! The checks run in this order, each before the more expensive next step: size,
//! DOCTYPE/ENTITY, encoding, nesting depth while parsing, then the message shape.

use std::borrow::Cow;

use encoding_rs::SHIFT_JIS;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

use crate::{Encoding, Limits, WireError};

/// One element (XML) or member (JSON) of the input.
#[derive(Debug, Default)]
pub(crate) struct Node<'a> {
    /// Local element name; `""` for a JSON array item.
    pub name: Cow<'a, str>,
    /// Character data directly inside the element (for leaves).
    pub text: Option<Cow<'a, str>>,
    /// Child elements in document order.
    pub children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    /// The first child with this name.
    pub fn child(&self, name: &str) -> Option<&Node<'a>> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// The text of a leaf; `None` when absent, empty or only XML white space.
pub(crate) fn leaf_text(node: &Node<'_>) -> Option<String> {
    match &node.text {
        Some(t) if !t.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) => {
            Some(t.to_string())
        }
        _ => None,
    }
}

pub(crate) fn check_size(bytes: &[u8], limits: &Limits) -> Result<(), WireError> {
    if bytes.len() > limits.max_bytes {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    Ok(())
}

/// Refuses `<!DOCTYPE` and `<!ENTITY` (any case) anywhere in the raw bytes.
///
/// Working on bytes is sound for Shift_JIS too: `<` (0x3C) is never a trail byte.
fn check_no_doctype(bytes: &[u8]) -> Result<(), WireError> {
    let mut rest = bytes;
    while let Some(pos) = rest.iter().position(|&b| b == b'<') {
        let after = &rest[pos + 1..];
        if after.first() == Some(&b'!') {
            let word = &after[1..after.len().min(8)];
            if word.eq_ignore_ascii_case(b"DOCTYPE")
                || word
                    .get(..6)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"ENTITY"))
            {
                return Err(WireError::DoctypeForbidden);
            }
        }
        rest = after;
    }
    Ok(())
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Finds the `encoding` pseudo-attribute of a leading XML declaration.
///
/// Returns `Ok(None)` when there is no declaration or it names no encoding.
fn declared_encoding(bytes: &[u8]) -> Result<Option<String>, WireError> {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    if !rest.starts_with(b"<?xml") || !rest.get(5).is_some_and(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let Some(end) = rest.windows(2).position(|w| w == b"?>") else {
        return Err(WireError::Malformed(
            "XML宣言が閉じていません (unterminated XML declaration)".into(),
        ));
    };
    let decl = &rest[..end];
    let Some(pos) = decl.windows(8).position(|w| w == b"encoding") else {
        return Ok(None);
    };
    let mut i = pos + 8;
    while decl.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    if decl.get(i) != Some(&b'=') {
        return Err(WireError::Malformed(
            "XML宣言のencodingが正しくありません".into(),
        ));
    }
    i += 1;
    while decl.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    let quote = match decl.get(i) {
        Some(q @ (b'"' | b'\'')) => *q,
        _ => {
            return Err(WireError::Malformed(
                "XML宣言のencodingが正しくありません".into(),
            ));
        }
    };
    let value = &decl[i + 1..];
    let Some(close) = value.iter().position(|&b| b == quote) else {
        return Err(WireError::Malformed(
            "XML宣言のencodingが正しくありません".into(),
        ));
    };
    let value = &value[..close];
    if !value.iter().all(|b| b.is_ascii_graphic()) {
        return Err(WireError::UnsupportedEncoding(
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    Ok(Some(String::from_utf8_lossy(value).into_owned()))
}

/// Checks size and DOCTYPE, detects the encoding and decodes the bytes to text.
pub(crate) fn decode_xml_text<'b>(
    bytes: &'b [u8],
    limits: &Limits,
) -> Result<(Cow<'b, str>, Encoding), WireError> {
    check_size(bytes, limits)?;
    check_no_doctype(bytes)?;
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(WireError::UnsupportedEncoding("UTF-16".into()));
    }
    let (bom, body) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let declared = declared_encoding(body)?;
    let encoding = match &declared {
        None => Encoding::Utf8,
        Some(label) => Encoding::from_label(label)
            .ok_or_else(|| WireError::UnsupportedEncoding(label.clone()))?,
    };
    match encoding {
        Encoding::Utf8 => match std::str::from_utf8(body) {
            Ok(text) => Ok((Cow::Borrowed(text), encoding)),
            Err(e) => {
                let reason = format!(
                    "UTF-8として正しくないバイト列 (byte {})",
                    e.valid_up_to() + usize::from(bom) * 3
                );
                Err(match declared {
                    Some(declared) => WireError::EncodingMismatch { declared, reason },
                    None => WireError::InvalidBytes(format!(
                        "{reason}; 文字コード宣言がないためUTF-8として読みました"
                    )),
                })
            }
        },
        Encoding::ShiftJis => {
            let declared = declared.unwrap_or_default();
            if bom {
                return Err(WireError::EncodingMismatch {
                    declared,
                    reason: "UTF-8のBOMがあります".into(),
                });
            }
            match SHIFT_JIS.decode_without_bom_handling_and_without_replacement(body) {
                Some(text) => Ok((text, encoding)),
                None => Err(WireError::EncodingMismatch {
                    declared,
                    reason: "Shift_JIS (CP932) として正しくないバイト列があります".into(),
                }),
            }
        }
    }
}

/// Re-borrows `part` from `whole` when it is a slice of it (as quick-xml's names are
/// when reading from a `&str`); otherwise copies it. Safe pointer arithmetic only.
fn reborrow<'a>(whole: &'a str, part: &str) -> Cow<'a, str> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if let Some(end) = start.checked_add(part.len())
        && let Some(s) = whole.get(start..end)
        && s.as_ptr() == part.as_ptr()
    {
        return Cow::Borrowed(s);
    }
    Cow::Owned(part.to_owned())
}

fn push_text<'a>(slot: &mut Option<Cow<'a, str>>, chunk: Cow<'a, str>) {
    match slot {
        None => *slot = Some(chunk),
        Some(existing) => existing.to_mut().push_str(&chunk),
    }
}

fn malformed(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> WireError {
    WireError::Malformed(format!("{e} (byte {})", reader.error_position()))
}

/// Parses decoded XML text into a tree; the root must be `expected_root`.
pub(crate) fn parse_xml<'a>(
    text: &'a str,
    limits: &Limits,
    expected_root: &'static str,
) -> Result<Node<'a>, WireError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node<'a>> = Vec::with_capacity(8);
    let mut root: Option<Node<'a>> = None;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&reader, e))?;
        match event {
            Event::Start(e) => {
                if root.is_some() {
                    return Err(WireError::Malformed(
                        "ルート要素の後に要素があります".into(),
                    ));
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(WireError::TooDeep);
                }
                let name = reborrow(text, e.local_name().into_inner());
                if stack.is_empty() && name != expected_root {
                    return Err(WireError::WrongRoot {
                        expected: expected_root,
                        found: name.into_owned(),
                    });
                }
                stack.push(Node {
                    name,
                    text: None,
                    children: Vec::new(),
                });
            }
            Event::Empty(e) => {
                if root.is_some() {
                    return Err(WireError::Malformed(
                        "ルート要素の後に要素があります".into(),
                    ));
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(WireError::TooDeep);
                }
                let name = reborrow(text, e.local_name().into_inner());
                let node = Node {
                    name,
                    text: None,
                    children: Vec::new(),
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => {
                        if node.name != expected_root {
                            return Err(WireError::WrongRoot {
                                expected: expected_root,
                                found: node.name.into_owned(),
                            });
                        }
                        root = Some(node);
                    }
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err(malformed(&reader, "対応する開始タグがありません"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let chunk = t.xml10_content();
                match stack.last_mut() {
                    // Text after the first child is indentation between elements.
                    Some(top) if top.children.is_empty() => push_text(&mut top.text, chunk),
                    Some(_) => {}
                    None => {
                        if !chunk
                            .bytes()
                            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                        {
                            return Err(WireError::Malformed(
                                "ルート要素の外に文字データがあります".into(),
                            ));
                        }
                    }
                }
            }
            Event::CData(c) => {
                let chunk = c.xml10_content();
                match stack.last_mut() {
                    Some(top) if top.children.is_empty() => push_text(&mut top.text, chunk),
                    Some(_) => {}
                    None => {
                        return Err(WireError::Malformed(
                            "ルート要素の外にCDATAがあります".into(),
                        ));
                    }
                }
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'a, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => Cow::Owned(ch.to_string()),
                        Ok(None) | Err(_) => {
                            return Err(malformed(
                                &reader,
                                format!("文字参照 &{}; が正しくありません", &*r),
                            ));
                        }
                    }
                } else {
                    match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => {
                            return Err(malformed(
                                &reader,
                                format!("未定義の実体参照 &{}; があります", &*r),
                            ));
                        }
                    }
                };
                match stack.last_mut() {
                    Some(top) if top.children.is_empty() => push_text(&mut top.text, resolved),
                    Some(_) => {}
                    None => {
                        return Err(WireError::Malformed(
                            "ルート要素の外に参照があります".into(),
                        ));
                    }
                }
            }
            Event::DocType(_) => return Err(WireError::DoctypeForbidden),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(WireError::Malformed(format!(
                        "文書が途中で終わっています（<{}> が閉じていません）",
                        open.name
                    )));
                }
                return root.ok_or_else(|| WireError::Malformed("ルート要素がありません".into()));
            }
        }
    }
}

/// Largest nesting of JSON objects and arrays, counted without parsing (strings are
/// skipped), so that hostile nesting is refused before `serde_json` builds anything.
fn json_depth_exceeds(text: &str, max_depth: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in text.bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses JSON bytes into a `serde_json::Value`, checking size, bytes and depth.
pub(crate) fn parse_json_value(bytes: &[u8], limits: &Limits) -> Result<Value, WireError> {
    check_size(bytes, limits)?;
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(body).map_err(|e| {
        WireError::InvalidBytes(format!(
            "JSONはUTF-8でなければなりません (byte {})",
            e.valid_up_to()
        ))
    })?;
    if json_depth_exceeds(text, limits.max_depth) {
        return Err(WireError::TooDeep);
    }
    serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))
}

/// The `XmlMsg` member of a parsed JSON document, as a tree.
pub(crate) fn json_root<'a>(
    value: &'a Value,
    expected_root: &'static str,
) -> Result<Node<'a>, WireError> {
    let Value::Object(map) = value else {
        return Err(WireError::Json(
            "最上位はオブジェクトでなければなりません".into(),
        ));
    };
    let Some(inner) = map.get(expected_root) else {
        return Err(WireError::WrongRoot {
            expected: expected_root,
            found: map.keys().next().cloned().unwrap_or_default(),
        });
    };
    if !inner.is_object() {
        return Err(WireError::Json(format!(
            "\"{expected_root}\" はオブジェクトでなければなりません"
        )));
    }
    Ok(json_node(Cow::Borrowed(expected_root), inner)?.unwrap_or_default())
}

fn json_node<'a>(name: Cow<'a, str>, value: &'a Value) -> Result<Option<Node<'a>>, WireError> {
    let node = match value {
        Value::Null => return Ok(None),
        Value::String(s) => Node {
            name,
            text: Some(Cow::Borrowed(s.as_str())),
            children: Vec::new(),
        },
        Value::Bool(_) | Value::Number(_) => {
            return Err(WireError::Json(format!(
                "\"{name}\" の値は文字列でなければなりません"
            )));
        }
        Value::Object(map) => {
            let mut children = Vec::with_capacity(map.len());
            for (k, v) in map {
                if let Some(child) = json_node(Cow::Borrowed(k.as_str()), v)? {
                    children.push(child);
                }
            }
            Node {
                name,
                text: None,
                children,
            }
        }
        Value::Array(items) => {
            let mut children = Vec::with_capacity(items.len());
            for item in items {
                if item.is_array() {
                    return Err(WireError::Json(format!(
                        "\"{name}\" の配列の要素に配列は使えません"
                    )));
                }
                if let Some(child) = json_node(Cow::Borrowed(""), item)? {
                    children.push(child);
                }
            }
            Node {
                name,
                text: None,
                children,
            }
        }
    };
    Ok(Some(node))
}
