//! The staff screens added for issue 5 in a real headless Chromium against a real central:
//! 資格確認履歴照会 (period, list, detail), 一括照会 (upload a CSV or an OQSmuquc01req and
//! follow it), 環境設定 (admin only; the kiosk and the face files follow it) and
//! 災害時医療情報閲覧 (medical role, only while a declaration covers the facility).
//!
//! Needs `chromium` and `chromium-driver`; without them these tests fail and say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN, GENERAL, MEDICAL, Served, Setup, browser};

use onshi_core::medical::DisasterArea;
use onshi_core::{Clock, Ymd};
use onshi_pki::CertProfile;
use onshi_store::NewDisaster;
use onshi_testkit::browser::{Browser, DEFAULT_WAIT};
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::{Encoding, Limits, siquc01};
use std::path::PathBuf;
use std::time::Duration;

/// The demo clinic's terminal (kiosk and staff screens) against `app`, with the three
/// accounts; the kiosk's wallet is the cards the test issued.
async fn start_terminal(app: &TestApp) -> Served {
    common::start_terminal(
        app,
        Setup {
            wallet: true,
            accounts: true,
            ..Setup::default()
        },
    )
    .await
}

fn login(b: &Browser, s: &Served, (id, password): (&str, &str)) {
    b.goto(&format!("{}/staff/login", s.url)).unwrap();
    b.wait_for("#login-form", DEFAULT_WAIT).unwrap();
    b.type_into("#login-id", id).unwrap();
    b.type_into("#login-password", password).unwrap();
    b.click("#login-button").unwrap();
    b.wait_for_text("#title", "メニュー", DEFAULT_WAIT).unwrap();
}

fn logout(b: &Browser) {
    b.click("#logout").unwrap();
    b.wait_for_text("#message", "ログアウトしました", DEFAULT_WAIT)
        .unwrap();
}

/// Logs in as the general clerk and opens 資格確認履歴照会.
fn open_history(b: &Browser, s: &Served) {
    login(b, s, GENERAL);
    b.click("#menu-history").unwrap();
    b.wait_for_text("#title", "資格確認履歴照会", DEFAULT_WAIT)
        .unwrap();
}

/// The page at `path` is the 403 「権限がありません」 page.
fn refused(b: &Browser, s: &Served, path: &str) {
    b.goto(&format!("{}{path}", s.url)).unwrap();
    b.wait_for_text("#title", "権限がありません", DEFAULT_WAIT)
        .unwrap();
}

/// A check by insurance-card data, as the receipt computer of the clinic (or of
/// `facility`) sends it.
async fn check(app: &TestApp, case: &str, facility: Option<usize>) {
    let mut req = app.check_request(case, "history-test");
    let mut conn = match facility {
        None => app.clinic_connection().await,
        Some(i) => {
            let code = app.facilities[i].code.clone();
            req.header.medical_institution_code = code.as_str().into();
            app.client_with(Some(&app.facility_cert(&code)))
                .connect()
                .await
                .unwrap()
        }
    };
    let r = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
}

