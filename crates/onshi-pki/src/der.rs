//! A minimal, allocation-free DER reader for the few certificate fields the card code needs
//! (serial, validity, RSA public key, our profile policy).
//!
//! Why not x509-parser: card verification is central's hot path and this walk costs well under
//! a microsecond and allocates nothing, while a full parse builds vectors of extensions and
//! names. Path validation itself is done by rustls-webpki; this reader never decides trust, it
//! only extracts fields from a certificate webpki has accepted (or, in `inspect`, from one
//! nobody has checked yet, which the caller is told). It accepts only what the certificates we
//! issue (and JPKI's) use: single-byte tags, definite lengths of at most four bytes.

/// Why a certificate could not be read. Deliberately without detail: the caller maps it to a
/// "malformed" error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError;

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
const TAG_CTX0: u8 = 0xA0;
const TAG_CTX1_PRIM: u8 = 0x81;
const TAG_CTX2_PRIM: u8 = 0x82;
const TAG_CTX3: u8 = 0xA3;

/// 2.5.29.32 certificatePolicies.
pub(crate) const OID_CERTIFICATE_POLICIES: &[u8] = &[0x55, 0x1D, 0x20];
/// 1.2.840.113549.1.1.11 sha256WithRSAEncryption.
const OID_SHA256_WITH_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
/// 1.2.840.113549.1.1.1 rsaEncryption.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// The next TLV: (tag, contents).
    pub(crate) fn any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, rest) = self.data.split_first().ok_or(DerError)?;
        if tag & 0x1F == 0x1F {
            return Err(DerError); // multi-byte tags: never in a certificate we read
        }
        let (&first, mut rest) = rest.split_first().ok_or(DerError)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(DerError); // indefinite or absurd lengths
            }
            let (len_bytes, after) = rest.split_at(n);
            // DER: the shortest form, so no leading zero byte and no long form below 128.
            if len_bytes[0] == 0 {
                return Err(DerError);
            }
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError);
            }
            rest = after;
            len
        };
        if rest.len() < len {
            return Err(DerError);
        }
        let (value, rest) = rest.split_at(len);
        self.data = rest;
        Ok((tag, value))
    }

    /// Like [`expect`](Self::expect), but returns the whole TLV (tag and length included), as
    /// signatures cover it.
    pub(crate) fn expect_raw(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let before = self.data;
        self.expect(tag)?;
        Ok(&before[..before.len() - self.data.len()])
    }

    pub(crate) fn expect(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        match self.any()? {
            (t, v) if t == tag => Ok(v),
            _ => Err(DerError),
        }
    }

    /// Skips an optional element with the given tag.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(tag) {
            Ok(Some(self.expect(tag)?))
        } else {
            Ok(None)
        }
    }
}

/// The fields of a certificate that the card code uses, borrowed from its DER.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CertFields<'a> {
    /// Contents of the serialNumber INTEGER (may start with a 0x00 sign byte).
    pub serial: &'a [u8],
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    /// The RSAPublicKey (PKCS#1) DER, if the key is RSA.
    pub rsa_public_key: Option<&'a [u8]>,
    /// Contents of the certificatePolicies extension value, if present.
    pub policies: Option<&'a [u8]>,
}

impl CertFields<'_> {
    /// The serial number as lower-case hex, without the DER sign byte.
    pub(crate) fn serial_hex(&self) -> String {
        hex(strip_sign_byte(self.serial))
    }
}

pub(crate) fn strip_sign_byte(int: &[u8]) -> &[u8] {
    match int {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => int,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    s
}

pub(crate) fn parse_cert(der: &[u8]) -> Result<CertFields<'_>, DerError> {
    let mut outer = Reader::new(der);
    let cert = outer.expect(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return Err(DerError);
    }
    let mut cert = Reader::new(cert);
    let tbs = cert.expect(TAG_SEQUENCE)?;
    let mut tbs = Reader::new(tbs);
    tbs.optional(TAG_CTX0)?; // version
    let serial = tbs.expect(TAG_INTEGER)?;
    if serial.is_empty() {
        return Err(DerError);
    }
    tbs.expect(TAG_SEQUENCE)?; // signature algorithm
    tbs.expect(TAG_SEQUENCE)?; // issuer
    let mut validity = Reader::new(tbs.expect(TAG_SEQUENCE)?);
    let not_before = parse_time(&mut validity)?;
    let not_after = parse_time(&mut validity)?;
    tbs.expect(TAG_SEQUENCE)?; // subject
    let mut spki = Reader::new(tbs.expect(TAG_SEQUENCE)?);
    let mut alg = Reader::new(spki.expect(TAG_SEQUENCE)?);
    let alg_oid = alg.expect(TAG_OID)?;
    let key_bits = spki.expect(TAG_BIT_STRING)?;
    let rsa_public_key = match key_bits.split_first() {
        Some((0, key)) if alg_oid == OID_RSA_ENCRYPTION => Some(key),
        _ => None,
    };
    tbs.optional(TAG_CTX1_PRIM)?; // issuerUniqueID
    tbs.optional(TAG_CTX2_PRIM)?; // subjectUniqueID
    let mut policies = None;
    if let Some(exts) = tbs.optional(TAG_CTX3)? {
        let mut exts = Reader::new(Reader::new(exts).expect(TAG_SEQUENCE)?);
        while !exts.is_empty() {
            let mut ext = Reader::new(exts.expect(TAG_SEQUENCE)?);
            let oid = ext.expect(TAG_OID)?;
            ext.optional(TAG_BOOLEAN)?;
            let value = ext.expect(TAG_OCTET_STRING)?;
            if oid == OID_CERTIFICATE_POLICIES {
                if policies.is_some() {
                    return Err(DerError); // duplicate extension
                }
                policies = Some(value);
            }
        }
    }
    Ok(CertFields {
        serial,
        not_before,
        not_after,
        rsa_public_key,
        policies,
    })
}

