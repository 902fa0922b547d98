//! Medical histories of the synthetic population: claims (レセプト) with their drug,
//! procedure and diagnosis lines, and 特定健診 results.
//!
//! A history is a pure function of the seed and the person (its own RNG stream, seeded from
//! both), so it does not disturb the household generator and can be made for any batch in
//! any order. Horizons follow domain.md §5.2: claims for about 3 years up to about 1.5
//! months before `today` (the claims lag), checkups for 5 years and only from age 40.
//!
//! Chronic conditions become more likely with age; a patient with one visits a home clinic
//! every 4 or 8 weeks and fills the prescription at a pharmacy nearby, and their checkups
//! drift the way such patients' do (HbA1c rising in diabetes, blood pressure coming down
//! once treated). Acute episodes (colds, back pain, …) add short prescriptions. A few older
//! people have an operation. In Tokyo, some patients' home clinic is the demo clinic, so the
//! demo shows 「自院」 prescriptions.
//!
//! Drug codes are 9-digit レセプト電算-style codes made up for the demo (they are not the
//! official master's); names, strengths and usages are ordinary ones. Diagnoses carry
//! ICD-10 codes, operations the 点数表 区分番号 (K…).

use crate::data::PREFS;
use onshi_core::Ymd;
use onshi_core::codes::Sex;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::medical::{Checkup, CheckupValue, Claim, Diagnosis, DrugLine, ProcedureLine};
use onshi_core::model::Person;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The medical records of some people, ready to be inserted together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MedicalBatch {
    pub claims: Vec<Claim>,
    pub drugs: Vec<DrugLine>,
    pub procedures: Vec<ProcedureLine>,
    pub diagnoses: Vec<Diagnosis>,
    pub checkups: Vec<Checkup>,
    pub checkup_values: Vec<CheckupValue>,
}

impl MedicalBatch {
    /// Rows in all tables.
    pub fn rows(&self) -> usize {
        self.claims.len()
            + self.drugs.len()
            + self.procedures.len()
            + self.diagnoses.len()
            + self.checkups.len()
            + self.checkup_values.len()
    }
}

/// Claim ids are `person_id * CLAIMS_PER_PERSON + n`: dense per person and unique.
const CLAIMS_PER_PERSON: i64 = 10_000;

struct Drug {
    code: &'static str,
    name: &'static str,
    ingredient: &'static str,
    quantity: f64,
    unit: &'static str,
    usage: &'static str,
    class: &'static str,
}

const fn drug(
    code: &'static str,
    name: &'static str,
    ingredient: &'static str,
    quantity: f64,
    unit: &'static str,
    usage: &'static str,
    class: &'static str,
) -> Drug {
    Drug {
        code,
        name,
        ingredient,
        quantity,
        unit,
        usage,
        class,
    }
}

