//! The resumable bulk load behind `onshi synth` (issue 7): the synthetic population with
//! its qualifications, card certificates, some verification history and (optionally) the
//! medical histories, in numbered chunks committed one transaction each.
//!
//! Everything is a pure function of the seed, so a rerun generates the same chunks; the
//! chunks the database has recorded (`load_chunk`) are generated again but not written.
//! Generating a chunk costs a fraction of loading it, so skipping the committed prefix
//! takes seconds even at 10,000,000 people, and the summary (`samples.json`) is always
//! that of the whole population.

use crate::provision::{facilities, medical_slice};
use onshi_core::codes::{QualificationValidity, ReferenceClassification};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::model::{Person, Qualification};
use onshi_store::scale::{LoadChunk, LoadRun};
use onshi_store::{CardRecord, PopulationSlice, Store, StoreError, VerificationRecord};
use onshi_synth::{Summary, SynthConfig};
use std::collections::HashSet;

/// Households per chunk (about 4,600 people): the unit of commit and of resumption.
pub const CHUNK_HOUSEHOLDS: usize = 2_000;

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub seed: u64,
    pub people: usize,
    pub today: Ymd,
    /// Medical histories for every Nth person (by id); 0 for none, 1 for everyone.
    pub medical_every: u64,
    /// A user-authentication card certificate row for about 80% of the people.
    pub cards: bool,
    /// One verification-history row for every 5th person, in the last 90 days.
    pub history: bool,
    /// PostgreSQL: drop the secondary indexes of the bulk tables for the load and build
    /// them at the end.
    pub defer_indexes: bool,
    /// Stop (as if killed) after committing this many chunks in this run: for tests.
    pub stop_after_chunks: Option<usize>,
}

impl LoadOptions {
    fn describe(&self) -> String {
        format!(
            "medical_every={} cards={} history={} today={}",
            self.medical_every,
            self.cards,
            self.history,
            self.today.to_wire()
        )
    }
}

/// Progress of a load, after each chunk.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadProgress {
    /// People generated so far (loaded now or before).
    pub persons: usize,
    /// Rows written by this run.
    pub rows: i64,
    pub chunks_loaded: usize,
    pub chunks_skipped: usize,
}

/// What a load did.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    pub summary: Summary,
    pub progress: LoadProgress,
    /// False when stopped by `stop_after_chunks`.
    pub completed: bool,
    /// Seconds generating and writing chunks.
    pub load_seconds: f64,
    /// Deferred indexes built at the end, with seconds each.
    pub indexes: Vec<(String, f64)>,
    pub index_seconds: f64,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser: a well-spread hash of (seed, id).
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn person_hash(seed: u64, person_id: i64, salt: u64) -> u64 {
    mix(seed ^ mix(person_id as u64 ^ salt.rotate_left(17)))
}

/// The synthetic card certificate of a person, if they have one (about 80%): a 32-hex-digit
/// serial like the card CA's, issued within the last five years, valid five years,
/// registered for insurance use (初回登録) for 9 in 10. No certificate is made: these rows
/// give the registry its real size; the checks that present a certificate use cards
/// issued by `onshi card issue` or the benchmark.
pub fn synthetic_card(seed: u64, p: &Person, today: Ymd) -> Option<CardRecord> {
    let h = person_hash(seed, p.id, 0xCA4D);
    if h % 100 >= 80 {
        return None;
    }
    let h2 = person_hash(seed, p.id, 0x5E41);
    let issued = today.add_days(-(((h >> 8) % 1_800) as i64));
    let issued_at =
        JstDateTime::start_of_day(issued).add_seconds(9 * 3600 + ((h >> 24) % 28_800) as i64);
    Some(CardRecord {
        serial: format!("{:016x}{:016x}", h2, mix(h2)),
        person_id: p.id,
        profile: "card".into(),
        not_after: issued.add_months(60).add_days(-1),
        issued_at,
        revoked_at: None,
        registered_at: (!(h >> 40).is_multiple_of(10)).then_some(issued_at),
    })
}

