//! The insurer API end to end: registrations by insurer certificates, their effect on the
//! next facility check, linkage safety against the resident registry, idempotent
//! re-uploads and bad rows. Each test has its own central and database (SQLite, or
//! PostgreSQL with ONSHI_TEST_BACKEND=postgres).
#![allow(clippy::unwrap_used)]

use onshi_core::codes::Sex;
use onshi_core::ids::InsurerNumber;
use onshi_core::model::{InsurerKind, Person};
use onshi_store::CountedTable;
use onshi_testkit::{SEED, TestApp, spawn_app, test_today};
use onshi_wire::{Limits, siquc01};
use serde_json::Value;

fn insurers_of(kind: InsurerKind) -> Vec<InsurerNumber> {
    onshi_synth::insurers(SEED)
        .into_iter()
        .filter(|i| i.kind == kind)
        .map(|i| i.number)
        .collect()
}

/// Registry persons without any qualification (the people insurers have yet to register).
async fn unregistered(app: &TestApp, n: usize) -> Vec<Person> {
    let mut out = Vec::new();
    for id in 1..=app.summary.persons as i64 {
        if app.store.find_by_person(id).await.unwrap().is_empty()
            && let Some(p) = app.store.person(id).await.unwrap()
        {
            out.push(p);
            if out.len() == n {
                return out;
            }
        }
    }
    panic!("only {} unregistered people in the population", out.len());
}

const COLUMNS: [&str; 13] = [
    "op",
    "insurer_number",
    "symbol",
    "number",
    "branch",
    "personal_family",
    "name",
    "name_kana",
    "birthdate",
    "sex",
    "address",
    "date",
    "insist",
];

/// An acquire row for `p` (all registry items as the registry has them).
fn acquire(ins: &InsurerNumber, symbol: &str, number: &str, p: &Person, date: &str) -> Vec<String> {
    vec![
        "acquire".into(),
        ins.digits().into(),
        symbol.into(),
        number.into(),
        String::new(),
        "1".into(),
        p.name.clone(),
        p.name_kana.clone(),
        p.birthdate.to_wire(),
        p.sex.code().into(),
        p.address.clone(),
        date.into(),
        String::new(),
    ]
}

fn csv(rows: &[Vec<String>]) -> String {
    onshi_wire::insurer::encode_csv(&COLUMNS, rows)
}

async fn send(
    app: &TestApp,
    ins: &InsurerNumber,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let mut conn = app.insurer_connection(ins).await;
    let path = if content_type == "application/json" && body.trim_start().starts_with('{') {
        "/insurer/v1/registration"
    } else {
        "/insurer/v1/batch"
    };
    let reply = conn.post(path, content_type, body).await.unwrap();
    let v: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)));
    (reply.status.as_u16(), v)
}

async fn upload(app: &TestApp, ins: &InsurerNumber, rows: &[Vec<String>]) -> Value {
    let (status, v) = send(app, ins, "text/csv", csv(rows)).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

struct Checked {
    validity: String,
    name: Option<String>,
    message: String,
    lost: Option<String>,
    /// (高齢受給者証, 限度額適用認定証) shown for the first result.
    certificates: (bool, bool),
}

/// A check by card data at the demo clinic, as of the tests' today.
async fn check(
    app: &TestApp,
    ins: &InsurerNumber,
    symbol: &str,
    number: &str,
    branch: &str,
    birthdate: &str,
) -> Checked {
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: test_today().to_wire(),
            medical_institution_code: app.clinic().code.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: ins.digits().into(),
            insured_card_symbol: opt(symbol),
            insured_identification_number: number.into(),
            insured_branch_number: opt(branch),
            birthdate: birthdate.into(),
            limit_application_certificate_related_cons_flg: Some("1".into()),
            arbitrary_identifier: None,
        },
    };
    let mut conn = app.clinic_connection().await;
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, onshi_wire::Encoding::Utf8),
        )
        .await
        .unwrap();
    assert_eq!(
        reply.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let (res, _) = siquc01::decode_response_xml(&reply.body, &Limits::default()).unwrap();
    let first = res.body.results.first();
    Checked {
        validity: res.body.qualification_validity.clone().unwrap_or_default(),
        name: first.and_then(|r| r.name.clone()),
        message: res
            .body
            .processing_result_message
            .clone()
            .unwrap_or_default(),
        lost: first.and_then(|r| r.disqualification_date.clone()),
        certificates: (
            first.is_some_and(|r| r.elderly_recipient.is_some()),
            first.is_some_and(|r| r.limit_info.is_some()),
        ),
    }
}

