//! A software My Number card: one JSON file standing in for the JPKI AP's user-authentication
//! side, for the kiosk emulator, tests, the demo and load generation.
//!
//! The file holds the certificate, a 32-byte face reference template, the PKCS#8 private key
//! sealed twice with AES-256-GCM — under a key from the PIN (PBKDF2-HMAC-SHA256, 200,000
//! iterations, random salt) and under a key from the face template (HKDF-SHA256: the template
//! is 256 random bits, so it needs no stretching) — and the retry counter and lock flag.
//! No PIN hash is stored: a wrong PIN is simply a seal that does not open. The additional
//! authenticated data binds each seal to the certificate's SHA-256, so seals cannot be swapped
//! between files.
//!
//! **Counter integrity.** Like a real card, an attempt is charged before it is tried: the
//! decremented counter (and the lock, on the third try) is written to disk atomically (temporary
//! file, fsync, rename, fsync of the directory) *before* the PIN is checked; a correct PIN then
//! writes the reset counter. So pulling the card — killing the process — mid-attempt never
//! gives a free try. The counter is re-read from the file before every attempt, so two handles
//! on the same file share it.
//!
//! **What this does not protect.** Whoever copies the file can brute-force the 4-digit PIN
//! offline (10,000 × 200,000 PBKDF2 rounds is minutes) and ignore the counter, and the face seal
//! opens with the template stored beside it: the face path is an emulation of the certified
//! reader's face check (see [`crate::EmulatedFaceMatcher`]), not a protection of the key.
//! A software card is a model of the card's behaviour, not a secure element.
//!
//! **Smartphones.** A software card whose certificate has a smartphone profile stands for the
//! phone ([`SmartphoneCard`]): iPhone — [`Card::unlock_with_face`] stands for Face ID/Touch ID
//! on the phone and there is no PIN at the reader ([`Card::verify_pin`] is refused); Android —
//! the 4-digit PIN is entered at the reader and there is no face path.

use crate::card::{Card, CardError, FaceMatcher, PIN_TRIES, is_valid_pin};
use crate::card_ca::{CertProfile, IssuedAuthCert, profile_of};
use crate::der;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

const FORMAT: &str = "onshi-softcard/1";
/// PBKDF2 iterations for the PIN seal. Files with fewer are refused.
pub const PIN_KDF_ITERATIONS: u32 = 200_000;
const KDF_PBKDF2: &str = "pbkdf2-hmac-sha256";
const KDF_HKDF: &str = "hkdf-sha256";

/// A software card whose certificate has a smartphone profile (see the module docs).
pub type SmartphoneCard = SoftwareCard;

#[derive(Serialize, Deserialize)]
struct CardFile {
    format: String,
    /// Informational copies; checked against the certificate on open.
    serial_hex: String,
    profile: String,
    certificate: String,
    face_template: String,
    pin_seal: Seal,
    face_seal: Seal,
    pin_tries_left: u8,
    locked: bool,
}

#[derive(Serialize, Deserialize, Clone)]
struct Seal {
    kdf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iterations: Option<u32>,
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// A software card (see the module docs). Dropping it ends the session (the key is
/// forgotten); the file keeps the counter.
pub struct SoftwareCard {
    path: PathBuf,
    file: CardFile,
    cert_der: Vec<u8>,
    face_template: [u8; 32],
    profile: CertProfile,
    serial_hex: String,
    unlocked: Option<RsaKeyPair>,
}

impl std::fmt::Debug for SoftwareCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareCard")
            .field("path", &self.path)
            .field("serial_hex", &self.serial_hex)
            .field("profile", &self.profile)
            .field("pin_tries_left", &self.file.pin_tries_left)
            .field("locked", &self.file.locked)
            .field("unlocked", &self.unlocked.is_some())
            .finish()
    }
}

fn crypto(what: &str) -> CardError {
    CardError::Crypto(what.to_owned())
}

fn random<const N: usize>() -> Result<[u8; N], CardError> {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| crypto("random generator failed"))?;
    Ok(b)
}

fn aad(purpose: &str, cert_der: &[u8]) -> Vec<u8> {
    let mut aad = format!("{FORMAT} {purpose} ").into_bytes();
    aad.extend_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der).as_ref());
    aad
}

