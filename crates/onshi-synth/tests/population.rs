//! Properties of the generated population that loaders and the verification engine rely on.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use onshi_core::Ymd;
use onshi_core::burden::{self, IncomeCategory};
use onshi_core::codes::{PersonalFamilyClassification, ReasonOfLoss};
use onshi_core::ids::{InsurerNumber, ScoreTable, luhn_check_digit};
use onshi_core::model::{InsurerKind, Qualification};
use onshi_synth::{
    Batch, CASE_NAMES, Summary, SynthConfig, facilities, generate, generate_all, insurers,
};

fn today() -> Ymd {
    Ymd::from_ymd(2025, 10, 1).expect("valid date")
}

fn cfg(seed: u64, people: usize) -> SynthConfig {
    cfg_on(seed, people, today())
}

fn cfg_on(seed: u64, people: usize, today: Ymd) -> SynthConfig {
    SynthConfig {
        seed,
        people,
        today,
    }
}

fn batches(cfg: &SynthConfig, per: usize) -> (Vec<Batch>, Summary) {
    let mut out = Vec::new();
    let s = generate::<()>(
        cfg,
        per,
        |b| {
            out.push(b);
            Ok(())
        },
        |_| {},
    )
    .expect("sink never fails");
    (out, s)
}

fn digest(batches: &[Batch], summary: &Summary) -> u64 {
    let mut h = DefaultHasher::new();
    for b in batches {
        format!("{b:?}").hash(&mut h);
    }
    format!("{summary:?}").hash(&mut h);
    h.finish()
}

#[test]
fn same_seed_same_output_and_batch_size_does_not_matter() {
    let c = cfg(7, 4000);
    let (a, sa) = batches(&c, 50);
    let (b, sb) = batches(&c, 50);
    assert_eq!(digest(&a, &sa), digest(&b, &sb));
    // Another batch size gives the same records in the same order.
    let (whole, _) = generate_all(&c);
    let mut joined = Batch::default();
    for b in a {
        joined.persons.extend(b.persons);
        joined.qualifications.extend(b.qualifications);
        joined.elderly.extend(b.elderly);
        joined.limit_certificates.extend(b.limit_certificates);
        joined.specific_diseases.extend(b.specific_diseases);
    }
    assert_eq!(joined, whole);
    // A different seed differs.
    let (d, sd) = batches(&cfg(8, 4000), 50);
    assert_ne!(digest(&d, &sd), digest(&b, &sb));
    assert_eq!(insurers(7), insurers(7));
}

#[test]
fn people_count_and_dense_ids() {
    let (all, s) = generate_all(&cfg(1, 3000));
    assert_eq!(s.persons, 3000);
    assert_eq!(all.persons.len(), 3000);
    assert_eq!(s.qualifications, all.qualifications.len());
    for (i, p) in all.persons.iter().enumerate() {
        assert_eq!(p.id, i as i64 + 1);
    }
    for (i, q) in all.qualifications.iter().enumerate() {
        assert_eq!(q.id, i as i64 + 1);
    }
}

#[test]
fn successors_point_back_within_the_batch() {
    let (bs, _) = batches(&cfg(3, 5000), 17);
    let mut seen = HashSet::new();
    for b in &bs {
        let ids: HashMap<i64, &Qualification> =
            b.qualifications.iter().map(|q| (q.id, q)).collect();
        for q in &b.qualifications {
            if let Some(s) = q.successor_id {
                let succ = ids.get(&s).expect("successor in the same batch");
                assert!(s < q.id, "successor has a smaller id");
                assert_eq!(succ.person_id, q.person_id);
                assert_ne!(succ.insurer_number, q.insurer_number);
                assert_eq!(q.reason_of_loss, Some(ReasonOfLoss::OtherInsurance));
                assert_eq!(q.disqualification_date, Some(succ.qualification_date));
            }
            assert!(seen.insert(q.id));
        }
    }
}

