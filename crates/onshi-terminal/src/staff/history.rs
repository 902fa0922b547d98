//! 資格確認履歴照会: 資格確認対象期間 (two date fields with the browser's calendar), the
//! 検索結果 list (newest first, a page of central's at a time) and each row's [詳細]
//! (validity, 保険者番号・記号・番号・枝番, 本人・家族, 一部負担割合, 高齢受給者証,
//! 限度額適用認定証). Every role may open it; the rows are the facility's own, kept at
//! central (written before each answer), and central answers only the calling
//! facility's.

use super::check::{NOT_FOUND_ADVICE, result_table};
use super::medical::{text, wire_date};
use super::*;

#[derive(serde::Deserialize, Default)]
pub struct HistoryQuery {
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

/// `2026-11-23` (what a date field sends) or `20261123` as `20261123`; anything else as is
/// (central says what is wrong with it).
fn wire_day(s: &str) -> String {
    let d: String = s
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '/')
        .collect();
    if d.is_empty() { String::new() } else { d }
}

/// `20261123` as `2026-11-23` for a date field's value.
fn field_day(s: &str) -> String {
    match (s.get(..4), s.get(4..6), s.get(6..8)) {
        (Some(y), Some(m), Some(d)) if s.len() == 8 => format!("{y}-{m}-{d}"),
        _ => s.to_string(),
    }
}

fn search_form(from: &str, to: &str, earliest: &str, today: &str) -> String {
    format!(
        "<form method=\"get\" action=\"/staff/history\" id=\"history-form\">
<fieldset><legend>資格確認対象期間</legend>
<label>開始日 <input type=\"date\" name=\"from\" id=\"history-from\" value=\"{}\" min=\"{}\" max=\"{}\"></label>
<label>終了日 <input type=\"date\" name=\"to\" id=\"history-to\" value=\"{}\" min=\"{}\" max=\"{}\"></label>
<button type=\"submit\" id=\"history-search\">検索</button></fieldset></form>
<p>※過去2年間の履歴を検索できます。日付はカレンダーからも選択できます。</p>",
        esc(&field_day(from)),
        esc(&field_day(earliest)),
        esc(&field_day(today)),
        esc(&field_day(to)),
        esc(&field_day(earliest)),
        esc(&field_day(today)),
    )
}

/// An OQSCD036 consent code as the screens name it.
fn consent_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "YZK" => "薬剤情報",
        "TKK" => "特定健診情報",
        "SRJ" => "診療情報",
        "SHJ" => "手術情報",
        "TSR" => "特定疾病療養受療証情報",
        "GND" => "限度額情報",
        _ => return None,
    })
}

fn state_class(state: &str) -> &'static str {
    match state {
        "1" | "6" => "valid",
        "2" | "3" => "invalid",
        "4" => "none",
        "5" => "multiple",
        "error" => "error",
        _ => "",
    }
}