fn pin_key(pin: &str, salt: &[u8], iterations: u32) -> Result<[u8; 32], CardError> {
    let iterations = NonZeroU32::new(iterations).ok_or_else(|| crypto("zero iterations"))?;
    let mut key = [0u8; 32];
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        pin.as_bytes(),
        &mut key,
    );
    Ok(key)
}

fn face_key(template: &[u8; 32], salt: &[u8]) -> Result<[u8; 32], CardError> {
    use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
    let mut key = [0u8; 32];
    Salt::new(HKDF_SHA256, salt)
        .extract(template)
        .expand(&[b"onshi-softcard face seal"], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut key))
        .map_err(|_| crypto("HKDF failed"))?;
    Ok(key)
}

fn seal(
    mut key: [u8; 32],
    kdf: &str,
    iterations: Option<u32>,
    salt: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Seal, CardError> {
    let aead = UnboundKey::new(&AES_256_GCM, &key).map(LessSafeKey::new);
    key.fill(0);
    let aead = aead.map_err(|_| crypto("AES key"))?;
    let nonce = random::<12>()?;
    let mut buf = plaintext.to_vec();
    aead.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| crypto("AES-GCM seal"))?;
    Ok(Seal {
        kdf: kdf.to_owned(),
        iterations,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(buf),
    })
}

/// Opens a seal with a derived key; `None` when the AEAD refuses (wrong PIN or face key, or a
/// tampered file — indistinguishable, by design).
fn unseal(mut key: [u8; 32], s: &Seal, aad: &[u8]) -> Result<Option<Vec<u8>>, CardError> {
    let aead = UnboundKey::new(&AES_256_GCM, &key).map(LessSafeKey::new);
    key.fill(0);
    let aead = aead.map_err(|_| crypto("AES key"))?;
    let nonce: [u8; 12] = b64(&s.nonce)?
        .try_into()
        .map_err(|_| CardError::Malformed("nonce is not 12 bytes".into()))?;
    let mut buf = b64(&s.ciphertext)?;
    match aead.open_in_place(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    ) {
        Ok(pt) => {
            let len = pt.len();
            buf.truncate(len);
            Ok(Some(buf))
        }
        Err(_) => {
            buf.fill(0);
            Ok(None)
        }
    }
}

fn b64(s: &str) -> Result<Vec<u8>, CardError> {
    B64.decode(s)
        .map_err(|e| CardError::Malformed(format!("base64: {e}")))
}