#[test]
fn individual_numbers_are_unique() {
    let (all, s) = generate_all(&cfg(11, 30_000));
    let mut keys = HashSet::new();
    for q in &all.qualifications {
        let key = (
            q.insurer_number.digits().to_string(),
            q.symbol.as_ref().map(|s| s.normalized()),
            q.number.normalized(),
            q.branch.map(|b| b.value()),
        );
        assert!(keys.insert(key.clone()), "duplicate {key:?}");
    }
    for sm in s.samples.iter().filter(|s| s.case == "not_found") {
        let hit = all.qualifications.iter().any(|q| {
            q.insurer_number.digits() == sm.insurer_number
                && q.symbol.as_ref().map_or("", |s| s.as_str()) == sm.symbol
                && q.number.as_str() == sm.number
        });
        assert!(!hit, "not_found sample {sm:?} has a qualification");
    }
}

#[test]
fn insurer_master_is_valid() {
    let list = insurers(5);
    assert!(list.len() > 200, "{}", list.len());
    let mut numbers = HashSet::new();
    for ins in &list {
        let digits = ins.number.digits();
        assert_eq!(
            InsurerNumber::parse(digits).as_ref(),
            Ok(&ins.number),
            "{digits}"
        );
        let body = &digits[..digits.len() - 1];
        let check = luhn_check_digit(body).expect("digits");
        assert_eq!(digits.as_bytes()[digits.len() - 1] - b'0', check);
        assert!(
            numbers.insert(digits.to_string()),
            "duplicate insurer {digits}"
        );
        let law = ins.number.law_code();
        match ins.kind {
            InsurerKind::KyokaiKenpo => assert_eq!(law, Some("01")),
            InsurerKind::KenpoKumiai => {
                assert_eq!(law, Some("06"));
                assert!(ins.name.ends_with("健康保険組合"));
            }
            InsurerKind::Kyosai => assert!(matches!(law, Some("31" | "32" | "33" | "34"))),
            InsurerKind::Kokuho => assert_eq!(digits.len(), 6),
            InsurerKind::LateElderly => assert_eq!(law, Some("39")),
        }
    }
    for kind in InsurerKind::ALL {
        assert!(list.iter().any(|i| i.kind == kind), "{kind:?}");
    }
    assert!(
        list.iter()
            .any(|i| i.number.digits() == "01130012" && i.name == "全国健康保険協会東京支部")
    );
    assert_eq!(
        list.iter()
            .filter(|i| i.kind == InsurerKind::LateElderly)
            .count(),
        47
    );
}

#[test]
fn facilities_are_valid() {
    let f = facilities(1);
    assert!(f.len() >= 4);
    assert_eq!(f[0].code.score_table(), ScoreTable::Medical);
    assert_eq!(f[1].code.score_table(), ScoreTable::Pharmacy);
    assert!(f[0].enabled && f[1].enabled);
    for fac in &f {
        assert_eq!(fac.code.prefecture(), 13);
        assert!(onshi_core::ids::MedicalInstitutionCode::parse(fac.code.as_str()).is_ok());
    }
}

#[test]
fn households_share_card_with_distinct_branches() {
    let (all, _) = generate_all(&cfg(2, 20_000));
    let persons: HashMap<i64, _> = all.persons.iter().map(|p| (p.id, p)).collect();
    let mut groups: HashMap<(String, String, String), Vec<&Qualification>> = HashMap::new();
    for q in &all.qualifications {
        let key = (
            q.insurer_number.digits().to_string(),
            q.symbol
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            q.number.as_str().to_string(),
        );
        groups.entry(key).or_default().push(q);
    }
    let mut families = 0;
    for (key, qs) in &groups {
        let branches: HashSet<_> = qs.iter().map(|q| q.branch.map(|b| b.value())).collect();
        assert_eq!(branches.len(), qs.len(), "{key:?}");
        let address = &persons[&qs[0].person_id].address;
        for q in qs {
            assert_eq!(
                &persons[&q.person_id].address, address,
                "one card, one household"
            );
        }
        if qs
            .iter()
            .any(|q| q.personal_family == PersonalFamilyClassification::Dependent)
        {
            families += 1;
            let head = qs
                .iter()
                .find(|q| q.personal_family == PersonalFamilyClassification::Insured)
                .expect("dependants have a 本人");
            assert_eq!(head.branch.map(|b| b.value()), Some(0));
            for q in qs
                .iter()
                .filter(|q| q.personal_family == PersonalFamilyClassification::Dependent)
            {
                assert!(q.branch.expect("branch").value() > 0);
                assert_eq!(
                    q.insured_name.as_deref(),
                    Some(persons[&head.person_id].name.as_str())
                );
            }
        }
    }
    assert!(families > 100);
}