async fn name_of(app: &TestApp, case: &str) -> String {
    let p = app.person_of(case).await;
    app.store.person(p).await.unwrap().unwrap().name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_search_by_period_lists_this_facilitys_checks_and_opens_their_details() {
    let app = spawn_app().await;
    let other = app
        .facilities
        .iter()
        .position(|f| f.code != app.clinic().code && f.enabled)
        .unwrap();
    // Yesterday one check; today four, and one of another facility.
    app.clock.advance_seconds(-86_400);
    check(&app, "valid", None).await;
    app.clock.advance_seconds(86_400);
    for case in ["elderly_70_74", "not_found", "rare_kanji", "lost"] {
        check(&app, case, None).await;
        app.clock.advance_seconds(30);
    }
    check(&app, "valid", Some(other)).await;
    let rare_name = name_of(&app, "rare_kanji").await;
    let elderly_name = name_of(&app, "elderly_70_74").await;
    let s = start_terminal(&app).await;
    let b = browser();

    open_history(&b, &s);
    // The period fields are the browser's date fields (calendar), today by default.
    assert_eq!(
        b.attr("#history-from", "type").unwrap().as_deref(),
        Some("date")
    );
    assert_eq!(
        b.attr("#history-to", "value").unwrap().as_deref(),
        Some("2026-11-23")
    );
    b.click("#history-search").unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    let rows = b.find_all("#history tr.entry").unwrap();
    assert_eq!(rows.len(), 4, "{}", b.body_text().unwrap());
    // Newest first; the rare kanji as they are.
    let names: Vec<String> = b
        .find_all("#history tr.entry td.name")
        .unwrap()
        .iter()
        .map(|e| b.element_text(e).unwrap())
        .collect();
    assert_eq!(names[1], rare_name);
    assert_eq!(names[3], elderly_name);
    assert!(!b.body_text().unwrap().contains('●'));
    assert_eq!(
        b.find_all("#history tr.entry[data-method=\"insurance_card\"]")
            .unwrap()
            .len(),
        4
    );
    assert!(b.text("#history").unwrap().contains("該当資格なし"));

    // The elderly patient's detail: validity, numbers, 本人・家族, ratio, 高齢受給者証.
    b.click("#history tr.entry:nth-child(5) a.detail").unwrap();
    b.wait_for_text("#title", "資格確認履歴（詳細）", DEFAULT_WAIT)
        .unwrap();
    assert_eq!(
        b.attr("#verdict", "data-validity").unwrap().as_deref(),
        Some("valid")
    );
    let detail = b.text("table.qualification").unwrap();
    let sample = app.sample("elderly_70_74").clone();
    assert!(detail.contains(&sample.insurer_number), "{detail}");
    assert!(detail.contains(&sample.number), "{detail}");
    assert!(detail.contains("本人・家族"), "{detail}");
    // 70–74: the burden ratio is the 高齢受給者証's.
    assert!(detail.contains("高齢受給者証 負担割合 2割"), "{detail}");
    assert!(detail.contains(&elderly_name), "{detail}");
    // Back to the same results.
    b.click("#history-back").unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    b.click("#history tr.entry[data-state=\"4\"] a.detail")
        .unwrap();
    b.wait_for_text("#verdict", "資格情報なし", DEFAULT_WAIT)
        .unwrap();
    assert!(b.text("#advice").unwrap().contains("被保険者資格申立書"));

    // Yesterday and today: five rows.
    b.goto(&format!(
        "{}/staff/history?from=2026-11-22&to=2026-11-23",
        s.url
    ))
    .unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(b.find_all("#history tr.entry").unwrap().len(), 5);
    // Yesterday only: one.
    b.goto(&format!(
        "{}/staff/history?from=2026-11-22&to=2026-11-22",
        s.url
    ))
    .unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(b.find_all("#history tr.entry").unwrap().len(), 1);
    // More than two years back is refused, in Japanese, on the same screen.
    b.goto(&format!(
        "{}/staff/history?from=2024-11-01&to=2026-11-23",
        s.url
    ))
    .unwrap();
    b.wait_for_text("#message", "過去2年間", DEFAULT_WAIT)
        .unwrap();

    // A busy day: 100 more checks make a second page.
    let mut conn = app.clinic_connection().await;
    let req = app.check_request("valid", "busy");
    for _ in 0..100 {
        let r = conn
            .post(
                "/oqs/v1/qualification",
                "application/xml",
                siquc01::encode_request_xml(&req, Encoding::Utf8),
            )
            .await
            .unwrap();
        assert_eq!(r.status.as_u16(), 200);
    }
    b.goto(&format!("{}/staff/history", s.url)).unwrap();
    b.click("#history-search").unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(b.find_all("#history tr.entry").unwrap().len(), 100);
    b.click("#history-next").unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(b.find_all("#history tr.entry").unwrap().len(), 4);
    assert!(b.find_all("#history-next").unwrap().is_empty());
    assert_eq!(
        b.text("#history tr.entry:last-child td.name").unwrap(),
        elderly_name
    );
    logout(&b);

    // Every role may open it.
    for who in [MEDICAL, ADMIN] {
        login(&b, &s, who);
        b.click("#menu-history").unwrap();
        b.click("#history-search").unwrap();
        b.wait_for("#history", DEFAULT_WAIT).unwrap();
        assert_eq!(b.find_all("#history tr.entry").unwrap().len(), 100);
        logout(&b);
    }
    drop(b);
    app.stop().await;
}

/// Opens the job page until it says complete (it refreshes itself every 2 seconds).
/// While central does not answer, a staff screen that asks it says so in Japanese (502,
/// 「接続できません」) instead of an empty list or an internal error, and the session
/// survives: the same search shows the check once central is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_screen_says_central_cannot_be_reached_and_works_again_once_it_is_back() {
    let mut app = spawn_app().await;
    check(&app, "valid", None).await;
    let s = start_terminal(&app).await;
    let b = browser();
    open_history(&b, &s);

    app.stop_central().await;
    b.click("#history-search").unwrap();
    b.wait_for_text("#title", "接続できません", DEFAULT_WAIT)
        .unwrap();
    assert!(
        b.body_text()
            .unwrap()
            .contains("オンライン資格確認等システムに接続できませんでした"),
        "{}",
        b.body_text().unwrap()
    );
    assert!(b.find_all("#history tr.entry").unwrap().is_empty());

    app.restart_central().await;
    b.goto(&format!("{}/staff/history", s.url)).unwrap();
    b.wait_for_text("#title", "資格確認履歴照会", DEFAULT_WAIT)
        .unwrap();
    b.click("#history-search").unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(
        b.find_all("#history tr.entry").unwrap().len(),
        1,
        "{}",
        b.body_text().unwrap()
    );
    app.stop().await;
}

