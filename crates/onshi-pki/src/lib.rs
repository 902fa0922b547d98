//! Certificate authorities and TLS configuration.
//!
//! Facilities (and later insurers) are identified at central by X.509 client certificates
//! issued by our own facility CA; the certificate's common name is the 10-digit
//! 医療機関コード. Central's server certificate chains to a separate server CA, so that a
//! leaked facility CA key cannot impersonate central. Everything here is plain files under
//! one directory ([`PkiLayout`]), made by our own tooling (rcgen) on first run.
//!
//! My Number card cryptography lives in its own modules: [`card_ca`] (the card CA, the
//! user-authentication certificate profiles and CRLs), [`card_verify`] (central's check of a
//! card signature), [`card`] (the `Card` trait the kiosk drives), [`softcard`] (the software
//! card) and, with the `pcsc` feature, `pcsc` (a real card through myna-card).

pub mod card;
pub mod card_ca;
pub mod card_verify;
mod der;
#[cfg(feature = "pcsc")]
pub mod pcsc;
pub mod softcard;

pub use card::{
    Card, CardError, EmulatedFaceMatcher, FaceMatcher, PIN_TRIES, certificate_serial_hex,
    is_valid_pin,
};
pub use card_ca::{
    CertProfile, IssuedAuthCert, auth_cert_not_after, end_of_day_jst, issue_auth_certificate,
    make_crl, new_card_ca, profile_of,
};
pub use card_verify::{
    CardVerifier, CardVerifyError, CertInfo, VerifiedCard, inspect as inspect_card_cert,
};
#[cfg(feature = "pcsc")]
pub use pcsc::PcscCard;
pub use softcard::{SmartphoneCard, SoftwareCard};

use onshi_core::ids::{InsurerNumber, MedicalInstitutionCode};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no PEM certificate or key found")]
    NoPem(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("client certificate: {0}")]
    BadClientCert(String),
    #[error("card certificate: {0}")]
    Card(String),
    #[error("CRL: {0}")]
    BadCrl(String),
    #[error("cryptography: {0}")]
    Crypto(String),
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl CertAndKey {
    /// The certificate as DER (the first certificate of `cert_pem`).
    pub fn cert_der(&self) -> Result<Vec<u8>, PkiError> {
        parse_certs(&self.cert_pem)?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .ok_or_else(|| PkiError::NoPem("certificate".into()))
    }
}

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "JP");
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    dn
}

fn validity(params: &mut CertificateParams, years: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365 * years);
}

/// A self-signed CA (ECDSA P-256: fast handshakes, and no RSA key generation cost).
pub fn new_ca(common_name: &str, org: &str) -> Result<CertAndKey, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name, org);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, 20);
    let cert = params.self_signed(&key)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn issuer(ca: &CertAndKey) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key = KeyPair::from_pem(&ca.key_pem)?;
    Ok(Issuer::from_ca_cert_pem(&ca.cert_pem, key)?)
}

/// The server certificate of central (or of a terminal), for the given host names and IPs.
pub fn issue_server_cert(ca: &CertAndKey, names: &[&str]) -> Result<CertAndKey, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    for name in names {
        params
            .subject_alt_names
            .push(match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into()?),
            });
    }
    params.distinguished_name = dn(names.first().copied().unwrap_or("onshi"), "onshi central");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, 5);
    let cert = params.signed_by(&key, &issuer(ca)?)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A facility's client certificate: CN = 医療機関コード, O = facility name.
pub fn issue_facility_cert(
    ca: &CertAndKey,
    code: &MedicalInstitutionCode,
    name: &str,
) -> Result<CertAndKey, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(code.as_str(), name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, 5);
    let cert = params.signed_by(&key, &issuer(ca)?)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// An insurer's client certificate: CN = 保険者番号 (digits as assigned), O = insurer name.
/// Issued by the insurer CA, a CA of its own: central tells insurers from facilities by
/// the issuer, never by the shape of the common name.
pub fn issue_insurer_cert(
    ca: &CertAndKey,
    number: &InsurerNumber,
    name: &str,
) -> Result<CertAndKey, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(number.digits(), name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, 5);
    let cert = params.signed_by(&key, &issuer(ca)?)?;
    Ok(CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The raw (DER) issuer and subject names of a certificate.
pub fn issuer_and_subject(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::BadClientCert(e.to_string()))?;
    Ok((
        cert.issuer().as_raw().to_vec(),
        cert.subject().as_raw().to_vec(),
    ))
}

