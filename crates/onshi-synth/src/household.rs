//! Household generation: one [`Plan`] (who lives together, where, which coverage, what
//! happens to them) is drawn first, then [`Gen::household`] turns it into records.
//!
//! Splitting the two lets the forced "showcase" households (the samples every population
//! must contain, see `lib.rs`) go through exactly the same code as random ones: a showcase
//! is just a hand-written plan. All randomness comes from one ChaCha stream consumed in
//! household order, so output depends only on the seed, the people count and `today`,
//! not on the batch size.
//!
//! Card numbers come from per-insurer counters ([`AllocState`]) that only move forward,
//! which makes (insurer, 記号, 番号, 枝番) unique without any lookup table. A household that
//! is "not registered yet" still consumes its numbers: its card data is the `not_found`
//! sample, a plausible number that no qualification holds.
//!
//! 枝番 convention: in employee insurance the 被保険者 (本人) is "00" and dependants are
//! "01", "02", … in household order; in 国保 every member is a 被保険者 and members are
//! numbered "01", "02", … (the head first); 後期 numbers are personal and have no 枝番.

use onshi_core::Ymd;
use onshi_core::burden::{self, IncomeCategory};
use onshi_core::codes::{
    InsuredCardClassification, LimitCertificateClassification, LimitClassificationFlag,
    PersonalFamilyClassification, ReasonOfLoss, Sex, SpecificDiseaseCategory,
};
use onshi_core::ids::{InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber};
use onshi_core::model::{
    ElderlyRecipient, InsurerKind, LimitCertificate, Person, Qualification, SpecificDisease,
};
use onshi_core::text::to_halfwidth_kana;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{
    BUILDINGS, FAMILY_NAMES, FEMALE_MID, FEMALE_OLD, FEMALE_YOUNG, MALE_MID, MALE_OLD, MALE_YOUNG,
    PREFS, RARE_FAMILY_NAMES, TOWNS,
};
use crate::master::{Directory, Layout};
use crate::{Batch, CaseCounts, Sample};

/// Which coverage a household's working-age group has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coverage {
    Kyokai,
    Kumiai,
    Kyosai,
    Kokuho,
}

