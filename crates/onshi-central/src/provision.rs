//! Preparing a data directory: certificates, database, facilities, insurers and the
//! synthetic population. Shared by `onshi demo`, `onshi synth` and the test kit, so the
//! demo and the tests run on data made the same way.

use onshi_core::date::Ymd;
use onshi_core::model::Facility;
use onshi_pki::PkiLayout;
use onshi_store::{PopulationSlice, Store, StoreError};
use onshi_synth::{Summary, SynthConfig};
use std::path::{Path, PathBuf};

/// Files under a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn pki(&self) -> PkiLayout {
        PkiLayout::new(&self.root)
    }
    /// The embedded database of central.
    pub fn database(&self) -> PathBuf {
        self.root.join("central.sqlite")
    }
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples.json")
    }
    /// Written by a running central: the address it listens on.
    pub fn central_addr(&self) -> PathBuf {
        self.root.join("central.addr")
    }
    pub fn central_pid(&self) -> PathBuf {
        self.root.join("central.pid")
    }
}

/// Host names central's server certificate is valid for.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The demo facilities (the first is the demo clinic).
pub fn facilities(seed: u64) -> Vec<Facility> {
    onshi_synth::facilities(seed)
}

/// Makes whatever certificates are missing for `facilities`.
pub fn ensure_pki(dir: &DataDir, facilities: &[Facility]) -> Result<(), onshi_pki::PkiError> {
    let list: Vec<_> = facilities
        .iter()
        .map(|f| (f.code.clone(), f.name.clone()))
        .collect();
    dir.pki().ensure(SERVER_NAMES, &list)
}

/// Generates `people` persons from `seed` and loads them with insurers and facilities.
/// `progress` is called with the number of persons loaded so far.
pub async fn load_population(
    store: &Store,
    seed: u64,
    people: usize,
    today: Ymd,
    progress: impl FnMut(usize),
) -> Result<Summary, StoreError> {
    load_population_with(store, seed, people, today, true, progress).await
}

/// [`load_population`], with or without the medical histories (claims, checkups: about
/// 140 rows a person, so a 1,000,000-person benchmark database of qualifications only is
/// `medical = false`).
pub async fn load_population_with(
    store: &Store,
    seed: u64,
    people: usize,
    today: Ymd,
    medical: bool,
    mut progress: impl FnMut(usize),
) -> Result<Summary, StoreError> {
    store.upsert_insurers(&onshi_synth::insurers(seed)).await?;
    store.upsert_facilities(&facilities(seed)).await?;
    let cfg = SynthConfig {
        seed,
        people,
        today,
    };
    // Generation is synchronous and CPU-bound; loading is async. A channel between a
    // generator thread and this task lets both cores work.
    // Each batch's medical histories (claims, checkups) are made on the generator thread
    // too and loaded right after the batch's people.
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(onshi_synth::Batch, onshi_synth::MedicalBatch)>(4);
    let generator = std::thread::spawn(move || {
        onshi_synth::generate(
            &cfg,
            2_000,
            |batch| {
                let histories = if medical {
                    onshi_synth::medical_batch(cfg.seed, &batch.persons, cfg.today)
                } else {
                    Default::default()
                };
                tx.blocking_send((batch, histories)).map_err(|_| ())
            },
            |_| {},
        )
    });
    let mut loaded = 0;
    let mut medical_rows = 0usize;
    let started = std::time::Instant::now();
    while let Some((batch, medical)) = rx.recv().await {
        store
            .load_population(PopulationSlice {
                persons: &batch.persons,
                qualifications: &batch.qualifications,
                elderly: &batch.elderly,
                limit_certificates: &batch.limit_certificates,
                specific_diseases: &batch.specific_diseases,
            })
            .await?;
        store.load_medical(medical_slice(&medical)).await?;
        medical_rows += medical.rows();
        loaded += batch.persons.len();
        progress(loaded);
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    tracing::info!(
        persons = loaded,
        medical_rows,
        seconds = format!("{secs:.1}"),
        persons_per_second = format!("{:.0}", loaded as f64 / secs),
        medical_rows_per_second = format!("{:.0}", medical_rows as f64 / secs),
        "population loaded (generation and loading overlap; rates are of the whole load)"
    );
    let summary = generator
        .join()
        .map_err(|_| StoreError::Join("generator panicked".into()))?
        .map_err(|_| StoreError::Join("loader stopped early".into()))?;
    Ok(summary)
}

/// The store's view of a generated medical batch.
pub fn medical_slice(m: &onshi_synth::MedicalBatch) -> onshi_store::MedicalSlice<'_> {
    onshi_store::MedicalSlice {
        claims: &m.claims,
        drugs: &m.drugs,
        procedures: &m.procedures,
        diagnoses: &m.diagnoses,
        checkups: &m.checkups,
        checkup_values: &m.checkup_values,
    }
}

/// Writes `samples.json`.
pub fn write_samples(path: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(&summary.samples).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Pki(#[from] onshi_pki::PkiError),
    #[error(transparent)]
    Card(#[from] onshi_pki::CardError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("person {0} does not exist")]
    NoSuchPerson(i64),
}

/// The card CA (`DIR/pki/card-ca.crt.pem` and `.key.pem`): it stands for J-LIS, which
/// issues the real cards' certificates. Made on first use.
pub fn ensure_card_ca(dir: &DataDir) -> Result<onshi_pki::CertAndKey, onshi_pki::PkiError> {
    dir.pki().ensure_card_ca()
}

/// A software card to make.
#[derive(Debug, Clone)]
pub struct NewCard {
    pub person_id: i64,
    pub profile: onshi_pki::CertProfile,
    pub pin: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// Registered for insurance use (初回登録) already.
    pub registered: bool,
    pub path: PathBuf,
}

/// The "face" a demo patient shows to the emulated reader: derived from the card's
/// serial, so that whoever holds the card file can also pass face authentication (the
/// emulator's stand-in for the person standing in front of the camera).
pub fn face_template_for_serial(serial_hex: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("onshi-face:{serial_hex}").as_bytes(),
    );
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

pub fn face_template_for(card: &onshi_pki::SoftwareCard) -> [u8; 32] {
    face_template_for_serial(card.serial_hex())
}

/// Issues a certificate from the card CA, writes the software card file and links the
/// certificate to the person in the card registry.
pub async fn issue_card(
    dir: &DataDir,
    store: &Store,
    card: &NewCard,
) -> Result<onshi_store::CardRecord, ProvisionError> {
    if store.person(card.person_id).await?.is_none() {
        return Err(ProvisionError::NoSuchPerson(card.person_id));
    }
    let ca = ensure_card_ca(dir)?;
    let issued =
        onshi_pki::issue_auth_certificate(&ca, card.profile, card.not_before, card.not_after)?;
    if let Some(parent) = card.path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| onshi_pki::PkiError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    onshi_pki::SoftwareCard::create(
        &card.path,
        &issued,
        &card.pin,
        face_template_for_serial(&issued.serial_hex),
    )?;
    let now = onshi_core::date::JstDateTime::from_unix_micros(
        i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(0),
    );
    let record = onshi_store::CardRecord {
        serial: issued.serial_hex.clone(),
        person_id: card.person_id,
        profile: card.profile.as_str().to_string(),
        not_after: Ymd(card.not_after.to_offset(time::macros::offset!(+9)).date()),
        issued_at: now,
        revoked_at: None,
        registered_at: card.registered.then_some(now),
    };
    store.insert_cards(std::slice::from_ref(&record)).await?;
    Ok(record)
}
