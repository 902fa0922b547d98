//! My Number card cryptography: the card CA and profiles, central's verifier, software cards.
//! RSA key generation is slow in debug builds, so all tests share one set of keys.

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use onshi_pki::{
    Card, CardError, CardVerifier, CardVerifyError, CertAndKey, CertProfile, EmulatedFaceMatcher,
    IssuedAuthCert, SoftwareCard, end_of_day_jst, inspect_card_cert, issue_auth_certificate,
    make_crl, new_card_ca, profile_of,
};
use std::sync::OnceLock;
use time::OffsetDateTime;
use time::macros::{date, datetime};

const FACE: [u8; 32] = [0x42; 32];
const PIN: &str = "1234";

struct Fixture {
    ca: CertAndKey,
    ca_der: Vec<u8>,
    /// One certificate per profile, in `CertProfile::ALL` order.
    issued: Vec<IssuedAuthCert>,
    /// A different CA with the *same name* as the real one, and a certificate it issued.
    impostor_ca_der: Vec<u8>,
    impostor: IssuedAuthCert,
}

fn not_before() -> OffsetDateTime {
    datetime!(2025-01-01 00:00 UTC)
}

fn not_after() -> OffsetDateTime {
    end_of_day_jst(date!(2030 - 06 - 15))
}

fn at() -> OffsetDateTime {
    datetime!(2026-01-01 12:00 UTC)
}

fn fx() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ca = new_card_ca("onshi card CA").expect("ca");
        let issued = CertProfile::ALL
            .iter()
            .map(|&p| issue_auth_certificate(&ca, p, not_before(), not_after()).expect("issue"))
            .collect();
        let impostor_ca = new_card_ca("onshi card CA").expect("impostor ca");
        let impostor =
            issue_auth_certificate(&impostor_ca, CertProfile::Card, not_before(), not_after())
                .expect("impostor cert");
        Fixture {
            ca_der: ca.cert_der().expect("der"),
            ca,
            issued,
            impostor_ca_der: impostor_ca.cert_der().expect("der"),
            impostor,
        }
    })
}

fn issued(p: CertProfile) -> &'static IssuedAuthCert {
    let i = CertProfile::ALL
        .iter()
        .position(|&q| q == p)
        .expect("profile");
    &fx().issued[i]
}

fn sign(issued: &IssuedAuthCert, msg: &[u8]) -> Vec<u8> {
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

fn verifier(crls: Vec<Vec<u8>>) -> CardVerifier {
    CardVerifier::new(vec![fx().ca_der.clone()], crls).expect("verifier")
}

fn empty_crl() -> Vec<u8> {
    make_crl(
        &fx().ca,
        &[],
        datetime!(2025-12-01 00:00 UTC),
        datetime!(2026-12-01 00:00 UTC),
        1,
    )
    .expect("crl")
}

// ---- certificates and verification ----------------------------------------------------------

#[test]
fn round_trip_for_each_profile() {
    let v = verifier(vec![empty_crl()]);
    for p in CertProfile::ALL {
        let c = issued(p);
        let msg = b"nonce:0123456789abcdef facility:1312345678";
        let ok = v
            .verify(&c.cert_der, msg, &sign(c, msg), at())
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(ok.profile, p);
        assert_eq!(ok.serial_hex, c.serial_hex);
        assert_eq!(ok.serial_hex.len(), 32);
        assert_eq!(ok.not_before, not_before());
        assert_eq!(ok.not_after, not_after());
        let fp = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &c.cert_der);
        let fp_hex: String = fp.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ok.sha256_fingerprint_hex, fp_hex);
    }
}

#[test]
fn verifying_without_crls_still_checks_the_rest() {
    let v = verifier(vec![]);
    let c = issued(CertProfile::Card);
    assert!(v.verify(&c.cert_der, b"m", &sign(c, b"m"), at()).is_ok());
    assert_eq!(
        v.verify(&c.cert_der, b"m", &sign(c, b"x"), at()),
        Err(CardVerifyError::BadSignature)
    );
}