impl Coverage {
    fn is_employee(self) -> bool {
        self != Coverage::Kokuho
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Normal,
    /// Lost the previous qualification (03) and holds a new one at another insurer.
    JobChange,
    /// Lost without a successor (99).
    Lost,
    /// Exists in the registry; the insurer has not registered the qualification yet.
    NotRegistered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Head,
    Spouse,
    Child,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameChoice {
    Random,
    Rare,
    RareIndex(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct MemberSpec {
    pub age: u16,
    /// Days before the `age`-th anniversary (0..365): the birth date is
    /// `today − age years − day_offset days`. Twins share age and offset.
    pub day_offset: u16,
    pub sex: Sex,
    pub role: Role,
    pub force_limit: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub pref: usize,
    pub city: usize,
    pub name: NameChoice,
    pub members: Vec<MemberSpec>,
    pub coverage: Coverage,
    pub fate: Fate,
    /// For a job change: the previous coverage (random when `None`).
    pub old_coverage: Option<Coverage>,
    /// Showcase plans switch off random adverse events (death, short-term cards, …)
    /// so that their samples hold on any seed.
    pub forced: bool,
}

/// A name with its reading converted once to half-width katakana.
struct NameEntry {
    kanji: &'static str,
    kana: String,
}

fn entries(list: &[(&'static str, &'static str)]) -> Vec<NameEntry> {
    list.iter()
        .map(|(k, r)| NameEntry {
            kanji: k,
            kana: to_halfwidth_kana(r),
        })
        .collect()
}

/// Cumulative weights for a rank-ordered list: weight ∝ 1 / (rank + 8).
fn rank_cum(n: usize) -> Vec<u32> {
    let mut total = 0u32;
    (0..n)
        .map(|i| {
            total += 100_000 / (i as u32 + 8);
            total
        })
        .collect()
}

fn pick_cum(cum: &[u32], rng: &mut impl Rng) -> usize {
    let total = *cum.last().expect("weight tables are not empty");
    let x = rng.random_range(0..total);
    cum.partition_point(|&c| c <= x)
}

/// Head-of-household age bands 20–24, 25–29, …, 95–99 (tuned so that the population has
/// roughly Japan's shape: ~12 % under 15, ~29 % 65 and over).
const HEAD_BANDS: [u32; 16] = [
    24, 40, 48, 54, 56, 58, 58, 54, 48, 48, 54, 50, 44, 33, 15, 4,
];

struct Tables {
    family: Vec<NameEntry>,
    family_cum: Vec<u32>,
    rare: Vec<NameEntry>,
    /// `given[sex][era]`, sex 0 male 1 female, era 0 (<1960) 1 (<1990) 2.
    given: [[Vec<NameEntry>; 3]; 2],
    pref_cum: Vec<u32>,
    band_cum: Vec<u32>,
}

impl Tables {
    fn new() -> Self {
        let mut total = 0;
        let pref_cum = PREFS
            .iter()
            .map(|p| {
                total += p.weight;
                total
            })
            .collect();
        let mut total = 0;
        let band_cum = HEAD_BANDS
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Tables {
            family: entries(FAMILY_NAMES),
            family_cum: rank_cum(FAMILY_NAMES.len()),
            rare: entries(RARE_FAMILY_NAMES),
            given: [
                [entries(MALE_OLD), entries(MALE_MID), entries(MALE_YOUNG)],
                [
                    entries(FEMALE_OLD),
                    entries(FEMALE_MID),
                    entries(FEMALE_YOUNG),
                ],
            ],
            pref_cum,
            band_cum,
        }
    }
}

/// Card data as the insurer assigned it (strings as printed).
#[derive(Debug, Clone)]
struct Card {
    insurer: usize,
    symbol: Option<String>,
    number: String,
}

/// Forward-only number counters of one insurer.
#[derive(Debug, Clone, Default)]
struct AllocState {
    /// Employers created so far (協会けんぽ / 健保組合).
    employers: u32,
    /// Members the current employer still takes.
    left: u32,
    next_in_employer: u64,
    symbol: String,
    /// Next number for insurers numbering globally (共済, 国保, 後期); 0 = not started.
    next: u64,
}

fn push_u64(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

fn push_padded(s: &mut String, n: u64, width: usize) {
    let mut digits = String::with_capacity(20);
    push_u64(&mut digits, n);
    for _ in digits.len()..width {
        s.push('0');
    }
    s.push_str(&digits);
}

/// Full-width digits, as 住民票-style addresses print them.
fn push_fw(s: &mut String, n: u64) {
    let mut digits = String::with_capacity(20);
    push_u64(&mut digits, n);
    for b in digits.bytes() {
        s.push(char::from_u32(0xFF10 + u32::from(b - b'0')).expect("full-width digits exist"));
    }
}

fn ymd(y: i32, m: u8, d: u8) -> Ymd {
    Ymd::from_ymd(y, m, d).expect("constant month/day combinations are valid")
}

/// The first 31 July on or after `d` (limit certificates and many cards renew on 1 August).
fn july_end_after(d: Ymd) -> Ymd {
    let this = ymd(d.year(), 7, 31);
    if this >= d {
        this
    } else {
        ymd(d.year() + 1, 7, 31)
    }
}

/// Sample cases, in the order of [`CASE_NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Valid = 0,
    Lost,
    NewQualification,
    NotFound,
    Multiple,
    Elderly,
    Late,
    Preschool,
    Limit,
    Rare,
}

/// The `case` values of [`crate::Sample`].
pub const CASE_NAMES: [&str; 10] = [
    "valid",
    "lost",
    "new_qualification",
    "not_found",
    "multiple",
    "elderly_70_74",
    "late_elderly_75",
    "preschool",
    "limit_certificate",
    "rare_kanji",
];

/// Samples kept per case (the showcase provides the first).
const SAMPLES_PER_CASE: u8 = 3;

/// What one household member became, as indices into the batch vectors.
#[derive(Clone)]
struct MemberOut {
    person: usize,
    birth: Ymd,
    current: Option<usize>,
    old: Option<usize>,
    unregistered: Option<(Card, Option<u8>)>,
    elderly: Option<usize>,
    limit: Option<usize>,
    twin: bool,
}

pub(crate) struct Gen<'a> {
    dir: &'a Directory,
    t: Tables,
    rng: ChaCha8Rng,
    alloc: Vec<AllocState>,
    today: Ymd,
    /// Cards must be valid until at least this day for a "valid"-type sample.
    valid_horizon: Ymd,
    next_person: i64,
    next_qual: i64,
    pub persons: usize,
    pub qualifications: usize,
    pub counts: CaseCounts,
    pub samples: Vec<Sample>,
    sample_count: [u8; 10],
}

impl<'a> Gen<'a> {
    pub fn new(seed: u64, today: Ymd, dir: &'a Directory) -> Self {
        Gen {
            dir,
            t: Tables::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x05E1_F00D_0000_0001),
            alloc: vec![AllocState::default(); dir.entries.len()],
            today,
            valid_horizon: today.add_months(12),
            next_person: 1,
            next_qual: 1,
            persons: 0,
            qualifications: 0,
            counts: CaseCounts::default(),
            samples: Vec::new(),
            sample_count: [0; 10],
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn days(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        }
    }

    // ---------------------------------------------------------------- plans

    /// A random household of at most `max_people` (≥ 1) people.
    pub fn random_plan(&mut self, max_people: usize) -> Plan {
        let pref = pick_cum(&self.t.pref_cum, &mut self.rng);
        let city = self.rng.random_range(0..PREFS[pref].cities.len());
        let band = pick_cum(&self.t.band_cum, &mut self.rng) as u16;
        let head_age = 20 + band * 5 + self.rng.random_range(0..5);
        let roll = self.rng.random_range(0..100u32);
        // (single, couple) thresholds; the rest are couples with children.
        let (single, couple) = match head_age {
            0..30 => (62, 82),
            30..40 => (28, 40),
            40..50 => (22, 34),
            50..60 => (26, 60),
            60..70 => (30, 92),
            _ => (42, 100),
        };
        let single_hh = roll < single;
        let with_children = roll >= couple;
        let head_male = if single_hh {
            if head_age >= 65 {
                self.chance(0.35)
            } else {
                self.chance(0.55)
            }
        } else {
            self.chance(0.88)
        };
        let sex = |male: bool| if male { Sex::Male } else { Sex::Female };
        let mut members = vec![MemberSpec {
            age: head_age,
            day_offset: self.rng.random_range(0..365),
            sex: sex(head_male),
            role: Role::Head,
            force_limit: false,
        }];
        let mut mother_age = if head_male { None } else { Some(head_age) };
        if !single_hh {
            let delta: i32 = if head_male {
                self.rng.random_range(-6..=2)
            } else {
                self.rng.random_range(-2..=6)
            };
            let age = (i32::from(head_age) + delta).max(19) as u16;
            if !head_male || mother_age.is_none() {
                mother_age = Some(if head_male { age } else { head_age });
            }
            members.push(MemberSpec {
                age,
                day_offset: self.rng.random_range(0..365),
                sex: sex(!head_male),
                role: Role::Spouse,
                force_limit: false,
            });
        }
        if with_children && let Some(m) = mother_age {
            // Children of mothers who gave birth at 24–40, living at home up to 22.
            let n = match self.rng.random_range(0..100) {
                0..45 => 1,
                45..90 => 2,
                _ => 3,
            };
            for _ in 0..n {
                let age = i32::from(m) - self.rng.random_range(24..=40);
                if !(0..=22).contains(&age) {
                    continue;
                }
                members.push(MemberSpec {
                    age: age as u16,
                    day_offset: self.rng.random_range(0..365),
                    sex: sex(self.chance(0.51)),
                    role: Role::Child,
                    force_limit: false,
                });
            }
            if let Some(first) = members.iter().position(|m| m.role == Role::Child)
                && self.chance(0.025)
            {
                let mut twin = members[first].clone();
                twin.sex = sex(self.chance(0.5));
                members.insert(first + 1, twin);
            }
        }
        members.truncate(max_people.max(1));
        let coverage = if head_age < 65 && self.chance(0.72) || head_age >= 65 && self.chance(0.22)
        {
            match self.rng.random_range(0..100) {
                0..55 => Coverage::Kyokai,
                55..88 => Coverage::Kumiai,
                _ => Coverage::Kyosai,
            }
        } else {
            Coverage::Kokuho
        };
        let fate = if head_age >= 75 {
            Fate::Normal
        } else if self.chance(0.011) {
            Fate::NotRegistered
        } else if head_age < 70 && self.chance(if coverage.is_employee() { 0.085 } else { 0.06 }) {
            Fate::JobChange
        } else if members.len() == 1 && self.chance(0.05) {
            Fate::Lost
        } else {
            Fate::Normal
        };
        let name = if self.chance(0.005) {
            NameChoice::Rare
        } else {
            NameChoice::Random
        };
        Plan {
            pref,
            city,
            name,
            members,
            coverage,
            fate,
            old_coverage: None,
            forced: false,
        }
    }

    // ---------------------------------------------------------------- numbers

    fn allocate(&mut self, ins: usize) -> Card {
        let entry = &self.dir.entries[ins];
        let st = &mut self.alloc[ins];
        let rng = &mut self.rng;
        let mut number = String::with_capacity(10);
        let symbol = match &entry.layout {
            Layout::Kyokai | Layout::Kumiai => {
                let kyokai = matches!(entry.layout, Layout::Kyokai);
                if st.left == 0 {
                    let idx = st.employers;
                    st.employers += 1;
                    st.symbol.clear();
                    if kyokai {
                        // Injective in idx: 7_654_321 is coprime with 90_000_000.
                        let salt = entry.pref as u64 * 1_234_567;
                        let v = (u64::from(idx) * 7_654_321 + salt) % 90_000_000 + 10_000_000;
                        push_u64(&mut st.symbol, v);
                    } else {
                        push_u64(&mut st.symbol, u64::from(idx.min(9_998)) + 1);
                    }
                    // Size of the employer (members, counting families as one number).
                    st.left = if !kyokai && idx >= 9_998 {
                        u32::MAX
                    } else if rng.random_bool(0.7) {
                        rng.random_range(1..=30)
                    } else {
                        rng.random_range(30..=400)
                    };
                    st.next_in_employer = rng.random_range(1..=20);
                }
                st.left -= 1;
                push_u64(&mut number, st.next_in_employer);
                st.next_in_employer += rng.random_range(1..=3);
                Some(st.symbol.clone())
            }
            Layout::Kyosai { symbols, base } => {
                if st.next == 0 {
                    st.next = base + rng.random_range(1..=999);
                }
                push_u64(&mut number, st.next);
                st.next += rng.random_range(1..=3);
                Some(symbols[rng.random_range(0..symbols.len())].clone())
            }
            Layout::Kokuho { symbol, base } => {
                if st.next == 0 {
                    st.next = *base;
                }
                push_u64(&mut number, st.next);
                st.next += rng.random_range(1..=4);
                Some(symbol.clone())
            }
            Layout::Late { base } => {
                if st.next == 0 {
                    st.next = base + rng.random_range(1..=99_999);
                }
                push_u64(&mut number, st.next);
                st.next += rng.random_range(1..=3);
                None
            }
        };
        Card {
            insurer: ins,
            symbol,
            number,
        }
    }

    fn insurer_for(&mut self, cov: Coverage, pref: usize, city: usize) -> usize {
        match cov {
            Coverage::Kyokai => self.dir.kyokai_by_pref[pref],
            Coverage::Kumiai => self.dir.pick_kumiai(&mut self.rng),
            Coverage::Kyosai => self.dir.pick_kyosai(pref, &mut self.rng),
            Coverage::Kokuho => self.dir.kokuho_by_city[pref][city],
        }
    }

    // ---------------------------------------------------------------- people

    fn birth(&self, age: u16, offset: u16) -> Ymd {
        self.today
            .add_months(-i32::from(age) * 12)
            .add_days(-i64::from(offset))
    }

    fn address(&mut self, pref: usize, city: usize) -> (String, String) {
        let p = &PREFS[pref];
        let mut a = String::with_capacity(96);
        a.push_str(p.name);
        a.push_str(p.cities[city]);
        a.push_str(TOWNS[self.rng.random_range(0..TOWNS.len())]);
        push_fw(&mut a, self.rng.random_range(1..=6));
        a.push_str("丁目");
        push_fw(&mut a, self.rng.random_range(1..=30));
        a.push('番');
        push_fw(&mut a, self.rng.random_range(1..=25));
        a.push('号');
        if self.chance(0.3) {
            a.push('\u{3000}');
            a.push_str(BUILDINGS[self.rng.random_range(0..BUILDINGS.len())]);
            push_fw(
                &mut a,
                u64::from(self.rng.random_range(1..=12u32)) * 100 + self.rng.random_range(1..=12),
            );
            a.push_str("号室");
        }
        let mut post = String::with_capacity(8);
        push_padded(&mut post, (u64::from(p.post) + city as u64) % 1000, 3);
        post.push('-');
        push_padded(&mut post, self.rng.random_range(0..10_000), 4);
        (a, post)
    }

    // ---------------------------------------------------------------- records

    fn card_dates(&mut self, kind: InsurerKind, qual: Ymd, short: bool) -> (Ymd, Ymd, Option<Ymd>) {
        let today = self.today;
        match kind {
            InsurerKind::KyokaiKenpo | InsurerKind::KenpoKumiai | InsurerKind::Kyosai => {
                let issued = qual.add_days(self.days(3, 20)).min(today);
                (issued, qual, None)
            }
            InsurerKind::Kokuho | InsurerKind::LateElderly => {
                let back = self.days(20, 700);
                let issued = today.add_days(-back).max(qual);
                let to = if short {
                    today
                        .add_months(self.rng.random_range(1..=6))
                        .last_day_of_month()
                } else {
                    let extra = if kind == InsurerKind::Kokuho { 2 } else { 1 };
                    let base = july_end_after(self.valid_horizon);
                    ymd(base.year() + self.rng.random_range(0..=extra), 7, 31)
                };
                (issued, issued, Some(to))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn qualification(
        &mut self,
        batch: &mut Batch,
        person_id: i64,
        card: &Card,
        branch: Option<u8>,
        family: PersonalFamilyClassification,
        insured_name: Option<&str>,
        qual_date: Ymd,
        card_class: InsuredCardClassification,
        income: IncomeCategory,
    ) -> usize {
        let entry = &self.dir.entries[card.insurer];
        let kind = entry.insurer.kind;
        let short = matches!(
            card_class,
            InsuredCardClassification::ShortTermGeneral
                | InsuredCardClassification::ShortTermRetired
        );
        let (issued, from, to) = self.card_dates(kind, qual_date, short);
        let q = Qualification {
            id: self.next_qual,
            person_id,
            insurer_number: entry.insurer.number.clone(),
            symbol: card.symbol.as_deref().map(|s| {
                InsuredCardSymbol::parse(s).expect("generated symbols are short printable text")
            }),
            number: InsuredIdentificationNumber::parse(&card.number)
                .expect("generated numbers are digits"),
            branch: branch.map(|b| InsuredBranchNumber::new(b).expect("branches are below 100")),
            personal_family: family,
            insured_name: insured_name.map(str::to_string),
            card_classification: card_class,
            qualification_date: qual_date,
            disqualification_date: None,
            reason_of_loss: None,
            successor_id: None,
            certificate_issuance_date: Some(issued),
            card_valid_from: Some(from),
            card_valid_to: to,
            income,
        };
        self.next_qual += 1;
        self.qualifications += 1;
        batch.qualifications.push(q);
        batch.qualifications.len() - 1
    }

    fn lose(batch: &mut Batch, q: usize, date: Ymd, reason: ReasonOfLoss, successor: Option<i64>) {
        let q = &mut batch.qualifications[q];
        q.disqualification_date = Some(date);
        q.reason_of_loss = Some(reason);
        q.successor_id = successor;
        if let Some(to) = q.card_valid_to {
            q.card_valid_to = Some(
                to.min(date.add_days(-1))
                    .max(q.card_valid_from.unwrap_or(to)),
            );
        }
    }

    /// Turns a plan into records appended to `batch`.
    pub fn household(&mut self, plan: &Plan, batch: &mut Batch) {
        let today = self.today;
        self.counts.households += 1;
        let (address, post) = self.address(plan.pref, plan.city);
        let rare = !matches!(plan.name, NameChoice::Random);
        let fam = match plan.name {
            NameChoice::Random => pick_cum(&self.t.family_cum, &mut self.rng),
            NameChoice::Rare => self.rng.random_range(0..self.t.rare.len()),
            NameChoice::RareIndex(i) => i,
        };

        // Persons.
        let mut out: Vec<MemberOut> = Vec::with_capacity(plan.members.len());
        let mut givens: Vec<&'static str> = Vec::with_capacity(plan.members.len());
        for (i, spec) in plan.members.iter().enumerate() {
            let birth = self.birth(spec.age, spec.day_offset);
            let era = match birth.year() {
                ..1960 => 0,
                1960..1990 => 1,
                _ => 2,
            };
            let sex_i = usize::from(spec.sex == Sex::Female);
            let list = &self.t.given[sex_i][era];
            let mut g = self.rng.random_range(0..list.len());
            for _ in 0..8 {
                if !givens.contains(&list[g].kanji) {
                    break;
                }
                g = self.rng.random_range(0..list.len());
            }
            let given = &list[g];
            givens.push(given.kanji);
            let family = if rare {
                &self.t.rare[fam]
            } else {
                &self.t.family[fam]
            };
            let mut name = String::with_capacity(family.kanji.len() + given.kanji.len() + 3);
            name.push_str(family.kanji);
            name.push('\u{3000}');
            name.push_str(given.kanji);
            let mut kana = String::with_capacity(family.kana.len() + given.kana.len() + 1);
            kana.push_str(&family.kana);
            kana.push(' ');
            kana.push_str(&given.kana);
            let twin = plan.members.iter().enumerate().any(|(j, o)| {
                j != i
                    && o.role == Role::Child
                    && spec.role == Role::Child
                    && o.age == spec.age
                    && o.day_offset == spec.day_offset
            });
            batch.persons.push(Person {
                id: self.next_person,
                name,
                name_kana: kana,
                birthdate: birth,
                sex: spec.sex,
                address: address.clone(),
                post_number: post.clone(),
            });
            self.next_person += 1;
            self.persons += 1;
            if rare {
                self.counts.rare_kanji += 1;
            }
            out.push(MemberOut {
                person: batch.persons.len() - 1,
                birth,
                current: None,
                old: None,
                unregistered: None,
                elderly: None,
                limit: None,
                twin,
            });
        }
        if out.iter().filter(|m| m.twin).count() >= 2 {
            self.counts.twin_households += 1;
        }

        let late: Vec<bool> = out
            .iter()
            .map(|m| today >= burden::late_elderly_start(m.birth))
            .collect();
        let group: Vec<usize> = (0..out.len()).filter(|&i| !late[i]).collect();

        // Working-age group: employee insurance with dependants, or 国保.
        if !group.is_empty() {
            let coverage = if late[0] {
                Coverage::Kokuho
            } else {
                plan.coverage
            };
            let ins = self.insurer_for(coverage, plan.pref, plan.city);
            let card = self.allocate(ins);
            let employee = coverage.is_employee();
            let branch_of = |k: usize| -> u8 { if employee { k as u8 } else { k as u8 + 1 } };
            let head_name = batch.persons[out[group[0]].person].name.clone();
            let mut fate = plan.fate;
            if late[0] && fate == Fate::JobChange {
                fate = Fate::Normal;
            }
            let head_age = out[group[0]].birth.legal_age_on(today);
            if fate == Fate::NotRegistered {
                for (k, &m) in group.iter().enumerate() {
                    out[m].unregistered = Some((card.clone(), Some(branch_of(k))));
                    self.counts.not_registered += 1;
                }
            } else {
                let any70 = group
                    .iter()
                    .any(|&m| burden::reach_date(out[m].birth, 70) <= today);
                let active = any70 && self.chance(0.12);
                let short = !plan.forced && !employee && self.chance(0.008);
                // Start of the current qualification.
                let start = match fate {
                    Fate::JobChange => today.add_days(-self.days(14, 730)),
                    _ => {
                        let max_back = (i64::from(head_age.saturating_sub(18)) * 365).min(25 * 365);
                        today.add_days(-self.days(30, max_back.max(31)))
                    }
                };
                for (k, &m) in group.iter().enumerate() {
                    let birth = out[m].birth;
                    let age = birth.legal_age_on(today);
                    let qual_date = start.max(birth);
                    let family = if employee && k > 0 {
                        PersonalFamilyClassification::Dependent
                    } else {
                        PersonalFamilyClassification::Insured
                    };
                    let income = if active && burden::reach_date(birth, 70) <= today {
                        IncomeCategory::ActiveEquivalent
                    } else {
                        IncomeCategory::General
                    };
                    let class = if short {
                        InsuredCardClassification::ShortTermGeneral
                    } else if !employee
                        && (60..65).contains(&age)
                        && !plan.forced
                        && self.chance(0.01)
                    {
                        InsuredCardClassification::Retired
                    } else {
                        InsuredCardClassification::General
                    };
                    let insured = if family == PersonalFamilyClassification::Dependent {
                        Some(head_name.as_str())
                    } else {
                        None
                    };
                    let pid = batch.persons[out[m].person].id;
                    let q = self.qualification(
                        batch,
                        pid,
                        &card,
                        Some(branch_of(k)),
                        family,
                        insured,
                        qual_date,
                        class,
                        income,
                    );
                    out[m].current = Some(q);
                }
                match fate {
                    Fate::JobChange => {
                        self.job_change(plan, coverage, ins, &group, &mut out, start, batch)
                    }
                    Fate::Lost => {
                        let disq = today.add_days(-self.days(1, 600));
                        let begin = disq.add_days(-self.days(90, 5000));
                        for &m in &group {
                            if let Some(q) = out[m].current.take() {
                                let birth = out[m].birth;
                                let b = begin.max(birth);
                                if b < disq {
                                    let qq = &mut batch.qualifications[q];
                                    qq.qualification_date = b;
                                    qq.certificate_issuance_date = Some(b);
                                    qq.card_valid_from = Some(b);
                                    Self::lose(batch, q, disq, ReasonOfLoss::Other, None);
                                    out[m].old = Some(q);
                                    self.counts.lost += 1;
                                } else {
                                    out[m].current = Some(q);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }

        // 後期高齢者: each their own personal number at the prefecture's 広域連合.
        for m in 0..out.len() {
            if !late[m] {
                continue;
            }
            let birth = out[m].birth;
            let ins = self.dir.late_by_pref[plan.pref];
            let card = self.allocate(ins);
            let income = match self.rng.random_range(0..100) {
                0..72 => IncomeCategory::General,
                72..92 => IncomeCategory::LateElderlyMiddle,
                _ => IncomeCategory::ActiveEquivalent,
            };
            let start = burden::late_elderly_start(birth);
            let pid = batch.persons[out[m].person].id;
            let q = self.qualification(
                batch,
                pid,
                &card,
                None,
                PersonalFamilyClassification::Insured,
                None,
                start,
                InsuredCardClassification::General,
                income,
            );
            if !plan.forced && self.chance(0.025) {
                let died = today.add_days(-self.days(2, 400));
                if died > start {
                    Self::lose(batch, q, died.add_days(1), ReasonOfLoss::Death, None);
                    out[m].old = Some(q);
                    self.counts.lost += 1;
                    self.counts.deaths += 1;
                    continue;
                }
            }
            out[m].current = Some(q);
            self.counts.late_elderly += 1;
            // Turned 75 within the last year: the previous 国保 qualification ended on the
            // birthday and points to the 後期 one.
            if !plan.forced && start > today.add_days(-365) && start < today && self.chance(0.5) {
                let kins = self.dir.kokuho_by_city[plan.pref][plan.city];
                let kcard = self.allocate(kins);
                let begin = start.add_days(-self.days(365, 5000)).max(birth);
                let old = self.qualification(
                    batch,
                    pid,
                    &kcard,
                    Some(1),
                    PersonalFamilyClassification::Insured,
                    None,
                    begin,
                    InsuredCardClassification::General,
                    IncomeCategory::General,
                );
                let new_id = batch.qualifications[q].id;
                Self::lose(
                    batch,
                    old,
                    start,
                    ReasonOfLoss::OtherInsurance,
                    Some(new_id),
                );
                out[m].old = Some(old);
                self.counts.moved_to_late += 1;
            }
        }

        self.certificates(plan, &mut out, batch);
        self.collect_samples(&out, batch);
    }

    #[allow(clippy::too_many_arguments)]
    fn job_change(
        &mut self,
        plan: &Plan,
        coverage: Coverage,
        new_ins: usize,
        group: &[usize],
        out: &mut [MemberOut],
        change: Ymd,
        batch: &mut Batch,
    ) {
        let mut old_cov = plan.old_coverage.unwrap_or_else(|| {
            if coverage == Coverage::Kokuho {
                if self.chance(0.6) {
                    Coverage::Kyokai
                } else {
                    Coverage::Kumiai
                }
            } else if self.chance(0.25) {
                Coverage::Kokuho
            } else {
                match self.rng.random_range(0..10) {
                    0..6 => Coverage::Kyokai,
                    6..9 => Coverage::Kumiai,
                    _ => Coverage::Kyosai,
                }
            }
        });
        let mut old_ins = self.insurer_for(old_cov, plan.pref, plan.city);
        let mut tries = 0;
        while old_ins == new_ins {
            tries += 1;
            old_cov = if tries > 4 {
                if coverage == Coverage::Kokuho {
                    Coverage::Kyokai
                } else {
                    Coverage::Kokuho
                }
            } else {
                Coverage::Kumiai
            };
            old_ins = self.insurer_for(old_cov, plan.pref, plan.city);
        }
        let card = self.allocate(old_ins);
        let employee = old_cov.is_employee();
        let begin = change.add_days(-self.days(180, 6000));
        let head_name = batch.persons[out[group[0]].person].name.clone();
        let mut k = 0usize;
        for &m in group {
            let birth = out[m].birth;
            let Some(new_q) = out[m].current else {
                continue;
            };
            if birth >= change {
                continue;
            }
            let b = begin.max(birth);
            let family = if employee && k > 0 {
                PersonalFamilyClassification::Dependent
            } else {
                PersonalFamilyClassification::Insured
            };
            let insured =
                (family == PersonalFamilyClassification::Dependent).then_some(head_name.as_str());
            let branch = if employee { k as u8 } else { k as u8 + 1 };
            let pid = batch.persons[out[m].person].id;
            let income = batch.qualifications[new_q].income;
            let old = self.qualification(
                batch,
                pid,
                &card,
                Some(branch),
                family,
                insured,
                b,
                InsuredCardClassification::General,
                income,
            );
            let new_id = batch.qualifications[new_q].id;
            Self::lose(
                batch,
                old,
                change,
                ReasonOfLoss::OtherInsurance,
                Some(new_id),
            );
            out[m].old = Some(old);
            self.counts.job_changes += 1;
            k += 1;
        }
    }

    /// 高齢受給者証, 限度額適用認定証 and 特定疾病療養受療証 for members with a current
    /// qualification.
    fn certificates(&mut self, plan: &Plan, out: &mut [MemberOut], batch: &mut Batch) {
        let today = self.today;
        for (i, m) in out.iter_mut().enumerate() {
            let Some(q) = m.current else { continue };
            let birth = m.birth;
            let age = birth.legal_age_on(today);
            if age < 6 && today <= burden::preschool_end(birth) {
                self.counts.preschool += 1;
            }
            let (qid, qual_date, income, late) = {
                let qq = &batch.qualifications[q];
                let late = qq.insurer_number.law_code() == Some("39");
                (qq.id, qq.qualification_date, qq.income, late)
            };
            self.counts.current += 1;
            if !late && burden::reach_date(birth, 70) <= today {
                let start = burden::elderly_start(birth).max(qual_date);
                let end = burden::late_elderly_start(birth).add_days(-1);
                batch.elderly.push(ElderlyRecipient {
                    qualification_id: qid,
                    certificate_date: start.add_days(-14).max(qual_date),
                    valid_start: start,
                    valid_end: end,
                    contribution_ratio: if income == IncomeCategory::ActiveEquivalent {
                        30
                    } else {
                        20
                    },
                });
                m.elderly = Some(batch.elderly.len() - 1);
                self.counts.elderly_recipients += 1;
            }
            let force = plan.members[i].force_limit;
            let p_limit = if age >= 70 { 0.05 } else { 0.025 };
            let p_disease = match age {
                0..40 => 0.0008,
                40..65 => 0.003,
                _ => 0.005,
            };
            let want_limit = force || self.chance(p_limit);
            let want_disease = self.chance(p_disease);
            if !want_limit && !want_disease {
                continue;
            }
            let high_income = self.chance(0.15);
            if want_limit {
                let flag = if age < 70 {
                    if high_income {
                        if self.chance(0.35) {
                            LimitClassificationFlag::A01
                        } else {
                            LimitClassificationFlag::A02
                        }
                    } else {
                        match self.rng.random_range(0..100) {
                            0..55 => LimitClassificationFlag::A03,
                            55..80 => LimitClassificationFlag::A04,
                            _ => LimitClassificationFlag::A05,
                        }
                    }
                } else if income == IncomeCategory::ActiveEquivalent {
                    match self.rng.random_range(0..10) {
                        0 => LimitClassificationFlag::B01,
                        1..4 => LimitClassificationFlag::B02,
                        _ => LimitClassificationFlag::B03,
                    }
                } else if late && income == IncomeCategory::LateElderlyMiddle {
                    LimitClassificationFlag::B09
                } else {
                    match self.rng.random_range(0..10) {
                        0..2 => {
                            if late {
                                LimitClassificationFlag::B10
                            } else {
                                LimitClassificationFlag::B04
                            }
                        }
                        2..7 => LimitClassificationFlag::B05,
                        _ => LimitClassificationFlag::B06,
                    }
                };
                let classification = match flag {
                    LimitClassificationFlag::A05
                    | LimitClassificationFlag::B05
                    | LimitClassificationFlag::B06 => {
                        LimitCertificateClassification::LimitAndReduction
                    }
                    _ => LimitCertificateClassification::Limit,
                };
                let current = force || self.chance(0.9);
                let (start, end) = if current {
                    let s = today
                        .first_day_of_month()
                        .add_months(-self.rng.random_range(0..=10))
                        .max(qual_date);
                    (s, july_end_after(today))
                } else {
                    let s = today
                        .add_months(-self.rng.random_range(13..=24))
                        .first_day_of_month()
                        .max(qual_date);
                    (s, july_end_after(s))
                };
                let long_term = (classification
                    == LimitCertificateClassification::LimitAndReduction
                    && self.chance(0.15))
                .then(|| start.add_days(91))
                .filter(|d| *d <= today);
                batch.limit_certificates.push(LimitCertificate {
                    qualification_id: qid,
                    classification,
                    flag,
                    certificate_date: start,
                    valid_start: start,
                    valid_end: Some(end),
                    long_term_date: long_term,
                });
                m.limit = Some(batch.limit_certificates.len() - 1);
                self.counts.limit_certificates += 1;
            }
            if want_disease {
                let category = match self.rng.random_range(0..100) {
                    0..90 => SpecificDiseaseCategory::ChronicRenalFailure,
                    90..97 => SpecificDiseaseCategory::Hemophilia,
                    _ => SpecificDiseaseCategory::HivFromBloodProducts,
                };
                let self_pay = if category == SpecificDiseaseCategory::ChronicRenalFailure
                    && age < 70
                    && high_income
                {
                    20_000
                } else {
                    10_000
                };
                let start = today.add_days(-self.days(30, 3000)).max(qual_date);
                let end = if self.chance(0.15) {
                    Some(july_end_after(self.valid_horizon))
                } else {
                    None
                };
                batch.specific_diseases.push(SpecificDisease {
                    qualification_id: qid,
                    category,
                    certificate_date: start,
                    valid_start: start,
                    valid_end: end,
                    self_pay,
                });
                self.counts.specific_diseases += 1;
            }
        }
    }

    // ---------------------------------------------------------------- samples

    fn want(&self, case: Case) -> bool {
        self.sample_count[case as usize] < SAMPLES_PER_CASE
    }

    fn push_sample(
        &mut self,
        case: Case,
        batch: &Batch,
        person: usize,
        card: SampleCard<'_>,
        branch: bool,
    ) {
        let p = &batch.persons[person];
        let (ins, symbol, number, br) = match card {
            SampleCard::Qual(q) => {
                let q = &batch.qualifications[q];
                (
                    q.insurer_number.digits().to_string(),
                    q.symbol
                        .as_ref()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    q.number.as_str().to_string(),
                    q.branch.map(|b| b.to_wire()).unwrap_or_default(),
                )
            }
            SampleCard::Card(c, b) => (
                self.dir.entries[c.insurer]
                    .insurer
                    .number
                    .digits()
                    .to_string(),
                c.symbol.clone().unwrap_or_default(),
                c.number.clone(),
                b.map(|b| {
                    InsuredBranchNumber::new(b)
                        .map(|b| b.to_wire())
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            ),
        };
        let expected = match case {
            Case::Lost => "2",
            Case::NewQualification => "3",
            Case::NotFound => "4",
            Case::Multiple => "5",
            _ => "1",
        };
        self.samples.push(Sample {
            case: CASE_NAMES[case as usize].to_string(),
            insurer_number: ins,
            symbol,
            number,
            branch: if branch { br } else { String::new() },
            birthdate: p.birthdate.to_wire(),
            name: p.name.clone(),
            expected_validity: expected.to_string(),
        });
        self.sample_count[case as usize] += 1;
    }

    /// Card in force on today and for at least a year after, on a general card.
    fn solid(&self, q: &Qualification) -> bool {
        q.disqualification_date.is_none()
            && q.qualification_date <= self.today
            && q.card_classification == InsuredCardClassification::General
            && q.card_valid_to.is_none_or(|to| to >= self.valid_horizon)
    }

    fn collect_samples(&mut self, out: &[MemberOut], batch: &Batch) {
        if self.sample_count.iter().all(|&c| c >= SAMPLES_PER_CASE) {
            return;
        }
        let today = self.today;
        let mut twin_done = false;
        for m in out {
            let p = &batch.persons[m.person];
            let birth = m.birth;
            let age = birth.legal_age_on(today);
            if let Some((card, branch)) = &m.unregistered
                && self.want(Case::NotFound)
            {
                self.push_sample(
                    Case::NotFound,
                    batch,
                    m.person,
                    SampleCard::Card(card, *branch),
                    true,
                );
            }
            if let Some(o) = m.old {
                let oq = &batch.qualifications[o];
                if oq.disqualification_date.is_some_and(|d| d <= today) {
                    let case = if oq.successor_id.is_some() {
                        Case::NewQualification
                    } else {
                        Case::Lost
                    };
                    if (m.current.is_none() || case == Case::NewQualification) && self.want(case) {
                        self.push_sample(case, batch, m.person, SampleCard::Qual(o), true);
                    }
                }
            }
            let Some(c) = m.current else { continue };
            let q = &batch.qualifications[c];
            if !self.solid(q) {
                continue;
            }
            let late = q.insurer_number.law_code() == Some("39");
            if m.twin && !twin_done && self.want(Case::Multiple) {
                twin_done = true;
                self.push_sample(Case::Multiple, batch, m.person, SampleCard::Qual(c), false);
            }
            let rare = p.name.contains(['𠮷', '髙', '﨑', '濵']);
            // A plain adult: no twin, no rare kanji, no 70+ rules.
            if !m.twin && !rare && (20..65).contains(&age) && !late && self.want(Case::Valid) {
                self.push_sample(Case::Valid, batch, m.person, SampleCard::Qual(c), true);
            }
            if (70..75).contains(&age)
                && !late
                && m.elderly.is_some_and(|e| {
                    let e = &batch.elderly[e];
                    e.valid_start <= today && today <= e.valid_end
                })
                && self.want(Case::Elderly)
            {
                self.push_sample(Case::Elderly, batch, m.person, SampleCard::Qual(c), true);
            }
            if late && age >= 75 && self.want(Case::Late) {
                self.push_sample(Case::Late, batch, m.person, SampleCard::Qual(c), false);
            }
            if age < 6 && today <= burden::preschool_end(birth) && self.want(Case::Preschool) {
                self.push_sample(Case::Preschool, batch, m.person, SampleCard::Qual(c), true);
            }
            if m.limit.is_some_and(|l| {
                let l = &batch.limit_certificates[l];
                l.valid_start <= today && l.valid_end.is_none_or(|e| today <= e)
            }) && self.want(Case::Limit)
            {
                self.push_sample(Case::Limit, batch, m.person, SampleCard::Qual(c), true);
            }
            if p.name.contains(['𠮷', '髙']) && self.want(Case::Rare) {
                self.push_sample(Case::Rare, batch, m.person, SampleCard::Qual(c), true);
            }
        }
    }
}

enum SampleCard<'a> {
    Qual(usize),
    Card(&'a Card, Option<u8>),
}

/// The forced households that guarantee one sample of every case, whatever the seed and
/// however small the population. They come first, in the first batch.
pub(crate) fn showcase_plans() -> Vec<Plan> {
    use crate::data::{SAITAMA, TOKYO};
    let m = |age: u16, day_offset: u16, sex: Sex, role: Role| MemberSpec {
        age,
        day_offset,
        sex,
        role,
        force_limit: false,
    };
    let plan = |pref, city, members, coverage, fate| Plan {
        pref,
        city,
        name: NameChoice::Random,
        members,
        coverage,
        fate,
        old_coverage: None,
        forced: true,
    };
    // A family with a 限度額 head, a 𠮷田 surname and preschool twins.
    let mut family = plan(
        TOKYO,
        11,
        vec![
            MemberSpec {
                force_limit: true,
                ..m(41, 120, Sex::Male, Role::Head)
            },
            m(39, 200, Sex::Female, Role::Spouse),
            m(3, 150, Sex::Male, Role::Child),
            m(3, 150, Sex::Female, Role::Child),
        ],
        Coverage::Kyokai,
        Fate::Normal,
    );
    family.name = NameChoice::RareIndex(1);
    let mut changer = plan(
        13,
        0,
        vec![m(34, 40, Sex::Male, Role::Head)],
        Coverage::Kyokai,
        Fate::JobChange,
    );
    changer.old_coverage = Some(Coverage::Kumiai);
    vec![
        family,
        changer,
        plan(
            TOKYO,
            14,
            vec![m(46, 300, Sex::Female, Role::Head)],
            Coverage::Kokuho,
            Fate::Lost,
        ),
        plan(
            TOKYO,
            3,
            vec![m(24, 10, Sex::Male, Role::Head)],
            Coverage::Kyokai,
            Fate::NotRegistered,
        ),
        plan(
            SAITAMA,
            0,
            vec![
                m(72, 100, Sex::Male, Role::Head),
                m(71, 50, Sex::Female, Role::Spouse),
            ],
            Coverage::Kokuho,
            Fate::Normal,
        ),
        plan(
            TOKYO,
            19,
            vec![m(80, 70, Sex::Female, Role::Head)],
            Coverage::Kokuho,
            Fate::Normal,
        ),
    ]
}
