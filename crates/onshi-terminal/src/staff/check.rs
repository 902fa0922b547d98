//! 保険証/処方箋で確認: the form (枝番 optional) and its result.

use super::medical::wire_date;
use super::*;

fn check_form(s: &Session, message: Option<&str>, f: &CheckForm) -> String {
    let v = |x: &Option<String>| esc(x.as_deref().unwrap_or(""));
    let msg = message
        .map(|m| format!("<p class=\"msg err\" id=\"message\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "{msg}<form method=\"post\" action=\"/staff/check\" id=\"check-form\">
<input type=\"hidden\" name=\"csrf\" value=\"{}\">
<label>保険者番号 <input type=\"text\" name=\"insurer\" id=\"check-insurer\" value=\"{}\" inputmode=\"numeric\" maxlength=\"8\"></label>
<label>記号 <input type=\"text\" name=\"symbol\" id=\"check-symbol\" value=\"{}\"></label>
<label>番号 <input type=\"text\" name=\"number\" id=\"check-number\" value=\"{}\"></label>
<label>枝番 <input type=\"text\" name=\"branch\" id=\"check-branch\" value=\"{}\" inputmode=\"numeric\" maxlength=\"2\"> ※保険証に記載がある場合のみ入力します。</label>
<label>生年月日 <input type=\"text\" name=\"birth\" id=\"check-birth\" value=\"{}\" placeholder=\"19800101\" maxlength=\"10\"></label>
<button type=\"submit\" id=\"check-search\">検索</button></form>",
        esc(&s.csrf),
        v(&f.insurer),
        v(&f.symbol),
        v(&f.number),
        v(&f.branch),
        v(&f.birth),
    )
}

#[derive(serde::Deserialize, Default)]
pub struct CheckForm {
    csrf: Option<String>,
    insurer: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
    birth: Option<String>,
}

pub async fn check_page(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    page(
        &s,
        "保険証/処方箋で確認",
        &check_form(&s, None, &CheckForm::default()),
    )
}

pub(super) fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// 3-digit ratio (`030`) as 「3割」.
pub(super) fn ratio(v: &Option<String>) -> String {
    match v.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        Some(r) => match r.parse::<u32>() {
            Ok(n) if n % 10 == 0 => format!("{}割", n / 10),
            Ok(n) => format!("{}.{}割", n / 10, n % 10),
            Err(_) => esc(r),
        },
        None => String::new(),
    }
}

pub(super) fn result_table(r: &onshi_wire::siquc01::ResultOfQualificationConfirmation) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("氏名", esc(opt(&r.name))),
        ("カナ氏名", esc(opt(&r.name_kana))),
        ("生年月日", wire_date(opt(&r.birthdate))),
        (
            "性別",
            match opt(&r.sex1) {
                "1" => "男".into(),
                "2" => "女".into(),
                _ => String::new(),
            },
        ),
        ("保険者番号", esc(opt(&r.insurer_number))),
        ("保険者名称", esc(opt(&r.insurer_name))),
        ("記号", esc(opt(&r.insured_card_symbol))),
        ("番号", esc(opt(&r.insured_identification_number))),
        ("枝番", esc(opt(&r.insured_branch_number))),
        (
            "本人・家族",
            match opt(&r.personal_family_classification) {
                "1" => "本人".into(),
                "2" => "家族".into(),
                _ => String::new(),
            },
        ),
        ("一部負担割合", ratio(&r.insured_partial_contribution_ratio)),
        ("資格取得日", wire_date(opt(&r.qualification_date))),
        ("資格喪失日", wire_date(opt(&r.disqualification_date))),
        ("有効期限", wire_date(opt(&r.insured_card_expiration_date))),
    ];
    if let Some(reason) = r.reason_of_loss.as_deref().filter(|x| !x.is_empty()) {
        let label = match reason {
            "01" => "死亡",
            "02" => "生活保護受給開始",
            "03" => "医療保険等の資格取得",
            _ => "その他",
        };
        rows.push(("喪失事由", label.into()));
    }
    if let Some(e) = &r.elderly_recipient {
        rows.push((
            "高齢受給者証",
            format!(
                "負担割合 {}（{}〜{}）",
                ratio(&e.elderly_recipient_contribution_ratio),
                wire_date(opt(&e.elderly_recipient_valid_start_date)),
                wire_date(opt(&e.elderly_recipient_valid_end_date))
            ),
        ));
    }
    if let Some(l) = &r.limit_info {
        rows.push((
            "限度額適用認定証",
            format!(
                "区分 {}（{}〜{}）",
                esc(opt(&l.limit_application_certificate_classification)),
                wire_date(opt(&l.limit_application_certificate_valid_start_date)),
                wire_date(opt(&l.limit_application_certificate_valid_end_date))
            ),
        ));
    }
    let mut b = String::from("<table class=\"qualification\">");
    for (k, v) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(b, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    b.push_str("</table>");
    b
}

