//! 一括照会 from the browser: upload a file of patients (the receipt computers'
//! `OQSmuquc01req` XML as it is, or a CSV of 保険者番号,記号,番号,枝番,生年月日[,任意識別子]
//! for a list typed up or exported from a booking book), follow it (処理中 → 完了) and show
//! each patient's result. Any role may use it.
//!
//! The upload goes to central's `/oqs/v1/bulk` in the JSON form of the same message and
//! the results come from `/oqs/v1/bulk/result`, like the file interface's; the terminal
//! only remembers which uploads were made from its screens (`staff_bulk`), so that the
//! list survives a restart. Central answers results only to the facility that uploaded.

use super::check::ratio;
use super::medical::wire_date;
use super::*;
use axum::body::Bytes;
use onshi_wire::muquc;
use onshi_wire::siquc01::{RequestHeader, SearchInfo};

/// Most bytes of an upload (20,000 patients of XML fit).
pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;

/// Uploads listed on the page.
const LISTED: i64 = 50;

/// One part of a `multipart/form-data` body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

fn disposition_param(line: &str, key: &str) -> Option<String> {
    line.split(';').map(str::trim).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts of a `multipart/form-data` body (RFC 7578) whose boundary is in
/// `content_type`; `None` when it is not one.
pub(crate) fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let (essence, params) = content_type.split_once(';')?;
    if !essence.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = disposition_param(params, "boundary").filter(|b| !b.is_empty())?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(parts);
        }
        // CRLF after the delimiter, then the part's headers up to an empty line.
        at = find(body, b"\r\n", at)? + 2;
        let head_end = find(body, b"\r\n\r\n", at)?;
        let head = std::str::from_utf8(&body[at..head_end]).ok()?;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), head_end + 4)?;
        let disposition = head
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?
            .to_string();
        parts.push(Part {
            name: disposition_param(&disposition, "name")?,
            filename: disposition_param(&disposition, "filename"),
            data: body[head_end + 4..next].to_vec(),
        });
        at = next + 2 + delimiter.len();
    }
}

/// A file's text: UTF-8 (a BOM is dropped), else Shift_JIS.
fn file_text(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => {
            let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(bytes);
            if bad {
                Err("ファイルの文字コードを判別できません（UTF-8 または Shift_JIS で保存してください）。".into())
            } else {
                Ok(text.into_owned())
            }
        }
    }
}

/// The patients of a CSV: `保険者番号,記号,番号,枝番,生年月日[,任意識別子]`, one a line; a
/// first line that does not start with a digit is a heading; empty lines are skipped.
/// Whatever central would refuse (a check digit, an impossible date) is left for central
/// to say per patient.
pub(crate) fn csv_searches(text: &str) -> Result<Vec<SearchInfo>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<String> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"').trim().to_string())
            .collect();
        if i == 0 && !cols[0].starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if cols.len() < 5 {
            return Err(format!(
                "{}行目：保険者番号,記号,番号,枝番,生年月日 の5項目（任意で6項目目に任意識別子）が必要です。",
                i + 1
            ));
        }
        let birth: String = cols[4].chars().filter(|c| *c != '/' && *c != '-').collect();
        if cols[0].is_empty() || cols[2].is_empty() || birth.is_empty() {
            return Err(format!(
                "{}行目：保険者番号・番号・生年月日は省略できません。",
                i + 1
            ));
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        out.push(SearchInfo {
            insurer_number: cols[0].clone(),
            insured_card_symbol: opt(&cols[1]),
            insured_identification_number: cols[2].clone(),
            insured_branch_number: opt(&cols[3]),
            birthdate: birth,
            limit_application_certificate_related_cons_flg: Some("0".into()),
            arbitrary_identifier: cols.get(5).and_then(|s| opt(s)),
        });
    }
    if out.is_empty() {
        return Err("ファイルに照会対象者がありません。".into());
    }
    Ok(out)
}

