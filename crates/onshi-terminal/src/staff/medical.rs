//! 同意済み患者一覧 and the medical views (薬剤閲覧, 手術・診療・薬剤閲覧, 特健閲覧) with
//! their SVG charts. Only the 医療情報閲覧 role opens them; central decides (consent or
//! disaster) and records every view.

use super::*;

pub(super) fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn num(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// `yyyyMMdd` or `yyyyMMddHHmmss` as `yyyy/MM/dd[ HH:mm]`.
pub(super) fn wire_date(s: &str) -> String {
    match (
        s.get(..4),
        s.get(4..6),
        s.get(6..8),
        s.get(8..10),
        s.get(10..12),
    ) {
        (Some(y), Some(m), Some(d), Some(hh), Some(mm)) => format!("{y}/{m}/{d} {hh}:{mm}"),
        (Some(y), Some(m), Some(d), _, _) => format!("{y}/{m}/{d}"),
        _ => s.to_string(),
    }
}

pub(super) fn info_label(code: &str) -> &str {
    match code {
        "YZK" => "薬剤",
        "SRJ" => "診療",
        "SHJ" => "手術",
        "TKK" => "特定健診",
        other => other,
    }
}

/// Central's answer, or the page that says why there is none.
#[allow(clippy::result_large_err)]
pub(super) async fn central_view(t: &Terminal, s: &Session, path: &str) -> Result<Value, Response> {
    match t
        .link
        .staff_request(Method::GET, path, &s.account, None)
        .await
    {
        Ok((200, v)) => Ok(v),
        Ok((status, v)) => Err(error_page(
            if status == 403 || status == 404 {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_GATEWAY
            },
            Some(s),
            "閲覧できません",
            &format!(
                "{}（{}）",
                text(&v, "error_message"),
                text(&v, "error_code")
            ),
        )),
        Err(e) => Err(central_unreachable(s, "medical view", e)),
    }
}

#[derive(serde::Deserialize)]
pub struct PatientsPage {
    /// Central's cursor of the next page (`next` of the previous one).
    before: Option<String>,
}

pub async fn patients(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Query(q): Query<PatientsPage>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let path = match q.before.as_deref() {
        Some(c) if !c.is_empty() => {
            format!("/oqs/v1/medical/patients?before={}", query_escape(c))
        }
        _ => "/oqs/v1/medical/patients".to_string(),
    };
    let v = match central_view(&t, &s, &path).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut b = String::from("<p>※医療情報は患者が同意後24時間以内のみ閲覧可能です。</p>");
    if v.get("disaster").and_then(Value::as_bool) == Some(true) {
        b.push_str("<p class=\"msg\" id=\"disaster\">災害時モード：災害が宣言されている地域のため、同意のない患者の薬剤・特定健診情報も閲覧できます。</p>");
    }
    let list = v
        .get("patients")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        b.push_str("<p class=\"msg\" id=\"no-patients\">同意済みの患者はいません。</p>");
    } else {
        b.push_str("<table id=\"patients\"><tr><th>氏名</th><th>カナ氏名</th><th>生年月日</th><th>年齢</th><th>性別</th><th>同意日時</th><th>閲覧期限</th><th>同意した情報</th><th>閲覧</th></tr>");
        for p in &list {
            let id = p.get("person_id").and_then(Value::as_i64).unwrap_or(0);
            let info: Vec<&str> = p
                .get("information")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut links = String::new();
            if info.contains(&"YZK") {
                let _ = write!(
                    links,
                    "<a href=\"/staff/patients/{id}/drug\" class=\"view-drug\">薬剤閲覧</a> "
                );
            }
            if info.iter().any(|c| ["SRJ", "SHJ", "YZK"].contains(c)) {
                let _ = write!(
                    links,
                    "<a href=\"/staff/patients/{id}/treatment\" class=\"view-treatment\">手術・診療・薬剤閲覧</a> "
                );
            }
            if info.contains(&"TKK") {
                let _ = write!(
                    links,
                    "<a href=\"/staff/patients/{id}/checkup\" class=\"view-checkup\">特健閲覧</a>"
                );
            }
            let _ = write!(
                b,
                "<tr class=\"patient\" data-person=\"{id}\"><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}歳</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{links}</td></tr>",
                esc(text(p, "name")),
                esc(text(p, "name_kana")),
                esc(text(p, "birthdate_wareki")),
                num(p, "age"),
                esc(text(p, "sex_label")),
                wire_date(text(p, "consented_at")),
                wire_date(text(p, "available_until")),
                info.iter()
                    .map(|c| info_label(c))
                    .collect::<Vec<_>>()
                    .join("・"),
            );
        }
        b.push_str("</table>");
    }
    if let Some(next) = v.get("next").and_then(Value::as_str) {
        let _ = write!(
            b,
            "<p><a id=\"patients-next\" href=\"/staff/patients?before={}\">次のページ</a></p>",
            query_escape(next)
        );
    }
    page(&s, "同意済み患者一覧", &b)
}