fn wait_complete(b: &Browser) {
    b.wait_for("#bulk-state", DEFAULT_WAIT).unwrap();
    b.wait_for(
        "#bulk-state[data-state=\"complete\"]",
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{e:#}: {}", b.body_text().unwrap_or_default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_files_uploaded_from_the_browser_are_followed_to_each_patients_result() {
    let app = spawn_app().await;
    let s = start_terminal(&app).await;
    let rare_name = name_of(&app, "rare_kanji").await;
    let line = |case: &str, id: &str| {
        let x = app.sample(case);
        format!(
            "{},{},{},{},{},{id}\n",
            x.insurer_number, x.symbol, x.number, x.branch, x.birthdate
        )
    };
    // A CSV with a heading, in Shift_JIS as a spreadsheet saves it (the rare kanji
    // patient's card data is plain digits and kana, so it survives Shift_JIS).
    let csv = format!(
        "保険者番号,記号,番号,枝番,生年月日,任意識別子\n{}{}{}",
        line("valid", "P-1"),
        line("not_found", "P-2"),
        line("rare_kanji", "P-3")
    );
    let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&csv);
    let csv_path: PathBuf = s.dir.path().join("tomorrow.csv");
    if unmappable {
        std::fs::write(&csv_path, csv.as_bytes()).unwrap();
    } else {
        std::fs::write(&csv_path, &sjis).unwrap();
    }
    let b = browser();

    login(&b, &s, GENERAL);
    b.click("#menu-bulk").unwrap();
    b.wait_for_text("#title", "一括照会", DEFAULT_WAIT).unwrap();
    b.wait_for("#no-uploads", DEFAULT_WAIT).unwrap();
    b.type_into("#bulk-file", csv_path.to_str().unwrap())
        .unwrap();
    b.click("#bulk-upload").unwrap();
    b.wait_for_text("#title", "一括照会結果", DEFAULT_WAIT)
        .unwrap();
    wait_complete(&b);
    let first_job = b.current_url().unwrap();
    let first_reception = first_job.rsplit('/').next().unwrap().to_string();
    let units = b.find_all("#bulk-results tr.unit").unwrap();
    assert_eq!(units.len(), 3);
    let states: Vec<String> = (1..=3)
        .map(|i| {
            b.attr(
                &format!("#bulk-results tr.unit:nth-child({})", i + 1),
                "data-state",
            )
            .unwrap()
            .unwrap()
        })
        .collect();
    assert_eq!(states, ["1", "4", "1"]);
    let table = b.text("#bulk-results").unwrap();
    assert!(
        table.contains("P-2") && table.contains(&rare_name),
        "{table}"
    );
    assert!(!table.contains('●'));

    // An OQSmuquc01req as the receipt computer writes it.
    let req = onshi_wire::muquc::UploadRequest {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().add_days(1).to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: Some("bulk-xml".into()),
        },
        body: onshi_wire::muquc::UploadRequestBody {
            searches: vec![app.search_info("lost", 0), app.search_info("valid", 0)],
        },
    };
    let xml_path = s.dir.path().join("OQSmuquc01req_test.xml");
    std::fs::write(&xml_path, req.encode_xml(Encoding::Utf8)).unwrap();
    b.goto(&format!("{}/staff/bulk", s.url)).unwrap();
    b.type_into("#bulk-file", xml_path.to_str().unwrap())
        .unwrap();
    b.click("#bulk-upload").unwrap();
    b.wait_for_text("#title", "一括照会結果", DEFAULT_WAIT)
        .unwrap();
    wait_complete(&b);
    let states: Vec<String> = b
        .find_all("#bulk-results tr.unit td.state")
        .unwrap()
        .iter()
        .map(|e| b.element_text(e).unwrap())
        .collect();
    assert_eq!(states.len(), 2);
    assert!(states[0].starts_with("資格(無効)"), "{states:?}");
    assert_eq!(states[1], "資格有効");

    // Both uploads are listed and can be opened again.
    b.goto(&format!("{}/staff/bulk", s.url)).unwrap();
    assert_eq!(b.find_all("#uploads tr.upload").unwrap().len(), 2);
    b.click(&format!(
        "#uploads tr.upload[data-reception=\"{first_reception}\"] a.follow"
    ))
    .unwrap();
    wait_complete(&b);
    assert_eq!(b.find_all("#bulk-results tr.unit").unwrap().len(), 3);

    // Another facility's file is refused before it reaches central.
    let mut foreign = req.clone();
    foreign.header.medical_institution_code = app
        .facilities
        .iter()
        .find(|f| f.code != app.clinic().code)
        .unwrap()
        .code
        .as_str()
        .into();
    let foreign_path = s.dir.path().join("OQSmuquc01req_foreign.xml");
    std::fs::write(&foreign_path, foreign.encode_xml(Encoding::Utf8)).unwrap();
    b.goto(&format!("{}/staff/bulk", s.url)).unwrap();
    b.type_into("#bulk-file", foreign_path.to_str().unwrap())
        .unwrap();
    b.click("#bulk-upload").unwrap();
    b.wait_for_text("#message", "一致しません", DEFAULT_WAIT)
        .unwrap();
    // A CSV missing columns says which line.
    let bad = s.dir.path().join("bad.csv");
    std::fs::write(&bad, "01130012,1,2\n").unwrap();
    b.type_into("#bulk-file", bad.to_str().unwrap()).unwrap();
    b.click("#bulk-upload").unwrap();
    b.wait_for_text("#message", "1行目", DEFAULT_WAIT).unwrap();

    // Each patient of the uploads is in the history as 一括照会.
    b.goto(&format!(
        "{}/staff/history?from=2026-11-23&to=2026-11-23",
        s.url
    ))
    .unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(
        b.find_all("#history tr.entry[data-method=\"bulk\"]")
            .unwrap()
            .len(),
        5
    );
    assert!(b.text("#history").unwrap().contains("一括照会"));
    drop(b);
    app.stop().await;
}