#[test]
fn certificate_profile_carries_no_personal_data() {
    let c = issued(CertProfile::Card);
    let (_, x) = x509_parser::parse_x509_certificate(&c.cert_der).expect("parse");
    // Subject: one opaque CN, nothing else.
    let attrs: Vec<_> = x.subject().iter_attributes().collect();
    assert_eq!(attrs.len(), 1);
    let cn = x
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .expect("cn");
    assert!(cn.starts_with("JPKI-AUTH-"), "{cn}");
    assert!(x.subject_alternative_name().expect("san").is_none());
    assert!(x.issuer().to_string().contains("onshi card CA"));
    // RSA-2048, SHA256withRSA, digitalSignature, clientAuth, 16-byte serial.
    assert_eq!(
        x.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.11"
    );
    match x.public_key().parsed().expect("key") {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not RSA: {other:?}"),
    }
    let ku = x.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    let eku = x
        .extended_key_usage()
        .expect("eku")
        .expect("eku present")
        .value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(x.raw_serial().len(), 16);
    assert_eq!(x.raw_serial_as_string().replace(':', ""), c.serial_hex);
    // Serial numbers are random.
    assert_ne!(
        issued(CertProfile::Card).serial_hex,
        issued(CertProfile::SmartphoneAndroid).serial_hex
    );
}

#[test]
fn signature_over_another_message_is_refused() {
    let v = verifier(vec![empty_crl()]);
    let c = issued(CertProfile::Card);
    let sig = sign(c, b"nonce A");
    let err = v
        .verify(&c.cert_der, b"nonce B", &sig, at())
        .expect_err("must fail");
    assert_eq!(err, CardVerifyError::BadSignature);
    assert_eq!(err.code(), "bad_signature");
    // Garbage and truncated signatures too.
    assert_eq!(
        v.verify(&c.cert_der, b"nonce A", &[0u8; 256], at()),
        Err(CardVerifyError::BadSignature)
    );
    assert_eq!(
        v.verify(&c.cert_der, b"nonce A", &sig[..255], at()),
        Err(CardVerifyError::BadSignature)
    );
    // Another card's signature over the right message.
    let other = issued(CertProfile::SmartphoneAndroid);
    assert_eq!(
        v.verify(&c.cert_der, b"nonce A", &sign(other, b"nonce A"), at()),
        Err(CardVerifyError::BadSignature)
    );
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let f = fx();
    let v = verifier(vec![empty_crl()]);
    // Same CA name, different key.
    let sig = sign(&f.impostor, b"m");
    let err = v
        .verify(&f.impostor.cert_der, b"m", &sig, at())
        .expect_err("must fail");
    assert_eq!(err, CardVerifyError::UnknownIssuer);
    assert_eq!(err.code(), "cert_unknown_issuer");

    // A differently named (ECDSA) CA and a client certificate from it.
    let rogue = onshi_pki::new_ca("rogue CA", "rogue").expect("ca");
    let code = onshi_core::ids::MedicalInstitutionCode::parse("0110113719").expect("code");
    let cert = onshi_pki::issue_facility_cert(&rogue, &code, "x").expect("cert");
    let der = cert.cert_der().expect("der");
    let now = OffsetDateTime::now_utc();
    let err = v.verify(&der, b"m", &[0; 64], now).expect_err("must fail");
    assert_eq!(err, CardVerifyError::UnknownIssuer);

    // The impostor CA cannot publish a CRL for ours either.
    let _ = &f.impostor_ca_der;
}

