//! The card scenario of `onshi bench`: real certificates from the card CA for people in
//! the database, nonces issued by the running central just before the timed window and
//! signed on this side (the cards' work, which real facilities spread over thousands of
//! readers). Central does all of its checks on every request: nonce MAC, expiry and
//! single use (committed with the history row), chain, CRL, RSA signature, registry.

use anyhow::{Context, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use onshi_central::client::CentralClient;
use onshi_central::provision::{self, DataDir};
use onshi_core::text::normalize_card_text;
use onshi_core::{Clock, SystemClock, Ymd};
use onshi_pki::CertProfile;
use onshi_store::{CardKey, CardQuery, CardRecord, Store};
use std::time::Instant;

/// Cards to issue (distinct people and keys).
const CARDS: usize = 50;

/// RSA-2048 PKCS#1 v1.5 SHA-256 verifications per second on one core (aws-lc-rs).
pub fn rsa_verify_rate() -> f64 {
    let Ok(key) = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048) else {
        return 0.0;
    };
    let message = b"onshi benchmark nonce 0123456789abcdef";
    let mut sig = vec![0u8; key.public_modulus_len()];
    if key
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message,
            &mut sig,
        )
        .is_err()
    {
        return 0.0;
    }
    let public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref().to_vec(),
    );
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < 1.0 {
        for _ in 0..100 {
            let _ = public.verify(message, &sig);
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Issues real card certificates (card CA) to up to 50 people with a valid qualification
/// among `keys`, registered for use.
pub async fn issue_cards(dir: &DataDir, store: &Store, keys: &[CardKey]) -> Result<Vec<BenchCard>> {
    let today = SystemClock.now().date();
    let mut persons = Vec::new();
    for k in keys.iter().take(CARDS * 4) {
        let q = CardQuery {
            insurer_number: k.insurer_number.clone(),
            symbol_norm: k
                .symbol
                .as_deref()
                .map(normalize_card_text)
                .unwrap_or_default(),
            number_norm: normalize_card_text(&k.number),
            branch: k.branch,
            birthdate: Ymd::parse(&k.birthdate)?,
        };
        if let Some(r) = store
            .find_by_card(&q)
            .await?
            .into_iter()
            .find(|r| onshi_central::engine::covers(r, today))
        {
            persons.push(r.person.id);
        }
        if persons.len() >= CARDS {
            break;
        }
    }
    let ca = provision::ensure_card_ca(dir)?;
    let now = time::OffsetDateTime::now_utc();
    let mut cards = Vec::new();
    let mut records = Vec::new();
    for person in &persons {
        let issued = onshi_pki::issue_auth_certificate(
            &ca,
            CertProfile::Card,
            now - time::Duration::days(365),
            now + time::Duration::days(730),
        )?;
        let key = RsaKeyPair::from_pkcs8(&issued.key_pkcs8_der)
            .map_err(|e| anyhow::anyhow!("card key: {e}"))?;
        let at = onshi_core::date::JstDateTime::from_unix_micros(i64::try_from(
            now.unix_timestamp_nanos() / 1000,
        )?);
        records.push(CardRecord {
            serial: issued.serial_hex.clone(),
            person_id: *person,
            profile: CertProfile::Card.as_str().into(),
            not_after: today.add_days(700),
            issued_at: at,
            revoked_at: None,
            registered_at: Some(at),
        });
        cards.push((STANDARD.encode(&issued.cert_der), key));
    }
    store.insert_cards(&records).await?;
    anyhow::ensure!(
        !cards.is_empty(),
        "no person with a valid qualification to issue cards to"
    );
    Ok(cards)
}

/// A card of the benchmark: its certificate (base64 DER) and its key.
pub type BenchCard = (String, RsaKeyPair);

/// Issues cards, fetches `total` nonces and signs them; returns the request bodies.
pub async fn prepare(
    dir: &DataDir,
    store: &Store,
    client: &CentralClient,
    keys: &[CardKey],
    total: usize,
) -> Result<Vec<Bytes>> {
    let cards = issue_cards(dir, store, keys).await?;
    // Nonces, fetched over several connections.
    let started = Instant::now();
    let per = total.div_ceil(8);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = client.connect().await?;
            let mut out = Vec::with_capacity(per);
            for _ in 0..per {
                out.push(onshi_central::card_client::nonce(&mut conn).await?);
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut nonces = Vec::with_capacity(total);
    for t in tasks {
        nonces.extend(t.await.context("nonce task")??);
    }
    nonces.truncate(total);
    eprintln!(
        "card: {} cards, {} nonces in {:.1} s; signing…",
        cards.len(),
        nonces.len(),
        started.elapsed().as_secs_f64()
    );

    // Signatures, on both cores.
    let rng = SystemRandom::new();
    let chunks: Vec<&[String]> = nonces.chunks(nonces.len().div_ceil(2).max(1)).collect();
    let bodies: Vec<Vec<Bytes>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(|(c, chunk)| {
                let cards = &cards;
                let rng = &rng;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, nonce)| {
                            signed_check(&cards[(c * 7 + i) % cards.len()], nonce, rng)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    eprintln!(
        "card: signed in {:.1} s after the first nonce",
        started.elapsed().as_secs_f64()
    );
    Ok(bodies.into_iter().flatten().collect())
}

/// The JSON body of a card check: `nonce` signed by the card (face authentication, both
/// consents given).
pub fn signed_check(card: &BenchCard, nonce: &str, rng: &SystemRandom) -> Bytes {
    let (cert, key) = card;
    let mut sig = vec![0u8; key.public_modulus_len()];
    let _ = key.sign(
        &signature::RSA_PKCS1_SHA256,
        rng,
        nonce.as_bytes(),
        &mut sig,
    );
    let body = serde_json::json!({
        "nonce": nonce,
        "certificate": cert,
        "signature": STANDARD.encode(&sig),
        "identity_method": "face",
        "consents": {"pharmacists": true, "specific_health_checkups": true},
    });
    Bytes::from(body.to_string())
}