pub(super) fn patient_header(v: &Value) -> String {
    let p = v.get("patient").cloned().unwrap_or(Value::Null);
    let basis = if text(v, "basis") == "disaster" {
        "災害時（同意なし）"
    } else {
        "本人同意"
    };
    format!(
        "<table id=\"patient\"><tr><th>氏名</th><td class=\"name\">{}</td><th>カナ氏名</th><td>{}</td><th>生年月日</th><td>{}</td><th>性別</th><td>{}</td><th>閲覧の根拠</th><td>{basis}</td></tr></table>",
        esc(text(&p, "name")),
        esc(text(&p, "name_kana")),
        esc(text(&p, "birthdate_wareki")),
        esc(text(&p, "sex_label")),
    )
}

pub(super) fn drug_tables(v: &Value) -> String {
    let mut b = String::new();
    let months = v
        .get("months")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if months.is_empty() {
        b.push_str("<p class=\"msg\">薬剤情報はありません。</p>");
        return b;
    }
    b.push_str("<table id=\"drugs\"><tr><th>調剤年月</th><th>調剤日</th><th>処方・調剤医療機関</th><th>区分</th><th>薬品名</th><th>成分</th><th>数量</th><th>用法</th><th>日数</th></tr>");
    for m in &months {
        for d in m
            .get("dispensings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let facility = if text(d, "facility_name") == text(d, "prescriber_name") {
                esc(text(d, "facility_name"))
            } else {
                format!(
                    "{}（処方：{}）",
                    esc(text(d, "facility_name")),
                    esc(text(d, "prescriber_name"))
                )
            };
            let own = if d.get("own").and_then(Value::as_bool) == Some(true) {
                " ★自院"
            } else {
                ""
            };
            for drug in d
                .get("drugs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let _ = write!(
                    b,
                    "<tr class=\"drug\"><td>{}</td><td>{}</td><td>{facility}{own}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                    esc(text(m, "month_label")),
                    wire_date(text(d, "dispensed_on")),
                    esc(text(d, "dispensing_kind")),
                    esc(text(drug, "name")),
                    esc(text(drug, "ingredient")),
                    num(drug, "quantity"),
                    esc(text(drug, "unit")),
                    esc(text(drug, "usage")),
                    num(drug, "days"),
                );
            }
        }
    }
    b.push_str("</table>");
    b
}

pub async fn drug(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(person): Path<i64>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match central_view(&t, &s, &format!("/oqs/v1/medical/drug?person={person}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = format!(
        "{}<p><a href=\"/staff/patients\">同意済み患者一覧へ戻る</a></p>{}",
        patient_header(&v),
        drug_tables(&v)
    );
    page(&s, "薬剤情報", &body)
}

fn visits_table(id: &str, visits: &[Value]) -> String {
    let mut b = format!(
        "<table id=\"{id}\"><tr><th>診療日</th><th>医療機関</th><th>入外</th><th>診療行為</th><th>回数</th></tr>"
    );
    for v in visits {
        for p in v
            .get("procedures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                wire_date(text(v, "performed_on")),
                esc(text(v, "facility_name")),
                if text(v, "in_out") == "1" {
                    "入院"
                } else {
                    "外来"
                },
                esc(text(p, "name")),
                num(p, "times"),
            );
        }
    }
    b.push_str("</table>");
    b
}