/// The upload message from a file: an `OQSmuquc01req` as it is, or a CSV.
fn upload_request(t: &Terminal, bytes: &[u8], date: &str) -> Result<muquc::UploadRequest, String> {
    let first = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(bytes)
        .iter()
        .find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'<') {
        let (req, _) = muquc::UploadRequest::decode_xml(bytes, &onshi_wire::Limits::bulk())
            .map_err(|e| format!("一括照会ファイル（OQSmuquc01req）を読み取れません：{e}"))?;
        if req.header.medical_institution_code.trim() != t.facility.as_str() {
            return Err(format!(
                "ファイルの医療機関コード（{}）がこの端末の医療機関コード（{}）と一致しません。",
                req.header.medical_institution_code.trim(),
                t.facility.as_str()
            ));
        }
        return Ok(req);
    }
    let searches = csv_searches(&file_text(bytes)?)?;
    Ok(muquc::UploadRequest {
        header: RequestHeader {
            qualification_confirmation_date: date.to_string(),
            medical_institution_code: t.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
        },
        body: muquc::UploadRequestBody { searches },
    })
}

fn upload_form(s: &Session, today: &str, message: Option<&str>) -> String {
    let msg = message
        .map(|m| format!("<p class=\"msg err\" id=\"message\">{}</p>", esc(m)))
        .unwrap_or_default();
    let day = format!(
        "{}-{}-{}",
        today.get(..4).unwrap_or(""),
        today.get(4..6).unwrap_or(""),
        today.get(6..8).unwrap_or("")
    );
    format!(
        "{msg}<form method=\"post\" action=\"/staff/bulk\" enctype=\"multipart/form-data\" id=\"bulk-form\">
<input type=\"hidden\" name=\"csrf\" value=\"{}\">
<label>一括照会ファイル <input type=\"file\" name=\"file\" id=\"bulk-file\" accept=\".xml,.csv,text/csv,application/xml\"></label>
<label>資格確認日（CSVの場合） <input type=\"date\" name=\"date\" id=\"bulk-date\" value=\"{day}\"></label>
<button type=\"submit\" id=\"bulk-upload\">送信</button></form>
<p>※レセプトコンピュータが作成した一括照会要求ファイル（OQSmuquc01req_*.xml）、または
CSV（1行に1人：保険者番号,記号,番号,枝番,生年月日(YYYYMMDD)[,任意識別子]、UTF-8 または Shift_JIS）を指定します。</p>",
        esc(&s.csrf)
    )
}