fn key_from_pkcs8(mut pkcs8: Vec<u8>) -> Result<RsaKeyPair, CardError> {
    let key = RsaKeyPair::from_pkcs8(&pkcs8);
    pkcs8.fill(0);
    key.map_err(|e| CardError::Malformed(format!("sealed private key: {e}")))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CardError + '_ {
    move |source| CardError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (mode 0600),
/// fsync, rename over `path`, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CardError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| CardError::Malformed(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl SoftwareCard {
    /// Writes a new card file at `path` (which must not exist yet: overwriting a card could
    /// reset a lock) and returns the card, not unlocked. `pin` must be exactly 4 ASCII digits.
    pub fn create(
        path: &Path,
        issued: &IssuedAuthCert,
        pin: &str,
        face_template: [u8; 32],
    ) -> Result<Self, CardError> {
        if !is_valid_pin(pin) {
            return Err(CardError::PinFormat);
        }
        if path.exists() {
            return Err(CardError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a card file already exists here",
                ),
            });
        }
        let cert_der = issued.cert_der.clone();
        let fields = der::parse_cert(&cert_der)
            .map_err(|_| CardError::Malformed("certificate is not valid DER".into()))?;
        let profile = profile_of(&cert_der).map_err(|e| CardError::Malformed(e.to_string()))?;
        let key = RsaKeyPair::from_pkcs8(&issued.key_pkcs8_der)
            .map_err(|e| CardError::Malformed(format!("private key: {e}")))?;
        if fields.rsa_public_key != Some(key.public_key().as_ref()) {
            return Err(CardError::Malformed(
                "the private key does not belong to the certificate".into(),
            ));
        }

        let pin_salt = random::<16>()?;
        let pin_seal = seal(
            pin_key(pin, &pin_salt, PIN_KDF_ITERATIONS)?,
            KDF_PBKDF2,
            Some(PIN_KDF_ITERATIONS),
            &pin_salt,
            &aad("pin", &cert_der),
            &issued.key_pkcs8_der,
        )?;
        let face_salt = random::<16>()?;
        let face_seal = seal(
            face_key(&face_template, &face_salt)?,
            KDF_HKDF,
            None,
            &face_salt,
            &aad("face", &cert_der),
            &issued.key_pkcs8_der,
        )?;
        let serial_hex = fields.serial_hex();
        let card = SoftwareCard {
            path: path.to_owned(),
            file: CardFile {
                format: FORMAT.into(),
                serial_hex: serial_hex.clone(),
                profile: profile.as_str().into(),
                certificate: B64.encode(&cert_der),
                face_template: B64.encode(face_template),
                pin_seal,
                face_seal,
                pin_tries_left: PIN_TRIES,
                locked: false,
            },
            cert_der,
            face_template,
            profile,
            serial_hex,
            unlocked: None,
        };
        card.persist()?;
        Ok(card)
    }

    /// Opens an existing card file (a new session: not unlocked).
    pub fn open(path: &Path) -> Result<Self, CardError> {
        let file = read_file(path)?;
        let cert_der = b64(&file.certificate)?;
        let fields = der::parse_cert(&cert_der)
            .map_err(|_| CardError::Malformed("certificate is not valid DER".into()))?;
        let profile = profile_of(&cert_der).map_err(|e| CardError::Malformed(e.to_string()))?;
        let serial_hex = fields.serial_hex();
        if file.serial_hex != serial_hex || file.profile != profile.as_str() {
            return Err(CardError::Malformed(
                "serial_hex/profile do not match the certificate".into(),
            ));
        }
        let face_template: [u8; 32] = b64(&file.face_template)?
            .try_into()
            .map_err(|_| CardError::Malformed("face_template is not 32 bytes".into()))?;
        if file.pin_seal.kdf != KDF_PBKDF2
            || file.pin_seal.iterations.unwrap_or(0) < PIN_KDF_ITERATIONS
            || file.face_seal.kdf != KDF_HKDF
        {
            return Err(CardError::Malformed(
                "unsupported or weakened key derivation".into(),
            ));
        }
        Ok(SoftwareCard {
            path: path.to_owned(),
            file,
            cert_der,
            face_template,
            profile,
            serial_hex,
            unlocked: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificate's serial number (lower-case hex).
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Whether the card is locked (as last read from its file).
    pub fn is_locked(&self) -> bool {
        self.file.locked
    }

    /// Whether this session has unlocked the key.
    pub fn is_unlocked(&self) -> bool {
        self.unlocked.is_some()
    }

    fn persist(&self) -> Result<(), CardError> {
        let json = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| CardError::Malformed(format!("serialising the card: {e}")))?;
        write_atomically(&self.path, &json)
    }

    /// Re-reads the counter and lock from the file (another handle may have used the card).
    /// The more restrictive of memory and disk wins.
    fn refresh_counter(&mut self) -> Result<(), CardError> {
        let disk = read_file(&self.path)?;
        if disk.certificate != self.file.certificate {
            return Err(CardError::Malformed(
                "the card file now holds another certificate".into(),
            ));
        }
        self.file.pin_tries_left = self.file.pin_tries_left.min(disk.pin_tries_left);
        self.file.locked |= disk.locked || self.file.pin_tries_left == 0;
        if self.file.locked {
            self.file.pin_tries_left = 0;
            self.unlocked = None;
        }
        Ok(())
    }

    /// Opens the PIN seal (the slow KDF); `None` for a wrong PIN.
    fn open_pin_seal(&self, pin: &str) -> Result<Option<RsaKeyPair>, CardError> {
        let s = &self.file.pin_seal;
        let salt = b64(&s.salt)?;
        let key = pin_key(pin, &salt, s.iterations.unwrap_or(PIN_KDF_ITERATIONS))?;
        unseal(key, s, &aad("pin", &self.cert_der))?
            .map(key_from_pkcs8)
            .transpose()
    }
}

fn read_file(path: &Path) -> Result<CardFile, CardError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let file: CardFile = serde_json::from_slice(&bytes)
        .map_err(|e| CardError::Malformed(format!("{}: {e}", path.display())))?;
    if file.format != FORMAT {
        return Err(CardError::Malformed(format!(
            "{}: not an {FORMAT} file",
            path.display()
        )));
    }
    if file.pin_tries_left > PIN_TRIES {
        return Err(CardError::Malformed("pin_tries_left above 3".into()));
    }
    Ok(file)
}

