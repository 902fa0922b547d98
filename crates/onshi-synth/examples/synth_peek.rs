//! Prints the samples and the first households of a small population as a quick look:
//! `cargo run -p onshi-synth --example synth_peek`.

use onshi_core::Ymd;
use onshi_synth::{SynthConfig, generate_all, insurers};

fn main() {
    let today = Ymd::from_ymd(2025, 10, 1).expect("valid date");
    let (all, s) = generate_all(&SynthConfig {
        seed: 42,
        people: 200,
        today,
    });
    for sm in &s.samples {
        println!("{sm:?}");
    }
    for p in all.persons.iter().take(14) {
        println!(
            "{} {} {} {:?} {} 〒{}",
            p.id,
            p.name,
            p.name_kana,
            p.birthdate.to_wire(),
            p.address,
            p.post_number
        );
    }
    for q in all.qualifications.iter().take(16) {
        println!(
            "q{} p{} {} {:?} {} {:?} {:?} {:?} from {} lost {:?} {:?} succ {:?} card {:?}..{:?} {:?}",
            q.id,
            q.person_id,
            q.insurer_number,
            q.symbol.as_ref().map(|s| s.as_str()),
            q.number.as_str(),
            q.branch.map(|b| b.to_wire()),
            q.personal_family,
            q.insured_name,
            q.qualification_date,
            q.disqualification_date,
            q.reason_of_loss,
            q.successor_id,
            q.card_valid_from,
            q.card_valid_to,
            q.income
        );
    }
    println!("{:?}", all.elderly.first());
    println!("{:?}", all.limit_certificates.first());
    let ins = insurers(42);
    println!("{} insurers", ins.len());
    for i in ins
        .iter()
        .filter(|i| i.number.law_code() != Some("01"))
        .step_by(17)
    {
        println!("{} {} {:?}", i.number, i.name, i.kind);
    }
}
