//! The staff screens in a real headless Chromium against a real central: login per role,
//! 同意済み患者一覧 and the medical views, idle logout by moving the clock, lock-out,
//! the 強制ログイン question and CSRF refusals.
//!
//! Needs `chromium` and `chromium-driver`; without them these tests fail and say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN, GENERAL, MEDICAL, Served, Setup, browser};

use onshi_core::{Clock, Ymd};
use onshi_store::ConsentRecord;
use onshi_testkit::browser::{Browser, DEFAULT_WAIT};
use onshi_testkit::{TestApp, spawn_app};
use std::io::{Read, Write};

async fn start_terminal(app: &TestApp) -> Served {
    common::start_terminal(
        app,
        Setup {
            accounts: true,
            ..Setup::default()
        },
    )
    .await
}

/// Fills in and sends the login form.
fn submit_login(b: &Browser, s: &Served, (id, password): (&str, &str)) {
    b.goto(&format!("{}/staff/login", s.url)).unwrap();
    b.wait_for("#login-form", DEFAULT_WAIT).unwrap();
    b.type_into("#login-id", id).unwrap();
    b.type_into("#login-password", password).unwrap();
    b.click("#login-button").unwrap();
}

/// Logs in and waits for the menu.
fn login(b: &Browser, s: &Served, account: (&str, &str)) {
    submit_login(b, s, account);
    b.wait_for_text("#title", "メニュー", DEFAULT_WAIT).unwrap();
    assert!(b.text("#who").unwrap().contains(account.0));
}

/// From the menu to the 同意済み患者一覧 (a medical-role session).
fn open_consented_list(b: &Browser) {
    b.click("#menu-patients").unwrap();
    b.wait_for_text("#title", "同意済み患者一覧", DEFAULT_WAIT)
        .unwrap();
}

fn logout(b: &Browser) {
    b.click("#logout").unwrap();
    b.wait_for_text("#message", "ログアウトしました", DEFAULT_WAIT)
        .unwrap();
}

async fn consent(app: &TestApp, person: i64, codes: &[&str], id: &str) {
    let now = app.clock.now();
    app.store
        .record_consent(&ConsentRecord {
            check_request_id: id.to_string(),
            facility_code: app.clinic().code.as_str().to_string(),
            person_id: person,
            consented_at: now,
            available_until: onshi_core::card::consent_available_until(now),
            information: codes.iter().map(|c| c.to_string()).collect(),
        })
        .await
        .unwrap();
}

/// Someone with drug history and checkups.
async fn person_with_history(app: &TestApp) -> i64 {
    let since = Ymd::from_ymd(2020, 1, 1).unwrap();
    for id in 1..400 {
        if !app.store.drugs(id, since).await.unwrap().is_empty()
            && app.store.checkups(id, since).await.unwrap().len() >= 3
        {
            return id;
        }
    }
    panic!("no person with drugs and checkups");
}

/// Someone whose name has a character outside JIS X 0208.
async fn person_with_rare_kanji(app: &TestApp, not: i64) -> (i64, String) {
    for id in (1..400).filter(|id| *id != not) {
        if let Some(p) = app.store.person(id).await.unwrap()
            && (p.name.contains('𠮷') || p.name.contains('髙'))
        {
            return (id, p.name);
        }
    }
    panic!("no person with 𠮷 or 髙");
}

/// Login audit rows at central for `account`: outcomes in order.
async fn login_audit(app: &TestApp, account: &str) -> Vec<String> {
    app.store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == "login" && r.entry.account == account)
        .map(|r| r.entry.outcome)
        .collect()
}

// ---------------------------------------------------------------------------------------
// A bare HTTP client, to send what a browser would not (POSTs without the token).

struct Answer {
    status: u16,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

fn http(addr: std::net::SocketAddr, method: &str, path: &str, cookie: &str, form: &str) -> Answer {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    c.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut cookies = Vec::new();
    let mut location = None;
    for l in lines {
        let (k, v) = l.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "set-cookie" => cookies.push(v.trim().split(';').next().unwrap().to_string()),
            "location" => location = Some(v.trim().to_string()),
            _ => {}
        }
    }
    Answer {
        status,
        cookies,
        location,
        body: body.to_string(),
    }
}