/// One check by card of every 5th person with a current qualification, at one of the
/// demo facilities, in the 90 days before `today`, during opening hours (JST).
fn synthetic_check(
    seed: u64,
    q: &Qualification,
    card: Option<&CardRecord>,
    today: Ymd,
    facility_codes: &[String],
) -> Option<(i64, VerificationRecord)> {
    if q.person_id % 5 != 0 || q.disqualification_date.is_some() {
        return None;
    }
    let h = person_hash(seed, q.person_id, 0x4157);
    let day = today.add_days(-1 - (h % 90) as i64);
    let at = JstDateTime::start_of_day(day).add_seconds(8 * 3600 + ((h >> 8) % 36_000) as i64);
    let facility = &facility_codes[((h >> 32) as usize) % facility_codes.len()];
    let mut r = VerificationRecord::new(
        &format!("synth{:012}", q.person_id),
        facility,
        at,
        ReferenceClassification::MyNumberCard.code(),
    );
    r.confirmation_date = Some(day.to_wire());
    r.insurer_number = Some(q.insurer_number.digits().to_string());
    r.symbol = q.symbol.as_ref().map(|s| s.as_str().to_string());
    r.number = Some(q.number.as_str().to_string());
    r.branch = q.branch.map(|b| format!("{:02}", b.value()));
    r.validity = Some(QualificationValidity::Valid);
    r.person_id = Some(q.person_id);
    r.qualification_id = Some(q.id);
    if let Some(c) = card {
        r.identity_method = Some(if h.is_multiple_of(3) { "pin" } else { "face" }.into());
        r.card_serial = Some(c.serial.clone());
        r.card_profile = Some(c.profile.clone());
    }
    // One row per person: the person id is the row's id in every run.
    Some((q.person_id, r))
}

struct Chunk {
    no: i64,
    batch: onshi_synth::Batch,
    medical: onshi_synth::MedicalBatch,
    cards: Vec<CardRecord>,
    history: Vec<(i64, VerificationRecord)>,
    /// People generated up to and including this chunk.
    persons_so_far: usize,
}