/// A card check (PIN) at the demo clinic: (validity, message).
async fn card_check(app: &TestApp, path: &std::path::Path) -> (String, String) {
    use onshi_central::card_client::{self, CardConsents, IdentityMethod};
    use onshi_pki::Card as _;
    let mut card = onshi_pki::SoftwareCard::open(path).unwrap();
    card.verify_pin("1234").unwrap();
    let mut conn = app.clinic_connection().await;
    let reply = card_client::card_check(
        &mut conn,
        &mut card,
        IdentityMethod::Pin,
        &CardConsents::default(),
        None,
        false,
    )
    .await
    .unwrap();
    let res = siquc01::decode_response_json(&reply.body, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.body)));
    (
        res.body.qualification_validity.unwrap_or_default(),
        res.body.processing_result_message.unwrap_or_default(),
    )
}

#[tokio::test]
async fn acquire_change_of_insurer_and_loss_each_show_in_the_next_check() {
    let app = spawn_app().await;
    let kumiai = insurers_of(InsurerKind::KenpoKumiai);
    let (a, b) = (&kumiai[0], &kumiai[1]);
    let people = unregistered(&app, 2).await;
    let p = &people[0];
    let bd = p.birthdate.to_wire();

    assert_eq!(check(&app, a, "77", "9001", "", &bd).await.validity, "4");
    let r = upload(&app, a, &[acquire(a, "77", "9001", p, "20260401")]).await;
    assert_eq!(outcomes(&r), vec![("applied".into(), String::new())]);
    assert_eq!(r["results"][0]["key"], format!("{}/77/9001/00", a.digits()));
    let c = check(&app, a, "77", "9001", "00", &bd).await;
    assert_eq!(
        (c.validity.as_str(), c.name.as_deref()),
        ("1", Some(p.name.as_str()))
    );

    // Job change: the new insurer registers first, the old one its loss afterwards.
    upload(&app, b, &[acquire(b, "5", "123", p, "20261101")]).await;
    assert_eq!(check(&app, b, "5", "123", "00", &bd).await.validity, "1");
    let mut lose = vec![String::new(); COLUMNS.len()];
    lose[0] = "lose".into();
    lose[1] = a.digits().into();
    lose[2] = "77".into();
    lose[3] = "9001".into();
    lose[11] = "20261101".into();
    let (status, r) = send(
        &app,
        a,
        "text/csv",
        onshi_wire::insurer::encode_csv(
            &["op", "insurer_number", "symbol", "number", "date", "reason"],
            &[vec![
                "lose".into(),
                a.digits().into(),
                "77".into(),
                "9001".into(),
                "20261101".into(),
                "03".into(),
            ]],
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(outcomes(&r), vec![("applied".into(), String::new())]);
    let old = check(&app, a, "77", "9001", "00", &bd).await;
    assert_eq!(old.validity, "3", "old card: 無効（新しい資格あり）");
    assert_eq!(old.name.as_deref(), Some(p.name.as_str()));
    assert_eq!(check(&app, b, "5", "123", "00", &bd).await.validity, "1");

    // Loss without successor.
    let (_, r) = send(
        &app,
        b,
        "application/json",
        format!(
            r#"{{"op":"lose","insurer_number":"{}","symbol":"5","number":"123","date":"20261120","reason":"99"}}"#,
            b.digits()
        ),
    )
    .await;
    assert_eq!(outcomes(&r), vec![("applied".into(), String::new())]);
    let lost = check(&app, b, "5", "123", "00", &bd).await;
    assert_eq!(lost.validity, "2", "無効");
    assert_eq!(lost.lost.as_deref(), Some("20261120"));

    // The other order: loss first (無効), then the new insurer's acquisition (3).
    let q = &people[1];
    let qbd = q.birthdate.to_wire();
    upload(&app, a, &[acquire(a, "77", "9002", q, "20250401")]).await;
    send(
        &app,
        a,
        "application/json",
        format!(
            r#"{{"op":"lose","insurer_number":"{}","symbol":"77","number":"9002","date":"20261001","reason":"03"}}"#,
            a.digits()
        ),
    )
    .await;
    assert_eq!(check(&app, a, "77", "9002", "", &qbd).await.validity, "2");
    upload(&app, b, &[acquire(b, "5", "124", q, "20261001")]).await;
    assert_eq!(check(&app, a, "77", "9002", "", &qbd).await.validity, "3");
    assert_eq!(check(&app, b, "5", "124", "", &qbd).await.validity, "1");
}

fn mutate(p: &Person, field: &str, other: &Person) -> Vec<Person> {
    let mut out = Vec::new();
    let mut m = p.clone();
    match field {
        "name" => {
            m.name = format!("{}一", p.name);
            out.push(m.clone());
            m.name = other.name.clone();
        }
        "name_kana" => {
            m.name_kana = format!("{}ｱ", p.name_kana);
            out.push(m.clone());
            m.name_kana = other.name_kana.clone();
        }
        "birthdate" => {
            m.birthdate = p.birthdate.add_days(1);
            out.push(m.clone());
            m.birthdate = other.birthdate;
        }
        "sex" => {
            m.sex = if p.sex == Sex::Male {
                Sex::Female
            } else {
                Sex::Male
            };
            out.push(m.clone());
            m.sex = Sex::Unset;
        }
        "address" => {
            m.address = format!("{}１", p.address);
            out.push(m.clone());
            m.address = other.address.clone();
        }
        _ => unreachable!(),
    }
    if m != *p {
        out.push(m);
    }
    out
}

#[tokio::test]
async fn every_mutated_identity_item_is_refused_or_suspended_and_never_shows_anyone() {
    let app = spawn_app().await;
    let ins = &insurers_of(InsurerKind::KenpoKumiai)[2];
    let people = unregistered(&app, 2).await;
    let (p, other) = (&people[0], &people[1]);
    let bd = p.birthdate.to_wire();
    let mut n = 0;
    for field in ["name", "name_kana", "birthdate", "sex", "address"] {
        for m in mutate(p, field, other) {
            for insist in [false, true] {
                n += 1;
                let number = format!("8{n:03}");
                let mut row = acquire(ins, "31", &number, &m, "20261101");
                row[12] = if insist { "1".into() } else { String::new() };
                let r = upload(&app, ins, &[row]).await;
                let res = &r["results"][0];
                let outcome = res["outcome"].as_str().unwrap();
                if insist {
                    assert_eq!(outcome, "suspended", "{field} {insist}: {res}");
                    assert_eq!(res["code"], "ONS7022");
                } else {
                    assert_eq!(outcome, "refused", "{field} {insist}: {res}");
                    assert!(
                        ["ONS7020", "ONS7021"].contains(&res["code"].as_str().unwrap()),
                        "{res}"
                    );
                }
                if res["code"] == "ONS7020" || (insist && !res["fields"].is_null()) {
                    let fields: Vec<&str> = res["fields"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f.as_str().unwrap())
                        .collect();
                    assert!(fields.contains(&field), "{field} not named: {res}");
                }
                // No check shows anyone under that card data, whichever birthdate is typed.
                for birth in [bd.clone(), m.birthdate.to_wire()] {
                    let c = check(&app, ins, "31", &number, "", &birth).await;
                    assert_eq!(c.validity, "4", "{field} {insist}");
                    assert_eq!(c.name, None);
                }
                if insist {
                    let c = check(&app, ins, "31", &number, "", &m.birthdate.to_wire()).await;
                    assert!(c.message.contains("確認中"), "{}", c.message);
                }
            }
        }
    }
    assert!(n >= 18, "{n} mutants");
    // Nobody got a qualification from any mutant.
    assert!(app.store.find_by_person(p.id).await.unwrap().is_empty());
    assert!(app.store.find_by_person(other.id).await.unwrap().is_empty());
    let held = app
        .store
        .suspended_registrations(Some(ins.digits()))
        .await
        .unwrap();
    assert_eq!(held.len(), n / 2);

    // The valid registration links exactly the registered person.
    let r = upload(&app, ins, &[acquire(ins, "31", "8500", p, "20261101")]).await;
    assert_eq!(outcomes(&r), vec![("applied".into(), String::new())]);
    let c = check(&app, ins, "31", "8500", "", &bd).await;
    assert_eq!(
        (c.validity.as_str(), c.name.as_deref()),
        ("1", Some(p.name.as_str()))
    );

    // Correcting a suspended registration (same card data, right items) releases it.
    let fixed = acquire(ins, "31", "8002", p, "20261101");
    let r = upload(&app, ins, &[fixed]).await;
    assert_eq!(r["results"][0]["outcome"], "refused", "{r}");
    assert_eq!(
        r["results"][0]["code"], "ONS7039",
        "already insured here: {r}"
    );
    let r = upload(
        &app,
        ins,
        &[vec![
            "lose".into(),
            ins.digits().into(),
            "31".into(),
            "8500".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            "20261101".into(),
            String::new(),
        ]],
    )
    .await;
    // `lose` without a reason is refused (reason is required), nothing changes.
    assert_eq!(r["results"][0]["code"], "ONS7002", "{r}");
    assert_eq!(check(&app, ins, "31", "8500", "", &bd).await.validity, "1");
}

#[tokio::test]
async fn a_suspended_registration_is_released_when_the_insurer_corrects_it() {
    let app = spawn_app().await;
    let ins = &insurers_of(InsurerKind::KyokaiKenpo)[0];
    let p = &unregistered(&app, 1).await[0];
    let bd = p.birthdate.to_wire();
    let mut wrong = p.clone();
    wrong.address = format!("{}別館", p.address);
    let mut row = acquire(ins, "1234", "56", &wrong, "20261101");
    row[12] = "1".into();
    let r = upload(&app, ins, &[row]).await;
    assert_eq!(r["results"][0]["outcome"], "suspended", "{r}");
    assert_eq!(r["results"][0]["fields"], serde_json::json!(["address"]));
    let c = check(&app, ins, "1234", "56", "00", &bd).await;
    assert_eq!(c.validity, "4");
    assert!(c.message.contains("確認中"));
    // The operator's report lists it with the differing item; the insurer's own list too.
    let held = app.store.suspended_registrations(None).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].differences, "address");
    let mut conn = app.insurer_connection(ins).await;
    let listed = conn.get("/insurer/v1/suspended").await.unwrap();
    assert!(String::from_utf8_lossy(&listed.body).contains(",address"));

    let r = upload(&app, ins, &[acquire(ins, "1234", "56", p, "20261101")]).await;
    assert_eq!(outcomes(&r), vec![("applied".into(), String::new())]);
    assert_eq!(
        r["results"][0]["key"],
        format!("{}/1234/56/00", ins.digits())
    );
    let c = check(&app, ins, "1234", "56", "00", &bd).await;
    assert_eq!(
        (c.validity.as_str(), c.name.as_deref()),
        ("1", Some(p.name.as_str()))
    );
    assert!(
        app.store
            .suspended_registrations(None)
            .await
            .unwrap()
            .is_empty()
    );
}

