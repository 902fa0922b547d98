//! Deterministic synthetic population for onshi: the insurer master, the facilities of the
//! demo, and households of people with their qualifications and certificates.
//!
//! Why synthetic: the central database needs realistic volume (a million people) and
//! every awkward case the real system meets — job changes, lost qualifications, people
//! the insurer has not registered yet, twins that only the 枝番 tells apart, 70–74 and 75+
//! burden rules, 限度額 and 特定疾病 certificates, names Shift_JIS cannot hold — without
//! touching anyone's data. Everything is a pure function of the seed (and the people count
//! and `today`), so a test, a benchmark and a demo can all point at the same population.
//!
//! [`generate`] streams whole households in batches so a loader can insert each batch in
//! one transaction. Ids are dense from 1 in emission order. Within a household the current
//! qualifications come first and the lost predecessors after them, so a
//! `successor_id` always names a qualification with a smaller id in the same batch.
//!
//! The first households are a fixed "showcase" (see `household::showcase_plans`): a family with
//! preschool twins and a 𠮷 surname, a job changer, a lost qualification, a person not yet
//! registered, a 70–74 couple and an 80-year-old in 後期. They guarantee that
//! [`Summary::samples`] holds every case even for tiny populations; they are always
//! emitted in full, so a population is never smaller than those ten people. Further
//! samples (up to three per case) are taken from random households as they appear.
//!
//! 枝番 convention: 本人 "00" and 家族 "01".. in employee insurance; "01".. in 国保 where
//! everyone is a 被保険者; none in 後期 (personal numbers).

#[rustfmt::skip]
mod data;
mod household;
mod master;
pub mod medical;

use onshi_core::Ymd;
use onshi_core::model::{
    ElderlyRecipient, Facility, Insurer, LimitCertificate, Person, Qualification, SpecificDisease,
};

pub use household::CASE_NAMES;
pub use medical::{MedicalBatch, medical_batch, medical_history};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub seed: u64,
    /// Target number of people; the last household is cut to fit (the showcase is
    /// always emitted whole).
    pub people: usize,
    /// The reference day: ages, validity and "in the past" are relative to it.
    pub today: Ymd,
}

/// Records of whole households, ready to be inserted together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub persons: Vec<Person>,
    pub qualifications: Vec<Qualification>,
    pub elderly: Vec<ElderlyRecipient>,
    pub limit_certificates: Vec<LimitCertificate>,
    pub specific_diseases: Vec<SpecificDisease>,
}

/// Card data a clinic would type for one test case, with the OQSCD006 result central
/// should answer.
#[derive(serde::Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// One of [`CASE_NAMES`].
    pub case: String,
    /// Digits as assigned: 6 for 国保, 8 otherwise.
    pub insurer_number: String,
    /// "" when the card has no 記号 (後期).
    pub symbol: String,
    pub number: String,
    /// "" when the query should go without 枝番.
    pub branch: String,
    /// YYYYMMDD.
    pub birthdate: String,
    pub name: String,
    /// OQSCD006 code: "1" valid, "2" invalid, "3" invalid with a new one, "4" not found,
    /// "5" multiple.
    pub expected_validity: String,
}

/// How often each case occurred (people unless stated).
#[derive(serde::Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseCounts {
    pub households: usize,
    /// People with a current qualification.
    pub current: usize,
    /// People whose previous qualification (03) points to a new one after a job change.
    pub job_changes: usize,
    /// People whose previous 国保 qualification ended at 75 and points to 後期.
    pub moved_to_late: usize,
    /// People whose only qualification is lost without successor (incl. deaths).
    pub lost: usize,
    pub deaths: usize,
    /// People in the registry with no qualification yet.
    pub not_registered: usize,
    /// Households with twins (same birth date, same card number, different 枝番).
    pub twin_households: usize,
    pub elderly_recipients: usize,
    /// People with a current 後期 qualification.
    pub late_elderly: usize,
    pub preschool: usize,
    pub limit_certificates: usize,
    pub specific_diseases: usize,
    pub rare_kanji: usize,
}

/// What [`generate`] produced.
#[derive(serde::Serialize, Clone, Debug, Default)]
pub struct Summary {
    pub persons: usize,
    pub qualifications: usize,
    pub samples: Vec<Sample>,
    pub counts: CaseCounts,
}

/// The insurer master: 協会けんぽ (one branch per prefecture), 健保組合, 共済,
/// 市町村国保 (6-digit numbers) and one 後期高齢者医療広域連合 per prefecture.
pub fn insurers(seed: u64) -> Vec<Insurer> {
    master::Directory::new(seed).insurers()
}

/// The facilities of the demo; `[0]` is the demo clinic (医科), `[1]` the demo pharmacy
/// (調剤), all in Tokyo; the last one is disabled.
pub fn facilities(seed: u64) -> Vec<Facility> {
    master::facilities(seed)
}

/// Generates the population, handing `sink` one [`Batch`] per `batch_households`
/// households (0 is taken as 1) and calling `progress` with the number of people so far
/// after each batch. Stops at the first error of `sink`.
pub fn generate<E>(
    cfg: &SynthConfig,
    batch_households: usize,
    mut sink: impl FnMut(Batch) -> Result<(), E>,
    mut progress: impl FnMut(usize),
) -> Result<Summary, E> {
    let per_batch = batch_households.max(1);
    let dir = master::Directory::new(cfg.seed);
    let mut g = household::Gen::new(cfg.seed, cfg.today, &dir);
    let mut batch = Batch::default();
    let mut in_batch = 0usize;
    let mut flush =
        |batch: &mut Batch, g: &household::Gen<'_>, in_batch: &mut usize| -> Result<(), E> {
            if *in_batch == 0 {
                return Ok(());
            }
            let full = std::mem::take(batch);
            *in_batch = 0;
            sink(full)?;
            progress(g.persons);
            Ok(())
        };
    for plan in household::showcase_plans() {
        g.household(&plan, &mut batch);
        in_batch += 1;
        if in_batch >= per_batch {
            flush(&mut batch, &g, &mut in_batch)?;
        }
    }
    while g.persons < cfg.people {
        let plan = g.random_plan(cfg.people - g.persons);
        g.household(&plan, &mut batch);
        in_batch += 1;
        if in_batch >= per_batch {
            flush(&mut batch, &g, &mut in_batch)?;
        }
    }
    flush(&mut batch, &g, &mut in_batch)?;
    Ok(Summary {
        persons: g.persons,
        qualifications: g.qualifications,
        samples: g.samples,
        counts: g.counts,
    })
}

/// Convenience for tests and small tools: the whole population as one batch.
pub fn generate_all(cfg: &SynthConfig) -> (Batch, Summary) {
    let mut all = Batch::default();
    let summary = generate::<std::convert::Infallible>(
        cfg,
        1024,
        |b| {
            all.persons.extend(b.persons);
            all.qualifications.extend(b.qualifications);
            all.elderly.extend(b.elderly);
            all.limit_certificates.extend(b.limit_certificates);
            all.specific_diseases.extend(b.specific_diseases);
            Ok(())
        },
        |_| {},
    );
    match summary {
        Ok(s) => (all, s),
        Err(never) => match never {},
    }
}