const AMLODIPINE: Drug = drug(
    "620001201",
    "アムロジピン錠５ｍｇ",
    "アムロジピンベシル酸塩",
    1.0,
    "錠",
    "１日１回朝食後",
    "21",
);
const OLMESARTAN: Drug = drug(
    "620001317",
    "オルメサルタン錠２０ｍｇ",
    "オルメサルタン　メドキソミル",
    1.0,
    "錠",
    "１日１回朝食後",
    "21",
);
const METFORMIN: Drug = drug(
    "620002250",
    "メトホルミン塩酸塩錠２５０ｍｇ",
    "メトホルミン塩酸塩",
    4.0,
    "錠",
    "１日２回朝夕食後",
    "21",
);
const SITAGLIPTIN: Drug = drug(
    "620002350",
    "シタグリプチン錠５０ｍｇ",
    "シタグリプチンリン酸塩水和物",
    1.0,
    "錠",
    "１日１回朝食後",
    "21",
);
const ROSUVASTATIN: Drug = drug(
    "620003025",
    "ロスバスタチン錠２．５ｍｇ",
    "ロスバスタチンカルシウム",
    1.0,
    "錠",
    "１日１回夕食後",
    "21",
);
const LANSOPRAZOLE: Drug = drug(
    "620004015",
    "ランソプラゾールＯＤ錠１５ｍｇ",
    "ランソプラゾール",
    1.0,
    "錠",
    "１日１回朝食後",
    "21",
);
const MONTELUKAST: Drug = drug(
    "620005010",
    "モンテルカスト錠１０ｍｇ",
    "モンテルカストナトリウム",
    1.0,
    "錠",
    "１日１回就寝前",
    "21",
);
const CARBOCISTEINE: Drug = drug(
    "620006500",
    "カルボシステイン錠５００ｍｇ",
    "Ｌ－カルボシステイン",
    3.0,
    "錠",
    "１日３回毎食後",
    "21",
);
const ACETAMINOPHEN: Drug = drug(
    "620006200",
    "アセトアミノフェン錠２００ｍｇ",
    "アセトアミノフェン",
    2.0,
    "錠",
    "発熱時（１回２錠）",
    "22",
);
const LOXOPROFEN: Drug = drug(
    "620007060",
    "ロキソプロフェンＮａ錠６０ｍｇ",
    "ロキソプロフェンナトリウム水和物",
    3.0,
    "錠",
    "１日３回毎食後",
    "21",
);
const LOXO_TAPE: Drug = drug(
    "620007100",
    "ロキソプロフェンＮａテープ１００ｍｇ",
    "ロキソプロフェンナトリウム水和物",
    1.0,
    "枚",
    "１日１回腰部に貼付",
    "23",
);
const FEXOFENADINE: Drug = drug(
    "620008060",
    "フェキソフェナジン塩酸塩錠６０ｍｇ",
    "フェキソフェナジン塩酸塩",
    2.0,
    "錠",
    "１日２回朝夕食後",
    "21",
);
const REBAMIPIDE: Drug = drug(
    "620009100",
    "レバミピド錠１００ｍｇ",
    "レバミピド",
    3.0,
    "錠",
    "１日３回毎食後",
    "21",
);
const BIOFERMIN: Drug = drug(
    "620009300",
    "ビフィズス菌製剤錠",
    "ビフィズス菌",
    3.0,
    "錠",
    "１日３回毎食後",
    "21",
);

struct Condition {
    icd10: &'static str,
    name: &'static str,
    drugs: &'static [&'static Drug],
}

const HYPERTENSION: Condition = Condition {
    icd10: "I10",
    name: "本態性高血圧症",
    drugs: &[&AMLODIPINE, &OLMESARTAN],
};
const DIABETES: Condition = Condition {
    icd10: "E11.9",
    name: "２型糖尿病",
    drugs: &[&METFORMIN, &SITAGLIPTIN],
};
const DYSLIPIDEMIA: Condition = Condition {
    icd10: "E78.5",
    name: "脂質異常症",
    drugs: &[&ROSUVASTATIN],
};
const GERD: Condition = Condition {
    icd10: "K21.9",
    name: "逆流性食道炎",
    drugs: &[&LANSOPRAZOLE],
};
const ASTHMA: Condition = Condition {
    icd10: "J45.9",
    name: "気管支喘息",
    drugs: &[&MONTELUKAST],
};

struct Episode {
    icd10: &'static str,
    name: &'static str,
    drugs: &'static [&'static Drug],
    days: i32,
}

const EPISODES: &[Episode] = &[
    Episode {
        icd10: "J06.9",
        name: "急性上気道炎",
        drugs: &[&CARBOCISTEINE, &ACETAMINOPHEN],
        days: 5,
    },
    Episode {
        icd10: "M54.5",
        name: "腰痛症",
        drugs: &[&LOXOPROFEN, &REBAMIPIDE, &LOXO_TAPE],
        days: 7,
    },
    Episode {
        icd10: "J30.4",
        name: "アレルギー性鼻炎",
        drugs: &[&FEXOFENADINE],
        days: 14,
    },
    Episode {
        icd10: "A09",
        name: "感染性胃腸炎",
        drugs: &[&BIOFERMIN],
        days: 5,
    },
];

