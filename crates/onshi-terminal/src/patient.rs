//! 「ご本人の情報」: the patient's own view at the terminal (like マイナポータル's 薬剤情報・
//! 健診情報・閲覧履歴), at `/patient`, linked from the kiosk's completion screen and the
//! terminal's start page.
//!
//! The patient chooses their card (the demo wallet stands for the card on the reader) and
//! enters its PIN. The terminal unlocks the software card with the PIN — three wrong PINs
//! lock it for good, as at the kiosk — has it sign central's nonce and asks central
//! (`POST /oqs/v1/patient/self`, see `onshi_central::patient`): central authenticates the
//! card, records the views in the audit chain (basis `patient`) and answers the
//! qualification, drug and checkup information and the list of who viewed what and when.
//! The page is rendered on the server from that answer and kept nowhere: nothing of it
//! stays on the terminal once the page is sent.
//!
//! A form post from another site could spend the wallet card's PIN tries: posts whose
//! `Origin` is not this page's host are refused.

use crate::Terminal;
use crate::link::LinkError;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onshi_pki::{Card, CardError, SoftwareCard};
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::Arc;

/// HTML text escaping.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#f6f8fa;color:#222}\
header{background:#1f5fa8;color:#fff;padding:12px 20px;font-size:20px}\
main{max-width:1000px;margin:0 auto;padding:16px}\
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin:12px 0}\
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;font-size:14px}\
th{background:#eef2f6}.error{background:#fde8e8;border:1px solid #e0a0a0;padding:10px;border-radius:6px}\
.note{color:#555;font-size:13px}label{display:block;margin:6px 0}button{font-size:18px;padding:8px 24px}\
.H{color:#b00020;font-weight:bold}.L{color:#1f5fa8;font-weight:bold}";

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><header>{t}</header><main>{body}</main></body></html>",
        t = esc(title)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn form(t: &Terminal, selected: Option<&str>, message: Option<(&str, &str)>) -> Response {
    let mut b = String::new();
    b.push_str("<section><h1>ご本人の情報を見る</h1><p>マイナンバーカードをカードリーダーに置き、利用者証明用電子証明書の暗証番号（数字4桁）を入力してください。ご自身の資格情報、お薬の情報、特定健診の結果と、医療機関等がいつ何を閲覧したかを確認できます。</p>");
    if let Some((id, text)) = message {
        let _ = write!(b, "<p class=\"error\" id=\"{}\">{}</p>", esc(id), esc(text));
    }
    b.push_str("<form method=\"post\" action=\"/patient\" autocomplete=\"off\"><fieldset><legend>カード</legend>");
    let wallet = t.wallet();
    if wallet.is_empty() {
        b.push_str("<p>カードが置かれていません。</p>");
    }
    for (i, w) in wallet.iter().enumerate() {
        let checked = match selected {
            Some(s) => s == w.id,
            None => i == 0,
        };
        let _ = write!(
            b,
            "<label><input type=\"radio\" name=\"card\" value=\"{v}\" data-label=\"{l}\"{c}> {l}</label>",
            v = esc(&w.id),
            l = esc(&w.label),
            c = if checked { " checked" } else { "" }
        );
    }
    b.push_str("</fieldset><label>暗証番号 <input id=\"pin\" name=\"pin\" type=\"password\" inputmode=\"numeric\" maxlength=\"4\" size=\"6\"></label>\
        <button id=\"show\" type=\"submit\">表示する</button></form>\
        <p class=\"note\"><a href=\"/kiosk\">受付（カードリーダー）に戻る</a></p></section>");
    page("ご本人の情報", &b)
}

/// `GET /patient`.
pub(crate) async fn show_form(State(t): State<Arc<Terminal>>) -> Response {
    form(&t, None, None)
}

#[derive(serde::Deserialize)]
pub(crate) struct ViewForm {
    #[serde(default)]
    card: String,
    #[serde(default)]
    pin: String,
}

fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// `POST /patient`: PIN, signature, central's answer, the page.
pub(crate) async fn view(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<ViewForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let Some(dir) = &t.wallet else {
        return form(
            &t,
            None,
            Some(("card_error", "カードを読み取れませんでした。")),
        );
    };
    let id = f.card.trim().to_string();
    if id.is_empty()
        || id.contains(['/', '\\'])
        || id.starts_with('.')
        || !id.ends_with(".card.json")
    {
        return form(&t, None, Some(("card_error", "カードを選んでください。")));
    }
    let Ok(mut card) = SoftwareCard::open(&dir.join(&id)) else {
        return form(
            &t,
            None,
            Some(("card_error", "カードを読み取れませんでした。")),
        );
    };
    if card.is_locked() || card.pin_tries_left().unwrap_or(0) == 0 {
        return locked(&t, &id);
    }
    if !onshi_pki::is_valid_pin(&f.pin) {
        return form(
            &t,
            Some(&id),
            Some(("pin_format", "暗証番号は4桁の数字です。")),
        );
    }
    let pin = f.pin.clone();
    // The PIN key derivation is deliberately slow: off the async workers.
    let joined = tokio::task::spawn_blocking(move || {
        let r = card.verify_pin(&pin);
        (card, r)
    })
    .await;
    let Ok((mut card, result)) = joined else {
        return form(
            &t,
            Some(&id),
            Some(("card_error", "カードを読み取れませんでした。")),
        );
    };
    match result {
        Ok(()) => {}
        Err(CardError::WrongPin { tries_left }) if tries_left > 0 => {
            return form(
                &t,
                Some(&id),
                Some((
                    "wrong_pin",
                    &format!("暗証番号が違います。あと{tries_left}回間違えるとロックされます。"),
                )),
            );
        }
        Err(CardError::WrongPin { .. } | CardError::Locked) => return locked(&t, &id),
        Err(CardError::PinFormat) => {
            return form(
                &t,
                Some(&id),
                Some(("pin_format", "暗証番号は4桁の数字です。")),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "patient view: card error");
            return form(
                &t,
                Some(&id),
                Some(("card_error", "カードを読み取れませんでした。")),
            );
        }
    }
    match t.link.patient_view(&mut card).await {
        Ok((200, v)) => render(&v),
        Ok((_, v)) => {
            let code = v.get("error_code").and_then(Value::as_str).unwrap_or("");
            let msg = v
                .get("error_message")
                .and_then(Value::as_str)
                .unwrap_or("ご本人の情報を表示できませんでした。");
            form(
                &t,
                Some(&id),
                Some(("central_error", &format!("{msg}（{code}）"))),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "patient view: central");
            let text = match e {
                LinkError::Unreachable(_) => {
                    "中央システムに接続できません。しばらくしてからもう一度お試しください。"
                }
                _ => "ご本人の情報を表示できませんでした。受付窓口にお声がけください。",
            };
            form(&t, Some(&id), Some(("central_error", text)))
        }
    }
}

fn locked(t: &Terminal, id: &str) -> Response {
    form(
        t,
        Some(id),
        Some((
            "pin_locked",
            "暗証番号が3回続けて間違えられたため、このカードはロックされました。お住まいの市区町村の窓口で暗証番号の再設定を行ってください。",
        )),
    )
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `YYYYMMDD[HHmmss]` → `2026年11月23日[ 10:00]`.
fn when(w: &str) -> String {
    let n = |a: usize, b: usize| {
        w.get(a..b)
            .map(|x| x.trim_start_matches('0').to_string())
            .unwrap_or_default()
    };
    if w.len() < 8 {
        return w.to_string();
    }
    let mut out = format!("{}年{}月{}日", &w[..4], n(4, 6), n(6, 8));
    if w.len() >= 12 {
        let _ = write!(out, " {}:{}", &w[8..10], &w[10..12]);
    }
    out
}

fn basis_label(b: &str) -> &'static str {
    match b {
        "consent" => "患者の同意",
        "disaster" => "災害時の特別措置",
        "patient" => "ご本人",
        _ => "",
    }
}

fn render(v: &Value) -> Response {
    let p = &v["patient"];
    let q = &v["qualification"];
    let mut b = String::new();
    let _ = write!(
        b,
        "<section id=\"patient\"><h1 id=\"patient-name\">{} 様</h1><p>{}（{}）生まれ　{}</p>\
         <p class=\"note\">表示日時: {}。この画面の内容は端末に残りません。</p></section>",
        esc(s(p, "name")),
        esc(&when(s(p, "birthdate"))),
        esc(s(p, "birthdate_wareki")),
        esc(s(p, "sex_label")),
        esc(&when(s(v, "now")))
    );
    // 資格情報
    b.push_str("<section id=\"qualification\"><h2>資格情報</h2><table>");
    let row = |b: &mut String, k: &str, val: &str| {
        if !val.is_empty() {
            let _ = write!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(val));
        }
    };
    row(&mut b, "資格", s(q, "validity_label"));
    row(&mut b, "保険者名", s(q, "insurer_name"));
    row(&mut b, "保険者番号", s(q, "insurer_number").trim());
    row(&mut b, "記号", s(q, "symbol"));
    row(&mut b, "番号", s(q, "number"));
    row(&mut b, "枝番", s(q, "branch"));
    row(&mut b, "本人・家族", s(q, "personal_family"));
    row(&mut b, "一部負担割合", s(q, "ratio"));
    row(&mut b, "資格取得日", &when(s(q, "qualification_date")));
    row(&mut b, "資格喪失日", &when(s(q, "disqualification_date")));
    b.push_str("</table></section>");
    // お薬の情報
    b.push_str("<section id=\"drug\"><h2>お薬の情報（過去3年間）</h2>");
    let months = v["drug"]["months"].as_array().cloned().unwrap_or_default();
    if months.is_empty() {
        b.push_str("<p>お薬の情報はありません。</p>");
    }
    b.push_str("<table><tr><th>調剤日</th><th>医療機関・薬局</th><th>処方した医療機関</th><th>お薬</th><th>量</th><th>用法</th><th>日数</th></tr>");
    for m in &months {
        for d in m["dispensings"].as_array().into_iter().flatten() {
            for drug in d["drugs"].as_array().into_iter().flatten() {
                let qty = drug["quantity"]
                    .as_f64()
                    .map(|x| {
                        if x.fract() == 0.0 {
                            format!("{x:.0}")
                        } else {
                            format!("{x}")
                        }
                    })
                    .unwrap_or_default();
                let _ = write!(
                    b,
                    "<tr class=\"drug\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&when(s(d, "dispensed_on"))),
                    esc(s(d, "facility_name")),
                    esc(s(d, "prescriber_name")),
                    esc(s(drug, "name")),
                    esc(&qty),
                    esc(s(drug, "unit")),
                    esc(s(drug, "usage")),
                    drug["days"].as_i64().unwrap_or(0)
                );
            }
        }
    }
    b.push_str("</table></section>");
    // 特定健診
    b.push_str("<section id=\"checkup\"><h2>特定健診の結果（過去5年間）</h2>");
    let checkups = v["checkup"]["checkups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if checkups.is_empty() {
        b.push_str("<p>特定健診の結果はありません（40歳以上の方が対象です）。</p>");
    }
    for c in &checkups {
        let _ = write!(
            b,
            "<h3 class=\"checkup\">{}（{}）</h3><table><tr><th>項目</th><th>結果</th><th>単位</th><th>基準</th></tr>",
            esc(&when(s(c, "examined_on"))),
            esc(s(c, "facility_name"))
        );
        for it in c["items"].as_array().into_iter().flatten() {
            let value = match it.get("value_label").and_then(Value::as_str) {
                Some(l) if !l.is_empty() && l != s(it, "value") => l.to_string(),
                _ => s(it, "value").to_string(),
            };
            let range = match (it["low"].as_f64(), it["high"].as_f64()) {
                (Some(l), Some(h)) => format!("{l}〜{h}"),
                (None, Some(h)) => format!("〜{h}"),
                (Some(l), None) => format!("{l}〜"),
                _ => String::new(),
            };
            let j = s(it, "judgement");
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"{}\">{}{}</td><td>{}</td><td>{}</td></tr>",
                esc(s(it, "name")),
                esc(j),
                esc(&value),
                if j.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", esc(j))
                },
                esc(s(it, "unit")),
                esc(&range)
            );
        }
        b.push_str("</table>");
    }
    b.push_str("</section>");
    // 閲覧履歴
    b.push_str("<section id=\"views\"><h2>閲覧履歴（あなたの情報を閲覧した医療機関等）</h2><table><tr><th>日時</th><th>医療機関等</th><th>閲覧した情報</th><th>根拠</th></tr>");
    let views = v["views"].as_array().cloned().unwrap_or_default();
    for r in &views {
        let _ = write!(
            b,
            "<tr class=\"view\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&when(s(r, "at"))),
            esc(s(r, "facility_name")),
            esc(s(r, "information_label")),
            basis_label(s(r, "basis"))
        );
    }
    b.push_str("</table></section><p><a id=\"done\" href=\"/patient\">終了する</a></p>");
    page("ご本人の情報", &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_escaping() {
        assert_eq!(when("20261123100500"), "2026年11月23日 10:05");
        assert_eq!(when("20260105"), "2026年1月5日");
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }

    #[test]
    fn a_post_from_another_site_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            "127.0.0.1:8444".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            "http://127.0.0.1:8444"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            "http://evil.example"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(!same_origin(&h));
    }
}
