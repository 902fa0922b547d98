//! Medical histories: deterministic, inside their horizons, checkups only from 40, and
//! chronic patients' trends go the way they should.
#![allow(clippy::unwrap_used)]

use onshi_core::Ymd;
use onshi_synth::{SynthConfig, generate_all, medical_batch};

fn population() -> (Vec<onshi_core::model::Person>, Ymd) {
    let today = Ymd::from_ymd(2026, 11, 23).unwrap();
    let (batch, _) = generate_all(&SynthConfig {
        seed: 7,
        people: 3_000,
        today,
    });
    (batch.persons, today)
}

#[test]
fn histories_are_deterministic_and_inside_their_horizons() {
    let (persons, today) = population();
    let a = medical_batch(7, &persons, today);
    let b = medical_batch(7, &persons, today);
    assert_eq!(a, b);
    // One person's history does not depend on who else is in the batch.
    let alone = medical_batch(7, &persons[100..101], today);
    let id = persons[100].id;
    let drugs: Vec<_> = a
        .drugs
        .iter()
        .filter(|d| d.person_id == id)
        .cloned()
        .collect();
    assert_eq!(alone.drugs, drugs);

    let drug_from = today.add_months(-36).first_day_of_month();
    assert!(
        a.drugs.len() > persons.len(),
        "{} drug lines",
        a.drugs.len()
    );
    assert!(
        a.drugs
            .iter()
            .all(|d| d.dispensed_on >= drug_from && d.dispensed_on <= today.add_days(-40))
    );
    assert!(a.procedures.iter().any(|p| p.kind == "surgery"));
    let claims: std::collections::HashSet<i64> = a.claims.iter().map(|c| c.id).collect();
    assert_eq!(claims.len(), a.claims.len());
    assert!(a.drugs.iter().all(|d| claims.contains(&d.claim_id)));
    assert!(a.diagnoses.iter().all(|d| claims.contains(&d.claim_id)));

    let by_id: std::collections::HashMap<i64, &onshi_core::model::Person> =
        persons.iter().map(|p| (p.id, p)).collect();
    assert!(!a.checkups.is_empty());
    for c in &a.checkups {
        let p = by_id[&c.person_id];
        assert!(p.birthdate.legal_age_on(c.examined_on) >= 40, "{c:?}");
        assert!(c.examined_on > today.add_months(-60) && c.examined_on <= today);
    }
    let per_checkup = a.checkup_values.len() / a.checkups.len();
    assert_eq!(per_checkup, 21);
    assert!(
        a.checkup_values
            .iter()
            .all(|v| onshi_core::medical::checkup_item(&v.item_code).is_some())
    );
}

#[test]
fn diabetic_patients_hba1c_rises_over_the_years() {
    let (persons, today) = population();
    let a = medical_batch(7, &persons, today);
    let mut rising = 0;
    let mut falling = 0;
    for p in &persons {
        let on_metformin = a
            .drugs
            .iter()
            .any(|d| d.person_id == p.id && d.drug_code == "620002250");
        if !on_metformin {
            continue;
        }
        let mut series: Vec<(Ymd, f64)> = a
            .checkups
            .iter()
            .filter(|c| c.person_id == p.id)
            .filter_map(|c| {
                a.checkup_values
                    .iter()
                    .find(|v| v.checkup_id == c.id && v.item_code == "3D046000001906202")
                    .map(|v| (c.examined_on, v.value.parse().unwrap()))
            })
            .collect();
        series.sort_by_key(|s| s.0);
        if series.len() >= 3 {
            if series[series.len() - 1].1 > series[0].1 {
                rising += 1;
            } else {
                falling += 1;
            }
            assert!(series.iter().all(|s| s.1 >= 6.0), "{series:?}");
        }
    }
    assert!(
        rising > 3 * falling.max(1),
        "rising {rising}, falling {falling}"
    );
}