fn family_file(ins: &InsurerNumber, head: &Person, child: &Person) -> String {
    let d = ins.digits();
    let id = |p: &Person| {
        format!(
            "{},{},{},{},{},,",
            p.name,
            p.name_kana,
            p.birthdate.to_wire(),
            p.sex.code(),
            p.address,
        )
    };
    format!(
        "op,insurer_number,symbol,number,branch,personal_family,head_branch,name,name_kana,birthdate,sex,address,insist,date,reason,valid_from,valid_to,ratio,classification,flag,category,self_pay\n\
acquire,{d},700,42,,1,,{h}20260401,,,,,,,,\n\
acquire,{d},700,42,,2,00,{c}20260401,,,,,,,,\n\
limit,{d},700,42,00,,,,,,,,,20260501,,20260501,20270731,,01,A03,,\n\
elderly,{d},700,42,00,,,,,,,,,20260501,,20260501,20270731,20,,,,\n\
specific,{d},700,42,01,,,,,,,,,20260501,,20260501,,,,,1,10000\n\
certificate,{d},700,42,01,,,,,,,,,20261101,,20261201,20311130,,,,,\n\
change,{d},700,42,00,,,,,,,,,20261001,,,,,,,,\n",
        h = id(head),
        c = id(child),
    )
}