struct Operation {
    code: &'static str,
    name: &'static str,
    icd10: &'static str,
    disease: &'static str,
    min_age: u16,
    chance: f64,
}

const OPERATIONS: &[Operation] = &[
    Operation {
        code: "K282",
        name: "水晶体再建術（眼内レンズを挿入する場合）",
        icd10: "H25.9",
        disease: "老人性白内障",
        min_age: 60,
        chance: 0.03,
    },
    Operation {
        code: "K721",
        name: "内視鏡的大腸ポリープ・粘膜切除術",
        icd10: "D12.6",
        disease: "大腸ポリープ",
        min_age: 45,
        chance: 0.02,
    },
    Operation {
        code: "K634",
        name: "腹腔鏡下鼠径ヘルニア手術（両側）",
        icd10: "K40.2",
        disease: "両側鼠径ヘルニア",
        min_age: 40,
        chance: 0.008,
    },
];

/// 診療行為 of a revisit (codes in the 9-digit レセ電 style, made up for the demo).
const REVISIT: (&str, &str) = ("112007410", "再診料");
const FIRST_VISIT: (&str, &str) = ("111000110", "初診料");
const MANAGEMENT: (&str, &str) = ("112011010", "外来管理加算");
const PRESCRIPTION: (&str, &str) = ("120002910", "処方箋料（その他）");
const CHRONIC_CARE: (&str, &str) = ("113001810", "特定疾患療養管理料（診療所）");
const HBA1C_TEST: (&str, &str) = ("160010010", "ＨｂＡ１ｃ");
const LIPID_TEST: (&str, &str) = ("160019010", "ＬＤＬ－コレステロール");
const ADMISSION: (&str, &str) = ("190117710", "急性期一般入院料１");

/// The demo clinic and pharmacy (see `master::facilities`).
const DEMO_CLINIC: (&str, &str) = ("131123456", "オンシ内科クリニック");
const DEMO_PHARMACY: (&str, &str) = ("134123457", "オンシ薬局");

const CLINIC_KINDS: &[&str] = &["内科クリニック", "医院", "内科", "ファミリークリニック"];
const HOSPITAL_KINDS: &[&str] = &["総合病院", "中央病院", "市民病院"];
const PHARMACY_KINDS: &[&str] = &["薬局", "調剤薬局", "ファーマシー"];
const PLACE_WORDS: &[&str] = &[
    "さくら",
    "みどり",
    "ひかり",
    "あおば",
    "すずらん",
    "かえで",
    "つばさ",
    "ひまわり",
    "わかば",
    "いずみ",
    "たちばな",
    "こもれび",
];

#[derive(Clone)]
struct Place {
    code: String,
    name: String,
}

fn place(pref: u8, table: u8, serial: u32, name: String) -> Place {
    let body = format!("{pref:02}{table}{:06}", serial % 1_000_000);
    let code = MedicalInstitutionCode::with_check_digit(&body)
        .map(|c| c.as_str().to_string())
        .unwrap_or(body);
    Place { code, name }
}