#[test]
fn revoked_certificate_is_refused() {
    let f = fx();
    let revoked = issued(CertProfile::Card);
    let crl = make_crl(
        &f.ca,
        &[
            revoked.serial_hex.clone(),
            "00ff00112233".into(),
            "7FAB".into(),
        ],
        datetime!(2025-12-01 00:00 UTC),
        datetime!(2026-12-01 00:00 UTC),
        2,
    )
    .expect("crl");
    let v = verifier(vec![crl.clone()]);
    let err = v
        .verify(&revoked.cert_der, b"m", &sign(revoked, b"m"), at())
        .expect_err("must fail");
    assert_eq!(err, CardVerifyError::Revoked);
    assert_eq!(err.code(), "cert_revoked");
    // Revocation is checked even when central moves `at` back into the validity (grace).
    assert_eq!(
        v.verify(
            &revoked.cert_der,
            b"m",
            &sign(revoked, b"m"),
            datetime!(2025-02-01 00:00 UTC)
        ),
        Err(CardVerifyError::Revoked)
    );
    // Others from the same CA still pass with the same CRL.
    let fine = issued(CertProfile::SmartphoneIphone);
    assert!(
        v.verify(&fine.cert_der, b"m", &sign(fine, b"m"), at())
            .is_ok()
    );
    // The CRL lists the serials we gave it.
    let (_, parsed) = x509_parser::parse_x509_crl(&crl).expect("crl parse");
    let serials: Vec<String> = parsed
        .iter_revoked_certificates()
        .map(|r| {
            r.raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .collect();
    assert!(serials.contains(&revoked.serial_hex));
    assert_eq!(parsed.crl_number().map(|n| n.to_string()), Some("2".into()));
}

#[test]
fn crl_problems_are_reported() {
    let f = fx();
    // A CRL that is not from a card CA is refused up front.
    let impostor_ca = new_card_ca("other CA").expect("ca");
    let foreign = make_crl(
        &impostor_ca,
        &[],
        datetime!(2025-12-01 00:00 UTC),
        datetime!(2026-12-01 00:00 UTC),
        1,
    )
    .expect("crl");
    assert!(CardVerifier::new(vec![f.ca_der.clone()], vec![foreign.clone()]).is_err());
    assert!(CardVerifier::new(vec![f.ca_der.clone()], vec![b"junk".to_vec()]).is_err());
    assert!(CardVerifier::new(vec![], vec![]).is_err());
    // With CRLs configured, a CA without one fails closed.
    let two = CardVerifier::new(
        vec![f.ca_der.clone(), impostor_ca.cert_der().expect("der")],
        vec![foreign],
    )
    .expect("verifier");
    let c = issued(CertProfile::Card);
    let err = two
        .verify(&c.cert_der, b"m", &sign(c, b"m"), at())
        .expect_err("must fail");
    assert_eq!(err, CardVerifyError::RevocationUnknown);
    // Bad serial text.
    assert!(
        make_crl(
            &f.ca,
            &["xyz".into()],
            datetime!(2025-12-01 00:00 UTC),
            datetime!(2026-12-01 00:00 UTC),
            3
        )
        .is_err()
    );
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let v = verifier(vec![empty_crl()]);
    let c = issued(CertProfile::Card);
    let sig = sign(c, b"m");
    let err = v
        .verify(
            &c.cert_der,
            b"m",
            &sig,
            not_after() + time::Duration::seconds(1),
        )
        .expect_err("must fail");
    assert_eq!(err, CardVerifyError::Expired);
    assert_eq!(err.code(), "cert_expired");
    assert_eq!(
        v.verify(
            &c.cert_der,
            b"m",
            &sig,
            not_before() - time::Duration::days(1)
        ),
        Err(CardVerifyError::NotYetValid)
    );
    // The last second is still valid.
    assert!(v.verify(&c.cert_der, b"m", &sig, not_after()).is_ok());
}

#[test]
fn inspect_reads_without_validating() {
    let f = fx();
    let c = issued(CertProfile::SmartphoneAndroid);
    let info = inspect_card_cert(&c.cert_der).expect("inspect");
    assert_eq!(info.serial_hex, c.serial_hex);
    assert_eq!(info.profile, CertProfile::SmartphoneAndroid);
    assert_eq!(info.not_before, not_before());
    assert_eq!(info.not_after, not_after());
    // Even an impostor's certificate can be inspected: inspect is not a check.
    assert!(inspect_card_cert(&f.impostor.cert_der).is_ok());
    assert_eq!(
        verifier(vec![]).inspect(b"garbage"),
        Err(CardVerifyError::Malformed)
    );
}

#[test]
fn malformed_and_wrong_usage() {
    let f = fx();
    let v = verifier(vec![empty_crl()]);
    let err = v
        .verify(b"\x30\x03\x02\x01\x01", b"m", &[0; 256], at())
        .expect_err("must fail");
    assert_eq!(err, CardVerifyError::Malformed);
    assert_eq!(err.code(), "cert_malformed");
    let mut truncated = issued(CertProfile::Card).cert_der.clone();
    truncated.pop();
    assert_eq!(
        v.verify(&truncated, b"m", &[0; 256], at()),
        Err(CardVerifyError::Malformed)
    );

    // A server certificate issued by the card CA is not a card certificate.
    // (Those are made valid from yesterday, so check them now.)
    let now = OffsetDateTime::now_utc();
    let server = onshi_pki::issue_server_cert(&f.ca, &["example.test"]).expect("server cert");
    let der = server.cert_der().expect("der");
    let err = v.verify(&der, b"m", &[0; 64], now).expect_err("must fail");
    assert_eq!(err, CardVerifyError::WrongUsage, "{err}");
    // A client certificate from the card CA without our profile policy.
    let code = onshi_core::ids::MedicalInstitutionCode::parse("0110113719").expect("code");
    let client = onshi_pki::issue_facility_cert(&f.ca, &code, "x").expect("client cert");
    let der = client.cert_der().expect("der");
    let err = v.verify(&der, b"m", &[0; 64], now).expect_err("must fail");
    assert_eq!(err, CardVerifyError::WrongUsage, "{err}");
    assert!(profile_of(&der).is_err());
}

#[test]
fn error_codes_are_distinct() {
    let all = [
        CardVerifyError::Malformed,
        CardVerifyError::UnknownIssuer,
        CardVerifyError::Revoked,
        CardVerifyError::RevocationUnknown,
        CardVerifyError::Expired,
        CardVerifyError::NotYetValid,
        CardVerifyError::WrongUsage,
        CardVerifyError::UnsupportedAlgorithm,
        CardVerifyError::BadSignature,
        CardVerifyError::Invalid("x".into()),
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(CardVerifyError::code).collect();
    assert_eq!(codes.len(), all.len());
}

#[test]
fn profile_of_distinguishes_all_three() {
    for p in CertProfile::ALL {
        assert_eq!(profile_of(&issued(p).cert_der).expect("profile"), p);
    }
    assert!(profile_of(&fx().ca_der).is_err());
    assert!(profile_of(b"junk").is_err());
}

#[test]
fn issuing_checks_dates() {
    assert!(
        issue_auth_certificate(&fx().ca, CertProfile::Card, not_after(), not_before()).is_err()
    );
}

// ---- software cards -------------------------------------------------------------------------

fn new_card(dir: &tempfile::TempDir, p: CertProfile) -> (SoftwareCard, std::path::PathBuf) {
    let path = dir.path().join(format!("{p}.card.json"));
    let card = SoftwareCard::create(&path, issued(p), PIN, FACE).expect("create");
    (card, path)
}

fn check_signature(card: &mut dyn Card, p: CertProfile) {
    let sig = card.sign(b"challenge").expect("sign");
    let ok = verifier(vec![])
        .verify(&issued(p).cert_der, b"challenge", &sig, at())
        .expect("verify");
    assert_eq!(ok.profile, p);
}

#[test]
fn two_wrong_pins_then_the_right_one_resets_the_counter() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut card, _) = new_card(&dir, CertProfile::Card);
    assert_eq!(card.pin_tries_left().expect("tries"), 3);
    assert!(matches!(
        card.verify_pin("0000"),
        Err(CardError::WrongPin { tries_left: 2 })
    ));
    let err = card.verify_pin("9999").expect_err("must fail");
    assert!(matches!(err, CardError::WrongPin { tries_left: 1 }));
    assert_eq!(err.code(), "pin_wrong");
    card.verify_pin(PIN).expect("right pin");
    assert_eq!(card.pin_tries_left().expect("tries"), 3);
    check_signature(&mut card, CertProfile::Card);
    // And the counter really is back to 3: two more wrong ones do not lock.
    assert!(card.verify_pin("0000").is_err());
    assert!(card.verify_pin("0000").is_err());
    // A failed VERIFY ended the unlocked state.
    assert!(matches!(card.sign(b"x"), Err(CardError::NotUnlocked)));
    card.verify_pin(PIN).expect("right pin");
}

#[test]
fn three_wrong_pins_lock_for_good() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut card, path) = new_card(&dir, CertProfile::Card);
    card.verify_pin(PIN).expect("unlock first");
    assert!(card.verify_pin("1111").is_err());
    assert!(card.verify_pin("2222").is_err());
    let err = card.verify_pin("3333").expect_err("must fail");
    assert!(matches!(err, CardError::Locked), "{err}");
    assert_eq!(err.code(), "pin_locked");
    assert_eq!(card.pin_tries_left().expect("tries"), 0);
    assert!(matches!(card.verify_pin(PIN), Err(CardError::Locked)));
    assert!(matches!(card.sign(b"x"), Err(CardError::Locked)));
    assert!(matches!(
        card.unlock_with_face(&FACE, &EmulatedFaceMatcher),
        Err(CardError::Locked)
    ));
    // Still locked in a new session.
    drop(card);
    let mut card = SoftwareCard::open(&path).expect("open");
    assert!(card.is_locked());
    assert!(matches!(card.verify_pin(PIN), Err(CardError::Locked)));
    assert!(matches!(card.sign(b"x"), Err(CardError::Locked)));
}