fn hidden_csrf(body: &str) -> String {
    let i = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    body[i..].split('"').next().unwrap().to_string()
}

/// Logs in over bare HTTP: the cookie header of the session and its token.
fn http_login(addr: std::net::SocketAddr, (id, password): (&str, &str)) -> (String, String) {
    let page = http(addr, "GET", "/staff/login", "", "");
    let csrf = hidden_csrf(&page.body);
    let jar = page.cookies.join("; ");
    let r = http(
        addr,
        "POST",
        "/staff/login",
        &jar,
        &format!(
            "id={id}&password={}&csrf={csrf}",
            password.replace('*', "%2A")
        ),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let jar = r.cookies.join("; ");
    let menu = http(addr, "GET", "/staff", &jar, "");
    assert_eq!(menu.status, 200);
    (jar.clone(), hidden_csrf(&menu.body))
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consented_patient_list_shows_a_hundred_a_page_and_links_the_next() {
    let app = spawn_app().await;
    // 101 patients, the newest consent last: person 101 heads the list, person 1 ends it.
    for person in 1..=101 {
        consent(&app, person, &["YZK"], &format!("page-test-{person:03}")).await;
        app.clock.advance_seconds(1);
    }
    let s = start_terminal(&app).await;
    let b = browser();
    login(&b, &s, MEDICAL);
    open_consented_list(&b);
    // The rows' person ids, in page order (from the page source: `data-person="N"`).
    let people = |b: &Browser| -> Vec<i64> {
        let src = b.source().unwrap();
        src.split("class=\"patient\" data-person=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect()
    };
    let first = people(&b);
    assert_eq!(first.len(), 100);
    assert_eq!(first[0], 101);
    assert_eq!(first[99], 2);
    b.click("#patients-next").unwrap();
    b.wait_for_text("#title", "同意済み患者一覧", DEFAULT_WAIT)
        .unwrap();
    assert_eq!(people(&b), vec![1]);
    assert!(b.find_all("#patients-next").unwrap().is_empty());
    logout(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_medical_role_opens_consented_patients_drugs_treatment_and_checkups_with_charts() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    let (rare, rare_name) = person_with_rare_kanji(&app, person).await;
    consent(&app, person, &["YZK", "TKK", "SRJ", "SHJ"], "staff-test-1").await;
    consent(&app, rare, &["YZK"], "staff-test-2").await;
    let s = start_terminal(&app).await;
    let b = browser();

    login(&b, &s, MEDICAL);
    open_consented_list(&b);
    let rows = b.find_all("#patients tr.patient").unwrap();
    assert_eq!(rows.len(), 2);
    // Rare kanji as they are, never 「●」.
    let rare_row = b
        .text(&format!("tr.patient[data-person=\"{rare}\"] td.name"))
        .unwrap();
    assert_eq!(rare_row, rare_name);
    assert!(!b.body_text().unwrap().contains('●'));
    // Only drug information was consented for the rare-kanji patient.
    assert!(
        b.find_all(&format!(
            "tr.patient[data-person=\"{rare}\"] a.view-checkup"
        ))
        .unwrap()
        .is_empty()
    );

    b.click(&format!("tr.patient[data-person=\"{person}\"] a.view-drug"))
        .unwrap();
    b.wait_for_text("#title", "薬剤情報", DEFAULT_WAIT).unwrap();
    let drugs = b.find_all("#drugs tr.drug").unwrap();
    assert!(!drugs.is_empty());
    let first = b.element_text(&drugs[0]).unwrap();
    assert!(first.contains('年') && first.contains('/'), "{first}");

    b.goto(&format!("{}/staff/patients/{person}/treatment", s.url))
        .unwrap();
    b.wait_for_text("#title", "手術・診療・薬剤情報", DEFAULT_WAIT)
        .unwrap();
    b.wait_for("#visits", DEFAULT_WAIT).unwrap();
    b.wait_for("#diagnoses", DEFAULT_WAIT).unwrap();

    b.goto(&format!("{}/staff/patients", s.url)).unwrap();
    b.click(&format!(
        "tr.patient[data-person=\"{person}\"] a.view-checkup"
    ))
    .unwrap();
    b.wait_for_text("#title", "特定健診情報", DEFAULT_WAIT)
        .unwrap();
    let checkups = app
        .store
        .checkups(person, Ymd::from_ymd(2020, 1, 1).unwrap())
        .await
        .unwrap();
    // One point per checkup with an HbA1c, two lines of blood pressure.
    let hba1c_points = b.find_all("#chart-hba1c circle.point").unwrap().len();
    assert!(hba1c_points >= 3 && hba1c_points <= checkups.len());
    assert_eq!(b.find_all("#chart-bp polyline.series").unwrap().len(), 2);
    assert!(b.text("#chart-bp").unwrap().contains("収縮期"));
    assert_eq!(
        b.find_all("#checkups tr:first-child th").unwrap().len(),
        3 + checkups.len()
    );
    assert!(b.text("#checkups").unwrap().contains("HbA1c"));

    // Without consent for checkups the view is refused by central, in Japanese.
    b.goto(&format!("{}/staff/patients/{rare}/checkup", s.url))
        .unwrap();
    b.wait_for_text("#title", "閲覧できません", DEFAULT_WAIT)
        .unwrap();
    logout(&b);

    // Every login reached central's audit trail.
    assert_eq!(login_audit(&app, MEDICAL.0).await, ["ok"]);
    let views = app
        .store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == "view" && r.entry.account == MEDICAL.0)
        .count();
    assert!(views >= 5, "{views}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn general_and_admin_roles_are_refused_the_medical_pages() {
    let app = spawn_app().await;
    let person = person_with_history(&app).await;
    consent(&app, person, &["YZK", "TKK"], "staff-test-3").await;
    let s = start_terminal(&app).await;
    let b = browser();

    for account in [GENERAL, ADMIN] {
        login(&b, &s, account);
        assert!(b.find_all("#menu-patients").unwrap().is_empty());
        assert!(!b.find_all("#menu-check").unwrap().is_empty());
        assert_eq!(
            b.find_all("#menu-settings").unwrap().len(),
            usize::from(account == ADMIN)
        );
        for path in [
            "/staff/patients".to_string(),
            format!("/staff/patients/{person}/drug"),
            format!("/staff/patients/{person}/checkup"),
        ] {
            b.goto(&format!("{}{path}", s.url)).unwrap();
            b.wait_for_text("#title", "権限がありません", DEFAULT_WAIT)
                .unwrap();
            assert!(b.text("#error").unwrap().contains("医療情報閲覧用"));
        }
        b.goto(&format!("{}/staff", s.url)).unwrap();
        logout(&b);
    }
    // Refused before central was asked: no view was recorded.
    let views = app
        .store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.kind == "view")
        .count();
    assert_eq!(views, 0);
    let forbidden = http(
        s.addr,
        "GET",
        "/staff/patients",
        &http_login(s.addr, GENERAL).0,
        "",
    );
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.body.contains("<meta charset=\"utf-8\">"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_minutes_idle_logs_out_and_a_second_login_asks_to_force() {
    let app = spawn_app().await;
    let s = start_terminal(&app).await;
    let b = browser();

    login(&b, &s, GENERAL);
    // 29 minutes is not idle enough, and the request restarts the timer.
    app.clock.advance_seconds(29 * 60);
    b.goto(&format!("{}/staff", s.url)).unwrap();
    b.wait_for_text("#title", "メニュー", DEFAULT_WAIT).unwrap();
    app.clock.advance_seconds(29 * 60);
    b.goto(&format!("{}/staff", s.url)).unwrap();
    b.wait_for_text("#title", "メニュー", DEFAULT_WAIT).unwrap();
    app.clock.advance_seconds(31 * 60);
    b.goto(&format!("{}/staff", s.url)).unwrap();
    b.wait_for_text("#message", "30分間操作がなかったため", DEFAULT_WAIT)
        .unwrap();
    assert!(b.current_url().unwrap().contains("/staff/login"));

    // After an idle logout the next login asks (FAQ No.3); はい logs in.
    submit_login(&b, &s, GENERAL);
    b.wait_for_text(
        "#force-question",
        "前回正常にログアウトされていなかった可能性があります。または、該当ユーザは既に使用されています。強制的にログインしますか？",
        DEFAULT_WAIT,
    )
    .unwrap();
    b.click("#force-yes").unwrap();
    b.wait_for_text("#title", "メニュー", DEFAULT_WAIT).unwrap();
    logout(&b);
    // A clean logout: no question next time.
    login(&b, &s, GENERAL);

    // The same account logging in elsewhere while this session is open is asked too,
    // and forcing it ends the other session.
    let (other, _) = {
        logout(&b);
        http_login(s.addr, GENERAL)
    };
    submit_login(&b, &s, GENERAL);
    b.wait_for("#force-question", DEFAULT_WAIT).unwrap();
    // いいえ leaves both as they were.
    b.click("#force-no").unwrap();
    b.wait_for("#login-form", DEFAULT_WAIT).unwrap();
    assert_eq!(http(s.addr, "GET", "/staff", &other, "").status, 200);
    submit_login(&b, &s, GENERAL);
    b.click("#force-yes").unwrap();
    b.wait_for_text("#title", "メニュー", DEFAULT_WAIT).unwrap();
    let gone = http(s.addr, "GET", "/staff", &other, "");
    assert_eq!(gone.status, 303);
    assert_eq!(gone.location.as_deref(), Some("/staff/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_account_for_fifteen_minutes() {
    let app = spawn_app().await;
    let s = start_terminal(&app).await;
    let b = browser();

    for i in 1..=5 {
        submit_login(&b, &s, (MEDICAL.0, "not-the-password"));
        let expect = if i < 5 {
            "ログインIDまたはパスワードが正しくありません"
        } else {
            "ロックされています"
        };
        b.wait_for_text("#message", expect, DEFAULT_WAIT).unwrap();
    }
    // The right password does not open a locked account.
    submit_login(&b, &s, MEDICAL);
    b.wait_for_text("#message", "ロックされています", DEFAULT_WAIT)
        .unwrap();
    app.clock.advance_seconds(14 * 60);
    submit_login(&b, &s, MEDICAL);
    b.wait_for_text("#message", "ロックされています", DEFAULT_WAIT)
        .unwrap();
    app.clock.advance_seconds(60 + 1);
    login(&b, &s, MEDICAL);
    // Other accounts were never locked.
    let (_, _) = http_login(s.addr, GENERAL);

    let outcomes = login_audit(&app, MEDICAL.0).await;
    assert_eq!(outcomes.len(), 8, "{outcomes:?}");
    assert!(outcomes[..7].iter().all(|o| o == "failed"));
    assert_eq!(outcomes[7], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused() {
    let app = spawn_app().await;
    let s = start_terminal(&app).await;
    let form = format!(
        "id={}&password={}",
        GENERAL.0,
        GENERAL.1.replace('*', "%2A")
    );

    // No token, no cookie.
    let r = http(s.addr, "POST", "/staff/login", "", &form);
    assert_eq!(r.status, 403);
    assert!(r.cookies.iter().all(|c| !c.starts_with("onshi_staff=")));
    // A token in the form that is not the cookie's (a page of another site).
    let page = http(s.addr, "GET", "/staff/login", "", "");
    let jar = page.cookies.join("; ");
    assert!(jar.starts_with("onshi_csrf="));
    let r = http(
        s.addr,
        "POST",
        "/staff/login",
        &jar,
        &format!("{form}&csrf=00112233445566778899aabbccddeeff0011223344556677"),
    );
    assert_eq!(r.status, 403);
    assert!(login_audit(&app, GENERAL.0).await.is_empty());

    // Logged in: logout without the token is refused and the session lives on.
    let (session, token) = http_login(s.addr, GENERAL);
    let r = http(s.addr, "POST", "/staff/logout", &session, "");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("不正な操作です"));
    assert_eq!(http(s.addr, "GET", "/staff", &session, "").status, 200);
    // The newer screens' POSTs too: a bulk upload, the settings (even for an admin,
    // and nothing changes), a disaster-time search.
    assert_eq!(
        http(s.addr, "POST", "/staff/bulk", &session, "file=x").status,
        403
    );
    let (admin, admin_token) = http_login(s.addr, ADMIN);
    let r = http(s.addr, "POST", "/staff/settings", &admin, "visual=1");
    assert_eq!(r.status, 403);
    assert!(!s.terminal.local.kiosk_settings().unwrap().visual_mode);
    let r = http(
        s.addr,
        "POST",
        "/staff/settings",
        &admin,
        &format!("visual=1&csrf={token}"),
    );
    assert_eq!(r.status, 403, "another session's token");
    let r = http(
        s.addr,
        "POST",
        "/staff/settings",
        &admin,
        &format!("visual=1&pharmacists=1&csrf={admin_token}"),
    );
    assert_eq!(r.status, 200);
    assert!(s.terminal.local.kiosk_settings().unwrap().visual_mode);
    let (doctor, _) = http_login(s.addr, MEDICAL);
    let r = http(
        s.addr,
        "POST",
        "/staff/disaster/search",
        &doctor,
        "by=name&name=x&birth=19800101&sex=1",
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("不正な操作です"));
    let r = http(
        s.addr,
        "POST",
        "/staff/logout",
        &session,
        &format!("csrf={token}"),
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/staff/login?m=logout"));
    assert_eq!(http(s.addr, "GET", "/staff", &session, "").status, 303);

    // The cookies are HttpOnly and SameSite=Strict.
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.write_all(
        format!(
            "GET /staff/login HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    )
    .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let set = raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie"))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
}

/// Types a sample's insurance card into the 保険証で確認 form and searches.
fn check_card(b: &Browser, s: &Served, sample: &onshi_synth::Sample) {
    b.goto(&format!("{}/staff/check", s.url)).unwrap();
    b.wait_for("#check-form", DEFAULT_WAIT).unwrap();
    b.type_into("#check-insurer", &sample.insurer_number)
        .unwrap();
    b.type_into("#check-symbol", &sample.symbol).unwrap();
    b.type_into("#check-number", &sample.number).unwrap();
    b.type_into("#check-branch", &sample.branch).unwrap();
    b.type_into("#check-birth", &sample.birthdate).unwrap();
    b.click("#check-search").unwrap();
    b.wait_for_text("#title", "資格確認結果", DEFAULT_WAIT)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_by_insurance_card_show_valid_lost_and_unknown_qualifications() {
    let app = spawn_app().await;
    let s = start_terminal(&app).await;
    let b = browser();
    login(&b, &s, GENERAL);
    b.click("#menu-check").unwrap();
    b.wait_for("#check-form", DEFAULT_WAIT).unwrap();

    let valid = app.sample("valid").clone();
    check_card(&b, &s, &valid);
    assert_eq!(b.text("#verdict").unwrap(), "資格有効");
    let table = b.text("table.qualification").unwrap();
    assert!(table.contains(&valid.number), "{table}");
    assert!(table.contains("本人") || table.contains("家族"), "{table}");

    // 70–74: the burden ratio of the 高齢受給者証.
    let elderly = app.sample("elderly_70_74").clone();
    check_card(&b, &s, &elderly);
    assert_eq!(b.text("#verdict").unwrap(), "資格有効");
    let table = b.text("table.qualification").unwrap();
    assert!(
        table.contains("高齢受給者証") && table.contains('割'),
        "{table}"
    );

    let lost = app.sample("lost").clone();
    check_card(&b, &s, &lost);
    assert_eq!(b.text("#verdict").unwrap(), "資格(無効)");
    assert!(
        b.text("table.qualification")
            .unwrap()
            .contains("資格喪失日")
    );

    let unknown = app.sample("not_found").clone();
    check_card(&b, &s, &unknown);
    assert_eq!(b.text("#verdict").unwrap(), "資格情報なし");
    let advice = b.text("#advice").unwrap();
    assert!(advice.contains("被保険者資格申立書") && advice.contains("不詳"));

    let rare = app.sample("rare_kanji").clone();
    check_card(&b, &s, &rare);
    let table = b.text("table.qualification").unwrap();
    assert!(
        table.contains('𠮷')
            || table.contains('髙')
            || table.contains('﨑')
            || table.contains('濵'),
        "{table}"
    );
    assert!(!b.body_text().unwrap().contains('●'));

    // A malformed insurer number is caught before central is asked.
    b.goto(&format!("{}/staff/check", s.url)).unwrap();
    b.type_into("#check-insurer", "12a").unwrap();
    b.type_into("#check-number", "1").unwrap();
    b.type_into("#check-birth", "19800101").unwrap();
    b.click("#check-search").unwrap();
    b.wait_for_text("#message", "保険者番号は", DEFAULT_WAIT)
        .unwrap();
}
