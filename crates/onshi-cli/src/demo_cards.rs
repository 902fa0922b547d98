//! The demo's software cards: one card (or smartphone) per card case, issued into
//! `DIR/cards/` and listed in `DIR/samples.json` with the answer central should give.
//!
//! Two steps, each done once per data directory:
//! 1. before central starts ([`issue_demo_cards`]): issue, revoke and lock the cards, append
//!    the cases to `samples.json`, write `DIR/cards/.issued`;
//! 2. once central runs ([`prior_physical_use`]): the smartphone holders use their physical
//!    card once at the demo clinic (a smartphone is accepted only where the physical card
//!    has been used before), then `DIR/cards/.prepared`.

use crate::card::{self, Issue};
use anyhow::{Context, Result, bail};
use onshi_central::card_client::{self, CardConsents, IdentityMethod};
use onshi_central::engine;
use onshi_central::provision::DataDir;
use onshi_core::codes::QualificationValidity;
use onshi_core::date::Ymd;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::{Clock, SystemClock};
use onshi_pki::{Card, CardError, CertProfile};
use onshi_store::Store;
use onshi_wire::{Limits, siquc01};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const ISSUED: &str = ".issued";
const PREPARED: &str = ".prepared";
const DEMO_PIN: &str = "1234";
/// Persons looked at, at most, when picking the card holders.
const SCAN_LIMIT: i64 = 200_000;

/// The file of a case's card under `DIR/cards/`.
pub fn card_file_name(case: &str) -> String {
    format!("{case}.card.json")
}

fn physical_file_name(case: &str) -> String {
    format!("{case}.physical.card.json")
}

#[derive(Clone, Copy)]
enum Expiry {
    /// The 5th birthday after an issue one year ago.
    Normal,
    /// Last valid day this many months from today (negative: in the past).
    MonthsFromToday(i32),
}