fn uploads_table(t: &Terminal) -> Result<String, LocalError> {
    type Row = (String, i64, String, String, i64);
    let rows: Vec<Row> = t.local.with(|c| {
        let mut st = c.prepare(
            "SELECT reception, uploaded_at, account, file_name, patients FROM staff_bulk
             ORDER BY uploaded_at DESC, reception DESC LIMIT ?1",
        )?;
        st.query_map([LISTED], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect()
    })?;
    if rows.is_empty() {
        return Ok("<p id=\"no-uploads\">この端末から送信した一括照会はありません。</p>".into());
    }
    let mut b = String::from(
        "<h2>送信した一括照会</h2><table id=\"uploads\"><tr><th>受付番号</th><th>送信日時</th><th>ファイル</th><th>件数</th><th>送信者</th><th></th></tr>",
    );
    for (reception, at, account, file, n) in rows {
        let at = onshi_core::date::JstDateTime::from_unix_micros(at).to_wire();
        let _ = write!(
            b,
            "<tr class=\"upload\" data-reception=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}</td><td>{n}</td><td>{3}</td><td><a href=\"/staff/bulk/{0}\" class=\"follow\">結果を見る</a></td></tr>",
            esc(&reception),
            wire_date(&at),
            esc(&file),
            esc(&account),
        );
    }
    b.push_str("</table>");
    Ok(b)
}

pub async fn bulk_page(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut b = upload_form(&s, &t.clock.now().date().to_wire(), None);
    match uploads_table(&t) {
        Ok(list) => b.push_str(&list),
        Err(e) => return internal(e),
    }
    page(&s, "一括照会", &b)
}

pub async fn bulk_upload(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parts = multipart(content_type, &body).unwrap_or_default();
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let csrf = field("csrf").and_then(|p| std::str::from_utf8(&p.data).ok());
    if !csrf_ok(&headers, csrf, Some(&s)) {
        return csrf_refused();
    }
    let today = t.clock.now().date().to_wire();
    let refuse = |m: &str| {
        html(
            StatusCode::BAD_REQUEST,
            page_html("一括照会", Some(&s), &upload_form(&s, &today, Some(m))),
        )
    };
    let Some(file) = field("file").filter(|p| !p.data.is_empty()) else {
        return refuse("一括照会ファイルを指定してください。");
    };
    let date: String = field("date")
        .and_then(|p| std::str::from_utf8(&p.data).ok())
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let date = if date.len() == 8 && onshi_core::Ymd::parse(&date).is_ok() {
        date
    } else {
        today.clone()
    };
    let req = match upload_request(&t, &file.data, &date) {
        Ok(r) => r,
        Err(m) => return refuse(&m),
    };
    let count = req.body.searches.len() as i64;
    let json: Value = match serde_json::from_slice(&req.encode_json()) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let answer = match t
        .link
        .staff_request(Method::POST, "/oqs/v1/bulk", &s.account, Some(&json))
        .await
    {
        Ok((_, v)) => muquc::UploadResponse::decode_json(
            v.to_string().as_bytes(),
            &onshi_wire::Limits::default(),
        ),
        Err(e) => return central_unreachable(&s, "bulk upload", e),
    };
    let res = match answer {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let Some(reception) = res
        .body
        .reception_number
        .filter(|_| res.header.segment_of_result == "1")
    else {
        return refuse(&format!(
            "一括照会を受け付けられませんでした：{}（{}）",
            res.header.error_message.as_deref().unwrap_or(""),
            res.header.error_code.as_deref().unwrap_or("")
        ));
    };
    let name: String = file
        .filename
        .as_deref()
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    let now = t.clock.now().unix_micros();
    if let Err(e) = t.local.with(|c| {
        c.execute(
            "INSERT INTO staff_bulk (reception, uploaded_at, account, file_name, patients)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (reception) DO NOTHING",
            params![reception, now, s.account, name, count],
        )
    }) {
        return internal(e);
    }
    tracing::info!(reception, account = s.account, count, "bulk check uploaded");
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/staff/bulk/{reception}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn validity_label(code: &str) -> &'static str {
    match code {
        "1" | "6" => "資格有効",
        "2" => "資格(無効)",
        "3" => "資格(無効)・新しい資格あり",
        "4" => "資格情報なし",
        "5" => "複数該当",
        _ => "",
    }
}

fn units_table(units: &[muquc::BulkConfirmUnit]) -> String {
    let mut b = String::from(
        "<table id=\"bulk-results\"><tr><th>No.</th><th>任意識別子</th><th>保険者番号</th><th>記号</th><th>番号</th><th>枝番</th><th>生年月日</th><th>氏名</th><th>資格状態</th><th>本人・家族</th><th>負担割合</th><th>メッセージ</th></tr>",
    );
    for (i, u) in units.iter().enumerate() {
        let q = u.search_info.clone().unwrap_or_default();
        let r = u.results.first();
        let validity = u.qualification_validity.as_deref().unwrap_or("");
        let (state, label) = if u.processing_result_status == "1" {
            (validity.to_string(), validity_label(validity).to_string())
        } else {
            ("error".to_string(), "エラー".to_string())
        };
        let class = match state.as_str() {
            "1" | "6" => "valid",
            "2" | "3" => "invalid",
            "4" => "none",
            "5" => "multiple",
            _ => "error",
        };
        let name = r.and_then(|r| r.name.clone()).unwrap_or_default();
        let family = match r.and_then(|r| r.personal_family_classification.as_deref()) {
            Some("1") => "本人",
            Some("2") => "家族",
            _ => "",
        };
        let _ = write!(
            b,
            "<tr class=\"unit\" data-state=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"name\">{}</td><td class=\"state {class}\">{}</td><td>{family}</td><td>{}</td><td>{}</td></tr>",
            esc(&state),
            i + 1,
            esc(q.arbitrary_identifier.as_deref().unwrap_or("")),
            esc(&q.insurer_number),
            esc(q.insured_card_symbol.as_deref().unwrap_or("")),
            esc(&q.insured_identification_number),
            esc(q.insured_branch_number.as_deref().unwrap_or("")),
            wire_date(&q.birthdate),
            esc(&name),
            esc(&label),
            r.map(|r| ratio(&r.insured_partial_contribution_ratio))
                .unwrap_or_default(),
            esc(u.processing_result_message.as_deref().unwrap_or("")),
        );
    }
    b.push_str("</table>");
    b
}

pub async fn bulk_job(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(reception): Path<String>,
) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if reception.is_empty()
        || reception.len() > 32
        || !reception.bytes().all(|b| b.is_ascii_digit())
    {
        return error_page(
            StatusCode::NOT_FOUND,
            Some(&s),
            "一括照会",
            "受付番号が正しくありません。",
        );
    }
    let req = muquc::ResultRequest {
        header: muquc::ResultRequestHeader {
            medical_institution_code: t.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
        },
        body: muquc::ResultRequestBody {
            reception_number: reception.clone(),
        },
    };
    let json: Value = match serde_json::from_slice(&req.encode_json()) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let answer = match t
        .link
        .staff_request(Method::POST, "/oqs/v1/bulk/result", &s.account, Some(&json))
        .await
    {
        Ok((_, v)) => muquc::ResultResponse::decode_json(
            v.to_string().as_bytes(),
            &onshi_wire::Limits::bulk(),
        ),
        Err(e) => return central_unreachable(&s, "bulk result", e),
    };
    let res = match answer {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let h = &res.header;
    let mut b = format!(
        "<table id=\"bulk-job\"><tr><th>受付番号</th><td>{}</td></tr>",
        esc(&reception)
    );
    if let Some(d) = &h.qualification_confirmation_date {
        let _ = write!(b, "<tr><th>資格確認日</th><td>{}</td></tr>", wire_date(d));
    }
    b.push_str("</table>");
    let title = "一括照会結果";
    match h.segment_of_result.as_str() {
        "2" => {
            b.push_str("<p class=\"msg\" id=\"bulk-state\" data-state=\"processing\">処理中です。しばらくお待ちください（この画面は自動的に更新されます）。</p>");
            let _ = write!(
                b,
                "<p><a href=\"/staff/bulk/{}\" id=\"bulk-refresh\">最新の状態を表示</a></p>",
                esc(&reception)
            );
            // A refresh without script: the page asks again every 2 seconds.
            let mut r = page(&s, title, &b);
            r.headers_mut()
                .insert("refresh", HeaderValue::from_static("2"));
            return r;
        }
        "1" => {
            let _ = write!(
                b,
                "<p class=\"msg\" id=\"bulk-state\" data-state=\"complete\">処理が完了しました。件数 {}（正常 {}、エラー {}）</p>",
                esc(h.number_of_processing_result.as_deref().unwrap_or("")),
                esc(h.number_of_normal_processing.as_deref().unwrap_or("")),
                esc(h.number_of_error.as_deref().unwrap_or("")),
            );
            b.push_str(&units_table(&res.body.units));
        }
        _ => {
            let _ = write!(
                b,
                "<p class=\"msg err\" id=\"bulk-state\" data-state=\"error\">{}（{}）</p>",
                esc(h.error_message.as_deref().unwrap_or("")),
                esc(h.error_code.as_deref().unwrap_or(""))
            );
        }
    }
    b.push_str(
        "<p><a href=\"/staff/bulk\">一括照会へ戻る</a>　<a href=\"/staff\">メニュー</a></p>",
    );
    page(&s, title, &b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn multipart_bodies_are_split_into_their_fields() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n1,2\r\n3,4\r\n\r\n--XyZ--\r\n";
        let parts = multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "csrf");
        assert_eq!(parts[0].data, b"abc");
        assert_eq!(parts[1].filename.as_deref(), Some("list.csv"));
        assert_eq!(parts[1].data, b"1,2\r\n3,4\r\n");
        assert!(multipart("application/x-www-form-urlencoded", body).is_none());
        assert!(multipart("multipart/form-data; boundary=XyZ", b"garbage").is_none());
    }

    #[test]
    fn csv_rows_become_searches() {
        let s = csv_searches("保険者番号,記号,番号,枝番,生年月日\n01130012,記号１,123,01,1980/01/01,A-1\n\n06139995,,9,,19500505\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].insured_card_symbol.as_deref(), Some("記号１"));
        assert_eq!(s[0].birthdate, "19800101");
        assert_eq!(s[0].arbitrary_identifier.as_deref(), Some("A-1"));
        assert_eq!(s[1].insured_card_symbol, None);
        assert_eq!(s[1].insured_branch_number, None);
        assert!(
            csv_searches("01130012,1,2\n")
                .unwrap_err()
                .contains("1行目")
        );
        assert!(csv_searches("heading only\n").is_err());
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("01130012,記号,1,,19800101\n");
        assert!(file_text(&sjis).unwrap().contains("記号"));
    }
}