/// Waits for the kiosk screen `name`.
fn screen(b: &Browser, name: &str) {
    b.wait_for(&format!("#screen[data-screen=\"{name}\"]"), DEFAULT_WAIT)
        .unwrap_or_else(|e| panic!("{e:#}: {}", b.body_text().unwrap_or_default()));
}

fn place(b: &Browser, s: &Served, card: &std::path::Path) {
    b.goto(&format!("{}/kiosk", s.url)).unwrap();
    screen(b, "place");
    b.click(&format!(
        "[data-card=\"{}\"]",
        card.file_name().unwrap().to_str().unwrap()
    ))
    .unwrap();
}

/// Answers every consent screen with はい; returns the kinds asked.
fn consent_all(b: &Browser) -> Vec<String> {
    let mut asked: Vec<String> = Vec::new();
    loop {
        b.wait_for(
            "#screen[data-screen=\"consent\"], #screen[data-screen=\"done\"], #screen[data-screen=\"error\"]",
            DEFAULT_WAIT,
        )
        .unwrap();
        if b.find_all("#screen[data-screen=\"consent\"]")
            .unwrap()
            .is_empty()
        {
            return asked;
        }
        let kind = b.attr("#consent-title", "data-kind").unwrap().unwrap();
        if asked.last() == Some(&kind) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        b.click("#consent-yes").unwrap();
        asked.push(kind);
    }
}