fn demo_place((body, name): (&str, &str)) -> Place {
    let code = MedicalInstitutionCode::with_check_digit(body)
        .map(|c| c.as_str().to_string())
        .unwrap_or_else(|_| body.to_string());
    Place {
        code,
        name: name.to_string(),
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

fn month_of(d: Ymd) -> String {
    format!("{:04}{:02}", d.year(), d.month())
}

/// The prefecture code of an address written the way the generator writes them.
fn prefecture_of(address: &str) -> u8 {
    PREFS
        .iter()
        .find(|p| address.starts_with(p.name))
        .map(|p| p.code)
        .unwrap_or(13)
}

struct Builder<'a> {
    person: &'a Person,
    out: &'a mut MedicalBatch,
    next_claim: i64,
    /// Open claims by (facility, month): a claim covers one facility-month.
    open: std::collections::HashMap<(String, String), i64>,
}

impl Builder<'_> {
    fn claim(
        &mut self,
        at: &Place,
        kind: &str,
        on: Ymd,
        prescriber: Option<&Place>,
        in_out: &str,
    ) -> i64 {
        let key = (at.code.clone(), month_of(on));
        if let Some(id) = self.open.get(&key) {
            return *id;
        }
        let id = self.person.id * CLAIMS_PER_PERSON + self.next_claim;
        self.next_claim += 1;
        self.out.claims.push(Claim {
            id,
            person_id: self.person.id,
            kind: kind.to_string(),
            month: key.1.clone(),
            facility_code: at.code.clone(),
            facility_name: at.name.clone(),
            prescriber_code: prescriber.map(|p| p.code.clone()),
            prescriber_name: prescriber.map(|p| p.name.clone()),
            in_out: in_out.to_string(),
        });
        self.open.insert(key, id);
        id
    }

    fn procedure(&mut self, claim_id: i64, on: Ymd, kind: &str, (code, name): (&str, &str)) {
        self.out.procedures.push(ProcedureLine {
            claim_id,
            person_id: self.person.id,
            performed_on: on,
            kind: kind.to_string(),
            code: code.to_string(),
            name: name.to_string(),
            times: 1,
        });
    }

    fn diagnosis(&mut self, claim_id: i64, code: &str, name: &str, since: Ymd, outcome: &str) {
        // A claim names each diagnosis once.
        if self
            .out
            .diagnoses
            .iter()
            .rev()
            .take_while(|d| d.claim_id == claim_id)
            .any(|d| d.code == code)
        {
            return;
        }
        self.out.diagnoses.push(Diagnosis {
            claim_id,
            person_id: self.person.id,
            code: code.to_string(),
            name: name.to_string(),
            started_on: since,
            outcome: outcome.to_string(),
        });
    }

    /// A visit with an out-of-house prescription filled the same day at `pharmacy`.
    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        clinic: &Place,
        pharmacy: &Place,
        on: Ymd,
        first: bool,
        diagnoses: &[(&str, &str, Ymd, &str)],
        drugs: &[(&Drug, i32)],
        extra: &[(&str, &str)],
    ) {
        let claim = self.claim(clinic, "1", on, None, "2");
        self.procedure(
            claim,
            on,
            "treatment",
            if first { FIRST_VISIT } else { REVISIT },
        );
        if !first {
            self.procedure(claim, on, "treatment", MANAGEMENT);
        }
        for e in extra {
            self.procedure(claim, on, "treatment", *e);
        }
        for (code, name, since, outcome) in diagnoses {
            self.diagnosis(claim, code, name, *since, outcome);
        }
        if drugs.is_empty() {
            return;
        }
        self.procedure(claim, on, "treatment", PRESCRIPTION);
        let rx = self.claim(pharmacy, "4", on, Some(clinic), "2");
        for (d, days) in drugs {
            self.out.drugs.push(DrugLine {
                claim_id: rx,
                person_id: self.person.id,
                dispensed_on: on,
                prescribed_on: on,
                drug_code: d.code.to_string(),
                drug_name: d.name.to_string(),
                ingredient: d.ingredient.to_string(),
                quantity: d.quantity,
                unit: d.unit.to_string(),
                usage: d.usage.to_string(),
                days: *days,
                class: d.class.to_string(),
            });
        }
    }
}