fn common_name(der: &[u8]) -> Result<String, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::BadClientCert(e.to_string()))?;
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| PkiError::BadClientCert("no common name".into()))
}

/// The 保険者番号 carried in an insurer certificate's common name (chain already verified).
pub fn insurer_number_from_cert(der: &[u8]) -> Result<InsurerNumber, PkiError> {
    let cn = common_name(der)?;
    match InsurerNumber::parse(&cn) {
        Ok(n) if !n.is_unknown() => Ok(n),
        Ok(_) => Err(PkiError::BadClientCert(
            "common name is a 不詳 insurer number".into(),
        )),
        Err(e) => Err(PkiError::BadClientCert(format!(
            "common name is not a 保険者番号: {e}"
        ))),
    }
}

/// The 医療機関コード carried in a facility certificate's common name. The chain has
/// already been verified by the TLS layer; this only reads and parses the name.
pub fn facility_code_from_cert(der: &[u8]) -> Result<MedicalInstitutionCode, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::BadClientCert(e.to_string()))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| PkiError::BadClientCert("no common name".into()))?;
    MedicalInstitutionCode::parse(cn)
        .map_err(|e| PkiError::BadClientCert(format!("common name is not a 医療機関コード: {e}")))
}

pub fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::NoPem(e.to_string()))?;
    if certs.is_empty() {
        return Err(PkiError::NoPem("certificate".into()));
    }
    Ok(certs)
}

