//! Insurer registration files (`docs/insurer.md`): the same rows in three forms.
//!
//! * **CSV** (UTF-8, optional BOM): a header line naming the columns (any order, any
//!   subset of [`COLUMNS`]), then one row per line; RFC 4180 quoting; blank lines and
//!   lines starting with `#` are skipped.
//! * **XML**: `XmlMsg/MessageBody/RegistrationList/Registration`, one child element per
//!   column (the XML names of [`COLUMNS`]); UTF-8 or Shift_JIS, with the same hardening
//!   as every other message (size, DOCTYPE, depth).
//! * **JSON** (single requests): one object, or an array of objects, keyed by the CSV
//!   names.
//!
//! As everywhere in this crate, values stay strings: a wrong check digit is the insurer
//! API's business, not a decoding error. A row whose syntax is broken (a CSV line with
//! the wrong number of fields) is returned with [`RawRow::error`] set, so that the caller
//! can report it and still apply the others; only a file that cannot be read at all
//! (unknown column, not UTF-8, malformed XML) is an error here.

use crate::input::{Node, decode_xml_text, leaf_text, parse_json_value, parse_xml};
use crate::{Limits, WireError};
use std::collections::HashMap;

/// Column names: (CSV / JSON name, XML element name).
pub const COLUMNS: &[(&str, &str)] = &[
    ("op", "Operation"),
    ("insurer_number", "InsurerNumber"),
    ("symbol", "InsuredCardSymbol"),
    ("number", "InsuredIdentificationNumber"),
    ("branch", "InsuredBranchNumber"),
    ("personal_family", "PersonalFamilyClassification"),
    ("head_branch", "HeadBranchNumber"),
    ("name", "Name"),
    ("name_kana", "NameKana"),
    ("birthdate", "Birthdate"),
    ("sex", "Sex"),
    ("address", "Address"),
    ("date", "Date"),
    ("reason", "ReasonOfLoss"),
    ("card_classification", "InsuredCardClassification"),
    ("valid_from", "ValidFrom"),
    ("valid_to", "ValidTo"),
    ("income", "IncomeCategory"),
    ("new_symbol", "NewInsuredCardSymbol"),
    ("new_number", "NewInsuredIdentificationNumber"),
    ("new_branch", "NewInsuredBranchNumber"),
    ("ratio", "ContributionRatio"),
    ("classification", "LimitCertificateClassification"),
    ("flag", "LimitClassificationFlag"),
    ("long_term_date", "LongTermDate"),
    ("category", "SpecificDiseaseCategory"),
    ("self_pay", "SelfPay"),
    ("insist", "Insist"),
];

/// The file forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Csv,
    Xml,
    Json,
}

/// One row as written: column → value (absent and empty values are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRow {
    /// 1-based line (CSV), or position in the file (XML, JSON).
    pub line: usize,
    pub values: HashMap<&'static str, String>,
    /// Why the row could not be read, if it could not.
    pub error: Option<String>,
}

impl RawRow {
    pub fn get(&self, column: &str) -> Option<&str> {
        self.values.get(column).map(String::as_str)
    }
}

fn column(name: &str) -> Option<&'static str> {
    COLUMNS.iter().find(|(c, _)| *c == name).map(|(c, _)| *c)
}

fn column_of_xml(name: &str) -> Option<&'static str> {
    COLUMNS.iter().find(|(_, x)| *x == name).map(|(c, _)| *c)
}

/// Reads a registration file.
pub fn decode_batch(
    bytes: &[u8],
    format: BatchFormat,
    limits: &Limits,
) -> Result<Vec<RawRow>, WireError> {
    match format {
        BatchFormat::Csv => decode_csv(bytes, limits),
        BatchFormat::Xml => decode_xml(bytes, limits),
        BatchFormat::Json => decode_json(bytes, limits),
    }
}