#[tokio::test]
async fn a_family_file_applies_once_and_re_uploads_change_nothing() {
    let app = spawn_app().await;
    let ins = &insurers_of(InsurerKind::KenpoKumiai)[3];
    let people = unregistered(&app, 2).await;
    let file = family_file(ins, &people[0], &people[1]);
    let (status, r) = send(&app, ins, "text/csv", file.clone()).await;
    assert_eq!(status, 200);
    let got = outcomes(&r);
    assert_eq!(
        got,
        vec![
            ("applied".to_string(), String::new()),
            ("applied".to_string(), String::new()),
            ("applied".to_string(), String::new()),
            ("applied".to_string(), String::new()),
            ("applied".to_string(), String::new()),
            ("applied".to_string(), String::new()),
            // A change with nothing to change.
            ("unchanged".to_string(), String::new()),
        ],
        "{r}"
    );
    assert_eq!(
        r["results"][1]["key"],
        format!("{}/700/42/01", ins.digits())
    );
    let quals = app.store.count(CountedTable::Qualification).await.unwrap();
    let notices = app.store.registration_notices(0, None, 1000).await.unwrap();
    assert_eq!(notices.len(), 2);

    let child = check(&app, ins, "700", "42", "01", &people[1].birthdate.to_wire()).await;
    assert_eq!(child.validity, "1");
    assert_eq!(child.name.as_deref(), Some(people[1].name.as_str()));
    let rec = app.store.find_by_person(people[1].id).await.unwrap();
    assert_eq!(rec.len(), 1);
    let q = &rec[0].qualification;
    assert_eq!(
        q.insured_name.as_deref(),
        Some(people[0].name.as_str()),
        "被保険者氏名"
    );
    assert_eq!(
        q.card_valid_to.map(|d| d.to_wire()).as_deref(),
        Some("20311130")
    );
    assert_eq!(rec[0].specific_diseases.len(), 1);
    let head = app.store.find_by_person(people[0].id).await.unwrap();
    assert!(head[0].limit.is_some());
    assert_eq!(
        head[0].elderly.as_ref().map(|e| e.contribution_ratio),
        Some(20)
    );
    assert!(rec[0].limit.is_none() && rec[0].elderly.is_none());
    // The check answer carries them (the lookup joins a certificate only when the
    // qualification is flagged as holding one).
    let answer = check(&app, ins, "700", "42", "00", &people[0].birthdate.to_wire()).await;
    assert_eq!(answer.certificates, (true, true));
    assert_eq!(child.certificates, (false, false));

    for _ in 0..2 {
        let (_, again) = send(&app, ins, "text/csv", file.clone()).await;
        assert!(
            outcomes(&again).iter().all(|(o, _)| o == "unchanged"),
            "{again}"
        );
    }
    assert_eq!(
        app.store.count(CountedTable::Qualification).await.unwrap(),
        quals
    );
    assert_eq!(
        app.store
            .registration_notices(0, None, 1000)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.store.find_by_person(people[1].id).await.unwrap()[0]
            .specific_diseases
            .len(),
        1
    );

    // The notices are exported for the insurer and kept for the person.
    let mut conn = app.insurer_connection(ins).await;
    let listed = conn.get("/insurer/v1/notices").await.unwrap();
    let text = String::from_utf8_lossy(&listed.body).to_string();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(&people[1].name));
    assert_eq!(
        app.store
            .notices_of_person(people[1].id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_rows_are_reported_one_by_one_and_the_good_rows_applied() {
    let app = onshi_testkit::spawn_app_with(onshi_testkit::Options { people: 1500 }).await;
    let kumiai = insurers_of(InsurerKind::KenpoKumiai);
    let ins = &kumiai[4];
    let people = unregistered(&app, 4).await;
    let d = ins.digits().to_string();
    let bad_digit = format!("{}{}", &d[..7], (d.as_bytes()[7] - b'0' + 1) % 10);
    // A number with a correct check digit that no insurer has.
    let unknown = InsurerNumber::with_check_digit("0699999").unwrap();
    assert!(
        onshi_synth::insurers(SEED)
            .iter()
            .all(|i| i.number != unknown)
    );
    let mut rows = vec![
        acquire(ins, "9", "1", &people[0], "20261101"),
        acquire(ins, "9", "2", &people[1], "20261101"),
    ];
    let mut r = acquire(ins, "9", "3", &people[2], "20261101");
    r[1] = bad_digit;
    rows.push(r);
    let mut r = acquire(ins, "9", "4", &people[2], "20261101");
    r[11] = "20260230".into();
    rows.push(r);
    // The individual-unit number of the first row, for someone else.
    let mut r = acquire(ins, "9", "1", &people[2], "20261101");
    r[4] = "00".into();
    rows.push(r);
    rows.push(acquire(&unknown, "9", "5", &people[2], "20261101"));
    rows.push(acquire(&kumiai[5], "9", "6", &people[2], "20261101"));
    let mut r = acquire(ins, "9", "7", &people[2], "20261101");
    r[5] = "2".into(); // 家族 without a 被保険者
    rows.push(r);
    rows.push(acquire(ins, "9", "8", &people[3], "20261101"));
    let mut body = csv(&rows);
    body.push_str("acquire,too,few,fields\n");
    let (status, report) = send(&app, ins, "text/csv", body).await;
    assert_eq!(status, 200);
    let codes: Vec<String> = outcomes(&report).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        codes,
        vec![
            "", "", "ONS7003", "ONS7004", "ONS7030", "ONS7010", "ONS7011", "ONS7032", "", "ONS7008"
        ],
        "{report}"
    );
    let lines: Vec<u64> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, (2..=11).collect::<Vec<u64>>());
    assert_eq!(report["applied"], 3);
    assert_eq!(report["refused"], 7);
    for (number, p) in [("1", &people[0]), ("2", &people[1]), ("8", &people[3])] {
        let c = check(&app, ins, "9", number, "", &p.birthdate.to_wire()).await;
        assert_eq!(c.name.as_deref(), Some(p.name.as_str()));
    }
    assert!(
        app.store
            .find_by_person(people[2].id)
            .await
            .unwrap()
            .is_empty()
    );

    // A change that cannot be completed leaves the member as they were (no half row).
    let (_, r) = send(
        &app,
        ins,
        "application/json",
        format!(
            r#"{{"op":"change","insurer_number":"{d}","symbol":"9","number":"2","date":"20261110","new_number":"1","new_branch":"00"}}"#
        ),
    )
    .await;
    assert_eq!(r["results"][0]["code"], "ONS7030", "{r}");
    let still = app.store.find_by_person(people[1].id).await.unwrap();
    assert_eq!(still.len(), 1);
    assert_eq!(still[0].qualification.disqualification_date, None);
    // Done properly, the old number answers 3 and the new one 1.
    let (status, r) = send(
        &app,
        ins,
        "application/json",
        format!(
            r#"{{"op":"change","insurer_number":"{d}","symbol":"9","number":"2","date":"20261110","new_number":"22"}}"#
        ),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let bd = people[1].birthdate.to_wire();
    assert_eq!(check(&app, ins, "9", "2", "", &bd).await.validity, "3");
    assert_eq!(check(&app, ins, "9", "22", "00", &bd).await.validity, "1");
}

#[tokio::test]
async fn a_pending_registration_is_named_at_the_check_until_it_is_registered() {
    let app = spawn_app().await;
    let ins = &insurers_of(InsurerKind::Kyosai)[0];
    let p = &unregistered(&app, 1).await[0];
    let bd = p.birthdate.to_wire();
    let one = |op: &str, date: &str| {
        serde_json::json!({
            "op": op, "insurer_number": ins.digits(), "symbol": "44", "number": "100",
            "name": p.name, "name_kana": p.name_kana, "birthdate": bd, "sex": p.sex.code(),
            "address": p.address, "date": date,
        })
        .to_string()
    };
    let (status, r) = send(&app, ins, "application/json", one("pending", "20261120")).await;
    assert_eq!(status, 200, "{r}");
    let c = check(&app, ins, "44", "100", "", &bd).await;
    assert_eq!(c.validity, "4");
    assert!(c.message.contains("登録手続き中"), "{}", c.message);
    // The card check (by the person) says so too.
    let (card, _) = app
        .issue_card(
            p.id,
            onshi_pki::CertProfile::Card,
            onshi_testkit::test_today().add_months(24),
            true,
        )
        .await;
    let verified = card_check(&app, &card).await;
    assert_eq!(verified.0, "4");
    assert!(verified.1.contains("登録手続き中"), "{}", verified.1);

    let (status, r) = send(&app, ins, "application/json", one("acquire", "20261120")).await;
    assert_eq!(status, 200, "{r}");
    let c = check(&app, ins, "44", "100", "", &bd).await;
    assert_eq!(c.validity, "1");
    // A refused single request is a 422.
    let (status, r) = send(&app, ins, "application/json", one("acquire", "20261131")).await;
    assert_eq!(
        (status, r["results"][0]["code"].as_str()),
        (422, Some("ONS7004"))
    );
}

#[tokio::test]
async fn callers_are_told_apart_by_the_issuer_of_their_certificate() {
    let app = spawn_app().await;
    let ins = &insurers_of(InsurerKind::KenpoKumiai)[0];
    // A facility certificate on the insurer API.
    let mut conn = app.clinic_connection().await;
    let r = conn
        .post("/insurer/v1/batch", "text/csv", "op\n")
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 403);
    assert!(String::from_utf8_lossy(&r.body).contains("ONS7101"));
    // An insurer certificate on the facility API.
    let mut conn = app.insurer_connection(ins).await;
    let r = conn
        .post("/oqs/v1/qualification", "application/xml", "<XmlMsg/>")
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 403);
    // An insurer central does not know.
    let unknown = InsurerNumber::with_check_digit("0699999").unwrap();
    let p = &unregistered(&app, 1).await[0];
    let (status, v) = send(
        &app,
        &unknown,
        "text/csv",
        csv(&[acquire(&unknown, "1", "1", p, "20261101")]),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (403, Some("ONS7102")));
    // An unreadable file.
    let (status, v) = send(
        &app,
        ins,
        "text/csv",
        "op,unknown_column\nacquire,x\n".into(),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (400, Some("ONS7103")));
}

