//! 災害時医療情報閲覧 (医療情報閲覧 role only): while a declaration covers the facility's
//! area and the current time, search patients without card authentication — by 氏名 (or
//! カナ), 生年月日, 性別 and optionally 住所, or by 保険者番号・記号・番号(・枝番) — and
//! open their 薬剤 and 特定健診 views, which central records with basis 災害. Outside the
//! area or the period the screen says so; central refuses and records the attempt anyway.

use super::medical::{text, wire_date};
use super::*;

const REFUSED: &str = "この医療機関の所在地は、現在、災害時の特別措置（緊急時医療情報・資格確認機能）の対象地域・期間ではありません。医療情報の閲覧には、マイナンバーカードによる本人確認と同意が必要です。";

/// Central's declaration status for this facility: (covered, declarations) or the
/// error page.
#[allow(clippy::result_large_err)]
async fn status(t: &Terminal, s: &Session) -> Result<(bool, Vec<Value>), Response> {
    match t
        .link
        .staff_request(Method::GET, "/oqs/v1/medical/disaster", &s.account, None)
        .await
    {
        Ok((200, v)) => Ok((
            v.get("covered").and_then(Value::as_bool) == Some(true),
            v.get("active")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )),
        Ok((_, v)) => Err(error_page(
            StatusCode::BAD_GATEWAY,
            Some(s),
            "災害時医療情報閲覧",
            &format!(
                "{}（{}）",
                text(&v, "error_message"),
                text(&v, "error_code")
            ),
        )),
        Err(e) => Err(central_unreachable(s, "disaster status", e)),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct DisasterForm {
    csrf: Option<String>,
    by: Option<String>,
    name: Option<String>,
    birth: Option<String>,
    sex: Option<String>,
    address: Option<String>,
    insurer: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
}

fn declarations(active: &[Value]) -> String {
    let mut b = String::from(
        "<p class=\"msg\" id=\"disaster-declared\">災害時の特別措置の対象です。患者の同意（口頭）を得て、マイナンバーカードによる本人確認なしに薬剤情報・特定健診情報を閲覧できます。閲覧は記録され、患者はマイナポータルで確認できます。</p><ul id=\"declarations\">",
    );
    for d in active {
        let _ = write!(
            b,
            "<li>{}（{}まで）</li>",
            esc(text(d, "name")),
            wire_date(text(d, "ends_at"))
        );
    }
    b.push_str("</ul>");
    b
}

fn forms(s: &Session, f: &DisasterForm) -> String {
    let v = |x: &Option<String>| esc(x.as_deref().unwrap_or(""));
    let sex = f.sex.as_deref().unwrap_or("");
    let sel = |code: &str| if sex == code { " selected" } else { "" };
    format!(
        "<h2>氏名・生年月日・性別で検索</h2>
<form method=\"post\" action=\"/staff/disaster/search\" id=\"disaster-by-name\">
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"by\" value=\"name\">
<label>氏名（漢字またはカナ） <input type=\"text\" name=\"name\" id=\"disaster-name\" value=\"{}\"></label>
<label>生年月日 <input type=\"text\" name=\"birth\" id=\"disaster-birth\" value=\"{}\" placeholder=\"19800101\" maxlength=\"10\"></label>
<label>性別 <select name=\"sex\" id=\"disaster-sex\"><option value=\"1\"{}>男</option><option value=\"2\"{}>女</option></select></label>
<label>住所（任意、一部でも可） <input type=\"text\" name=\"address\" id=\"disaster-address\" value=\"{}\"></label>
<button type=\"submit\" id=\"disaster-search-name\">検索</button></form>
<h2>被保険者番号等で検索</h2>
<form method=\"post\" action=\"/staff/disaster/search\" id=\"disaster-by-card\">
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"by\" value=\"card\">
<label>保険者番号 <input type=\"text\" name=\"insurer\" id=\"disaster-insurer\" value=\"{}\" inputmode=\"numeric\" maxlength=\"8\"></label>
<label>記号 <input type=\"text\" name=\"symbol\" id=\"disaster-symbol\" value=\"{}\"></label>
<label>番号 <input type=\"text\" name=\"number\" id=\"disaster-number\" value=\"{}\"></label>
<label>枝番 <input type=\"text\" name=\"branch\" id=\"disaster-branch\" value=\"{}\" inputmode=\"numeric\" maxlength=\"2\"></label>
<button type=\"submit\" id=\"disaster-search-card\">検索</button></form>",
        v(&f.name),
        v(&f.birth),
        sel("1"),
        sel("2"),
        v(&f.address),
        v(&f.insurer),
        v(&f.symbol),
        v(&f.number),
        v(&f.branch),
        csrf = esc(&s.csrf),
    )
}

pub async fn disaster_page(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (covered, active) = match status(&t, &s).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !covered {
        return html(
            StatusCode::FORBIDDEN,
            page_html(
                "災害時医療情報閲覧",
                Some(&s),
                &format!(
                    "<p class=\"msg err\" id=\"error\" data-code=\"ONS6020\">{}</p><p><a href=\"/staff\">メニューへ戻る</a></p>",
                    esc(REFUSED)
                ),
            ),
        );
    }
    let b = declarations(&active) + &forms(&s, &DisasterForm::default());
    page(&s, "災害時医療情報閲覧", &b)
}

pub async fn disaster_search(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<DisasterForm>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&headers, f.csrf.as_deref(), Some(&s)) {
        return csrf_refused();
    }
    let clean = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let body = if f.by.as_deref() == Some("card") {
        let branch = clean(&f.branch);
        let symbol = clean(&f.symbol);
        json!({
            "insurer_number": clean(&f.insurer),
            "symbol": (!symbol.is_empty()).then_some(symbol),
            "number": clean(&f.number),
            "branch": (!branch.is_empty()).then_some(branch),
        })
    } else {
        let birth: String = clean(&f.birth)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let address = clean(&f.address);
        json!({
            "name": clean(&f.name),
            "birthdate": birth,
            "sex": clean(&f.sex),
            "address": (!address.is_empty()).then_some(address),
        })
    };
    let (status, v) = match t
        .link
        .staff_request(
            Method::POST,
            "/oqs/v1/medical/disaster/search",
            &s.account,
            Some(&body),
        )
        .await
    {
        Ok(x) => x,
        Err(e) => return central_unreachable(&s, "disaster search", e),
    };
    if status != 200 {
        let code = text(&v, "error_code");
        let mut b = format!(
            "<p class=\"msg err\" id=\"error\" data-code=\"{}\">{}（{}）</p>",
            esc(code),
            esc(text(&v, "error_message")),
            esc(code)
        );
        if code != "ONS6020" {
            b.push_str(&forms(&s, &f));
        }
        let st = if status == 403 {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        return html(st, page_html("災害時医療情報閲覧", Some(&s), &b));
    }
    let list = v
        .get("patients")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut b = String::from("<h2>検索結果</h2>");
    if list.is_empty() {
        b.push_str("<p class=\"msg\" id=\"no-patients\">該当する患者はいません。入力内容を確認してください。</p>");
    } else {
        b.push_str("<table id=\"disaster-patients\"><tr><th>氏名</th><th>カナ氏名</th><th>生年月日</th><th>年齢</th><th>性別</th><th>住所</th><th>閲覧</th></tr>");
        for p in &list {
            let id = p.get("person_id").and_then(Value::as_i64).unwrap_or(0);
            let _ = write!(
                b,
                "<tr class=\"patient\" data-person=\"{id}\"><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}歳</td><td>{}</td><td class=\"address\">{}</td><td><a href=\"/staff/patients/{id}/drug\" class=\"view-drug\">薬剤閲覧</a> <a href=\"/staff/patients/{id}/checkup\" class=\"view-checkup\">特健閲覧</a></td></tr>",
                esc(text(p, "name")),
                esc(text(p, "name_kana")),
                esc(text(p, "birthdate_wareki")),
                super::medical::num(p, "age"),
                esc(text(p, "sex_label")),
                esc(text(p, "address")),
            );
        }
        b.push_str("</table>");
    }
    b.push_str(&forms(&s, &f));
    page(&s, "災害時医療情報閲覧", &b)
}