#[test]
fn the_counter_survives_reopening() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut card, path) = new_card(&dir, CertProfile::Card);
    assert!(card.verify_pin("0000").is_err());
    drop(card); // pull the card
    let mut card = SoftwareCard::open(&path).expect("open");
    assert_eq!(card.pin_tries_left().expect("tries"), 2);
    assert!(card.verify_pin("0000").is_err());
    // A second handle on the same file sees the same counter (read before every attempt).
    let mut other = SoftwareCard::open(&path).expect("open");
    assert_eq!(other.pin_tries_left().expect("tries"), 1);
    assert!(matches!(other.verify_pin("0000"), Err(CardError::Locked)));
    assert!(matches!(card.verify_pin(PIN), Err(CardError::Locked)));
    // The file says so too.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(json["pin_tries_left"], 0);
    assert_eq!(json["locked"], true);
}

#[test]
fn signing_needs_an_unlock() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut card, path) = new_card(&dir, CertProfile::Card);
    let err = card.sign(b"x").expect_err("must fail");
    assert!(matches!(err, CardError::NotUnlocked));
    assert_eq!(err.code(), "card_not_unlocked");
    card.verify_pin(PIN).expect("pin");
    check_signature(&mut card, CertProfile::Card);
    // The unlock belongs to the session, not the file.
    let mut again = SoftwareCard::open(&path).expect("open");
    assert!(matches!(again.sign(b"x"), Err(CardError::NotUnlocked)));
    // The certificate is readable without any PIN.
    assert_eq!(
        again.auth_certificate().expect("cert"),
        issued(CertProfile::Card).cert_der
    );
}

