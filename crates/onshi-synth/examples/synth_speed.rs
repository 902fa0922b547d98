//! Measures generation speed and prints the case mix and age structure:
//! `cargo run --release -p onshi-synth --example synth_speed -- [people] [seed]`.

use std::time::Instant;

use onshi_core::Ymd;
use onshi_synth::{SynthConfig, generate};

fn main() {
    let mut args = std::env::args().skip(1);
    let people: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let today = Ymd::from_ymd(2025, 10, 1).expect("valid date");
    let cfg = SynthConfig {
        seed,
        people,
        today,
    };
    let mut bands = [0usize; 4]; // <15, 15–64, 65–74, 75+
    let mut quals = 0usize;
    let started = Instant::now();
    let summary = generate::<()>(
        &cfg,
        1000,
        |b| {
            for p in &b.persons {
                let age = p.birthdate.legal_age_on(today);
                bands[match age {
                    0..15 => 0,
                    15..65 => 1,
                    65..75 => 2,
                    _ => 3,
                }] += 1;
            }
            quals += b.qualifications.len();
            Ok(())
        },
        |_| {},
    )
    .expect("the sink never fails");
    let elapsed = started.elapsed();
    println!(
        "{} people, {} qualifications in {:.2} s ({:.0} people/s)",
        summary.persons,
        quals,
        elapsed.as_secs_f64(),
        summary.persons as f64 / elapsed.as_secs_f64()
    );
    let n = summary.persons as f64;
    println!(
        "ages: <15 {:.1}%  15-64 {:.1}%  65-74 {:.1}%  75+ {:.1}%",
        bands[0] as f64 * 100.0 / n,
        bands[1] as f64 * 100.0 / n,
        bands[2] as f64 * 100.0 / n,
        bands[3] as f64 * 100.0 / n
    );
    let c = &summary.counts;
    let pct = |x: usize| x as f64 * 100.0 / n;
    println!(
        "households {}  job_changes {:.2}%  moved_to_late {:.2}%  lost {:.2}% (deaths {:.2}%)  not_registered {:.2}%",
        c.households,
        pct(c.job_changes),
        pct(c.moved_to_late),
        pct(c.lost),
        pct(c.deaths),
        pct(c.not_registered)
    );
    println!(
        "twin households {}  elderly {:.2}%  late {:.2}%  preschool {:.2}%  limit {:.2}%  disease {:.3}%  rare {:.2}%",
        c.twin_households,
        pct(c.elderly_recipients),
        pct(c.late_elderly),
        pct(c.preschool),
        pct(c.limit_certificates),
        pct(c.specific_diseases),
        pct(c.rare_kanji)
    );
    println!("{} samples", summary.samples.len());
}