#[test]
fn late_elderly_and_elderly_recipients_follow_age() {
    let t = today();
    let (all, s) = generate_all(&cfg(4, 20_000));
    let persons: HashMap<i64, _> = all.persons.iter().map(|p| (p.id, p)).collect();
    let quals: HashMap<i64, &Qualification> =
        all.qualifications.iter().map(|q| (q.id, q)).collect();
    for q in &all.qualifications {
        let birth = persons[&q.person_id].birthdate;
        let late_insurer = q.insurer_number.law_code() == Some("39");
        if late_insurer {
            assert!(q.qualification_date >= burden::late_elderly_start(birth));
        } else {
            assert!(q.qualification_date < burden::late_elderly_start(birth));
        }
        if late_insurer {
            assert!(t >= burden::late_elderly_start(birth));
            assert!(q.symbol.is_none() && q.branch.is_none());
            assert_eq!(q.number.as_str().len(), 8);
        } else if q.disqualification_date.is_none() {
            assert!(t < burden::late_elderly_start(birth), "75+ outside 後期");
        }
        if let Some(d) = q.disqualification_date {
            assert!(d < t, "losses are in the past");
            assert!(q.qualification_date < d);
        }
        assert!(q.qualification_date >= birth && q.qualification_date <= t);
    }
    assert!(!all.elderly.is_empty());
    for e in &all.elderly {
        let q = quals[&e.qualification_id];
        let birth = persons[&q.person_id].birthdate;
        assert_ne!(q.insurer_number.law_code(), Some("39"));
        assert!(e.valid_start >= burden::elderly_start(birth));
        assert_eq!(e.valid_end, burden::late_elderly_start(birth).add_days(-1));
        let want = if q.income == IncomeCategory::ActiveEquivalent {
            30
        } else {
            20
        };
        assert_eq!(e.contribution_ratio, want);
    }
    // Every 70–74 in a current non-後期 qualification has a record.
    let with_record: HashSet<i64> = all.elderly.iter().map(|e| e.qualification_id).collect();
    for q in all
        .qualifications
        .iter()
        .filter(|q| q.disqualification_date.is_none())
    {
        let birth = persons[&q.person_id].birthdate;
        if q.insurer_number.law_code() != Some("39") && burden::reach_date(birth, 70) <= t {
            assert!(with_record.contains(&q.id));
        }
    }
    assert_eq!(s.counts.elderly_recipients, all.elderly.len());
    // Limit flags match the age on the certificate's start.
    for l in &all.limit_certificates {
        let q = quals[&l.qualification_id];
        let birth = persons[&q.person_id].birthdate;
        let code = l.flag.code();
        if burden::reach_date(birth, 70) <= t {
            assert!(code.starts_with('B'), "{code}");
        } else {
            assert!(code.starts_with('A'), "{code}");
        }
    }
    for d in &all.specific_diseases {
        assert!(d.self_pay == 10_000 || d.self_pay == 20_000);
    }
}