fn decode_csv(bytes: &[u8], limits: &Limits) -> Result<Vec<RawRow>, WireError> {
    crate::input::check_size(bytes, limits)?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(body).map_err(|e| {
        WireError::InvalidBytes(format!(
            "CSVはUTF-8でなければなりません (byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut records = CsvRecords::new(text);
    let header = match records.next() {
        None => return Ok(Vec::new()),
        Some((_, Err(e))) => return Err(WireError::Malformed(format!("見出し行: {e}"))),
        Some((_, Ok(fields))) => fields,
    };
    let mut names = Vec::with_capacity(header.len());
    for h in &header {
        let h = h.trim();
        let c = column(h).ok_or_else(|| WireError::Malformed(format!("未知の列名「{h}」")))?;
        if names.contains(&c) {
            return Err(WireError::Malformed(format!("列名「{h}」が重複しています")));
        }
        names.push(c);
    }
    let mut rows = Vec::new();
    for (line, fields) in records {
        let mut row = RawRow {
            line,
            ..Default::default()
        };
        match fields {
            Err(e) => row.error = Some(e),
            Ok(fields) if fields.len() != names.len() => {
                row.error = Some(format!(
                    "列の数が見出し行と違います（{}列、見出し{}列）",
                    fields.len(),
                    names.len()
                ));
            }
            Ok(fields) => {
                for (name, value) in names.iter().zip(fields) {
                    if !value.trim().is_empty() {
                        row.values.insert(name, value);
                    }
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// RFC 4180 records with the line each starts on; skips blank and `#` lines.
struct CsvRecords<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        CsvRecords {
            rest: text,
            line: 1,
        }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = (usize, Result<Vec<String>, String>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let end = self.rest.find('\n').unwrap_or(self.rest.len());
            let first = self.rest[..end].trim_end_matches('\r');
            if first.trim().is_empty() || first.starts_with('#') {
                self.rest = self.rest.get(end + 1..).unwrap_or("");
                self.line += 1;
                continue;
            }
            break;
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut quoted = false;
        let mut at_field_start = true;
        let mut error: Option<String> = None;
        let mut consumed = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if quoted {
                match c {
                    '"' if matches!(chars.peek(), Some((_, '"'))) => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        self.line += 1;
                        field.push('\n');
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                '"' => {
                    error.get_or_insert_with(|| "引用符の位置が正しくありません".into());
                    field.push(c);
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\n' => {
                    consumed = i + 1;
                    break;
                }
                '\r' if matches!(chars.peek(), Some((_, '\n')) | None) => {}
                _ => {
                    field.push(c);
                    at_field_start = false;
                }
            }
        }
        if quoted {
            error.get_or_insert_with(|| "引用符が閉じられていません".into());
        }
        fields.push(field);
        self.rest = self.rest.get(consumed..).unwrap_or("");
        self.line += 1;
        Some((
            start_line,
            match error {
                Some(e) => Err(e),
                None => Ok(fields),
            },
        ))
    }
}

fn decode_xml(bytes: &[u8], limits: &Limits) -> Result<Vec<RawRow>, WireError> {
    let (text, _) = decode_xml_text(bytes, limits)?;
    let root = parse_xml(&text, limits, "XmlMsg")?;
    let body = crate::envelope::required(&root, "MessageBody")?;
    let list = crate::envelope::required(body, "RegistrationList")?;
    let mut rows = Vec::new();
    for (n, item) in list
        .children
        .iter()
        .filter(|c| c.name == "Registration")
        .enumerate()
    {
        rows.push(row_of_node(n + 1, item, column_of_xml));
    }
    Ok(rows)
}

fn row_of_node(line: usize, node: &Node<'_>, name: fn(&str) -> Option<&'static str>) -> RawRow {
    let mut row = RawRow {
        line,
        ..Default::default()
    };
    for child in &node.children {
        match name(&child.name) {
            Some(c) => {
                if let Some(v) = leaf_text(child)
                    && !row.values.contains_key(c)
                {
                    row.values.insert(c, v);
                }
            }
            None => {
                row.error
                    .get_or_insert_with(|| format!("未知の項目「{}」", child.name));
            }
        }
    }
    row
}

fn decode_json(bytes: &[u8], limits: &Limits) -> Result<Vec<RawRow>, WireError> {
    let value = parse_json_value(bytes, limits)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        v @ serde_json::Value::Object(_) => vec![v],
        _ => {
            return Err(WireError::Json(
                "登録はオブジェクトまたはオブジェクトの配列で送信してください".into(),
            ));
        }
    };
    let mut rows = Vec::with_capacity(items.len());
    for (n, item) in items.into_iter().enumerate() {
        let mut row = RawRow {
            line: n + 1,
            ..Default::default()
        };
        let serde_json::Value::Object(map) = item else {
            row.error = Some("オブジェクトではありません".into());
            rows.push(row);
            continue;
        };
        for (k, v) in map {
            let Some(c) = column(&k) else {
                row.error
                    .get_or_insert_with(|| format!("未知の項目「{k}」"));
                continue;
            };
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => {
                    row.error
                        .get_or_insert_with(|| format!("項目「{k}」は文字列で指定してください"));
                    continue;
                }
            };
            if !text.trim().is_empty() {
                row.values.insert(c, text);
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Writes rows as CSV with the given columns (used by the CLI and the benchmark to make
/// files, and by tests).
pub fn encode_csv(columns: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::with_capacity(rows.len() * 160 + 200);
    push_csv_line(&mut out, columns.iter().copied());
    for r in rows {
        push_csv_line(&mut out, r.iter().map(String::as_str));
    }
    out
}

fn push_csv_line<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn csv_rows_keep_their_line_and_bad_rows_do_not_stop_the_file() {
        let csv = "\u{feff}op,number,name\n# comment\n\nacquire,12,\"山田　花子\"\nlose,\"1,2\"\nacquire,\"multi\nline\",x\n";
        let rows = decode_batch(csv.as_bytes(), BatchFormat::Csv, &Limits::bulk()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 4);
        assert_eq!(rows[0].get("name"), Some("山田　花子"));
        assert_eq!(rows[1].line, 5);
        assert!(rows[1].error.is_some(), "two fields under three headers");
        assert_eq!(rows[2].line, 6);
        assert_eq!(rows[2].get("number"), Some("multi\nline"));
    }

    #[test]
    fn unknown_columns_refuse_the_file() {
        let e = decode_batch(b"op,nmuber\n", BatchFormat::Csv, &Limits::bulk()).unwrap_err();
        assert!(matches!(e, WireError::Malformed(_)));
    }

    #[test]
    fn xml_and_json_give_the_same_rows_as_csv() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><XmlMsg><MessageBody><RegistrationList>\
            <Registration><Operation>acquire</Operation><InsuredIdentificationNumber>12</InsuredIdentificationNumber>\
            <Name>山田　花子</Name></Registration></RegistrationList></MessageBody></XmlMsg>";
        let json = r#"{"op":"acquire","number":"12","name":"山田　花子"}"#;
        let csv = "op,number,name\nacquire,12,山田　花子\n";
        let x = decode_batch(xml.as_bytes(), BatchFormat::Xml, &Limits::bulk()).unwrap();
        let j = decode_batch(json.as_bytes(), BatchFormat::Json, &Limits::bulk()).unwrap();
        let c = decode_batch(csv.as_bytes(), BatchFormat::Csv, &Limits::bulk()).unwrap();
        assert_eq!(x[0].values, c[0].values);
        assert_eq!(j[0].values, c[0].values);
        let enc = encode_csv(
            &["op", "number", "name"],
            &[vec!["acquire".into(), "1,2".into(), "a\"b".into()]],
        );
        let back = decode_batch(enc.as_bytes(), BatchFormat::Csv, &Limits::bulk()).unwrap();
        assert_eq!(back[0].get("number"), Some("1,2"));
        assert_eq!(back[0].get("name"), Some("a\"b"));
    }
}