/// 手術・診療・薬剤閲覧: each section from its own view; a type without consent says so.
pub async fn treatment(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(person): Path<i64>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut header = None;
    let mut b = String::new();
    for (kind, title) in [
        ("surgery", "手術情報"),
        ("treatment", "診療情報"),
        ("drug", "薬剤情報"),
    ] {
        let _ = write!(b, "<h2>{title}</h2>");
        match t
            .link
            .staff_request(
                Method::GET,
                &format!("/oqs/v1/medical/{kind}?person={person}"),
                &s.account,
                None,
            )
            .await
        {
            Ok((200, v)) => {
                header.get_or_insert_with(|| patient_header(&v));
                match kind {
                    "surgery" => {
                        let surgeries: Vec<Value> = v
                            .get("surgeries")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        b.push_str(&visits_table("surgeries", &surgeries));
                        b.push_str("<h3>傷病名</h3><table id=\"diagnoses\"><tr><th>傷病名</th><th>ICD-10</th><th>診療開始日</th><th>転帰</th><th>医療機関</th><th>最終請求月</th></tr>");
                        for d in v
                            .get("diagnoses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let _ = write!(
                                b,
                                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                esc(text(d, "name")),
                                esc(text(d, "code")),
                                wire_date(text(d, "started_on")),
                                esc(text(d, "outcome")),
                                esc(text(d, "facility_name")),
                                esc(text(d, "last_month")),
                            );
                        }
                        b.push_str("</table>");
                    }
                    "treatment" => {
                        let visits: Vec<Value> = v
                            .get("visits")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        b.push_str(&visits_table("visits", &visits));
                    }
                    _ => b.push_str(&drug_tables(&v)),
                }
            }
            Ok((_, v)) => {
                let _ = write!(
                    b,
                    "<p class=\"msg\">閲覧できません：{}（{}）</p>",
                    esc(text(&v, "error_message")),
                    esc(text(&v, "error_code"))
                );
            }
            Err(e) => return internal(e),
        }
    }
    let body = format!(
        "{}<p><a href=\"/staff/patients\">同意済み患者一覧へ戻る</a></p>{b}",
        header.unwrap_or_default()
    );
    page(&s, "手術・診療・薬剤情報", &body)
}

/// One line of a chart: name, colour, points (date, value) oldest first.
pub type Series<'a> = (&'a str, &'a str, Vec<(String, f64)>);

/// An inline SVG line chart: `series` of (name, colour, points (date, value)); dates on
/// the x axis in the order given (oldest first), a dashed line at `limit` when given.
pub fn line_chart(
    id: &str,
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    limit: Option<f64>,
) -> String {
    const W: f64 = 640.0;
    const H: f64 = 260.0;
    const L: f64 = 60.0;
    const R: f64 = 20.0;
    const T: f64 = 30.0;
    const B: f64 = 40.0;
    let mut dates: Vec<&str> = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(d, _)| d.as_str()))
        .collect();
    dates.sort_unstable();
    dates.dedup();
    let values = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, v)| *v))
        .chain(limit);
    let (mut lo, mut hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |d: &str| {
        let i = dates.iter().position(|x| *x == d).unwrap_or(0) as f64;
        let n = (dates.len().max(2) - 1) as f64;
        L + (W - L - R) * if dates.len() < 2 { 0.5 } else { i / n }
    };
    let y = |v: f64| T + (H - T - B) * (1.0 - (v - lo) / (hi - lo));
    let mut s = format!(
        "<svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><text x=\"{L}\" y=\"18\" font-size=\"14\">{}（{}）</text>",
        esc(title),
        esc(title),
        esc(unit)
    );
    let _ = write!(
        s,
        "<line x1=\"{L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{}\" stroke=\"#888\"/>",
        H - B,
        W - R,
        H - B,
        H - B
    );
    for (v, label) in [
        (lo + pad, format!("{:.1}", lo + pad)),
        (hi - pad, format!("{:.1}", hi - pad)),
    ] {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{label}</text>",
            L - 4.0,
            y(v) + 4.0
        );
    }
    if let Some(l) = limit {
        let _ = write!(
            s,
            "<line class=\"limit\" x1=\"{L}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#c00\" stroke-dasharray=\"4 3\"/><text x=\"{1}\" y=\"{2:.1}\" font-size=\"10\" fill=\"#c00\" text-anchor=\"end\">基準値上限 {l}</text>",
            y(l),
            W - R,
            y(l) - 3.0
        );
    }
    for d in &dates {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(d),
            H - B + 16.0,
            esc(d.get(..4).unwrap_or(d))
        );
    }
    for (i, (name, colour, points)) in series.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .map(|(d, v)| format!("{:.1},{:.1}", x(d), y(*v)))
            .collect();
        let _ = write!(
            s,
            "<polyline class=\"series\" data-name=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            esc(name),
            pts.join(" ")
        );
        for (d, v) in points {
            let _ = write!(
                s,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{} {v}</title></circle><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{colour}\">{v}</text>",
                x(d),
                y(*v),
                esc(d),
                x(d),
                y(*v) - 7.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{colour}\">— {}</text>",
            W - R - 150.0 + 75.0 * i as f64 - 75.0,
            18,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

fn trend<'a>(v: &'a Value, code: &str) -> Option<&'a Value> {
    v.get("trends")
        .and_then(Value::as_array)?
        .iter()
        .find(|t| text(t, "code") == code)
}