#[derive(Clone, Copy)]
enum Expect {
    Validity(&'static str),
    Error(&'static str),
}

struct Case {
    case: &'static str,
    profile: CertProfile,
    expiry: Expiry,
    registered: bool,
    revoke: bool,
    lock: bool,
    method: IdentityMethod,
    expect: Expect,
    /// A physical card too, used once at the demo clinic before the smartphone.
    physical_first: bool,
    note: &'static str,
}

fn cases() -> Vec<Case> {
    let base = Case {
        case: "",
        profile: CertProfile::Card,
        expiry: Expiry::Normal,
        registered: true,
        revoke: false,
        lock: false,
        method: IdentityMethod::Pin,
        expect: Expect::Validity("1"),
        physical_first: false,
        note: "",
    };
    vec![
        Case {
            case: "card_valid",
            note: "有効なカード",
            ..base
        },
        Case {
            case: "card_expiring",
            expiry: Expiry::MonthsFromToday(2),
            note: "有効期限まで3か月以内: 更新のお知らせ（ProcessingResultCode/Message）が付く",
            ..base
        },
        Case {
            case: "card_grace",
            expiry: Expiry::MonthsFromToday(-1),
            note: "有効期限切れ（猶予期間中）: 資格確認のみ、同意は受け付けない",
            ..base
        },
        Case {
            case: "card_expired",
            expiry: Expiry::MonthsFromToday(-5),
            expect: Expect::Error("ONS4013"),
            note: "有効期限切れ（猶予期間後）: 更新が必要",
            ..base
        },
        Case {
            case: "card_revoked",
            revoke: true,
            expect: Expect::Error("ONS4012"),
            note: "失効した証明書",
            ..base
        },
        Case {
            case: "card_locked",
            lock: true,
            expect: Expect::Error("pin_locked"),
            note: "暗証番号を3回間違えてロック済み: 端末がその場で断る（centralに届かない）",
            ..base
        },
        Case {
            case: "card_unregistered",
            registered: false,
            expect: Expect::Error("ONS4020"),
            note: "初回登録がまだ: onshi check --register で登録できる",
            ..base
        },
        Case {
            case: "smartphone_android",
            profile: CertProfile::SmartphoneAndroid,
            physical_first: true,
            note: "Androidスマートフォン: 暗証番号をリーダーで入力。同じ人が実物のカードをデモ診療所で使用済み",
            ..base
        },
        Case {
            case: "smartphone_iphone",
            profile: CertProfile::SmartphoneIphone,
            method: IdentityMethod::Face,
            physical_first: true,
            note: "iPhone: 生体認証はiPhone上（--face）。リーダーで暗証番号は入力しない。同じ人が実物のカードをデモ診療所で使用済み",
            ..base
        },
    ]
}

/// Adults of at least this age hold the demo cards (card holders for five years and more,
/// asked about every consent, 特定健診 included).
const MIN_AGE: u16 = 40;

/// Adults with a qualification valid today and no card yet, in id order.
async fn pick_holders(
    store: &Store,
    today: Ymd,
    n: usize,
) -> Result<Vec<onshi_core::model::Person>> {
    let mut found = Vec::new();
    let mut id = 0;
    while found.len() < n && id < SCAN_LIMIT {
        id += 1;
        let Some(person) = store.person(id).await? else {
            continue;
        };
        if person.birthdate.legal_age_on(today) < MIN_AGE {
            continue;
        }
        let records = store.find_by_person(id).await?;
        if records.is_empty()
            || engine::decide(records, today).validity != QualificationValidity::Valid
            || !store.cards_of_person(id).await?.is_empty()
        {
            continue;
        }
        found.push(person);
    }
    if found.len() < n {
        bail!(
            "only {} persons with a valid qualification and no card: too small a population for the card cases",
            found.len()
        );
    }
    Ok(found)
}

/// Step 1 (before central starts). Does nothing when `DIR/cards/.issued` exists.
pub async fn issue_demo_cards(dir: &DataDir, store: &Store) -> Result<()> {
    let cards_dir = card::cards_dir(dir);
    if cards_dir.join(ISSUED).exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&cards_dir)
        .with_context(|| format!("create {}", cards_dir.display()))?;
    let cards_dir = cards_dir
        .canonicalize()
        .with_context(|| format!("resolve {}", cards_dir.display()))?;
    let cases = cases();
    // An interrupted earlier attempt leaves files that would otherwise be refused.
    for c in &cases {
        for name in [card_file_name(c.case), physical_file_name(c.case)] {
            let _ = std::fs::remove_file(cards_dir.join(name));
        }
    }
    eprintln!(
        "issuing {} demo cards into {}",
        cases.len(),
        cards_dir.display()
    );
    let clock_now = SystemClock.now();
    let today = clock_now.date();
    let now = time::OffsetDateTime::now_utc();
    let year_ago = now - time::Duration::days(365);
    let holders = pick_holders(store, today, cases.len()).await?;
    let mut entries = Vec::new();
    let mut physical = Vec::new();
    for (c, person) in cases.iter().zip(&holders) {
        let normal_end = || {
            onshi_pki::end_of_day_jst(onshi_pki::auth_cert_not_after(
                year_ago.date(),
                person.birthdate.0,
            ))
        };
        let (not_before, not_after) = match c.expiry {
            Expiry::Normal => (year_ago, normal_end()),
            Expiry::MonthsFromToday(m) => {
                let end = onshi_pki::end_of_day_jst(today.add_months(m).0);
                // Issued about five years before it ends, as a real one would have been.
                (end - time::Duration::days(5 * 365), end)
            }
        };
        if c.physical_first {
            let path = cards_dir.join(physical_file_name(c.case));
            card::issue(
                dir,
                store,
                Issue {
                    person_id: person.id,
                    profile: CertProfile::Card,
                    pin: DEMO_PIN.into(),
                    not_before: year_ago,
                    not_after: normal_end(),
                    registered: true,
                    out: Some(path.clone()),
                },
            )
            .await?;
            physical.push(json!({ "case": c.case, "card_file": path }));
        }
        let path = cards_dir.join(card_file_name(c.case));
        let (record, path) = card::issue(
            dir,
            store,
            Issue {
                person_id: person.id,
                profile: c.profile,
                pin: DEMO_PIN.into(),
                not_before,
                not_after,
                registered: c.registered,
                out: Some(path),
            },
        )
        .await?;
        if c.revoke {
            store.revoke_card(&record.serial, clock_now).await?;
        }
        if c.lock {
            lock(&path)?;
        }
        let mut entry = json!({
            "case": c.case,
            "card_file": path,
            "pin": if c.profile == CertProfile::SmartphoneIphone { Value::Null } else { DEMO_PIN.into() },
            "identity_method": c.method.as_str(),
            "person_id": person.id,
            "name": person.name,
            "serial": record.serial,
            "profile": record.profile,
            "not_after": record.not_after.to_wire(),
            "note": c.note,
        });
        match c.expect {
            Expect::Validity(v) => entry["expected_validity"] = v.into(),
            Expect::Error(e) => entry["expected_error"] = e.into(),
        }
        if c.physical_first {
            entry["physical_card_file"] = json!(cards_dir.join(physical_file_name(c.case)));
        }
        eprintln!(
            "  {:<20} person {:>6}  {}",
            c.case,
            person.id,
            path.display()
        );
        entries.push(entry);
    }
    append_samples(&dir.samples(), entries)?;
    std::fs::write(
        cards_dir.join(ISSUED),
        serde_json::to_vec_pretty(&physical)?,
    )?;
    Ok(())
}

/// Three wrong PINs, as a patient who forgot it would enter them.
fn lock(path: &Path) -> Result<()> {
    let mut c = card::open_card(path)?;
    let wrong = if DEMO_PIN == "9999" { "0000" } else { "9999" };
    for _ in 0..onshi_pki::PIN_TRIES {
        match c.verify_pin(wrong) {
            Err(CardError::WrongPin { .. }) | Err(CardError::Locked) => {}
            Ok(()) => bail!("{}: a wrong PIN was accepted", path.display()),
            Err(e) => return Err(card::card_failure(e)),
        }
    }
    if c.pin_tries_left().map_err(card::card_failure)? != 0 {
        bail!("{}: not locked after three wrong PINs", path.display());
    }
    Ok(())
}

/// Adds the card cases to `samples.json` (a JSON array), replacing earlier card cases.
fn append_samples(path: &Path, entries: Vec<Value>) -> Result<()> {
    let mut all: Vec<Value> = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a JSON array", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    all.retain(|v| v.get("card_file").is_none());
    all.extend(entries);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&all)?)
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Step 2 (central running): each smartphone holder uses the physical card once at the
/// demo clinic. Does nothing when `DIR/cards/.prepared` exists.
pub async fn prior_physical_use(
    dir: &DataDir,
    clinic: &MedicalInstitutionCode,
    addr: SocketAddr,
) -> Result<()> {
    let cards_dir = card::cards_dir(dir);
    if cards_dir.join(PREPARED).exists() {
        return Ok(());
    }
    let issued = cards_dir.join(ISSUED);
    let list: Vec<Value> = serde_json::from_slice(
        &std::fs::read(&issued).with_context(|| format!("read {}", issued.display()))?,
    )
    .with_context(|| format!("{}: not a JSON array", issued.display()))?;
    let client = crate::check::facility_client(dir, clinic, addr)?;
    let mut conn = client.connect().await?;
    for item in &list {
        let (Some(case), Some(file)) = (
            item.get("case").and_then(Value::as_str),
            item.get("card_file").and_then(Value::as_str),
        ) else {
            bail!("{}: malformed entry {item}", issued.display());
        };
        let path = PathBuf::from(file);
        let mut c = card::open_card(&path)?;
        card::unlock_with_pin(&mut c, DEMO_PIN)?;
        let reply = card_client::card_check(
            &mut conn,
            &mut c,
            IdentityMethod::Pin,
            &CardConsents::default(),
            None,
            false,
        )
        .await
        .with_context(|| format!("{case}: check with the physical card"))?;
        let res =
            siquc01::decode_response_json(&reply.body, &Limits::default()).with_context(|| {
                format!(
                    "{case}: answer of the physical-card check (HTTP {})",
                    reply.status
                )
            })?;
        let validity = res.body.qualification_validity.as_deref().unwrap_or("");
        if !reply.status.is_success() || validity != "1" {
            bail!(
                "{case}: the physical card was not accepted (HTTP {}, {} {})",
                reply.status,
                res.header.error_code.as_deref().unwrap_or("-"),
                res.header.error_message.as_deref().unwrap_or("")
            );
        }
        eprintln!("  {case}: physical card used once at the demo clinic");
    }
    std::fs::write(cards_dir.join(PREPARED), b"")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn card_cases_are_appended_once_and_the_file_stays_an_array() {
        let dir = std::env::temp_dir().join(format!("onshi-cli-samples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("samples.json");
        std::fs::write(&path, r#"[{"case":"valid","expected_validity":"1"}]"#).unwrap();
        let entry = json!({ "case": "card_valid", "card_file": "x", "expected_validity": "1" });
        append_samples(&path, vec![entry.clone()]).unwrap();
        append_samples(&path, vec![entry]).unwrap();
        let all: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let cases: Vec<_> = all.iter().filter_map(|v| v["case"].as_str()).collect();
        assert_eq!(cases, ["valid", "card_valid"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_case_has_one_expectation_and_a_distinct_name() {
        let cases = cases();
        let names: std::collections::HashSet<_> = cases.iter().map(|c| c.case).collect();
        assert_eq!(names.len(), 9);
        let locked = cases.iter().find(|c| c.lock).expect("a locked case");
        assert!(matches!(locked.expect, Expect::Error(e) if e == CardError::Locked.code()));
    }
}
