//! How fast central checks a card signature, next to this machine's raw RSA-2048 verify rate.
//!
//! `cargo run --release -p onshi-pki --example card_verify_speed [seconds-per-measurement]`
//!
//! Prints µs per `CardVerifier::verify` (path to the card CA, CRL lookup, challenge signature)
//! with an empty CRL and with CRLs of 1,000 and 10,000 revoked serials, and the single-core
//! rate of aws-lc-rs RSA-2048 PKCS#1 v1.5 SHA-256 verification on the same key and message.

use aws_lc_rs::signature::{
    KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    UnparsedPublicKey,
};
use onshi_pki::{CardVerifier, CertProfile, issue_auth_certificate, make_crl, new_card_ca};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` repeatedly for about `secs` seconds; returns (calls, elapsed).
fn measure(secs: f64, mut f: impl FnMut()) -> (u64, Duration) {
    for _ in 0..200 {
        f(); // warm-up
    }
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    (n, start.elapsed())
}

fn per_call_us(n: u64, d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2.0);
    let now = time::OffsetDateTime::now_utc();
    let ca = new_card_ca("onshi card CA")?;
    let ca_der = ca.cert_der()?;
    let card = issue_auth_certificate(
        &ca,
        CertProfile::Card,
        now - time::Duration::days(30),
        now + time::Duration::days(365 * 5),
    )?;
    let key = RsaKeyPair::from_pkcs8(&card.key_pkcs8_der).map_err(|e| e.to_string())?;
    // The shape of a challenge: a nonce bound to a facility.
    let message =
        b"onshi-card-challenge/1 facility=0110113719 nonce=3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|e| e.to_string())?;

    println!("card certificate: {} bytes DER", card.cert_der.len());
    for revoked in [0usize, 1_000, 10_000] {
        let serials: Vec<String> = (0..revoked).map(|i| format!("{:032x}", i + 1)).collect();
        let crl = make_crl(
            &ca,
            &serials,
            now - time::Duration::days(1),
            now + time::Duration::days(7),
            1,
        )?;
        let verifier = CardVerifier::new(vec![ca_der.clone()], vec![crl.clone()])?;
        verifier.verify(&card.cert_der, message, &signature, now)?;
        let (n, d) = measure(secs, || {
            black_box(
                verifier
                    .verify(
                        black_box(&card.cert_der),
                        black_box(message),
                        black_box(&signature),
                        now,
                    )
                    .is_ok(),
            );
        });
        println!(
            "CardVerifier::verify, CRL with {revoked:>6} revoked ({:>7} bytes): {:8.1} µs/verify  ({:>7.0} verifies/s on one core)",
            crl.len(),
            per_call_us(n, d),
            n as f64 / d.as_secs_f64()
        );
    }

    let public = key.public_key().as_ref().to_vec();
    let unparsed = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public);
    unparsed
        .verify(message, &signature)
        .map_err(|e| e.to_string())?;
    let (n, d) = measure(secs, || {
        black_box(
            unparsed
                .verify(black_box(message), black_box(&signature))
                .is_ok(),
        );
    });
    println!(
        "aws-lc-rs RSA-2048 verify (UnparsedPublicKey):   {:8.1} µs/verify  ({:>7.0} verifies/s on one core)  <- reference",
        per_call_us(n, d),
        n as f64 / d.as_secs_f64()
    );
    let parsed =
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public).map_err(|e| e.to_string())?;
    let (n, d) = measure(secs, || {
        black_box(
            parsed
                .verify_sig(black_box(message), black_box(&signature))
                .is_ok(),
        );
    });
    println!(
        "aws-lc-rs RSA-2048 verify (ParsedPublicKey):     {:8.1} µs/verify  ({:>7.0} verifies/s on one core)",
        per_call_us(n, d),
        n as f64 / d.as_secs_f64()
    );
    Ok(())
}
