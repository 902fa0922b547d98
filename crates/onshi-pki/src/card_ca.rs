//! The card CA: user-authentication certificates (利用者証明用電子証明書) in the JPKI manner,
//! and the CRL central publishes for them.
//!
//! Why it looks like this (see `domain.md` §4):
//! - RSA-2048 keys and SHA256withRSA signatures, as JPKI uses; the CA is RSA-2048 too, so the
//!   whole chain is one algorithm and verification is a pair of fast RSA verifies.
//! - The certificate carries **no personal data**: the subject is a single opaque common name
//!   (`JPKI-AUTH-<16 random hex digits>`), the serial number is 16 random bytes. Mapping a
//!   certificate to a person is central's registry, never the certificate.
//! - Key usage digitalSignature, extended key usage clientAuth: the key proves who is present
//!   and signs nothing else.
//! - Valid until the 5th birthday after issue ([`auth_cert_not_after`]); the issuing tool
//!   passes the dates in, so the demo can issue expiring or already expired cards.
//! - The holder's medium (physical card, Android, iPhone) is a [`CertProfile`], readable from the
//!   certificate alone through the certificatePolicies extension.
//!
//! # Our object identifiers
//!
//! The policy OIDs below are **ours, under a private arc, not J-LIS's** (J-LIS's real policies
//! live under 1.2.392.200149.8.5). `1.3.6.1.4.1.55555` is a placeholder private enterprise
//! number used by this project only; replace it with an own IANA PEN before any use outside
//! this emulation.
//!
//! | OID | meaning |
//! | --- | --- |
//! | 1.3.6.1.4.1.55555.1 | onshi private arc |
//! | 1.3.6.1.4.1.55555.1.1.1 | policy: user-authentication certificate on a My Number card |
//! | 1.3.6.1.4.1.55555.1.1.2 | policy: smartphone user-authentication certificate, Android |
//! | 1.3.6.1.4.1.55555.1.1.3 | policy: smartphone user-authentication certificate, iPhone |

use crate::der::{self, DerError, TAG_OID, TAG_SEQUENCE};
use crate::{CertAndKey, PkiError};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevokedCertParams, RsaKeySize, SerialNumber,
};

/// The onshi private arc (placeholder PEN, see the module docs).
pub const ONSHI_ARC: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 1];

/// Where the holder keeps the user-authentication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertProfile {
    /// The physical My Number card (4-digit PIN or face authentication at the reader).
    Card,
    /// スマホ用電子証明書 on Android: the 4-digit PIN is entered at the facility's reader.
    SmartphoneAndroid,
    /// iPhoneのマイナンバーカード: Face ID / Touch ID on the phone, no PIN at the reader.
    SmartphoneIphone,
}

impl CertProfile {
    pub const ALL: [CertProfile; 3] = [
        CertProfile::Card,
        CertProfile::SmartphoneAndroid,
        CertProfile::SmartphoneIphone,
    ];

    /// The certificate-policy OID arcs that mark this profile.
    pub fn policy_oid(self) -> [u64; 10] {
        let last = match self {
            CertProfile::Card => 1,
            CertProfile::SmartphoneAndroid => 2,
            CertProfile::SmartphoneIphone => 3,
        };
        [1, 3, 6, 1, 4, 1, 55555, 1, 1, last]
    }

    /// The policy OID in dotted form.
    pub fn policy_oid_string(self) -> String {
        self.policy_oid()
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A stable lower-case name for storage and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CertProfile::Card => "card",
            CertProfile::SmartphoneAndroid => "smartphone_android",
            CertProfile::SmartphoneIphone => "smartphone_iphone",
        }
    }

    pub fn parse(s: &str) -> Option<CertProfile> {
        CertProfile::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn is_smartphone(self) -> bool {
        self != CertProfile::Card
    }
}

impl std::fmt::Display for CertProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A freshly issued user-authentication certificate and its key. The key belongs in a card
/// (for the software card: sealed under the PIN); the issuer keeps only the certificate.
#[derive(Clone)]
pub struct IssuedAuthCert {
    pub cert_der: Vec<u8>,
    /// The RSA-2048 private key, PKCS#8 DER.
    pub key_pkcs8_der: Vec<u8>,
    /// The serial number, lower-case hex without a DER sign byte (32 digits).
    pub serial_hex: String,
}

impl std::fmt::Debug for IssuedAuthCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedAuthCert")
            .field("serial_hex", &self.serial_hex)
            .field("cert_der", &format_args!("<{} bytes>", self.cert_der.len()))
            .field("key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| PkiError::Crypto("random generator failed".into()))?;
    Ok(b)
}