pub fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::NoPem(e.to_string()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS for central's facility listener: client certificates from `client_ca_pem` required.
pub fn server_config_mtls(
    server: &CertAndKey,
    client_ca_pem: &str,
) -> Result<rustls::ServerConfig, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in parse_certs(client_ca_pem)? {
        roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(parse_certs(&server.cert_pem)?, parse_key(&server.key_pem)?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// TLS for a client of central: trusts `server_ca_pem`, presents `client` if given.
pub fn client_config(
    server_ca_pem: &str,
    client: Option<&CertAndKey>,
) -> Result<rustls::ClientConfig, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in parse_certs(server_ca_pem)? {
        roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some(c) => builder
            .with_client_auth_cert(parse_certs(&c.cert_pem)?, parse_key(&c.key_pem)?)
            .map_err(|e| PkiError::Tls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Where the PEM files live under a data directory (`DIR/pki/`).
///
/// | file | what |
/// | --- | --- |
/// | `server-ca.crt.pem` | the CA central's server certificate chains to: clients trust this |
/// | `server-ca.key.pem`, `server.crt.pem`, `server.key.pem` | central's CA key and server certificate |
/// | `facility-ca.crt.pem`, `facility-ca.key.pem` | the CA that issues facility client certificates |
/// | `facilities/{code}.crt.pem`, `facilities/{code}.key.pem` | one facility's client certificate and key |
/// | `insurer-ca.crt.pem`, `insurer-ca.key.pem` | the CA that issues insurer client certificates |
/// | `insurers/{number}.crt.pem`, `insurers/{number}.key.pem` | one insurer's client certificate and key |
#[derive(Debug, Clone)]
pub struct PkiLayout {
    pub dir: PathBuf,
}

impl PkiLayout {
    pub fn new(data_dir: &Path) -> Self {
        PkiLayout {
            dir: data_dir.join("pki"),
        }
    }
    pub fn server_ca(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("server-ca.crt.pem"),
            self.dir.join("server-ca.key.pem"),
        )
    }
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("server.crt.pem"),
            self.dir.join("server.key.pem"),
        )
    }
    pub fn facility_ca(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("facility-ca.crt.pem"),
            self.dir.join("facility-ca.key.pem"),
        )
    }
    pub fn insurer_ca(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("insurer-ca.crt.pem"),
            self.dir.join("insurer-ca.key.pem"),
        )
    }

    pub fn insurer(&self, number: &InsurerNumber) -> (PathBuf, PathBuf) {
        let d = self.dir.join("insurers");
        (
            d.join(format!("{}.crt.pem", number.digits())),
            d.join(format!("{}.key.pem", number.digits())),
        )
    }

    /// An insurer's client certificate, issued on first use by the insurer CA.
    pub fn ensure_insurer(
        &self,
        number: &InsurerNumber,
        name: &str,
    ) -> Result<CertAndKey, PkiError> {
        let paths = self.insurer(number);
        if paths.0.exists() {
            return Self::read(&paths);
        }
        let ca = self.ensure_ca(self.insurer_ca(), "onshi insurer CA")?;
        let cert = issue_insurer_cert(&ca, number, name)?;
        Self::write(&paths, &cert)?;
        Ok(cert)
    }

    /// The CAs whose client certificates central accepts (facility CA, then insurer CA),
    /// as one PEM bundle for the TLS verifier.
    pub fn client_ca_bundle(&self) -> Result<String, PkiError> {
        let mut pem = read(&self.facility_ca().0)?;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem.push_str(&read(&self.insurer_ca().0)?);
        Ok(pem)
    }

    /// The card CA (it stands for J-LIS, which issues the real cards' certificates).
    pub fn card_ca(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("card-ca.crt.pem"),
            self.dir.join("card-ca.key.pem"),
        )
    }

    /// The card CA, made on first use (RSA-2048, like JPKI), key file 0600.
    pub fn ensure_card_ca(&self) -> Result<CertAndKey, PkiError> {
        let paths = self.card_ca();
        if paths.0.exists() {
            return Self::read(&paths);
        }
        let ca = new_card_ca("onshi card CA (JPKI user authentication, synthetic)")?;
        Self::write(&paths, &ca)?;
        Ok(ca)
    }

    pub fn facility(&self, code: &MedicalInstitutionCode) -> (PathBuf, PathBuf) {
        let d = self.dir.join("facilities");
        (
            d.join(format!("{}.crt.pem", code.as_str())),
            d.join(format!("{}.key.pem", code.as_str())),
        )
    }

    pub fn read(paths: &(PathBuf, PathBuf)) -> Result<CertAndKey, PkiError> {
        Ok(CertAndKey {
            cert_pem: read(&paths.0)?,
            key_pem: read(&paths.1)?,
        })
    }

    fn write(paths: &(PathBuf, PathBuf), ck: &CertAndKey) -> Result<(), PkiError> {
        write(&paths.0, &ck.cert_pem)?;
        write_private(&paths.1, &ck.key_pem)
    }

    /// Makes whatever is missing: both CAs, the server certificate for `server_names`, and
    /// a client certificate for each facility. Existing files are kept, so a data directory
    /// is reused across runs.
    pub fn ensure(
        &self,
        server_names: &[&str],
        facilities: &[(MedicalInstitutionCode, String)],
    ) -> Result<(), PkiError> {
        let server_ca = self.ensure_ca(self.server_ca(), "onshi server CA")?;
        if !self.server().0.exists() {
            Self::write(
                &self.server(),
                &issue_server_cert(&server_ca, server_names)?,
            )?;
        }
        let facility_ca = self.ensure_ca(self.facility_ca(), "onshi facility CA")?;
        self.ensure_ca(self.insurer_ca(), "onshi insurer CA")?;
        for (code, name) in facilities {
            let paths = self.facility(code);
            if !paths.0.exists() {
                Self::write(&paths, &issue_facility_cert(&facility_ca, code, name)?)?;
            }
        }
        Ok(())
    }

    fn ensure_ca(&self, paths: (PathBuf, PathBuf), name: &str) -> Result<CertAndKey, PkiError> {
        if paths.0.exists() {
            return Self::read(&paths);
        }
        let ca = new_ca(name, "onshi")?;
        Self::write(&paths, &ca)?;
        Ok(ca)
    }
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

fn write_private(path: &Path, text: &str) -> Result<(), PkiError> {
    write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| PkiError::Io {
                path: path.to_owned(),
                source,
            },
        )?;
    }
    Ok(())
}