pub(super) const NOT_FOUND_ADVICE: &str = "<ul id=\"advice\"><li>入力した保険者番号・記号・番号・枝番・生年月日が保険証と一致しているかご確認ください。</li><li>資格が確認できない場合は、患者に「被保険者資格申立書」を記入いただき、窓口負担は通常どおり（3割等）で受け付けてください。</li><li>レセプトは申立書の内容で請求します。保険者番号等が分からない場合は、過去の受診時の番号、または「不詳」として請求できます。</li></ul>";

pub async fn check(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<CheckForm>,
) -> Response {
    use onshi_wire::siquc01;
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&headers, f.csrf.as_deref(), Some(&s)) {
        return csrf_refused();
    }
    let clean = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let insurer = clean(&f.insurer);
    let number = clean(&f.number);
    let birth: String = clean(&f.birth)
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let branch = clean(&f.branch);
    let symbol = clean(&f.symbol);
    let problem = if !(insurer.len() == 6 || insurer.len() == 8)
        || !insurer.bytes().all(|b| b.is_ascii_digit())
    {
        Some("保険者番号は6桁または8桁の数字で入力してください。")
    } else if number.is_empty() {
        Some("番号を入力してください。")
    } else if !branch.is_empty()
        && (branch.len() != 2 || !branch.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("枝番は2桁の数字で入力してください（記載がない場合は空欄）。")
    } else if birth.len() != 8 || onshi_core::Ymd::parse(&birth).is_err() {
        Some("生年月日はYYYYMMDD（例：19800101）で入力してください。")
    } else {
        None
    };
    if let Some(p) = problem {
        return html(
            StatusCode::BAD_REQUEST,
            page_html(
                "保険証/処方箋で確認",
                Some(&s),
                &check_form(&s, Some(p), &f),
            ),
        );
    }
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: t.clock.now().date().to_wire(),
            medical_institution_code: t.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: insurer,
            insured_card_symbol: (!symbol.is_empty()).then_some(symbol),
            insured_identification_number: number,
            insured_branch_number: (!branch.is_empty()).then_some(branch),
            birthdate: birth,
            limit_application_certificate_related_cons_flg: Some("0".into()),
            arbitrary_identifier: None,
        },
    };
    let body: Value = match serde_json::from_slice(&siquc01::encode_request_json(&req)) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let answer = match t
        .link
        .staff_request(
            Method::POST,
            "/oqs/v1/qualification",
            &s.account,
            Some(&body),
        )
        .await
    {
        Ok((_, v)) => {
            siquc01::decode_response_json(v.to_string().as_bytes(), &onshi_wire::Limits::default())
        }
        Err(e) => return central_unreachable(&s, "check by insurance card", e),
    };
    let res = match answer {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let validity = res.body.qualification_validity.as_deref().unwrap_or("");
    let mut b = String::new();
    match (validity, res.body.results.first()) {
        ("1" | "6", Some(r)) => {
            b.push_str("<p class=\"msg\" id=\"verdict\" data-validity=\"valid\">資格有効</p>");
            b.push_str(&result_table(r));
        }
        ("2" | "3", Some(r)) => {
            b.push_str(
                "<p class=\"msg err\" id=\"verdict\" data-validity=\"invalid\">資格(無効)</p>",
            );
            if validity == "3" {
                b.push_str("<p class=\"msg\">新しい資格が登録されています。マイナンバーカードでの確認、または新しい保険証の提示をお願いしてください。</p>");
            } else {
                b.push_str("<p>この保険証の資格は喪失しています。喪失した資格は次のとおりです。新しい保険証の提示をお願いしてください。</p>");
            }
            b.push_str(&result_table(r));
        }
        ("5", _) => {
            b.push_str("<p class=\"msg\" id=\"verdict\" data-validity=\"multiple\">複数の資格が該当しました</p>");
            for r in &res.body.results {
                b.push_str(&result_table(r));
            }
        }
        _ => {
            let why = res
                .header
                .error_message
                .as_deref()
                .or(res.body.processing_result_message.as_deref())
                .unwrap_or("");
            let _ = write!(
                b,
                "<p class=\"msg err\" id=\"verdict\" data-validity=\"none\">資格情報なし</p><p>{}</p>{NOT_FOUND_ADVICE}",
                esc(why)
            );
        }
    }
    b.push_str("<p><a href=\"/staff/check\" id=\"check-again\">別の保険証を確認</a>　<a href=\"/staff\">メニュー</a></p>");
    page(&s, "資格確認結果", &b)
}