impl Card for SoftwareCard {
    fn auth_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        Ok(self.cert_der.clone())
    }

    fn pin_tries_left(&mut self) -> Result<u8, CardError> {
        self.refresh_counter()?;
        Ok(self.file.pin_tries_left)
    }

    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError> {
        if self.profile == CertProfile::SmartphoneIphone {
            return Err(CardError::Unsupported(
                "iPhone: the holder authenticates on the phone (Face ID/Touch ID), no PIN at the reader",
            ));
        }
        if !is_valid_pin(pin) {
            // Never reaches the card, so it costs no attempt.
            return Err(CardError::PinFormat);
        }
        self.refresh_counter()?;
        if self.file.locked {
            return Err(CardError::Locked);
        }
        // A failed VERIFY clears the security status, so forget any earlier unlock now.
        self.unlocked = None;

        // Charge the attempt on disk before trying it.
        self.file.pin_tries_left -= 1;
        self.file.locked = self.file.pin_tries_left == 0;
        self.persist()?;

        match self.open_pin_seal(pin)? {
            Some(key) => {
                self.file.pin_tries_left = PIN_TRIES;
                self.file.locked = false;
                self.persist()?;
                self.unlocked = Some(key);
                Ok(())
            }
            None if self.file.locked => Err(CardError::Locked),
            None => Err(CardError::WrongPin {
                tries_left: self.file.pin_tries_left,
            }),
        }
    }

    fn unlock_with_face(
        &mut self,
        sample: &[u8],
        matcher: &dyn FaceMatcher,
    ) -> Result<(), CardError> {
        if self.profile == CertProfile::SmartphoneAndroid {
            return Err(CardError::Unsupported(
                "Android: the holder enters the 4-digit PIN at the reader; there is no face path",
            ));
        }
        self.refresh_counter()?;
        if self.file.locked {
            return Err(CardError::Locked);
        }
        if !matcher.matches(&self.face_template, sample) {
            return Err(CardError::FaceMismatch);
        }
        let s = &self.file.face_seal;
        let key = face_key(&self.face_template, &b64(&s.salt)?)?;
        let key = unseal(key, s, &aad("face", &self.cert_der))?
            .ok_or_else(|| CardError::Malformed("the face seal does not open".into()))?;
        self.unlocked = Some(key_from_pkcs8(key)?);
        Ok(())
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, CardError> {
        self.refresh_counter()?;
        if self.file.locked {
            return Err(CardError::Locked);
        }
        let key = self.unlocked.as_ref().ok_or(CardError::NotUnlocked)?;
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut sig,
        )
        .map_err(|_| crypto("RSA signing failed"))?;
        Ok(sig)
    }

    fn profile(&mut self) -> Result<CertProfile, CardError> {
        Ok(self.profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aead_refuses_a_wrong_key() {
        let salt = [1u8; 16];
        let aad = aad("pin", b"cert");
        let key = pin_key("1234", &salt, 1000).expect("kdf");
        let s = seal(key, KDF_PBKDF2, Some(1000), &salt, &aad, b"secret key").expect("seal");
        let right = pin_key("1234", &salt, 1000).expect("kdf");
        assert_eq!(
            unseal(right, &s, &aad).expect("unseal"),
            Some(b"secret key".to_vec())
        );
        let wrong = pin_key("1235", &salt, 1000).expect("kdf");
        assert_eq!(unseal(wrong, &s, &aad).expect("unseal"), None);
        // Bound to the certificate: the right PIN with another certificate's AAD fails too.
        let right = pin_key("1234", &salt, 1000).expect("kdf");
        assert_eq!(
            unseal(right, &s, &super::aad("pin", b"other")).expect("unseal"),
            None
        );
    }

    #[test]
    fn face_keys_depend_on_template_and_salt() {
        let a = face_key(&[7; 32], &[1; 16]).expect("hkdf");
        assert_eq!(a, face_key(&[7; 32], &[1; 16]).expect("hkdf"));
        assert_ne!(a, face_key(&[8; 32], &[1; 16]).expect("hkdf"));
        assert_ne!(a, face_key(&[7; 32], &[2; 16]).expect("hkdf"));
    }
}
