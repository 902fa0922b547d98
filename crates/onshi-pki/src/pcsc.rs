//! A real My Number card through the `myna-card` crate (cargo feature `pcsc`).
//!
//! [`PcscCard`] drives the JPKI AP (`domain.md` §4.5) over any myna-card [`Transmit`]: it reads
//! the user-authentication certificate (EF 000A, no PIN), presents the 4-digit PIN to key
//! reference 0018, and signs with the user-authentication key (EF 0017) by handing the card a
//! SHA-256 PKCS#1 DigestInfo (`80 2A 00 80`, myna-card's `SignatureScheme::Verbatim`), which
//! yields exactly the RSA PKCS#1 v1.5 SHA-256 signature central verifies. Each signature is
//! checked against the card's own certificate before it is returned, so a wrong card or a
//! corrupted exchange is caught at the kiosk.
//!
//! Features: `pcsc` builds this module with myna-card's APDU layer only — no system library —
//! so CI can test it with myna-card's `MockTransport`. `pcsc-reader` adds myna-card's PC/SC
//! backend and [`PcscCard::connect_any`]; building that needs `libpcsclite-dev`.
//!
//! Security status: myna-card notes that a successful VERIFY can outlive the process on a real
//! card. This wrapper signs only after a VERIFY it performed itself in this session, so a
//! stale status left by another program is never used. Face authentication is done by the
//! certified reader itself and cannot be driven through PC/SC, so
//! [`Card::unlock_with_face`] is refused here.

use crate::card::{Card, CardError, FaceMatcher, PIN_TRIES, is_valid_pin};
use crate::der;
use myna_card::ap::jpki::{JpkiAp, SignatureScheme};
use myna_card::{Pin, Retries, Transmit};

/// DER prefix of a PKCS#1 DigestInfo for SHA-256; the 32-byte hash follows.
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The PKCS#1 v1.5 DigestInfo of SHA-256(`message`).
pub fn sha256_digest_info(message: &[u8]) -> [u8; 51] {
    let mut out = [0u8; 51];
    out[..19].copy_from_slice(&SHA256_DIGEST_INFO_PREFIX);
    out[19..]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message).as_ref());
    out
}

fn map_err(e: myna_card::Error) -> CardError {
    use myna_card::Error as E;
    match e {
        E::PinBlocked | E::PinIncorrect { retries: Some(0) } => CardError::Locked,
        E::PinIncorrect {
            retries: Some(tries_left),
        } => CardError::WrongPin { tries_left },
        E::InvalidPin(_) => CardError::PinFormat,
        other => CardError::Reader(other.to_string()),
    }
}

/// A card reached through a myna-card transport (a PC/SC reader, or a mock in tests).
pub struct PcscCard<T> {
    card: myna_card::Card<T>,
    cert: Option<Vec<u8>>,
    unlocked: bool,
}

impl<T> std::fmt::Debug for PcscCard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard")
            .field("unlocked", &self.unlocked)
            .finish()
    }
}

impl<T: Transmit> PcscCard<T> {
    /// A card behind `transport`.
    pub fn new(transport: T) -> Self {
        Self::from_card(myna_card::Card::new(transport))
    }

    /// Wraps a myna-card `Card` (e.g. from `myna_card::transport::pcsc::connect`).
    pub fn from_card(card: myna_card::Card<T>) -> Self {
        PcscCard {
            card,
            cert: None,
            unlocked: false,
        }
    }

    pub fn transport(&self) -> &T {
        self.card.transport()
    }

    pub fn into_transport(self) -> T {
        self.card.into_transport()
    }

    fn jpki(&mut self) -> Result<JpkiAp<'_, T>, CardError> {
        JpkiAp::select(&mut self.card).map_err(map_err)
    }

    fn certificate(&mut self) -> Result<Vec<u8>, CardError> {
        if let Some(c) = &self.cert {
            return Ok(c.clone());
        }
        let cert = self.jpki()?.read_auth_certificate_der().map_err(map_err)?;
        self.cert = Some(cert.clone());
        Ok(cert)
    }
}

#[cfg(feature = "pcsc-reader")]
impl PcscCard<myna_card::transport::pcsc::PcscTransport> {
    /// The card in the first reader that has one, connected exclusively (a PIN is about to be
    /// presented; sharing would leave the unlocked key to other programs).
    pub fn connect_any() -> Result<Self, CardError> {
        myna_card::transport::pcsc::connect_any(myna_card::transport::pcsc::Sharing::Exclusive)
            .map(Self::from_card)
            .map_err(map_err)
    }

    /// The card in the named reader, connected exclusively.
    pub fn connect(reader: &str) -> Result<Self, CardError> {
        myna_card::transport::pcsc::connect(reader, myna_card::transport::pcsc::Sharing::Exclusive)
            .map(Self::from_card)
            .map_err(map_err)
    }
}

impl<T: Transmit> Card for PcscCard<T> {
    fn auth_certificate(&mut self) -> Result<Vec<u8>, CardError> {
        self.certificate()
    }

    fn pin_tries_left(&mut self) -> Result<u8, CardError> {
        match self.jpki()?.auth_pin_retries().map_err(map_err)? {
            Retries::Remaining(n) => Ok(n),
            Retries::Blocked => Ok(0),
            // 9000 to an empty VERIFY: the PIN is verified in this card session, so the
            // counter is at its maximum.
            Retries::NotReported => Ok(PIN_TRIES),
            Retries::Unlimited => Err(CardError::Reader(
                "the card reports no retry limit for the authentication PIN".into(),
            )),
        }
    }

    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError> {
        if !is_valid_pin(pin) {
            return Err(CardError::PinFormat);
        }
        self.unlocked = false;
        let pin = Pin::numeric(pin).map_err(map_err)?;
        self.jpki()?.verify_auth_pin(&pin).map_err(map_err)?;
        self.unlocked = true;
        Ok(())
    }

    fn unlock_with_face(
        &mut self,
        _sample: &[u8],
        _matcher: &dyn FaceMatcher,
    ) -> Result<(), CardError> {
        Err(CardError::Unsupported(
            "face authentication is done by the certified reader, not through PC/SC",
        ))
    }

    fn sign(&mut self, message: &[u8]) -> Result<Vec<u8>, CardError> {
        if !self.unlocked {
            return Err(CardError::NotUnlocked);
        }
        let cert = self.certificate()?;
        let digest_info = sha256_digest_info(message);
        let signature = self
            .jpki()?
            .sign_with_auth_key(SignatureScheme::Verbatim, &digest_info)
            .map_err(|e| match map_err(e) {
                // A PIN error while signing means the card no longer holds the status.
                CardError::Locked => CardError::Locked,
                CardError::WrongPin { .. } => CardError::NotUnlocked,
                other => other,
            })?;
        let key = der::parse_cert(&cert)
            .ok()
            .and_then(|f| f.rsa_public_key)
            .ok_or_else(|| CardError::Malformed("the card's certificate has no RSA key".into()))?;
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            key,
        )
        .verify(message, &signature)
        .map_err(|_| {
            CardError::Crypto("the card's signature does not verify with its certificate".into())
        })?;
        Ok(signature)
    }
}
