//! PcscCard driven through myna-card's scripted MockTransport: the APDUs it sends and how it
//! reads the card's answers. Needs only `--features pcsc` (no PC/SC system library).
#![cfg(feature = "pcsc")]

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use myna_card::transport::mock::MockTransport;
use onshi_pki::pcsc::sha256_digest_info;
use onshi_pki::{
    Card, CardError, CardVerifier, CertProfile, EmulatedFaceMatcher, IssuedAuthCert, PcscCard,
    issue_auth_certificate, new_card_ca,
};
use std::sync::OnceLock;
use time::macros::datetime;

const SELECT_JPKI: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01,
];
const OK: [u8; 2] = [0x90, 0x00];

struct Fx {
    ca_der: Vec<u8>,
    issued: IssuedAuthCert,
}

fn fx() -> &'static Fx {
    static F: OnceLock<Fx> = OnceLock::new();
    F.get_or_init(|| {
        let ca = new_card_ca("onshi card CA").expect("ca");
        let issued = issue_auth_certificate(
            &ca,
            CertProfile::Card,
            datetime!(2025-01-01 00:00 UTC),
            datetime!(2030-01-01 00:00 UTC),
        )
        .expect("issue");
        Fx {
            ca_der: ca.cert_der().expect("der"),
            issued,
        }
    })
}

fn ok(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.extend_from_slice(&OK);
    v
}

/// The card's answers to: SELECT JPKI AP, SELECT EF 000A, then READ BINARY in 256-byte chunks.
fn read_cert_script(cert: &[u8]) -> Vec<Vec<u8>> {
    let mut script = vec![OK.to_vec(), OK.to_vec()];
    script.extend(cert.chunks(256).map(ok));
    script
}

fn card_sign(issued: &IssuedAuthCert, msg: &[u8]) -> Vec<u8> {
    let key = RsaKeyPair::from_pkcs8(&issued.key_pkcs8_der).expect("key");
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        msg,
        &mut sig,
    )
    .expect("sign");
    sig
}

#[test]
fn reads_the_certificate_verifies_the_pin_and_signs() {
    let f = fx();
    let cert = &f.issued.cert_der;
    assert!(cert.len() > 256, "the read must span several APDUs");
    let msg = b"nonce:abc facility:0110113719";
    let sig = card_sign(&f.issued, msg);

    let mut script = read_cert_script(cert);
    script.extend([OK.to_vec(), OK.to_vec(), OK.to_vec()]); // SELECT AP, SELECT EF 0018, VERIFY
    script.extend([OK.to_vec(), ok(&sig)]); // SELECT AP, COMPUTE SIGNATURE
    let mut card = PcscCard::new(MockTransport::new(script));

    assert_eq!(&card.auth_certificate().expect("cert"), cert);
    assert_eq!(card.profile().expect("profile"), CertProfile::Card);
    card.verify_pin("1234").expect("pin");
    let got = card.sign(msg).expect("sign");
    assert_eq!(got, sig);

    let t = card.into_transport();
    assert!(t.is_drained());
    assert_eq!(t.sent[0], SELECT_JPKI);
    assert_eq!(t.sent[1], [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]);
    assert_eq!(&t.sent[2][..4], &[0x00, 0xB0, 0x00, 0x00]); // READ BINARY from 0
    let n = 2 + cert.len().div_ceil(256);
    assert_eq!(t.sent[n], SELECT_JPKI);
    assert_eq!(t.sent[n + 1], [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
    assert_eq!(
        t.sent[n + 2],
        [0x00, 0x20, 0x00, 0x80, 0x04, b'1', b'2', b'3', b'4']
    );
    // 80 2A 00 80 (P1 00: the card pads the DigestInfo we hand it; P2: key EF 0017), Le=256.
    let mut expected = vec![0x80, 0x2A, 0x00, 0x97, 51];
    expected.extend_from_slice(&sha256_digest_info(msg));
    expected.push(0x00);
    assert_eq!(t.sent[n + 4], expected);

    // And central accepts what the card produced.
    let v = CardVerifier::new(vec![f.ca_der.clone()], vec![]).expect("verifier");
    let ok = v
        .verify(cert, msg, &got, datetime!(2026-01-01 00:00 UTC))
        .expect("verify");
    assert_eq!(ok.serial_hex, f.issued.serial_hex);
}

#[test]
fn wrong_pins_count_down_to_the_lock() {
    let pin_attempt = |sw: [u8; 2]| vec![OK.to_vec(), OK.to_vec(), sw.to_vec()];
    let mut script = vec![OK.to_vec(), OK.to_vec(), vec![0x63, 0xC3]]; // tries left: 3
    script.extend(pin_attempt([0x63, 0xC2]));
    script.extend(pin_attempt([0x63, 0xC1]));
    script.extend(pin_attempt([0x63, 0xC0])); // the third wrong one blocks
    script.extend(pin_attempt([0x69, 0x84])); // blocked: even the right PIN
    script.extend([OK.to_vec(), OK.to_vec(), vec![0x69, 0x84]]); // tries left: blocked
    let mut card = PcscCard::new(MockTransport::new(script));

    assert_eq!(card.pin_tries_left().expect("tries"), 3);
    assert!(matches!(
        card.verify_pin("0000"),
        Err(CardError::WrongPin { tries_left: 2 })
    ));
    assert!(matches!(
        card.verify_pin("0000"),
        Err(CardError::WrongPin { tries_left: 1 })
    ));
    assert!(matches!(card.verify_pin("0000"), Err(CardError::Locked)));
    assert!(matches!(card.verify_pin("1234"), Err(CardError::Locked)));
    assert_eq!(card.pin_tries_left().expect("tries"), 0);
    assert!(matches!(card.sign(b"x"), Err(CardError::NotUnlocked)));
    let t = card.into_transport();
    assert!(t.is_drained());
    // The retry query is an empty VERIFY (no attempt spent).
    assert_eq!(t.sent[2], [0x00, 0x20, 0x00, 0x80]);
}

#[test]
fn refuses_without_reaching_the_card() {
    let mut card = PcscCard::new(MockTransport::new([]));
    assert!(matches!(card.sign(b"x"), Err(CardError::NotUnlocked)));
    assert!(matches!(
        card.verify_pin("12345"),
        Err(CardError::PinFormat)
    ));
    assert!(matches!(
        card.unlock_with_face(b"face", &EmulatedFaceMatcher),
        Err(CardError::Unsupported(_))
    ));
    assert!(card.into_transport().sent.is_empty());
}

#[test]
fn a_signature_that_does_not_match_the_certificate_is_caught() {
    let f = fx();
    let mut script = read_cert_script(&f.issued.cert_der);
    script.extend([OK.to_vec(), OK.to_vec(), OK.to_vec()]);
    script.extend([OK.to_vec(), ok(&card_sign(&f.issued, b"something else"))]);
    let mut card = PcscCard::new(MockTransport::new(script));
    card.auth_certificate().expect("cert");
    card.verify_pin("1234").expect("pin");
    assert!(matches!(card.sign(b"challenge"), Err(CardError::Crypto(_))));
}

#[test]
fn card_errors_become_reader_errors() {
    // SELECT of the JPKI AP fails (not a My Number card).
    let mut card = PcscCard::new(MockTransport::new([vec![0x6A, 0x82]]));
    let err = card.auth_certificate().expect_err("must fail");
    assert!(matches!(err, CardError::Reader(_)), "{err}");
    assert_eq!(err.code(), "card_reader");
}