pub async fn history_page(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let today = t.clock.now().date();
    let earliest = today.add_months(-24).to_wire();
    let searched = q.from.is_some() || q.to.is_some();
    let from = q.from.as_deref().map(wire_day).unwrap_or(today.to_wire());
    let to = q.to.as_deref().map(wire_day).unwrap_or(today.to_wire());
    let mut b = search_form(&from, &to, &earliest, &today.to_wire());
    if !searched {
        return page(&s, "資格確認履歴照会", &b);
    }
    let mut path = format!(
        "/oqs/v1/history?from={}&to={}",
        query_escape(&from),
        query_escape(&to)
    );
    if let Some(a) = q.after.as_deref().filter(|a| !a.is_empty()) {
        let _ = write!(path, "&after={}", query_escape(a));
    }
    let v = match t
        .link
        .staff_request(Method::GET, &path, &s.account, None)
        .await
    {
        Ok((200, v)) => v,
        Ok((status, v)) => {
            let _ = write!(
                b,
                "<p class=\"msg err\" id=\"message\">{}（{}）</p>",
                esc(text(&v, "error_message")),
                esc(text(&v, "error_code"))
            );
            let code = if status == 400 {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            return html(code, page_html("資格確認履歴照会", Some(&s), &b));
        }
        Err(e) => return central_unreachable(&s, "history", e),
    };
    let entries = v
        .get("entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let _ = write!(
        b,
        "<h2>検索結果</h2><p id=\"history-period\">{}〜{}</p>",
        wire_date(text(&v, "from")),
        wire_date(text(&v, "to"))
    );
    if entries.is_empty() {
        b.push_str("<p class=\"msg\" id=\"no-history\">該当する資格確認履歴はありません。</p>");
    } else {
        b.push_str("<table id=\"history\"><tr><th>確認日時</th><th>照会方法</th><th>氏名</th><th>カナ氏名</th><th>生年月日</th><th>保険者番号</th><th>資格状態</th><th></th></tr>");
        for e in &entries {
            let id = e.get("id").and_then(Value::as_i64).unwrap_or(0);
            let state = text(e, "state");
            let label = match (state, text(e, "error_code")) {
                ("error", code) => format!("エラー（{}）", esc(code)),
                _ => esc(text(e, "state_label")),
            };
            let _ = write!(
                b,
                "<tr class=\"entry\" data-id=\"{id}\" data-method=\"{}\" data-state=\"{}\"><td>{}</td><td class=\"method\">{}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"state {}\">{label}</td><td><a href=\"/staff/history/{id}?from={}&amp;to={}\" class=\"detail\">詳細</a></td></tr>",
                esc(text(e, "method")),
                esc(state),
                wire_date(text(e, "checked_at")),
                esc(text(e, "method_label")),
                esc(text(e, "name")),
                esc(text(e, "name_kana")),
                wire_date(text(e, "birthdate")),
                esc(text(e, "insurer_number")),
                state_class(state),
                query_escape(&from),
                query_escape(&to),
            );
        }
        b.push_str("</table>");
    }
    if let Some(next) = v.get("next").and_then(Value::as_str) {
        let _ = write!(
            b,
            "<p><a id=\"history-next\" href=\"/staff/history?from={}&amp;to={}&amp;after={}\">次のページ</a></p>",
            query_escape(&from),
            query_escape(&to),
            query_escape(next)
        );
    }
    page(&s, "資格確認履歴照会", &b)
}

pub async fn history_detail(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match t
        .link
        .staff_request(
            Method::GET,
            &format!("/oqs/v1/history/{id}"),
            &s.account,
            None,
        )
        .await
    {
        Ok((200, v)) => v,
        Ok((status, v)) => {
            return error_page(
                if status == 404 {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_GATEWAY
                },
                Some(&s),
                "資格確認履歴",
                &format!(
                    "{}（{}）",
                    text(&v, "error_message"),
                    text(&v, "error_code")
                ),
            );
        }
        Err(e) => return central_unreachable(&s, "history detail", e),
    };
    let e = v.get("entry").cloned().unwrap_or(Value::Null);
    let state = text(&e, "state");
    let consents: Vec<&str> = [text(&e, "consents"), text(&e, "card_consents")]
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter_map(consent_label)
        .collect();
    let mut b = format!(
        "<table id=\"history-entry\"><tr><th>確認日時</th><td>{}</td></tr><tr><th>資格確認日</th><td>{}</td></tr><tr><th>照会方法</th><td id=\"entry-method\">{}</td></tr><tr><th>同意</th><td id=\"entry-consents\">{}</td></tr></table>",
        wire_date(text(&e, "checked_at")),
        wire_date(text(&e, "confirmation_date")),
        esc(text(&e, "method_label")),
        if consents.is_empty() {
            "なし".to_string()
        } else {
            consents.join("・")
        },
    );
    let verdict = match state {
        "1" | "6" => "<p class=\"msg\" id=\"verdict\" data-validity=\"valid\">資格有効</p>".to_string(),
        "2" | "3" => {
            "<p class=\"msg err\" id=\"verdict\" data-validity=\"invalid\">資格(無効)</p>".into()
        }
        "5" => "<p class=\"msg\" id=\"verdict\" data-validity=\"multiple\">複数の資格が該当しました</p>".into(),
        "error" => format!(
            "<p class=\"msg err\" id=\"verdict\" data-validity=\"error\">照会エラー（{}）</p>",
            esc(text(&e, "error_code"))
        ),
        _ => format!(
            "<p class=\"msg err\" id=\"verdict\" data-validity=\"none\">資格情報なし</p>{NOT_FOUND_ADVICE}"
        ),
    };
    b.push_str(&verdict);
    let result = v.get("result").map(|r| {
        onshi_wire::siquc01::decode_response_json(
            r.to_string().as_bytes(),
            &onshi_wire::Limits::default(),
        )
    });
    match result {
        Some(Ok(res)) => {
            for r in &res.body.results {
                b.push_str(&result_table(r));
            }
        }
        Some(Err(err)) => return internal(err),
        None => {
            // Nothing found (or refused): what was asked.
            let _ = write!(
                b,
                "<table class=\"qualification\"><tr><th>保険者番号</th><td>{}</td></tr><tr><th>記号</th><td>{}</td></tr><tr><th>番号</th><td>{}</td></tr><tr><th>枝番</th><td>{}</td></tr><tr><th>生年月日</th><td>{}</td></tr></table>",
                esc(text(&e, "insurer_number")),
                esc(text(&e, "symbol")),
                esc(text(&e, "number")),
                esc(text(&e, "branch")),
                wire_date(text(&e, "birthdate")),
            );
        }
    }
    let back = match (q.from.as_deref(), q.to.as_deref()) {
        (Some(f), Some(to)) => format!(
            "/staff/history?from={}&amp;to={}",
            query_escape(&wire_day(f)),
            query_escape(&wire_day(to))
        ),
        _ => "/staff/history".into(),
    };
    let _ = write!(
        b,
        "<p><a href=\"{back}\" id=\"history-back\">検索結果へ戻る</a>　<a href=\"/staff\" id=\"to-menu\">メニュー</a></p>"
    );
    page(&s, "資格確認履歴（詳細）", &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_fields_and_wire_days() {
        assert_eq!(wire_day("2026-11-23"), "20261123");
        assert_eq!(wire_day(" 20261123 "), "20261123");
        assert_eq!(field_day("20261123"), "2026-11-23");
        assert_eq!(query_escape("1.2 &x"), "1.2%20%26x");
    }
}