fn face_files(s: &Served) -> Vec<PathBuf> {
    std::fs::read_dir(s.terminal.face_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_settings_page_changes_what_the_kiosk_does_and_how_files_are_written() {
    let app = spawn_app().await;
    let person = app.person_of("elderly_70_74").await;
    let far = test_today().add_days(1000);
    let (physical, _) = app.issue_card(person, CertProfile::Card, far, true).await;
    let (android, _) = app
        .issue_card(person, CertProfile::SmartphoneAndroid, far, true)
        .await;
    assert!(
        app.store
            .facility(&app.clinic().code)
            .await
            .unwrap()
            .unwrap()
            .smartphone_enabled,
        "the demo clinic accepts smartphones"
    );
    let s = start_terminal(&app).await;
    let b = browser();

    // Other roles are refused the page, and cannot post to it.
    for who in [GENERAL, MEDICAL] {
        login(&b, &s, who);
        assert!(b.find_all("#menu-settings").unwrap().is_empty());
        refused(&b, &s, "/staff/settings");
        logout(&b);
    }

    login(&b, &s, ADMIN);
    b.click("#menu-settings").unwrap();
    b.wait_for_text("#title", "環境設定", DEFAULT_WAIT).unwrap();
    // What the readers ship with.
    assert!(b.find("#smartphone-on[checked]").is_ok());
    assert!(b.find("#screen-pharmacists[checked]").is_ok());
    assert!(b.find_all("#screen-diagnosis[checked]").unwrap().is_empty());
    assert!(b.find_all("#visual-mode[checked]").unwrap().is_empty());
    assert!(b.find("#encoding-utf8[checked]").is_ok());
    // No drug consent screen, 診療 on, 目視, Shift_JIS, no smartphones.
    b.click("#screen-pharmacists").unwrap();
    b.click("#screen-diagnosis").unwrap();
    b.click("#visual-mode").unwrap();
    b.click("#encoding-sjis").unwrap();
    b.click("#smartphone-off").unwrap();
    b.click("#settings-save").unwrap();
    b.wait_for_text("#message", "設定を保存しました", DEFAULT_WAIT)
        .unwrap();
    assert!(b.find("#smartphone-off[checked]").is_ok());
    assert!(b.find("#encoding-sjis[checked]").is_ok());
    let k = s.terminal.local.kiosk_settings().unwrap();
    assert!(k.visual_mode && !k.consent_screens.pharmacists && k.consent_screens.diagnosis);
    assert_eq!(k.face_encoding, Encoding::ShiftJis);
    assert!(
        !app.store
            .facility(&app.clinic().code)
            .await
            .unwrap()
            .unwrap()
            .smartphone_enabled
    );

    // The kiosk now asks staff to confirm visually, skips the drug screen, asks 診療,
    // and writes the face file in Shift_JIS.
    place(&b, &s, &physical);
    screen(&b, "visual");
    b.click("#visual-confirm").unwrap();
    let asked = consent_all(&b);
    screen(&b, "done");
    assert!(!asked.iter().any(|k| k == "pharmacists"), "{asked:?}");
    assert!(asked.iter().any(|k| k == "diagnosis"), "{asked:?}");
    let files = face_files(&s);
    assert_eq!(files.len(), 1);
    let (res, enc) =
        siquc01::decode_response_xml(&std::fs::read(&files[0]).unwrap(), &Limits::default())
            .unwrap();
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));

    // A smartphone is refused now, with the reason.
    place(&b, &s, &android);
    screen(&b, "pin");
    for d in "1234".chars() {
        b.click(&format!(".pin-key[data-digit=\"{d}\"]")).unwrap();
    }
    b.click("#pin-ok").unwrap();
    screen(&b, "error");
    assert!(
        b.text("#error-message")
            .unwrap()
            .contains("スマートフォンによる本人確認を行っていません"),
        "{}",
        b.body_text().unwrap()
    );

    // Back to UTF-8 and smartphones on: the next face file is UTF-8.
    b.goto(&format!("{}/staff/settings", s.url)).unwrap();
    b.click("#encoding-utf8").unwrap();
    b.click("#smartphone-on").unwrap();
    b.click("#visual-mode").unwrap();
    b.click("#settings-save").unwrap();
    b.wait_for_text("#message", "設定を保存しました", DEFAULT_WAIT)
        .unwrap();
    let before = face_files(&s);
    place(&b, &s, &android);
    screen(&b, "pin");
    for d in "1234".chars() {
        b.click(&format!(".pin-key[data-digit=\"{d}\"]")).unwrap();
    }
    b.click("#pin-ok").unwrap();
    consent_all(&b);
    screen(&b, "done");
    let new: Vec<PathBuf> = face_files(&s)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(new.len(), 1);
    let (_, enc) =
        siquc01::decode_response_xml(&std::fs::read(&new[0]).unwrap(), &Limits::default()).unwrap();
    assert_eq!(enc, Encoding::Utf8);

    // The kiosk's checks are in the history, with how the patient was identified and
    // what they consented to at the reader.
    b.goto(&format!(
        "{}/staff/history?from=2026-11-23&to=2026-11-23",
        s.url
    ))
    .unwrap();
    b.wait_for("#history", DEFAULT_WAIT).unwrap();
    assert_eq!(
        b.find_all("#history tr.entry[data-method=\"smartphone\"]")
            .unwrap()
            .len(),
        2,
        "{}",
        b.body_text().unwrap()
    );
    b.click("#history tr.entry[data-method=\"card_visual\"] a.detail")
        .unwrap();
    b.wait_for_text("#entry-method", "目視", DEFAULT_WAIT)
        .unwrap();
    let consents = b.text("#entry-consents").unwrap();
    assert!(
        consents.contains("診療情報") && consents.contains("限度額情報"),
        "{consents}"
    );
    assert!(!consents.contains("薬剤情報"), "{consents}");
    drop(b);
    app.stop().await;
}

