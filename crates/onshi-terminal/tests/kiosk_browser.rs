//! The kiosk page in a real headless Chromium (through ChromeDriver): a patient places a
//! card, identifies, answers the consent screens; the terminal checks at a real central
//! and writes the face-result file.
//!
//! Needs `chromium` and `chromium-driver`; without them these tests fail and say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Served, Setup, browser, file_name, start_terminal};

use onshi_core::{Clock, Ymd};
use onshi_pki::{Card, CertProfile, SoftwareCard};
use onshi_terminal::files::{FileInterface, Outcome};
use onshi_terminal::outage::Reconciler;
use onshi_terminal::relay::Relay;
use onshi_testkit::browser::{Browser, DEFAULT_WAIT};
use onshi_testkit::{TestApp, spawn_app, test_today};
use onshi_wire::{Encoding, Limits, siquc01};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The demo clinic's terminal against `app`, its wallet = the cards the test issued, with
/// the system-failure queue.
async fn start_kiosk(app: &TestApp) -> Served {
    start_terminal(
        app,
        Setup {
            wallet: true,
            outbox: true,
            ..Setup::default()
        },
    )
    .await
}

fn days(d: i64) -> Ymd {
    test_today().add_days(d)
}

/// Waits for the screen `name`.
fn screen(b: &Browser, name: &str) {
    b.wait_for(&format!("#screen[data-screen=\"{name}\"]"), DEFAULT_WAIT)
        .unwrap();
}

/// Opens the kiosk and places the card `path` (a file of the wallet).
fn place(b: &Browser, k: &Served, path: &Path) {
    b.goto(&format!("{}/kiosk", k.url)).unwrap();
    screen(b, "place");
    b.wait_for_text(
        "#screen h1",
        "マイナンバーカードを置いてください",
        DEFAULT_WAIT,
    )
    .unwrap();
    b.click(&format!("[data-card=\"{}\"]", file_name(path)))
        .unwrap();
}

/// Types a PIN on the pad and confirms.
fn enter_pin(b: &Browser, pin: &str) {
    screen(b, "pin");
    for d in pin.chars() {
        b.click(&format!(".pin-key[data-digit=\"{d}\"]")).unwrap();
    }
    b.click("#pin-ok").unwrap();
}

/// Answers every consent screen: `yes` decides per kind. Returns the kinds asked, in order.
fn answer_consents(b: &Browser, yes: impl Fn(&str) -> bool) -> Vec<String> {
    let mut asked = Vec::new();
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
            // The click is still on its way; the next screen has not come yet.
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        let button = if yes(&kind) {
            "#consent-yes"
        } else {
            "#consent-no"
        };
        b.click(button).unwrap();
        asked.push(kind);
    }
}

/// The face-result files written so far.
fn face_files(k: &Served) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(k.terminal.face_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !file_name(p).starts_with('.'))
        .collect();
    v.sort();
    v
}

fn only_face_file(k: &Served) -> (String, siquc01::Response, Encoding) {
    let files = face_files(k);
    assert_eq!(files.len(), 1, "one face-result file: {files:?}");
    let name = file_name(&files[0]);
    let bytes = std::fs::read(&files[0]).unwrap();
    let (res, enc) = siquc01::decode_response_xml(&bytes, &Limits::default()).unwrap();
    (name, res, enc)
}

