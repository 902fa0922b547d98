//! Central's check of a card signature: certificate path to a card CA (rustls-webpki, with the
//! CRLs), then the RSA PKCS#1 v1.5 SHA-256 signature over the challenge (aws-lc-rs).
//!
//! This is the hot path of every card-based qualification check, so trust anchors and CRLs
//! are parsed — and each CRL's signature checked — once, in [`CardVerifier::new`]; a call to
//! [`CardVerifier::verify`] allocates only its answer (two short strings). Its cost is two
//! RSA-2048 public-key operations (the certificate's signature, the challenge signature) plus a
//! map lookup of the serial in the CRL; `examples/card_verify_speed.rs` measures it.
//!
//! Why revocation is not handed to webpki's `RevocationOptions`: webpki re-verifies the CRL's
//! signature on every path it checks (its own TODO, rustls/webpki#81), which means an RSA verify
//! *and a SHA-256 over the whole CRL* per card check: measured here 57 µs per check with an
//! empty CRL and 195 µs with 10,000 revoked serials, growing with the CRL. So the CRLs are
//! parsed with webpki's own CRL parser (`OwnedCertRevocationList`, a map keyed by serial), their
//! signatures verified once against the issuing card CA's key with aws-lc-rs, and after webpki
//! has validated the path, the serial is looked up in the CRLs of the trust anchor that path
//! ended at. Same answers, constant cost.
//!
//! Expiry grace (`domain.md` §4.3) is central's policy, not this module's: central calls
//! [`inspect`] first, decides whether an expired certificate is still in its grace period, and
//! then calls `verify` with `at` set to a moment inside the certificate's validity. Revocation
//! is still checked against the current CRLs either way.
//!
//! Revocation policy: when CRLs are given, every certificate must be covered by one from its
//! CA (a CA without a CRL gives [`CardVerifyError::RevocationUnknown`], fail closed). An empty
//! CRL list means no revocation checking at all, for a CA that has never revoked anything. The
//! CRL's nextUpdate is not enforced: central publishes its own CRLs and hands the current ones
//! in (rebuild the verifier when it does).

use crate::PkiError;
use crate::card_ca::{CertProfile, profile_from_policies};
use crate::der;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList};

/// Why a card signature was refused. Each variant has a distinct [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardVerifyError {
    #[error("the certificate is not a well-formed X.509 certificate")]
    Malformed,
    #[error("the certificate was not issued by a known card CA")]
    UnknownIssuer,
    #[error("the certificate has been revoked")]
    Revoked,
    #[error("the revocation status of the certificate cannot be determined")]
    RevocationUnknown,
    #[error("the certificate has expired")]
    Expired,
    #[error("the certificate is not valid yet")]
    NotYetValid,
    #[error("the certificate is not a card user-authentication certificate")]
    WrongUsage,
    #[error("the certificate uses an algorithm card certificates do not use")]
    UnsupportedAlgorithm,
    #[error("the signature does not verify with the certificate's key")]
    BadSignature,
    #[error("the certificate is invalid: {0}")]
    Invalid(String),
}

impl CardVerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            CardVerifyError::Malformed => "cert_malformed",
            CardVerifyError::UnknownIssuer => "cert_unknown_issuer",
            CardVerifyError::Revoked => "cert_revoked",
            CardVerifyError::RevocationUnknown => "cert_revocation_unknown",
            CardVerifyError::Expired => "cert_expired",
            CardVerifyError::NotYetValid => "cert_not_yet_valid",
            CardVerifyError::WrongUsage => "cert_wrong_usage",
            CardVerifyError::UnsupportedAlgorithm => "cert_unsupported_algorithm",
            CardVerifyError::BadSignature => "bad_signature",
            CardVerifyError::Invalid(_) => "cert_invalid",
        }
    }
}

fn map_webpki(e: webpki::Error) -> CardVerifyError {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => CardVerifyError::Expired,
        E::CertNotValidYet { .. } => CardVerifyError::NotYetValid,
        E::CertRevoked => CardVerifyError::Revoked,
        // A certificate naming one of our CAs but not signed by its key did not come from it.
        E::UnknownIssuer | E::InvalidSignatureForPublicKey => CardVerifyError::UnknownIssuer,
        E::UnknownRevocationStatus
        | E::CrlExpired { .. }
        | E::InvalidCrlSignatureForPublicKey
        | E::IssuerNotCrlSigner => CardVerifyError::RevocationUnknown,
        E::RequiredEkuNotFoundContext(_) | E::CaUsedAsEndEntity | E::EmptyEkuExtension => {
            CardVerifyError::WrongUsage
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            CardVerifyError::UnsupportedAlgorithm
        }
        E::BadDer | E::BadDerTime | E::TrailingData(_) | E::MalformedExtensions => {
            CardVerifyError::Malformed
        }
        other => CardVerifyError::Invalid(format!("{other:?}")),
    }
}

/// What [`inspect`] reads from a certificate without checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub serial_hex: String,
    pub profile: CertProfile,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}

/// A certificate whose path, validity and revocation were checked and whose key made the
/// signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCard {
    /// Lower-case hex, no DER sign byte: the key of central's certificate → person registry.
    pub serial_hex: String,
    pub profile: CertProfile,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// SHA-256 of the certificate DER, lower-case hex.
    pub sha256_fingerprint_hex: String,
}

/// Reads serial, profile and validity from a card certificate **without validating it**.
/// Use it to decide about expiry grace before [`CardVerifier::verify`]; never trust its answer
/// on its own.
pub fn inspect(cert_der: &[u8]) -> Result<CertInfo, CardVerifyError> {
    let fields = der::parse_cert(cert_der).map_err(|_| CardVerifyError::Malformed)?;
    let profile = profile_from_policies(fields.policies)
        .map_err(|_| CardVerifyError::Malformed)?
        .ok_or(CardVerifyError::WrongUsage)?;
    Ok(CertInfo {
        serial_hex: fields.serial_hex(),
        profile,
        not_before: fields.not_before,
        not_after: fields.not_after,
    })
}