#[tokio::test]
async fn the_documented_examples_apply_as_described() {
    let app = spawn_app().await;
    let ins = InsurerNumber::parse("06142053").unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples");
    let csv_file = std::fs::read_to_string(format!("{dir}/insurer-batch.csv")).unwrap();
    let xml_file = std::fs::read_to_string(format!("{dir}/insurer-batch.xml")).unwrap();
    let (status, r) = send(&app, &ins, "text/csv", csv_file).await;
    assert_eq!(status, 200, "{r}");
    let got: Vec<(String, String)> = outcomes(&r);
    let want = |o: &str, c: &str| (o.to_string(), c.to_string());
    assert_eq!(
        got,
        vec![
            want("applied", ""),
            want("applied", ""),
            want("applied", ""),
            want("applied", ""),
            want("applied", ""),
            want("applied", ""),
            want("applied", ""),
            want("refused", "ONS7020"),
            want("suspended", "ONS7022"),
            want("refused", "ONS7003"),
            want("refused", "ONS7004"),
        ],
        "{r}"
    );
    assert_eq!(r["results"][7]["fields"], serde_json::json!(["name_kana"]));
    let head = check(&app, &ins, "2101", "5001", "00", "19710517").await;
    assert_eq!(
        (head.validity.as_str(), head.name.as_deref()),
        ("1", Some("加藤　裕太"))
    );
    let dependant = check(&app, &ins, "2101", "5001", "01", "19730925").await;
    assert_eq!(dependant.name.as_deref(), Some("加藤　優子"));
    let pending = check(&app, &ins, "2101", "5002", "00", "20021113").await;
    assert!(
        pending.message.contains("登録手続き中"),
        "{}",
        pending.message
    );
    let held = check(&app, &ins, "2101", "5003", "00", "19850726").await;
    assert_eq!((held.validity.as_str(), held.name), ("4", None));

    // The XML form holds the same rows: nothing new to apply.
    let (status, r) = send(&app, &ins, "application/xml", xml_file).await;
    assert_eq!(status, 200, "{r}");
    let got: Vec<String> = outcomes(&r).into_iter().map(|(o, _)| o).collect();
    assert_eq!(
        got,
        [
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "refused",
            "unchanged",
            "refused",
            "refused"
        ],
        "{r}"
    );
}