/// A self-signed RSA-2048 card CA (keyCertSign, cRLSign), valid from 15 years ago for 35
/// years so that backdated demo cards (expired, in grace) still have an issuer that existed.
pub fn new_card_ca(name: &str) -> Result<CertAndKey, PkiError> {
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "JP");
    dn.push(DnType::OrganizationName, "onshi");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = KeyIdMethod::Sha256;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(365 * 15);
    params.not_after = now + time::Duration::days(365 * 20);
    let cert = params.self_signed(&key)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The certificatePolicies extension value naming `profile`'s policy.
fn policies_extension(profile: CertProfile) -> CustomExtension {
    let oid = der::tlv(TAG_OID, &der::encode_oid(&profile.policy_oid()));
    let info = der::tlv(TAG_SEQUENCE, &oid);
    let value = der::tlv(TAG_SEQUENCE, &info);
    CustomExtension::from_oid_content(&[2, 5, 29, 32], value)
}

/// Issues a user-authentication certificate with a fresh RSA-2048 key (see the module docs for
/// the profile). `not_after` is usually [`end_of_day_jst`] of [`auth_cert_not_after`].
pub fn issue_auth_certificate(
    ca: &CertAndKey,
    profile: CertProfile,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Result<IssuedAuthCert, PkiError> {
    if not_after <= not_before {
        return Err(PkiError::Card(
            "not_after must be later than not_before".into(),
        ));
    }
    let issuer = super::issuer(ca)?;
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?;
    // Positive and exactly 16 bytes in DER: top bit clear, next bit set.
    let mut serial = random_bytes::<16>()?;
    serial[0] = (serial[0] & 0x7F) | 0x40;
    let subject_id = random_bytes::<8>()?;

    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("JPKI-AUTH-{}", der::hex(&subject_id).to_uppercase()),
    );
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.key_identifier_method = KeyIdMethod::Sha256;
    params.custom_extensions = vec![policies_extension(profile)];
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(IssuedAuthCert {
        cert_der: cert.der().to_vec(),
        key_pkcs8_der: key.serialize_der(),
        serial_hex: der::hex(&serial),
    })
}

/// The profile a certificate was issued for, from its certificatePolicies. Parses only; it
/// does not say the certificate is genuine (that is [`crate::CardVerifier::verify`]).
pub fn profile_of(cert_der: &[u8]) -> Result<CertProfile, PkiError> {
    let fields = der::parse_cert(cert_der)
        .map_err(|_| PkiError::Card("certificate is not valid DER".into()))?;
    profile_from_policies(fields.policies)
        .map_err(|_| PkiError::Card("malformed certificatePolicies".into()))?
        .ok_or_else(|| PkiError::Card("no onshi card profile policy in the certificate".into()))
}

/// The single onshi profile among the policies; two different onshi profiles are an error.
pub(crate) fn profile_from_policies(
    policies: Option<&[u8]>,
) -> Result<Option<CertProfile>, DerError> {
    let Some(value) = policies else {
        return Ok(None);
    };
    let mut found = None;
    for oid in der::policy_oids(value) {
        let oid = oid?;
        if let Some(p) = profile_for_oid(oid) {
            if found.is_some_and(|f| f != p) {
                return Err(DerError);
            }
            found = Some(p);
        }
    }
    Ok(found)
}

/// Compares DER OID contents with our three policy OIDs without allocating.
fn profile_for_oid(oid: &[u8]) -> Option<CertProfile> {
    // 1.3.6.1.4.1.55555.1.1 as DER contents, then the last arc (1, 2 or 3: one byte).
    const PREFIX: [u8; 10] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xB2, 0x03, 0x01, 0x01];
    match oid.split_last() {
        Some((last, prefix)) if prefix == PREFIX => match last {
            1 => Some(CertProfile::Card),
            2 => Some(CertProfile::SmartphoneAndroid),
            3 => Some(CertProfile::SmartphoneIphone),
            _ => None,
        },
        _ => None,
    }
}

/// The last day of a user-authentication certificate's validity: the day of the holder's
/// **5th birthday after the issue date** (`domain.md` §4.1).
///
/// - "After" is strict: a certificate issued on a birthday counts the next year's birthday as
///   the first.
/// - 29 February: in a year without it, the birthday is taken as **28 February** (the rule of
///   民法143条2項: a period whose corresponding day does not exist in the final month ends on
///   that month's last day). This is our choice; J-LIS's exact rule is not in our sources.
/// - A birth date after the issue date (bad input) is handled the same way: the first birthday
///   after the issue date, then four more.
pub fn auth_cert_not_after(issue_date: time::Date, birth_date: time::Date) -> time::Date {
    let birthday_in = |year: i32| -> time::Date {
        let month = birth_date.month();
        let day = birth_date.day().min(month.length(year));
        time::Date::from_calendar_date(year, month, day).unwrap_or(time::Date::MAX)
    };
    let mut year = issue_date.year().max(birth_date.year().saturating_add(1));
    if birthday_in(year) <= issue_date {
        year = year.saturating_add(1);
    }
    birthday_in(year.saturating_add(4).min(time::Date::MAX.year()))
}