#[test]
fn names_and_addresses_look_japanese() {
    let (all, s) = generate_all(&cfg(9, 50_000));
    let mut rare = 0;
    for p in &all.persons {
        assert_eq!(p.name.matches('\u{3000}').count(), 1, "{}", p.name);
        assert_eq!(p.name_kana.matches(' ').count(), 1, "{}", p.name_kana);
        assert!(
            p.name_kana
                .chars()
                .all(|c| c == ' ' || ('\u{FF66}'..='\u{FF9F}').contains(&c)),
            "{}",
            p.name_kana
        );
        let b = p.post_number.as_bytes();
        assert!(b.len() == 8 && b[3] == b'-', "{}", p.post_number);
        assert!(
            p.address.contains("丁目") && p.address.ends_with(['号', '室']),
            "{}",
            p.address
        );
        if p.name.contains(['髙', '𠮷', '﨑', '濵']) {
            rare += 1;
        }
    }
    let share = rare as f64 / all.persons.len() as f64;
    assert!((0.002..0.01).contains(&share), "{share}");
    assert_eq!(s.counts.rare_kanji, rare);
    assert!(all.persons.iter().any(|p| !p.address.starts_with("東京都")));
}

/// Checks one summary's samples against the records.
fn check_samples(people: usize, seed: u64) {
    check_samples_on(people, seed, today());
}

fn check_samples_on(people: usize, seed: u64, t: Ymd) {
    let horizon = t.add_months(12);
    let (all, s) = generate_all(&cfg_on(seed, people, t));
    for case in CASE_NAMES {
        assert!(
            s.samples.iter().any(|x| x.case == case),
            "no {case} sample at {people}"
        );
    }
    let persons: HashMap<i64, _> = all.persons.iter().map(|p| (p.id, p)).collect();
    let by_id: HashMap<i64, &Qualification> =
        all.qualifications.iter().map(|q| (q.id, q)).collect();
    for sm in &s.samples {
        assert_eq!(sm.birthdate.len(), 8);
        let matches: Vec<&Qualification> = all
            .qualifications
            .iter()
            .filter(|q| {
                q.insurer_number.digits() == sm.insurer_number
                    && q.symbol.as_ref().map_or("", |s| s.as_str()) == sm.symbol
                    && q.number.as_str() == sm.number
                    && (sm.branch.is_empty()
                        || q.branch.map(|b| b.to_wire()).as_deref() == Some(sm.branch.as_str()))
                    && persons[&q.person_id].birthdate.to_wire() == sm.birthdate
            })
            .collect();
        match sm.expected_validity.as_str() {
            "1" => {
                assert_eq!(matches.len(), 1, "{sm:?}");
                let q = matches[0];
                let p = persons[&q.person_id];
                assert_eq!(p.name, sm.name);
                assert!(q.disqualification_date.is_none(), "{sm:?}");
                assert!(q.card_valid_to.is_none_or(|d| d >= horizon), "{sm:?}");
                let age = p.birthdate.legal_age_on(t);
                match sm.case.as_str() {
                    "elderly_70_74" => {
                        assert!((70..75).contains(&age));
                        assert!(all.elderly.iter().any(|e| e.qualification_id == q.id
                            && e.valid_start <= t
                            && t <= e.valid_end));
                    }
                    "late_elderly_75" => {
                        assert!(age >= 75);
                        assert_eq!(q.insurer_number.law_code(), Some("39"));
                    }
                    "preschool" => {
                        assert!(age < 6 && t <= burden::preschool_end(p.birthdate));
                    }
                    "limit_certificate" => {
                        assert!(
                            all.limit_certificates
                                .iter()
                                .any(|l| l.qualification_id == q.id
                                    && l.valid_start <= t
                                    && l.valid_end.is_none_or(|e| t <= e))
                        )
                    }
                    "rare_kanji" => assert!(p.name.contains(['𠮷', '髙'])),
                    "valid" => assert!((6..70).contains(&age)),
                    other => panic!("unexpected case {other} with validity 1"),
                }
            }
            "2" => {
                assert_eq!(sm.case, "lost");
                assert_eq!(matches.len(), 1, "{sm:?}");
                let q = matches[0];
                assert!(q.disqualification_date.is_some_and(|d| d < t));
                assert!(q.successor_id.is_none());
                assert!(
                    !all.qualifications
                        .iter()
                        .any(|o| o.person_id == q.person_id && o.disqualification_date.is_none()),
                    "a lost person has no current qualification"
                );
            }
            "3" => {
                assert_eq!(sm.case, "new_qualification");
                assert_eq!(matches.len(), 1, "{sm:?}");
                let q = matches[0];
                assert!(q.disqualification_date.is_some_and(|d| d < t));
                let succ = by_id[&q.successor_id.expect("successor")];
                assert!(succ.disqualification_date.is_none());
                assert_eq!(succ.person_id, q.person_id);
            }
            "4" => {
                assert_eq!(sm.case, "not_found");
                assert!(matches.is_empty(), "{sm:?}");
                assert!(
                    all.persons
                        .iter()
                        .any(|p| p.name == sm.name && p.birthdate.to_wire() == sm.birthdate)
                );
                assert!(
                    insurers(seed)
                        .iter()
                        .any(|i| i.number.digits() == sm.insurer_number)
                );
            }
            "5" => {
                assert_eq!(sm.case, "multiple");
                assert!(sm.branch.is_empty());
                assert!(matches.len() >= 2, "{sm:?}");
                assert!(matches.iter().all(|q| q.disqualification_date.is_none()));
            }
            other => panic!("unexpected validity {other}"),
        }
    }
}