/// A CRL split for signature checking: (tbsCertList TLV, signature bits). Only
/// sha256WithRSAEncryption is accepted (the only algorithm of card CAs).
pub(crate) fn split_signed_sha256_rsa(der: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let mut outer = Reader::new(der);
    let mut signed = Reader::new(outer.expect(TAG_SEQUENCE)?);
    if !outer.is_empty() {
        return Err(DerError);
    }
    let tbs = signed.expect_raw(TAG_SEQUENCE)?;
    let mut alg = Reader::new(signed.expect(TAG_SEQUENCE)?);
    if alg.expect(TAG_OID)? != OID_SHA256_WITH_RSA {
        return Err(DerError);
    }
    let sig = match signed.expect(TAG_BIT_STRING)?.split_first() {
        Some((0, sig)) => sig,
        _ => return Err(DerError),
    };
    if !signed.is_empty() {
        return Err(DerError);
    }
    Ok((tbs, sig))
}

/// The policy OIDs (contents bytes) listed in a certificatePolicies extension value.
pub(crate) fn policy_oids(value: &[u8]) -> impl Iterator<Item = Result<&[u8], DerError>> {
    let mut seq = Reader::new(value);
    let mut list = match seq.expect(TAG_SEQUENCE) {
        Ok(list) if seq.is_empty() => Ok(Reader::new(list)),
        _ => Err(DerError),
    };
    std::iter::from_fn(move || match &mut list {
        Err(_) => {
            // Report the error once, then stop.
            let e = std::mem::replace(&mut list, Ok(Reader::new(&[])));
            e.err().map(Err)
        }
        Ok(r) if r.is_empty() => None,
        Ok(r) => Some(
            r.expect(TAG_SEQUENCE)
                .and_then(|info| Reader::new(info).expect(TAG_OID)),
        ),
    })
}

fn parse_time(r: &mut Reader<'_>) -> Result<time::OffsetDateTime, DerError> {
    let (tag, v) = r.any()?;
    let (year, rest) = match (tag, v.len()) {
        (TAG_UTC_TIME, 13) => {
            let yy = i32::from(two(v, 0)?);
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &v[2..])
        }
        (TAG_GENERALIZED_TIME, 15) => {
            (i32::from(two(v, 0)?) * 100 + i32::from(two(v, 2)?), &v[4..])
        }
        _ => return Err(DerError),
    };
    if rest.last() != Some(&b'Z') {
        return Err(DerError);
    }
    let month = time::Month::try_from(two(rest, 0)?).map_err(|_| DerError)?;
    let date = time::Date::from_calendar_date(year, month, two(rest, 2)?).map_err(|_| DerError)?;
    let t =
        time::Time::from_hms(two(rest, 4)?, two(rest, 6)?, two(rest, 8)?).map_err(|_| DerError)?;
    Ok(time::PrimitiveDateTime::new(date, t).assume_utc())
}

fn two(v: &[u8], at: usize) -> Result<u8, DerError> {
    match v.get(at..at + 2) {
        Some([a @ b'0'..=b'9', b @ b'0'..=b'9']) => Ok((a - b'0') * 10 + (b - b'0')),
        _ => Err(DerError),
    }
}

/// Encodes an OID's contents (no tag/length) from its arcs. Arcs must be valid (first < 3,
/// second < 40 unless first is 2); only used with our own constants.
pub(crate) fn encode_oid(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        _ => return out,
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        let mut v = arc;
        loop {
            tmp[n] = (v & 0x7F) as u8;
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            out.push(tmp[i] | if i == 0 { 0 } else { 0x80 });
        }
    }
    out
}

/// DER TLV with a definite length.
pub(crate) fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_encoding() {
        assert_eq!(encode_oid(&[2, 5, 29, 32]), OID_CERTIFICATE_POLICIES);
        assert_eq!(
            encode_oid(&[1, 2, 840, 113549, 1, 1, 1]),
            OID_RSA_ENCRYPTION
        );
        assert_eq!(
            encode_oid(&[1, 3, 6, 1, 4, 1, 55555, 1, 1, 1]),
            [0x2B, 6, 1, 4, 1, 0x83, 0xB2, 0x03, 1, 1, 1]
        );
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x81, 0x05, 0, 0, 0, 0, 0],
            &[0x30, 0x05, 1],
            &[0x1F, 0x01, 0x00],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        ] {
            assert!(parse_cert(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lengths() {
        let long = vec![7u8; 300];
        let enc = tlv(TAG_OCTET_STRING, &long);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(Reader::new(&enc).expect(TAG_OCTET_STRING), Ok(&long[..]));
        // Non-minimal long form is refused.
        assert!(Reader::new(&[0x04, 0x81, 0x01, 0x00]).any().is_err());
        assert!(Reader::new(&[0x04, 0x82, 0x00, 0x81]).any().is_err());
    }
}