#[test]
fn face_unlock() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut card, _) = new_card(&dir, CertProfile::Card);
    let err = card
        .unlock_with_face(&[0x41; 32], &EmulatedFaceMatcher)
        .expect_err("must fail");
    assert!(matches!(err, CardError::FaceMismatch));
    assert_eq!(err.code(), "face_mismatch");
    for _ in 0..5 {
        assert!(
            card.unlock_with_face(b"someone else", &EmulatedFaceMatcher)
                .is_err()
        );
    }
    // Face failures do not touch the PIN counter.
    assert_eq!(card.pin_tries_left().expect("tries"), 3);
    assert!(matches!(card.sign(b"x"), Err(CardError::NotUnlocked)));
    card.unlock_with_face(&FACE, &EmulatedFaceMatcher)
        .expect("face");
    check_signature(&mut card, CertProfile::Card);
}

#[test]
fn pin_format_is_checked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("x.json");
    for bad in ["123", "12345", "abcd", "", "１２３４"] {
        assert!(matches!(
            SoftwareCard::create(&path, issued(CertProfile::Card), bad, FACE),
            Err(CardError::PinFormat)
        ));
    }
    assert!(!path.exists());
    let (mut card, path) = new_card(&dir, CertProfile::Card);
    assert!(matches!(card.verify_pin("12a4"), Err(CardError::PinFormat)));
    assert_eq!(card.pin_tries_left().expect("tries"), 3);
    // An existing card file is never overwritten (that could reset a lock).
    assert!(SoftwareCard::create(&path, issued(CertProfile::Card), PIN, FACE).is_err());
}