/// Loads the population chunk by chunk, skipping the chunks already committed. Refuses
/// a database that holds people not loaded this way, or a run with other parameters.
pub async fn load_resumable(
    store: &Store,
    opts: &LoadOptions,
    mut progress: impl FnMut(LoadProgress),
) -> Result<LoadOutcome, StoreError> {
    let run = LoadRun {
        seed: opts.seed as i64,
        people: opts.people as i64,
        options: opts.describe(),
        finished: false,
    };
    match store.load_run().await? {
        Some(existing) => {
            if (existing.seed, existing.people, &existing.options)
                != (run.seed, run.people, &run.options)
            {
                return Err(StoreError::Corrupt(format!(
                    "this database holds another load (seed {}, {} people, {}); use an empty database",
                    existing.seed, existing.people, existing.options
                )));
            }
        }
        None => {
            if store.count(onshi_store::CountedTable::Person).await? > 0 {
                return Err(StoreError::Corrupt(
                    "the database already holds a population; use an empty database".into(),
                ));
            }
            store
                .upsert_insurers(&onshi_synth::insurers(opts.seed))
                .await?;
            store.upsert_facilities(&facilities(opts.seed)).await?;
            store.begin_load_run(&run).await?;
            // The synthetic history spans the 90 days before today: its months get their
            // partitions now (PostgreSQL) rather than filling the default partition.
            store
                .ensure_partitions(
                    JstDateTime::start_of_day(opts.today.first_day_of_month().add_months(-4)),
                    6,
                )
                .await?;
            if opts.defer_indexes {
                let dropped = store.defer_load_indexes().await?;
                tracing::info!(
                    indexes = dropped.len(),
                    "secondary indexes deferred to the end of the load"
                );
            }
        }
    }
    let done: HashSet<i64> = store.loaded_chunks().await?.into_iter().collect();
    let facility_codes: Vec<String> = facilities(opts.seed)
        .iter()
        .filter(|f| f.enabled)
        .map(|f| f.code.as_str().to_string())
        .collect();

    let cfg = SynthConfig {
        seed: opts.seed,
        people: opts.people,
        today: opts.today,
    };
    // Generation is synchronous and CPU-bound, loading async: a generator thread and this
    // task overlap on two cores. Chunks already committed are generated (the RNG must
    // pass through them) but neither expanded nor sent.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let gen_opts = opts.clone();
    let gen_done = done.clone();
    let generator = std::thread::spawn(move || {
        let mut no = -1i64;
        let mut persons = 0usize;
        onshi_synth::generate(
            &cfg,
            CHUNK_HOUSEHOLDS,
            |batch| {
                no += 1;
                persons += batch.persons.len();
                if gen_done.contains(&no) {
                    return tx
                        .blocking_send(Chunk {
                            no,
                            batch: Default::default(),
                            medical: Default::default(),
                            cards: Vec::new(),
                            history: Vec::new(),
                            persons_so_far: persons,
                        })
                        .map_err(|_| ());
                }
                let medical = match gen_opts.medical_every {
                    0 => Default::default(),
                    1 => onshi_synth::medical_batch(cfg.seed, &batch.persons, cfg.today),
                    n => {
                        let some: Vec<Person> = batch
                            .persons
                            .iter()
                            .filter(|p| (p.id as u64).is_multiple_of(n))
                            .cloned()
                            .collect();
                        onshi_synth::medical_batch(cfg.seed, &some, cfg.today)
                    }
                };
                let cards: Vec<CardRecord> = if gen_opts.cards {
                    batch
                        .persons
                        .iter()
                        .filter_map(|p| synthetic_card(cfg.seed, p, cfg.today))
                        .collect()
                } else {
                    Vec::new()
                };
                let history = if gen_opts.history {
                    let by_person: std::collections::HashMap<i64, &CardRecord> =
                        cards.iter().map(|c| (c.person_id, c)).collect();
                    batch
                        .qualifications
                        .iter()
                        .filter_map(|q| {
                            synthetic_check(
                                cfg.seed,
                                q,
                                by_person.get(&q.person_id).copied(),
                                cfg.today,
                                &facility_codes,
                            )
                        })
                        // A person with two current qualifications is checked once.
                        .fold(
                            (HashSet::new(), Vec::<(i64, VerificationRecord)>::new()),
                            |(mut seen, mut v), r| {
                                if seen.insert(r.0) {
                                    v.push(r);
                                }
                                (seen, v)
                            },
                        )
                        .1
                } else {
                    Vec::new()
                };
                tx.blocking_send(Chunk {
                    no,
                    batch,
                    medical,
                    cards,
                    history,
                    persons_so_far: persons,
                })
                .map_err(|_| ())
            },
            |_| {},
        )
    });

    let started = std::time::Instant::now();
    let mut p = LoadProgress::default();
    let mut completed = true;
    while let Some(c) = rx.recv().await {
        p.persons = c.persons_so_far;
        if done.contains(&c.no) {
            p.chunks_skipped += 1;
            progress(p);
            continue;
        }
        if opts.stop_after_chunks.is_some_and(|n| p.chunks_loaded >= n) {
            completed = false;
            break;
        }
        let chunk = LoadChunk {
            chunk: c.no,
            population: PopulationSlice {
                persons: &c.batch.persons,
                qualifications: &c.batch.qualifications,
                elderly: &c.batch.elderly,
                limit_certificates: &c.batch.limit_certificates,
                specific_diseases: &c.batch.specific_diseases,
            },
            medical: medical_slice(&c.medical),
            cards: &c.cards,
            history: &c.history,
        };
        let rows = chunk.rows();
        if store.load_chunk(chunk).await? {
            p.rows += rows;
            p.chunks_loaded += 1;
        } else {
            // Committed by someone else since we looked.
            p.chunks_skipped += 1;
        }
        progress(p);
    }
    drop(rx);
    let load_seconds = started.elapsed().as_secs_f64();
    let generated = generator
        .join()
        .map_err(|_| StoreError::Join("generator panicked".into()))?;
    let summary = match generated {
        Ok(s) => s,
        Err(()) if !completed => Summary::default(),
        Err(()) => return Err(StoreError::Join("loader stopped early".into())),
    };
    let (indexes, index_seconds) = if completed {
        let t = std::time::Instant::now();
        let built = store.finish_load().await?;
        (built, t.elapsed().as_secs_f64())
    } else {
        (Vec::new(), 0.0)
    };
    Ok(LoadOutcome {
        summary,
        progress: p,
        completed,
        load_seconds,
        indexes,
        index_seconds,
    })
}

/// Makes the monthly partitions ahead every hour (PostgreSQL; nothing on SQLite), for as
/// long as the store is in use.
pub async fn maintain_partitions(store: Store, clock: std::sync::Arc<dyn onshi_core::Clock>) {
    if store.backend_name() != "postgres" {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.ensure_partitions(clock.now(), 2).await {
            Ok(made) if !made.is_empty() => tracing::info!(?made, "monthly partitions made"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "monthly partitions not made"),
        }
    }
}