/// Appends the medical history of `person` as of `today` to `out`.
pub fn medical_history(seed: u64, person: &Person, today: Ymd, out: &mut MedicalBatch) {
    let mix = seed ^ (person.id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6d65_6469;
    let mut rng = ChaCha8Rng::seed_from_u64(mix);
    let age = person.birthdate.legal_age_on(today);
    let pref = prefecture_of(&person.address);
    let area_serial: u32 = rng.random_range(0..2_000);
    let word = *pick(&mut rng, PLACE_WORDS);
    let demo_patient = pref == 13 && rng.random_bool(0.25);
    let (clinic, pharmacy) = if demo_patient {
        (demo_place(DEMO_CLINIC), demo_place(DEMO_PHARMACY))
    } else {
        (
            place(
                pref,
                1,
                100_000 + area_serial,
                format!("{word}{}", pick(&mut rng, CLINIC_KINDS)),
            ),
            place(
                pref,
                4,
                100_000 + area_serial,
                format!("{word}{}", pick(&mut rng, PHARMACY_KINDS)),
            ),
        )
    };
    let hospital = place(
        pref,
        1,
        900_000 + area_serial / 50,
        format!(
            "{}{}",
            PREFS[usize::from(pref.saturating_sub(1)).min(46)]
                .name
                .trim_end_matches(['都', '府', '県']),
            pick(&mut rng, HOSPITAL_KINDS)
        ),
    );

    let a = f64::from(age);
    let chance = |x: f64| x.clamp(0.0, 1.0);
    let hypertension = rng.random_bool(chance((a - 30.0) * 0.012));
    let diabetes = rng.random_bool(chance((a - 35.0) * 0.005));
    let dyslipidemia = rng.random_bool(chance((a - 30.0) * 0.008));
    let gerd = age >= 20 && rng.random_bool(0.04);
    let asthma = age >= 12 && rng.random_bool(0.04);

    let mut b = Builder {
        person,
        out,
        next_claim: 0,
        open: Default::default(),
    };
    // Claims arrive about 1.5 months after the month of care.
    let last = today.add_days(-45);
    let first = today.add_months(-36).first_day_of_month();

    let mut chronic: Vec<&Condition> = Vec::new();
    for (has, c) in [
        (hypertension, &HYPERTENSION),
        (diabetes, &DIABETES),
        (dyslipidemia, &DYSLIPIDEMIA),
        (gerd, &GERD),
        (asthma, &ASTHMA),
    ] {
        if has {
            chronic.push(c);
        }
    }
    if !chronic.is_empty() {
        // Onset: most before the horizon, some during it.
        let onset = today.add_days(-rng.random_range(60..3_000));
        let interval: i32 = if rng.random_bool(0.5) { 28 } else { 56 };
        let mut on = if onset > first {
            onset
        } else {
            first.add_days(rng.random_range(0..i64::from(interval)))
        };
        let mut first_visit = onset > first;
        let diagnoses: Vec<(&str, &str, Ymd, &str)> = chronic
            .iter()
            .map(|c| (c.icd10, c.name, onset, ""))
            .collect();
        let mut drugs: Vec<(&Drug, i32)> = Vec::new();
        for c in &chronic {
            // A second drug for some (the more severe).
            drugs.push((c.drugs[0], interval));
            if c.drugs.len() > 1 && rng.random_bool(0.4) {
                drugs.push((c.drugs[1], interval));
            }
        }
        let mut n = 0;
        while on <= last {
            let mut extra = vec![CHRONIC_CARE];
            if diabetes && n % 3 == 0 {
                extra.push(HBA1C_TEST);
            }
            if dyslipidemia && n % 6 == 0 {
                extra.push(LIPID_TEST);
            }
            b.visit(
                &clinic,
                &pharmacy,
                on,
                first_visit,
                &diagnoses,
                &drugs,
                &extra,
            );
            first_visit = false;
            n += 1;
            on = on.add_days(i64::from(interval) + rng.random_range(-3..=3));
        }
    }

    // Acute episodes: a few a year, more for children and the old.
    let per_year = if !(6..70).contains(&age) { 2.0 } else { 1.0 };
    let days_span = (last.0 - first.0).whole_days().max(1);
    let episodes = (0..6)
        .filter(|_| rng.random_bool(chance(per_year * 3.0 / 6.0 * 0.5)))
        .count();
    for _ in 0..episodes {
        let on = first.add_days(rng.random_range(0..days_span));
        let e = pick(&mut rng, EPISODES);
        if e.icd10 == "M54.5" && age < 15 {
            continue;
        }
        let drugs: Vec<(&Drug, i32)> = e.drugs.iter().map(|d| (*d, e.days)).collect();
        b.visit(
            &clinic,
            &pharmacy,
            on,
            true,
            &[(e.icd10, e.name, on, "1")],
            &drugs,
            &[],
        );
    }

    // Operations, at the regional hospital.
    for op in OPERATIONS {
        if age >= op.min_age && rng.random_bool(op.chance) {
            let on = first.add_days(rng.random_range(0..days_span));
            let claim = b.claim(&hospital, "1", on, None, "1");
            b.procedure(claim, on, "treatment", ADMISSION);
            b.procedure(claim, on, "surgery", (op.code, op.name));
            b.diagnosis(claim, op.icd10, op.disease, on, "1");
        }
    }

    checkups(
        &mut rng,
        person,
        today,
        &clinic,
        (hypertension, diabetes, dyslipidemia),
        b.out,
    );
}

/// Five years of 特定健診 from age 40, with per-person baselines and trends.
fn checkups(
    rng: &mut ChaCha8Rng,
    person: &Person,
    today: Ymd,
    clinic: &Place,
    (hypertension, diabetes, dyslipidemia): (bool, bool, bool),
    out: &mut MedicalBatch,
) {
    if !rng.random_bool(0.7) {
        return;
    }
    let male = person.sex == Sex::Male;
    let month = rng.random_range(5..=11u8);
    let day = rng.random_range(1..=28u8);
    let height: f64 = if male {
        rng.random_range(160.0..182.0)
    } else {
        rng.random_range(148.0..168.0)
    };
    let bmi0: f64 = rng.random_range(19.0..27.5) + if diabetes { 2.0 } else { 0.0 };
    let weight_drift: f64 = rng.random_range(-0.6..0.9);
    let hba1c0: f64 = if diabetes {
        rng.random_range(6.3..7.2)
    } else {
        rng.random_range(5.0..5.8)
    };
    let hba1c_trend: f64 = if diabetes {
        rng.random_range(0.05..0.3)
    } else {
        rng.random_range(-0.02..0.06)
    };
    let sbp0: f64 = if hypertension {
        rng.random_range(140.0..165.0)
    } else {
        rng.random_range(105.0..132.0)
    };
    // Treated hypertension comes down by a few mmHg a year.
    let sbp_trend: f64 = if hypertension {
        rng.random_range(-5.0..-1.0)
    } else {
        rng.random_range(-0.5..1.5)
    };
    let ldl0: f64 = if dyslipidemia {
        rng.random_range(150.0..190.0)
    } else {
        rng.random_range(80.0..135.0)
    };
    let ldl_trend: f64 = if dyslipidemia {
        rng.random_range(-15.0..-5.0)
    } else {
        rng.random_range(-2.0..3.0)
    };
    let hdl0: f64 = if male {
        rng.random_range(38.0..65.0)
    } else {
        rng.random_range(48.0..80.0)
    };
    let tg0: f64 = rng.random_range(60.0..190.0);
    let ast0: f64 = rng.random_range(15.0..32.0);
    let alt0: f64 = rng.random_range(10.0..38.0);
    let ggt0: f64 = if male {
        rng.random_range(15.0..80.0)
    } else {
        rng.random_range(10.0..40.0)
    };
    let smoker = rng.random_bool(if male { 0.27 } else { 0.08 });

    for (i, years_ago) in (0..5).rev().enumerate() {
        let year = today.year() - years_ago;
        let Ok(on) = Ymd::from_ymd(year, month, day) else {
            continue;
        };
        if on > today || person.birthdate.legal_age_on(on) < 40 || !rng.random_bool(0.85) {
            continue;
        }
        let t = i as f64;
        let noise = |rng: &mut ChaCha8Rng, s: f64| rng.random_range(-s..=s);
        let bmi = bmi0 + weight_drift * t * 0.3 + noise(rng, 0.3);
        let weight = bmi * (height / 100.0).powi(2);
        let waist = 60.0 + bmi * 1.1 + if male { 3.0 } else { 0.0 } + noise(rng, 1.5);
        let hba1c = hba1c0 + hba1c_trend * t + noise(rng, 0.1);
        let sbp = sbp0 + sbp_trend * t + noise(rng, 6.0);
        let dbp = sbp * 0.62 + noise(rng, 4.0);
        let ldl = ldl0 + ldl_trend * t + noise(rng, 8.0);
        let hdl = hdl0 + noise(rng, 4.0);
        let tg = tg0 + noise(rng, 25.0);
        let ast = ast0 + noise(rng, 3.0);
        let alt = alt0 + noise(rng, 4.0);
        let ggt = ggt0 + noise(rng, 6.0);
        let urine_sugar = if hba1c >= 7.5 { "3" } else { "1" };
        let metabo = if waist >= if male { 85.0 } else { 90.0 } {
            if (sbp >= 130.0) as u8 + (hba1c >= 6.0) as u8 + (tg >= 150.0 || hdl < 40.0) as u8 >= 2
            {
                "1"
            } else {
                "2"
            }
        } else {
            "3"
        };
        let guidance = match metabo {
            "1" => "1",
            "2" => "2",
            _ => "3",
        };
        let id = person.id * 10 + i as i64;
        out.checkups.push(Checkup {
            id,
            person_id: person.id,
            examined_on: on,
            facility_code: clinic.code.clone(),
            facility_name: clinic.name.clone(),
        });
        let yes_no = |b: bool| if b { "1" } else { "2" }.to_string();
        let values: [(&str, String); 21] = [
            ("9N001000000000001", format!("{height:.1}")),
            ("9N006000000000001", format!("{weight:.1}")),
            ("9N011000000000001", format!("{bmi:.1}")),
            ("9N016160100000001", format!("{waist:.1}")),
            ("9A751000000000001", format!("{sbp:.0}")),
            ("9A761000000000001", format!("{dbp:.0}")),
            ("3F015000002327101", format!("{tg:.0}")),
            ("3F070000002327101", format!("{hdl:.0}")),
            ("3F077000002327101", format!("{ldl:.0}")),
            ("3B035000002327201", format!("{ast:.0}")),
            ("3B045000002327201", format!("{alt:.0}")),
            ("3B090000002327101", format!("{ggt:.0}")),
            ("3D046000001906202", format!("{hba1c:.1}")),
            ("1A020000000191111", urine_sugar.to_string()),
            ("1A010000000191111", "1".to_string()),
            ("9N701000000000011", yes_no(hypertension)),
            ("9N706000000000011", yes_no(diabetes)),
            ("9N711000000000011", yes_no(dyslipidemia)),
            ("9N736000000000011", yes_no(smoker)),
            ("9N501000000000011", metabo.to_string()),
            ("9N506000000000011", guidance.to_string()),
        ];
        for (code, value) in values {
            out.checkup_values.push(CheckupValue {
                checkup_id: id,
                person_id: person.id,
                item_code: code.to_string(),
                value,
            });
        }
    }
}

/// The histories of a batch of people.
pub fn medical_batch(seed: u64, persons: &[Person], today: Ymd) -> MedicalBatch {
    let mut out = MedicalBatch::default();
    for p in persons {
        medical_history(seed, p, today, &mut out);
    }
    out
}