/// Someone with drug history and checkups.
async fn person_with_history(app: &TestApp) -> i64 {
    let since = Ymd::from_ymd(2020, 1, 1).unwrap();
    for id in 1..400 {
        if !app.store.drugs(id, since).await.unwrap().is_empty()
            && app.store.checkups(id, since).await.unwrap().len() >= 2
        {
            return id;
        }
    }
    panic!("no person with drugs and checkups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disaster_search_opens_drugs_and_checkups_only_while_a_declaration_covers_the_clinic() {
    let app = spawn_app().await;
    let person_id = person_with_history(&app).await;
    let person = app.store.person(person_id).await.unwrap().unwrap();
    let s = start_terminal(&app).await;
    let b = browser();

    // Reception staff and admins do not get the screen at all.
    for who in [GENERAL, ADMIN] {
        login(&b, &s, who);
        assert!(b.find_all("#menu-disaster").unwrap().is_empty());
        refused(&b, &s, "/staff/disaster");
        logout(&b);
    }

    // No declaration: the refusal, in Japanese.
    login(&b, &s, MEDICAL);
    b.click("#menu-disaster").unwrap();
    b.wait_for_text("#error", "対象地域・期間ではありません", DEFAULT_WAIT)
        .unwrap();
    assert!(b.find_all("#disaster-by-name").unwrap().is_empty());

    // A declaration over the clinic's prefecture (Tokyo) for a day.
    let now = app.clock.now();
    let id = app
        .store
        .declare_disaster(&NewDisaster {
            name: "テスト地震".into(),
            areas: vec![DisasterArea::parse("13").unwrap()],
            starts_at: now,
            ends_at: now.add_seconds(86_400),
            declared_at: now,
        })
        .await
        .unwrap();
    b.goto(&format!("{}/staff/disaster", s.url)).unwrap();
    b.wait_for_text("#declarations", "テスト地震", DEFAULT_WAIT)
        .unwrap();
    b.type_into("#disaster-name", &person.name).unwrap();
    b.type_into("#disaster-birth", &person.birthdate.to_wire())
        .unwrap();
    b.click(&format!(
        "#disaster-sex option[value=\"{}\"]",
        person.sex.code()
    ))
    .unwrap();
    b.click("#disaster-search-name").unwrap();
    b.wait_for("#disaster-patients", DEFAULT_WAIT)
        .unwrap_or_else(|e| panic!("{e:#}: {}", b.body_text().unwrap()));
    let row = format!("#disaster-patients tr.patient[data-person=\"{person_id}\"]");
    assert_eq!(b.text(&format!("{row} td.name")).unwrap(), person.name);
    b.click(&format!("{row} a.view-drug")).unwrap();
    b.wait_for_text("#title", "薬剤情報", DEFAULT_WAIT).unwrap();
    assert!(b.text("#patient").unwrap().contains("災害時（同意なし）"));
    assert!(!b.find_all("#drugs tr.drug").unwrap().is_empty());
    b.goto(&format!("{}/staff/patients/{person_id}/checkup", s.url))
        .unwrap();
    b.wait_for_text("#title", "特定健診情報", DEFAULT_WAIT)
        .unwrap();
    assert!(b.text("#patient").unwrap().contains("災害時（同意なし）"));

    // By insurance numbers.
    let sample = app.sample("valid").clone();
    b.goto(&format!("{}/staff/disaster", s.url)).unwrap();
    b.type_into("#disaster-insurer", &sample.insurer_number)
        .unwrap();
    b.type_into("#disaster-symbol", &sample.symbol).unwrap();
    b.type_into("#disaster-number", &sample.number).unwrap();
    b.type_into("#disaster-branch", &sample.branch).unwrap();
    b.click("#disaster-search-card").unwrap();
    b.wait_for("#disaster-patients", DEFAULT_WAIT)
        .unwrap_or_else(|e| panic!("{e:#}: {}", b.body_text().unwrap()));
    assert_eq!(
        b.find_all("#disaster-patients tr.patient").unwrap().len(),
        1
    );

    // The views were recorded with basis disaster.
    let basis: Vec<String> = app
        .store
        .audit_page(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.entry.kind == "view"
                && r.entry.outcome == "allowed"
                && r.entry.person_id == Some(person_id)
        })
        .map(|r| r.entry.basis)
        .collect();
    assert!(
        basis.len() >= 2 && basis.iter().all(|b| b == "disaster"),
        "{basis:?}"
    );

    // Once the declaration ends, the screen refuses again.
    assert!(app.store.end_disaster(id, app.clock.now()).await.unwrap());
    app.clock.advance_seconds(2);
    b.goto(&format!("{}/staff/disaster", s.url)).unwrap();
    b.wait_for_text("#error", "対象地域・期間ではありません", DEFAULT_WAIT)
        .unwrap();
    drop(b);
    app.stop().await;
}