#[test]
fn samples_for_200_people() {
    check_samples(200, 1);
    check_samples(200, 2);
}

#[test]
fn samples_hold_on_awkward_days() {
    for (y, m, d) in [
        (2024, 2, 29),
        (2026, 3, 31),
        (2026, 4, 1),
        (2027, 7, 31),
        (2030, 12, 31),
    ] {
        let t = Ymd::from_ymd(y, m, d).expect("valid date");
        for seed in 0..3 {
            check_samples_on(300, seed, t);
        }
    }
}

#[test]
fn samples_for_5000_people() {
    check_samples(5000, 3);
}

#[test]
fn tiny_population_still_has_the_showcase() {
    let (all, s) = generate_all(&cfg(1, 1));
    assert!(all.persons.len() >= 10);
    for case in CASE_NAMES {
        assert!(s.samples.iter().any(|x| x.case == case), "{case}");
    }
}

#[test]
fn case_mix_is_roughly_as_documented() {
    let (all, s) = generate_all(&cfg(21, 100_000));
    let n = s.persons as f64;
    let c = &s.counts;
    let pct = |x: usize| x as f64 * 100.0 / n;
    assert!((4.0..8.0).contains(&pct(c.job_changes)), "{c:?}");
    assert!((0.5..1.6).contains(&pct(c.lost)), "{c:?}");
    assert!((0.5..1.6).contains(&pct(c.not_registered)), "{c:?}");
    assert!((2.0..4.5).contains(&pct(c.limit_certificates)), "{c:?}");
    assert!((0.1..0.6).contains(&pct(c.specific_diseases)), "{c:?}");
    assert!(c.twin_households > 10);
    let t = today();
    let under15 = all
        .persons
        .iter()
        .filter(|p| p.birthdate.legal_age_on(t) < 15)
        .count();
    let over65 = all
        .persons
        .iter()
        .filter(|p| p.birthdate.legal_age_on(t) >= 65)
        .count();
    assert!((9.0..15.0).contains(&pct(under15)), "{}", pct(under15));
    assert!((25.0..33.0).contains(&pct(over65)), "{}", pct(over65));
    // Persons without any qualification are exactly the not-registered ones.
    let with_q: HashSet<i64> = all.qualifications.iter().map(|q| q.person_id).collect();
    assert_eq!(all.persons.len() - with_q.len(), c.not_registered);
}