/// The only algorithm card certificates (and their CAs' CRLs) are signed with: SHA256withRSA.
static CHAIN_ALGS: &[&dyn SignatureVerificationAlgorithm] =
    &[webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256];

/// Verifies card signatures against a fixed set of card CAs and CRLs. Build it once (and again
/// when a new CRL is published) and share it: `verify` takes `&self` and is thread-safe.
pub struct CardVerifier {
    anchors: Vec<TrustAnchor<'static>>,
    crls: Vec<Crl>,
}

/// A CRL whose signature has been verified, and the trust anchors (indexes) it speaks for.
struct Crl {
    list: CertRevocationList<'static>,
    anchors: Vec<usize>,
}

impl std::fmt::Debug for CardVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardVerifier")
            .field("card_cas", &self.anchors.len())
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl CardVerifier {
    /// `card_ca_certs_der`: the card CA certificates (trust anchors). `crls_der`: their CRLs
    /// (see the module docs for what an empty list means). Each CRL must be issued by one of
    /// the CAs.
    pub fn new(card_ca_certs_der: Vec<Vec<u8>>, crls_der: Vec<Vec<u8>>) -> Result<Self, PkiError> {
        if card_ca_certs_der.is_empty() {
            return Err(PkiError::Card("no card CA certificate given".into()));
        }
        let anchors = card_ca_certs_der
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map(|a| a.to_owned())
                    .map_err(|e| PkiError::Card(format!("card CA certificate: {e:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The CA keys, to check the CRL signatures with.
        let ca_keys = card_ca_certs_der
            .iter()
            .map(|der| {
                der::parse_cert(der)
                    .ok()
                    .and_then(|f| f.rsa_public_key)
                    .ok_or_else(|| PkiError::Card("card CA certificate has no RSA key".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let crls = crls_der
            .iter()
            .map(|der| {
                let list = CertRevocationList::from(
                    OwnedCertRevocationList::from_der(der)
                        .map_err(|e| PkiError::BadCrl(format!("{e:?}")))?,
                );
                let (tbs, sig) = der::split_signed_sha256_rsa(der)
                    .map_err(|_| PkiError::BadCrl("not a SHA256withRSA-signed CRL".into()))?;
                let signed_by = anchors
                    .iter()
                    .zip(&ca_keys)
                    .enumerate()
                    .filter(|(_, (a, key))| {
                        a.subject.as_ref() == list.issuer()
                            && UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
                                .verify(tbs, sig)
                                .is_ok()
                    })
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>();
                if signed_by.is_empty() {
                    return Err(PkiError::BadCrl("CRL is not signed by a card CA".into()));
                }
                Ok(Crl {
                    list,
                    anchors: signed_by,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CardVerifier { anchors, crls })
    }

    /// Same as the free function [`inspect`].
    pub fn inspect(&self, cert_der: &[u8]) -> Result<CertInfo, CardVerifyError> {
        inspect(cert_der)
    }

    /// Checks that `cert_der` chains to a card CA at `at`, is not revoked, is a card
    /// user-authentication certificate (clientAuth, one of our profiles), and that `signature`
    /// is its key's RSA PKCS#1 v1.5 SHA-256 signature over `message`.
    pub fn verify(
        &self,
        cert_der: &[u8],
        message: &[u8],
        signature: &[u8],
        at: time::OffsetDateTime,
    ) -> Result<VerifiedCard, CardVerifyError> {
        let fields = der::parse_cert(cert_der).map_err(|_| CardVerifyError::Malformed)?;
        let cert = CertificateDer::from(cert_der);
        let ee = EndEntityCert::try_from(&cert).map_err(map_webpki)?;
        let secs = u64::try_from(at.unix_timestamp()).map_err(|_| CardVerifyError::NotYetValid)?;
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));

        let path = ee
            .verify_for_usage(
                CHAIN_ALGS,
                &self.anchors,
                &[],
                time,
                KeyUsage::client_auth(),
                None,
                None,
            )
            .map_err(map_webpki)?;

        if !self.crls.is_empty() {
            let anchor = path.anchor();
            let index = self
                .anchors
                .iter()
                .position(|a| {
                    a.subject_public_key_info == anchor.subject_public_key_info
                        && a.subject == anchor.subject
                })
                .ok_or(CardVerifyError::RevocationUnknown)?;
            let mut covered = false;
            for crl in self.crls.iter().filter(|c| c.anchors.contains(&index)) {
                covered = true;
                match crl.list.find_serial(fields.serial) {
                    Ok(None) => {}
                    Ok(Some(_)) => return Err(CardVerifyError::Revoked),
                    Err(_) => return Err(CardVerifyError::RevocationUnknown),
                }
            }
            if !covered {
                return Err(CardVerifyError::RevocationUnknown);
            }
        }

        let profile = profile_from_policies(fields.policies)
            .map_err(|_| CardVerifyError::Malformed)?
            .ok_or(CardVerifyError::WrongUsage)?;
        let key = fields
            .rsa_public_key
            .ok_or(CardVerifyError::UnsupportedAlgorithm)?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
            .verify(message, signature)
            .map_err(|_| CardVerifyError::BadSignature)?;

        let fp = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der);
        Ok(VerifiedCard {
            serial_hex: fields.serial_hex(),
            profile,
            not_before: fields.not_before,
            not_after: fields.not_after,
            sha256_fingerprint_hex: der::hex(fp.as_ref()),
        })
    }
}