#[test]
fn the_file_is_sealed_not_plain() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, path) = new_card(&dir, CertProfile::Card);
    let text = std::fs::read_to_string(&path).expect("read");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["pin_seal"]["kdf"], "pbkdf2-hmac-sha256");
    assert!(json["pin_seal"]["iterations"].as_u64().expect("iterations") >= 200_000);
    assert_eq!(json["pin_tries_left"], 3);
    // The key is not in the file in the clear.
    use base64::Engine;
    let key_b64 =
        base64::engine::general_purpose::STANDARD.encode(&issued(CertProfile::Card).key_pkcs8_der);
    assert!(!text.contains(&key_b64[..40]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // A weakened KDF is refused on open.
    let weakened = text.replace("\"iterations\": 200000", "\"iterations\": 1000");
    assert_ne!(weakened, text);
    std::fs::write(&path, weakened).expect("write");
    assert!(matches!(
        SoftwareCard::open(&path),
        Err(CardError::Malformed(_))
    ));
}

#[test]
fn mismatched_key_is_refused_at_creation() {
    let dir = tempfile::tempdir().expect("dir");
    let mut wrong = issued(CertProfile::Card).clone();
    wrong.key_pkcs8_der = issued(CertProfile::SmartphoneAndroid).key_pkcs8_der.clone();
    assert!(matches!(
        SoftwareCard::create(&dir.path().join("w.json"), &wrong, PIN, FACE),
        Err(CardError::Malformed(_))
    ));
}

#[test]
fn smartphones() {
    let dir = tempfile::tempdir().expect("dir");
    // iPhone: biometric on the phone (the face path), no PIN at the reader.
    let (mut iphone, _) = new_card(&dir, CertProfile::SmartphoneIphone);
    assert_eq!(
        iphone.profile().expect("profile"),
        CertProfile::SmartphoneIphone
    );
    assert!(matches!(
        iphone.verify_pin(PIN),
        Err(CardError::Unsupported(_))
    ));
    assert_eq!(iphone.pin_tries_left().expect("tries"), 3);
    assert!(matches!(
        iphone.unlock_with_face(&[0; 32], &EmulatedFaceMatcher),
        Err(CardError::FaceMismatch)
    ));
    iphone
        .unlock_with_face(&FACE, &EmulatedFaceMatcher)
        .expect("biometric");
    check_signature(&mut iphone, CertProfile::SmartphoneIphone);

    // Android: the 4-digit PIN at the reader, no face path.
    let (mut android, _) = new_card(&dir, CertProfile::SmartphoneAndroid);
    assert_eq!(
        android.profile().expect("profile"),
        CertProfile::SmartphoneAndroid
    );
    assert!(matches!(
        android.unlock_with_face(&FACE, &EmulatedFaceMatcher),
        Err(CardError::Unsupported(_))
    ));
    assert!(matches!(
        android.verify_pin("0000"),
        Err(CardError::WrongPin { tries_left: 2 })
    ));
    android.verify_pin(PIN).expect("pin");
    check_signature(&mut android, CertProfile::SmartphoneAndroid);

    // The physical card has both paths.
    let (mut card, _) = new_card(&dir, CertProfile::Card);
    assert_eq!(card.profile().expect("profile"), CertProfile::Card);
}

#[test]
fn revocation_agrees_with_webpkis_own_crl_check() {
    use rustls::pki_types::{CertificateDer, UnixTime};
    let f = fx();
    let revoked = issued(CertProfile::Card);
    let fine = issued(CertProfile::SmartphoneAndroid);
    let crl_der = make_crl(
        &f.ca,
        std::slice::from_ref(&revoked.serial_hex),
        datetime!(2025-12-01 00:00 UTC),
        datetime!(2026-12-01 00:00 UTC),
        4,
    )
    .expect("crl");
    let crl = webpki::CertRevocationList::from(
        webpki::OwnedCertRevocationList::from_der(&crl_der).expect("crl"),
    );
    let crls = [&crl];
    let ca = CertificateDer::from(f.ca_der.as_slice());
    let anchors = [webpki::anchor_from_trusted_cert(&ca).expect("anchor")];
    let time =
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(at().unix_timestamp() as u64));
    let webpki_says = |der: &[u8]| {
        let cert = CertificateDer::from(der);
        let ee = webpki::EndEntityCert::try_from(&cert).expect("ee");
        let revocation = webpki::RevocationOptionsBuilder::new(&crls)
            .expect("crls")
            .build();
        ee.verify_for_usage(
            &[webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256],
            &anchors,
            &[],
            time,
            webpki::KeyUsage::client_auth(),
            Some(revocation),
            None,
        )
        .map(|_| ())
    };
    assert!(matches!(
        webpki_says(&revoked.cert_der),
        Err(webpki::Error::CertRevoked)
    ));
    assert!(webpki_says(&fine.cert_der).is_ok());
    let v = verifier(vec![crl_der]);
    assert_eq!(
        v.verify(&revoked.cert_der, b"m", &sign(revoked, b"m"), at()),
        Err(CardVerifyError::Revoked)
    );
    assert!(
        v.verify(&fine.cert_der, b"m", &sign(fine, b"m"), at())
            .is_ok()
    );
}

#[test]
fn a_tampered_crl_is_refused() {
    let mut crl = empty_crl();
    let last = crl.len() - 1;
    crl[last] ^= 1; // flip a bit of the signature
    assert!(CardVerifier::new(vec![fx().ca_der.clone()], vec![crl]).is_err());
}

#[cfg(unix)]
#[test]
#[allow(clippy::unwrap_used)]
fn the_card_ca_is_made_once_with_a_private_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let layout = onshi_pki::PkiLayout::new(dir.path());
    let first = layout.ensure_card_ca().unwrap();
    let again = layout.ensure_card_ca().unwrap();
    assert_eq!(first.cert_pem, again.cert_pem, "reused, not remade");
    let mode = std::fs::metadata(layout.card_ca().1)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}
