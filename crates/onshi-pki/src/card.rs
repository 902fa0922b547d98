//! The card as the kiosk (資格確認端末 with a 顔認証付きカードリーダー) uses it: the JPKI
//! application's user-authentication side only (`domain.md` §4.1, §4.5).
//!
//! - The user-authentication certificate is readable without a PIN.
//! - The key is unlocked either by the 4-digit PIN (3 consecutive wrong tries lock it for
//!   good; a correct PIN resets the counter) or by face authentication at the reader.
//! - Only then does the card sign (RSA PKCS#1 v1.5, SHA-256) — and never once locked.
//!
//! Implementations: [`crate::SoftwareCard`] (a file; also models the smartphone variants) and,
//! with the `pcsc` feature, `PcscCard` (a real card through myna-card).

use crate::card_ca::{CertProfile, profile_of};

/// What went wrong at the card. Each variant has a distinct [`code`](Self::code).
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("wrong PIN, {tries_left} tries left")]
    WrongPin { tries_left: u8 },
    #[error("the PIN is locked (3 wrong tries); the card must be reset at the municipal office")]
    Locked,
    #[error("a PIN is exactly 4 digits")]
    PinFormat,
    #[error("the face does not match the card")]
    FaceMismatch,
    #[error("the card has not been unlocked by a PIN or face authentication")]
    NotUnlocked,
    #[error("not supported by this card: {0}")]
    Unsupported(&'static str),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("card data is malformed: {0}")]
    Malformed(String),
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    #[error("card reader: {0}")]
    Reader(String),
}

impl CardError {
    pub fn code(&self) -> &'static str {
        match self {
            CardError::WrongPin { .. } => "pin_wrong",
            CardError::Locked => "pin_locked",
            CardError::PinFormat => "pin_format",
            CardError::FaceMismatch => "face_mismatch",
            CardError::NotUnlocked => "card_not_unlocked",
            CardError::Unsupported(_) => "card_unsupported",
            CardError::Io { .. } => "card_io",
            CardError::Malformed(_) => "card_malformed",
            CardError::Crypto(_) => "card_crypto",
            CardError::Reader(_) => "card_reader",
        }
    }
}

/// The number of consecutive wrong PINs that locks the user-authentication key.
pub const PIN_TRIES: u8 = 3;

/// Whether `pin` has the user-authentication PIN's form: exactly 4 ASCII digits.
pub fn is_valid_pin(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// Face matching as done by the certified reader: compares a live sample with the reference
/// kept for the card (in reality, the photo on the card's chip).
pub trait FaceMatcher {
    fn matches(&self, reference: &[u8], sample: &[u8]) -> bool;
}

/// **An emulator, not face recognition**: a sample matches when its bytes equal the
/// reference (compared in constant time). It stands in for the certified reader's face check
/// so that the flow can be exercised end to end.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmulatedFaceMatcher;

impl FaceMatcher for EmulatedFaceMatcher {
    fn matches(&self, reference: &[u8], sample: &[u8]) -> bool {
        !reference.is_empty()
            && reference.len() == sample.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(reference, sample).is_ok()
    }
}

/// The JPKI AP's user-authentication side, as the kiosk uses it.
pub trait Card {
    /// The user-authentication certificate (DER). Needs no PIN.
    fn auth_certificate(&mut self) -> Result<Vec<u8>, CardError>;
    /// Consecutive wrong PINs still allowed (0 when locked). Costs no attempt.
    fn pin_tries_left(&mut self) -> Result<u8, CardError>;
    /// Presents the 4-digit PIN. Wrong → [`CardError::WrongPin`]; the third consecutive wrong
    /// PIN → [`CardError::Locked`], for good; a locked card refuses even the right PIN.
    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError>;
    /// Face authentication at the reader instead of the PIN. A mismatch does not count
    /// against the PIN counter; a PIN-locked card cannot be unlocked this way either.
    fn unlock_with_face(
        &mut self,
        sample: &[u8],
        matcher: &dyn FaceMatcher,
    ) -> Result<(), CardError>;
    /// RSA PKCS#1 v1.5 SHA-256 signature over `message` with the user-authentication key;
    /// only after a successful unlock in this session, never when locked.
    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, CardError>;
    /// Card, Android or iPhone, from the certificate's profile policy.
    fn profile(&mut self) -> Result<CertProfile, CardError> {
        let cert = self.auth_certificate()?;
        profile_of(&cert).map_err(|e| CardError::Malformed(e.to_string()))
    }
}

/// The serial number of a card certificate (lower-case hex without the DER sign byte,
/// as central's registry keys it); `None` if the certificate cannot be parsed.
pub fn certificate_serial_hex(der: &[u8]) -> Option<String> {
    crate::der::parse_cert(der).ok().map(|f| f.serial_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_form() {
        assert!(is_valid_pin("0000"));
        assert!(is_valid_pin("1234"));
        for bad in ["", "123", "12345", "12a4", "１２３４", " 123"] {
            assert!(!is_valid_pin(bad), "{bad:?}");
        }
    }

    #[test]
    fn emulated_matcher() {
        let m = EmulatedFaceMatcher;
        assert!(m.matches(b"abc", b"abc"));
        assert!(!m.matches(b"abc", b"abd"));
        assert!(!m.matches(b"abc", b"ab"));
        assert!(!m.matches(b"", b""));
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            CardError::WrongPin { tries_left: 1 },
            CardError::Locked,
            CardError::PinFormat,
            CardError::FaceMismatch,
            CardError::NotUnlocked,
            CardError::Unsupported("x"),
            CardError::Io {
                path: "x".into(),
                source: std::io::Error::other("x"),
            },
            CardError::Malformed("x".into()),
            CardError::Crypto("x".into()),
            CardError::Reader("x".into()),
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(CardError::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