fn points(t: Option<&Value>) -> Vec<(String, f64)> {
    t.and_then(|t| t.get("points"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        text(p, "examined_on").to_string(),
                        p.get("value")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

const HBA1C: &str = "3D046000001906202";
const SYSTOLIC: &str = "9A751000000000001";
const DIASTOLIC: &str = "9A761000000000001";

pub async fn checkup(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(person): Path<i64>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match central_view(&t, &s, &format!("/oqs/v1/medical/checkup?person={person}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut b = patient_header(&v);
    b.push_str("<p><a href=\"/staff/patients\">同意済み患者一覧へ戻る</a></p>");
    let checkups = v
        .get("checkups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if checkups.is_empty() {
        b.push_str("<p class=\"msg\" id=\"no-checkups\">特定健診情報はありません。</p>");
        return page(&s, "特定健診情報", &b);
    }
    b.push_str("<h2>経年変化</h2>");
    let hba1c = trend(&v, HBA1C);
    b.push_str(&line_chart(
        "chart-hba1c",
        "HbA1c",
        hba1c.map(|t| text(t, "unit")).unwrap_or("%"),
        &[("HbA1c", "#d0602a", points(hba1c))],
        hba1c.and_then(|t| t.get("high")).and_then(Value::as_f64),
    ));
    let sys = trend(&v, SYSTOLIC);
    let dia = trend(&v, DIASTOLIC);
    b.push_str(&line_chart(
        "chart-bp",
        "血圧",
        sys.map(|t| text(t, "unit")).unwrap_or("mmHg"),
        &[
            ("収縮期", "#1f5c99", points(sys)),
            ("拡張期", "#3a9a4a", points(dia)),
        ],
        sys.and_then(|t| t.get("high")).and_then(Value::as_f64),
    ));
    // Items by row, checkups (oldest on the left) by column.
    let cols: Vec<&Value> = checkups.iter().rev().collect();
    b.push_str(
        "<h2>健診結果</h2><table id=\"checkups\"><tr><th>項目</th><th>単位</th><th>基準値</th>",
    );
    for c in &cols {
        let _ = write!(
            b,
            "<th>{}<br>{}</th>",
            wire_date(text(c, "examined_on")),
            esc(text(c, "facility_name"))
        );
    }
    b.push_str("</tr>");
    let mut codes: Vec<(String, String, String, String)> = Vec::new();
    for c in &cols {
        for i in c
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let code = text(i, "code").to_string();
            if !codes.iter().any(|x| x.0 == code) {
                let range = match (num(i, "low"), num(i, "high")) {
                    (l, h) if l.is_empty() && h.is_empty() => String::new(),
                    (l, h) => format!("{l}–{h}"),
                };
                codes.push((code, text(i, "name").into(), text(i, "unit").into(), range));
            }
        }
    }
    for (code, name, unit, range) in &codes {
        let _ = write!(
            b,
            "<tr data-code=\"{}\"><th>{}</th><td>{}</td><td>{}</td>",
            esc(code),
            esc(name),
            esc(unit),
            esc(range)
        );
        for c in &cols {
            let item = c
                .get("items")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|i| text(i, "code") == code));
            match item {
                Some(i) => {
                    let value = match text(i, "value_label") {
                        "" => num(i, "value"),
                        l => l.to_string(),
                    };
                    let j = text(i, "judgement");
                    let class = if j == "H" || j == "L" { j } else { "" };
                    let _ = write!(
                        b,
                        "<td class=\"{class}\">{}{}</td>",
                        esc(&value),
                        if class.is_empty() {
                            ""
                        } else if j == "H" {
                            " H"
                        } else {
                            " L"
                        }
                    );
                }
                None => b.push_str("<td></td>"),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</table>");
    page(&s, "特定健診情報", &b)
}