/// 23:59:59 Japan time (+09:00) on `date`: the natural `not_after` for a validity that ends
/// on a calendar day.
pub fn end_of_day_jst(date: time::Date) -> time::OffsetDateTime {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::PrimitiveDateTime::new(
        date,
        time::Time::from_hms(23, 59, 59).unwrap_or(time::Time::MIDNIGHT),
    )
    .assume_offset(jst)
}

/// A CRL (DER) of the card CA listing `revoked_serials_hex` (hex as in
/// [`IssuedAuthCert::serial_hex`]; upper or lower case, an optional DER sign byte is fine).
/// Every revocation is dated `this_update`. `crl_number` must grow with each publication.
pub fn make_crl(
    ca: &CertAndKey,
    revoked_serials_hex: &[String],
    this_update: time::OffsetDateTime,
    next_update: time::OffsetDateTime,
    crl_number: u64,
) -> Result<Vec<u8>, PkiError> {
    let issuer = super::issuer(ca)?;
    let revoked_certs = revoked_serials_hex
        .iter()
        .map(|hex| {
            let bytes = parse_hex(hex)
                .ok_or_else(|| PkiError::Card(format!("not a hex serial number: {hex:?}")))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(der::strip_sign_byte(&bytes)),
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from(crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(&issuer)?.der().to_vec())
}

pub(crate) fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 64 {
        return None;
    }
    s.chunks(2)
        .map(|pair| {
            let d = |c: u8| char::from(c).to_digit(16);
            Some((d(pair[0])? * 16 + d(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn fifth_birthday_after_issue() {
        // Birthday later in the year than the issue date: that birthday is the first.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 04 - 01), date!(1980 - 06 - 15)),
            date!(2029 - 06 - 15)
        );
        // Birthday already passed this year.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 08 - 01), date!(1980 - 06 - 15)),
            date!(2030 - 06 - 15)
        );
        // Issued on the birthday: strictly after, so the next year's is the first.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 06 - 15), date!(1980 - 06 - 15)),
            date!(2030 - 06 - 15)
        );
        // The day before the birthday.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 06 - 14), date!(1980 - 06 - 15)),
            date!(2029 - 06 - 15)
        );
        // Baby: issued in the birth year.
        assert_eq!(
            auth_cert_not_after(date!(2024 - 12 - 01), date!(2024 - 10 - 01)),
            date!(2029 - 10 - 01)
        );
    }

    #[test]
    fn leap_day_birthdays() {
        // Born 29 Feb; 5th birthday after 2025-03-01 is in 2030 (no 29 Feb) → 28 Feb.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 03 - 01), date!(2000 - 02 - 29)),
            date!(2030 - 02 - 28)
        );
        // 5th birthday falls in a leap year → 29 Feb itself.
        assert_eq!(
            auth_cert_not_after(date!(2023 - 03 - 01), date!(2000 - 02 - 29)),
            date!(2028 - 02 - 29)
        );
        // Issued on 28 Feb of a common year: that day is the birthday, so it does not count.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 02 - 28), date!(2000 - 02 - 29)),
            date!(2030 - 02 - 28)
        );
        // Issued 27 Feb 2025: 28 Feb 2025 is the first birthday.
        assert_eq!(
            auth_cert_not_after(date!(2025 - 02 - 27), date!(2000 - 02 - 29)),
            date!(2029 - 02 - 28)
        );
    }

    #[test]
    fn jst_end_of_day() {
        let t = end_of_day_jst(date!(2030 - 06 - 15));
        assert_eq!(
            t.to_offset(time::UtcOffset::UTC),
            time::macros::datetime!(2030-06-15 14:59:59 UTC)
        );
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(parse_hex("ABcd"), Some(vec![0xAB, 0xCD]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(""), None);
    }

    #[test]
    fn policy_oids_match_the_prefix_constant() {
        for p in CertProfile::ALL {
            let enc = der::encode_oid(&p.policy_oid());
            assert_eq!(profile_for_oid(&enc), Some(p));
            assert!(p.policy_oid().starts_with(ONSHI_ARC));
            assert_eq!(CertProfile::parse(p.as_str()), Some(p));
        }
        assert_eq!(
            CertProfile::SmartphoneIphone.policy_oid_string(),
            "1.3.6.1.4.1.55555.1.1.3"
        );
    }
}