fn assert_face_file_name(name: &str, facility: &str) {
    let rest = name
        .strip_prefix(&format!("OQSsiquc01res_face_{facility}"))
        .unwrap_or_else(|| panic!("{name}"));
    let (hex, tail) = rest.split_at(20);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{name}"
    );
    assert_eq!(tail, "_20261123100000.xml", "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_check_with_consents_ends_on_the_completion_screen_and_writes_the_face_file() {
    let app = spawn_app().await;
    let person = app.person_of("elderly_70_74").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &card);
    screen(&b, "method");
    b.wait_for_text("#screen h1", "本人確認の方法を選んでください", DEFAULT_WAIT)
        .unwrap();
    b.click("#method-pin").unwrap();
    screen(&b, "pin");
    assert!(b.text("#pin-tries").unwrap().contains("3回"));
    enter_pin(&b, "1234");

    // Default facility settings: 特定健診 (70+ here), 薬剤, 限度額, 特定疾病; not 診療/手術.
    let asked = answer_consents(&b, |kind| kind != "specific_diseases");
    assert_eq!(
        asked,
        [
            "specific_health_checkups",
            "pharmacists",
            "limit",
            "specific_diseases"
        ]
    );
    screen(&b, "done");
    let title = b.text("#done-title").unwrap();
    assert!(title.contains("確認が完了しました"), "{title}");
    let name = b.text("#done-name").unwrap();
    assert!(name.ends_with("様"), "{name}");

    let (file, res, enc) = only_face_file(&k);
    assert_face_file_name(&file, app.clinic().code.as_str());
    assert_eq!(enc, Encoding::Utf8);
    assert_eq!(res.header.reference_classification.as_deref(), Some("1"));
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    let item = &res.body.results[0];
    // WebDriver may collapse the full-width space between family and given name.
    let bare = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert!(
        bare(&name).starts_with(&bare(item.name.as_deref().unwrap())),
        "{name}"
    );
    assert_eq!(item.pharmacists_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(
        item.pharmacists_info_cons_time.as_deref(),
        Some("20261123100000")
    );
    assert_eq!(
        item.pharmacists_info_available_time.as_deref(),
        Some("20261124100000")
    );
    assert_eq!(
        item.specific_health_checkups_info_cons_flg.as_deref(),
        Some("1")
    );
    assert_eq!(
        item.limit_application_certificate_related_cons_flg
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        item.specific_diseases_certificate_related_cons_flg
            .as_deref(),
        Some("0")
    );
    assert_eq!(item.diagnosis_info_cons_flg.as_deref(), Some("0"));
    assert_eq!(item.operation_info_cons_flg.as_deref(), Some("0"));
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_pins_lock_the_card_and_say_where_to_reset_it() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &card);
    b.click("#method-pin").unwrap();
    enter_pin(&b, "9999");
    b.wait_for("#pin-tries[data-tries=\"2\"]", DEFAULT_WAIT)
        .unwrap();
    let warn = b.text("#pin-message").unwrap();
    assert!(warn.contains("暗証番号が違います"), "{warn}");
    assert!(warn.contains("あと2回"), "{warn}");
    enter_pin(&b, "0000");
    b.wait_for("#pin-tries[data-tries=\"1\"]", DEFAULT_WAIT)
        .unwrap();
    enter_pin(&b, "1111");

    screen(&b, "error");
    assert!(b.text("#error-code").unwrap().contains("pin_locked"));
    assert!(b.text("#error-title").unwrap().contains("ロック"));
    let action = b.text("#error-action").unwrap();
    assert!(
        action.contains("市区町村の窓口で暗証番号の再設定"),
        "{action}"
    );
    // The card itself is locked now, and no check reached central.
    let mut c = SoftwareCard::open(&card).unwrap();
    assert_eq!(c.pin_tries_left().unwrap(), 0);
    assert!(face_files(&k).is_empty());

    // Placing it again goes straight to the locked screen.
    b.click("#error-end").unwrap();
    place(&b, &k, &card);
    screen(&b, "error");
    assert!(b.text("#error-code").unwrap().contains("pin_locked"));
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_face_check_of_a_child_skips_the_health_checkup_screen_and_writes_shift_jis() {
    let app = spawn_app().await;
    let person = app.person_of("preschool").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    k.terminal
        .local
        .set_face_encoding(Encoding::ShiftJis)
        .unwrap();
    let b = browser();

    place(&b, &k, &card);
    b.click("#method-face").unwrap();
    // The emulated camera takes the picture by itself.
    screen(&b, "face");
    let asked = answer_consents(&b, |_| true);
    assert!(!asked.is_empty());
    assert!(
        !asked.iter().any(|k| k == "specific_health_checkups"),
        "{asked:?}"
    );
    screen(&b, "done");
    assert!(
        b.text("#done-title")
            .unwrap()
            .contains("確認が完了しました")
    );

    let (_, res, enc) = only_face_file(&k);
    assert_eq!(enc, Encoding::ShiftJis);
    assert_eq!(res.header.character_code_identifier, "1");
    let item = &res.body.results[0];
    assert_eq!(item.pharmacists_info_cons_flg.as_deref(), Some("1"));
    assert_eq!(
        item.specific_health_checkups_info_cons_flg.as_deref(),
        Some("0")
    );
    let raw = std::fs::read(face_files(&k)[0].clone()).unwrap();
    assert!(String::from_utf8_lossy(&raw[..60]).contains("Shift_JIS"));
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_in_its_grace_period_completes_without_consent_screens() {
    let app = spawn_app().await;
    let person = app.person_of("elderly_70_74").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(-30), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &card);
    b.click("#method-pin").unwrap();
    enter_pin(&b, "1234");
    let asked = answer_consents(&b, |_| true);
    assert!(asked.is_empty(), "no consent screens in grace: {asked:?}");
    screen(&b, "done");
    assert!(
        b.text("#done-title")
            .unwrap()
            .contains("確認が完了しました")
    );
    let grace = b.text("#done-grace").unwrap();
    assert!(grace.contains("有効期限が切れています"), "{grace}");
    assert!(b.body_text().unwrap().contains("同意はできません"));

    let (_, res, _) = only_face_file(&k);
    assert_eq!(res.body.processing_result_code.as_deref(), Some("ONS0102"));
    let item = &res.body.results[0];
    for flag in [
        &item.pharmacists_info_cons_flg,
        &item.specific_health_checkups_info_cons_flg,
        &item.diagnosis_info_cons_flg,
        &item.operation_info_cons_flg,
    ] {
        assert_ne!(flag.as_deref(), Some("1"));
    }
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_card_is_registered_at_the_reader_and_then_checked() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (card, record) = app
        .issue_card(person, CertProfile::Card, days(1000), false)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &card);
    b.click("#method-pin").unwrap();
    enter_pin(&b, "1234");
    screen(&b, "register");
    assert!(b.body_text().unwrap().contains("利用登録がされていません"));
    b.click("#register-yes").unwrap();
    screen(&b, "pin");
    assert!(b.text("#screen h1").unwrap().contains("利用登録"));
    enter_pin(&b, "1234");
    answer_consents(&b, |_| false);
    screen(&b, "done");
    assert!(
        b.text("#done-title")
            .unwrap()
            .contains("確認が完了しました")
    );

    let stored = app.store.card(&record.serial).await.unwrap().unwrap();
    assert!(stored.registered_at.is_some(), "registered at central");
    let (_, res, _) = only_face_file(&k);
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_switch_the_reader_to_visual_mode_and_confirm_the_patient() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    b.goto(&format!("{}/reader", k.url)).unwrap();
    b.wait_for("#mode[data-visual=\"off\"]", DEFAULT_WAIT)
        .unwrap();
    b.click("#toggle-visual").unwrap();
    b.wait_for("#mode[data-visual=\"on\"]", DEFAULT_WAIT)
        .unwrap();
    assert!(k.terminal.local.kiosk_settings().unwrap().visual_mode);

    place(&b, &k, &card);
    screen(&b, "visual");
    b.click("#visual-confirm").unwrap();
    answer_consents(&b, |_| true);
    screen(&b, "done");
    let (_, res, _) = only_face_file(&k);
    assert_eq!(res.body.qualification_validity.as_deref(), Some("1"));
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_cards_say_what_happened_and_what_to_do() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (revoked, record) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    app.store
        .revoke_card(&record.serial, onshi_testkit::test_now())
        .await
        .unwrap();
    let other = app.person_of("elderly_70_74").await;
    let (expired, _) = app
        .issue_card(other, CertProfile::Card, days(-200), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &revoked);
    b.click("#method-face").unwrap();
    screen(&b, "error");
    assert!(b.text("#error-code").unwrap().contains("ONS4012"));
    assert!(b.text("#error-title").unwrap().contains("失効"));
    assert!(b.text("#error-action").unwrap().contains("市区町村"));

    place(&b, &k, &expired);
    b.click("#method-pin").unwrap();
    enter_pin(&b, "1234");
    screen(&b, "error");
    assert!(b.text("#error-code").unwrap().contains("ONS4013"));
    assert!(b.text("#error-title").unwrap().contains("有効期限"));
    assert!(b.text("#error-action").unwrap().contains("更新"));
    assert!(face_files(&k).is_empty(), "no face file for a refused card");
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_down_shows_the_network_error_retries_then_accepts_in_the_failure_mode() {
    let mut app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &card);
    b.click("#method-pin").unwrap();
    app.stop_central().await;
    enter_pin(&b, "1234");
    screen(&b, "error");
    assert!(b.text("#error-code").unwrap().contains("011"));
    assert!(
        b.text("#error-title")
            .unwrap()
            .contains("ネットワークエラー")
    );
    b.wait_for_text("#retry-count", "自動的に再接続", DEFAULT_WAIT)
        .unwrap();
    assert!(
        b.find("#offline-accept").is_ok(),
        "the failure mode is offered"
    );
    // The page retries on its own; central is still down, so the terminal switches to
    // the system-failure mode: this patient is new to it, so the 申立書 comes.
    screen(&b, "declaration");
    assert_eq!(k.outbox().pending().unwrap(), 1);
    assert!(face_files(&k).is_empty());
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_and_the_patient_starts_again() {
    let app = spawn_app().await;
    let person = app.person_of("valid").await;
    let (card, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    place(&b, &k, &card);
    screen(&b, "method");
    app.clock
        .advance_seconds(onshi_terminal::kiosk::SESSION_SECONDS + 1);
    b.click("#method-pin").unwrap();
    screen(&b, "error");
    assert!(b.text("#error-title").unwrap().contains("時間が過ぎました"));
    b.click("#error-end").unwrap();
    screen(&b, "place");
    drop(b);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smartphones_after_the_physical_card_android_by_pin_iphone_by_its_biometrics() {
    let app = spawn_app().await;
    let person = app.person_of("elderly_70_74").await;
    let (physical, _) = app
        .issue_card(person, CertProfile::Card, days(1000), true)
        .await;
    let (android, _) = app
        .issue_card(person, CertProfile::SmartphoneAndroid, days(1000), true)
        .await;
    let (iphone, _) = app
        .issue_card(person, CertProfile::SmartphoneIphone, days(1000), true)
        .await;
    let k = start_kiosk(&app).await;
    let b = browser();

    // A smartphone is accepted only once the physical card was used here.
    place(&b, &k, &physical);
    b.click("#method-face").unwrap();
    answer_consents(&b, |_| false);
    screen(&b, "done");

    place(&b, &k, &android);
    // Android: straight to the PIN pad, no face authentication offered.
    screen(&b, "pin");
    assert!(b.text("#screen h1").unwrap().contains("スマートフォン用"));
    assert!(b.find_all("#method-face").unwrap().is_empty());
    enter_pin(&b, "1234");
    answer_consents(&b, |_| true);
    screen(&b, "done");
    assert!(b.text("#done-message").unwrap().contains("スマートフォン"));

    place(&b, &k, &iphone);
    screen(&b, "iphone");
    assert!(b.find_all(".pin-key").unwrap().is_empty());
    b.click("#iphone-auth").unwrap();
    answer_consents(&b, |_| true);
    screen(&b, "done");
    assert_eq!(face_files(&k).len(), 3);
    drop(b);
    app.stop().await;
}

/// Places `card`, enters the PIN while central is down, and takes the failure mode.
fn offline_check(b: &Browser, k: &Served, card: &Path) {
    place(b, k, card);
    b.click("#method-pin").unwrap();
    enter_pin(b, "1234");
    screen(b, "error");
    b.click("#offline-accept").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_central_down_ten_kiosk_and_file_checks_are_accepted_and_reconciled() {
    let mut app = spawn_app().await;
    let k = start_kiosk(&app).await;
    let b = browser();
    let mut cards = Vec::new();
    for case in ["valid", "elderly_70_74", "rare_kanji", "preschool", "lost"] {
        let person = app.person_of(case).await;
        let (card, _) = app
            .issue_card(person, CertProfile::Card, days(1000), true)
            .await;
        cards.push((case, card));
    }
    // Two patients came before: the terminal knows their qualification.
    for (_, card) in &cards[..2] {
        place(&b, &k, card);
        b.click("#method-pin").unwrap();
        enter_pin(&b, "1234");
        answer_consents(&b, |_| false);
        screen(&b, "done");
    }
    let before = face_files(&k).len();
    assert_eq!(before, 2);

    app.stop_central().await;
    // Five kiosk checks: two returning patients, three new ones with the 申立書.
    for (i, (case, card)) in cards.iter().enumerate() {
        offline_check(&b, &k, card);
        if i < 2 {
            screen(&b, "offline");
            let name = b.text("#offline-name").unwrap();
            assert!(name.contains(&app.sample(case).name), "{name}");
            assert!(
                b.text("#offline-message")
                    .unwrap()
                    .contains("システム障害時モード")
            );
        } else {
            screen(&b, "declaration");
            let s = app.sample(case).clone();
            b.type_into("#decl-name", &s.name).unwrap();
            b.type_into("#decl-kana", "ﾃｽﾄ").unwrap();
            b.type_into("#decl-birthdate", &s.birthdate).unwrap();
            b.type_into("#decl-address", "東京都千代田区").unwrap();
            b.type_into("#decl-insurer", &s.insurer_number).unwrap();
            b.click("#declare-submit").unwrap();
            screen(&b, "offline");
            assert!(b.text("#offline-name").unwrap().contains(&s.name));
        }
    }
    // Five file checks by insurance-card data.
    let clinic = app.clinic().code.clone();
    let client = app.client_with(Some(&app.facility_cert(&clinic)));
    let relay = Arc::new(
        Relay::new(client.clone())
            .with_outbox(k.outbox().clone(), app.clock.clone() as Arc<dyn Clock>),
    );
    let oqs = k.terminal.oqs_root.clone();
    let mut files = FileInterface::with_relay(&oqs, relay).unwrap();
    files.settle = std::time::Duration::ZERO;
    for (i, case) in [
        "valid",
        "lost",
        "not_found",
        "limit_certificate",
        "late_elderly_75",
    ]
    .iter()
    .enumerate()
    {
        let s = app.sample(case).clone();
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let req = siquc01::Request {
            header: siquc01::RequestHeader {
                qualification_confirmation_date: test_today().to_wire(),
                medical_institution_code: clinic.as_str().into(),
                arbitrary_file_identifier: Some(format!("F{i}")),
            },
            search: siquc01::SearchInfo {
                insurer_number: s.insurer_number,
                insured_card_symbol: opt(&s.symbol),
                insured_identification_number: s.number,
                insured_branch_number: opt(&s.branch),
                birthdate: s.birthdate,
                ..Default::default()
            },
        };
        std::fs::write(
            files
                .req_dir()
                .join(format!("OQSsiquc01req_20261123000{i}.xml")),
            siquc01::encode_request_xml(&req, Encoding::Utf8),
        )
        .unwrap();
    }
    let out = files.pass().await.unwrap();
    assert_eq!(out.len(), 5);
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Provisional(_))),
        "{out:?}"
    );
    assert_eq!(
        k.outbox().pending().unwrap(),
        10,
        "ten checks accepted and queued"
    );
    assert_eq!(
        face_files(&k).len(),
        before,
        "no face file before the real result"
    );
    // The declarations were kept with their checks.
    let declared = (1..=20)
        .filter_map(|id| k.outbox().declaration(id).unwrap())
        .count();
    assert_eq!(declared, 3);

    app.restart_central().await;
    let mut reconciler = Reconciler::new(
        k.outbox().clone(),
        client,
        &oqs,
        app.clock.clone() as Arc<dyn Clock>,
    );
    let mut written = Vec::new();
    for _ in 0..60 {
        written.extend(reconciler.pass().await.unwrap().reconciled);
        if written.len() == 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(written.len(), 10, "all ten reconciled");
    assert_eq!(k.outbox().pending().unwrap(), 0);
    let faces = face_files(&k);
    assert_eq!(
        faces.len(),
        before + 5,
        "a face-result file per kiosk check"
    );
    for f in &faces {
        let name = file_name(f);
        assert!(
            name.starts_with(&format!("OQSsiquc01res_face_{}", clinic.as_str())),
            "{name}"
        );
        let (res, _) =
            siquc01::decode_response_xml(&std::fs::read(f).unwrap(), &Limits::default()).unwrap();
        assert_eq!(res.header.segment_of_result, "1", "{name}");
    }
    let reconciled: Vec<_> = std::fs::read_dir(oqs.join("res/reconciled"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !file_name(p).starts_with('.'))
        .collect();
    assert_eq!(reconciled.len(), 5);
    drop(b);
    app.stop().await;
}
