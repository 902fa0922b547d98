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
    let (tx, mut rx) = tokio::sync::mpsc::channel::<onshi_synth::Batch>(4);
    let generator = std::thread::spawn(move || {
        onshi_synth::generate(&cfg, 2_000, |batch| tx.blocking_send(batch), |_| {})
    });
    let mut loaded = 0;
    while let Some(batch) = rx.recv().await {
        store
            .load_population(PopulationSlice {
                persons: &batch.persons,
                qualifications: &batch.qualifications,
                elderly: &batch.elderly,
                limit_certificates: &batch.limit_certificates,
                specific_diseases: &batch.specific_diseases,
            })
            .await?;
        loaded += batch.persons.len();
        progress(loaded);
    }
    let summary = generator
        .join()
        .map_err(|_| StoreError::Join("generator panicked".into()))?
        .map_err(|_| StoreError::Join("loader stopped early".into()))?;
    Ok(summary)
}

/// Writes `samples.json`.
pub fn write_samples(path: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(&summary.samples).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}
