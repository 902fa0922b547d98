//! Card checks made while central was down (system-failure mode), answered later.
//!
//! Without central there is no nonce. The terminal has the card sign an *offline
//! challenge* instead: `OFFLINE-{医療機関コード}-{yyyyMMddHHmmss}-{32 hex}` (the facility,
//! the moment in JST, 128 random bits), keeps the signed body in its outbox, and sends it
//! to `POST /oqs/v1/card/deferred-check` once central answers again. Central verifies it
//! like a live check, as of the moment of signing: the certificate's standing on that
//! day, the chain and the signature at that time, the registry and revocation now (a card
//! revoked meanwhile is refused), and answers the qualification on that day. The
//! challenge is single-use (it goes into the same used-nonce table as live nonces) and
//! accepted for 72 hours. No consent is taken: nothing could have recorded it, and the
//! patient cannot be asked again.
//!
//! What this cannot prove is *when* the terminal made the challenge: a terminal could
//! backdate it within the 72 hours. That is the price of working offline; the facility's
//! client certificate is what holds the terminal to account, and the history row records
//! both times.

use crate::error::CheckError;
use onshi_core::date::JstDateTime;
use onshi_core::ids::MedicalInstitutionCode;

/// How long after signing an offline check is accepted.
pub const DEFERRED_MAX_SECONDS: i64 = 72 * 3600;
/// Tolerated clock difference between terminal and central.
const CLOCK_SKEW_SECONDS: i64 = 300;
const PREFIX: &str = "OFFLINE";

/// The challenge for an offline check at `facility` at `at`, with 128 random bits.
pub fn offline_challenge(facility: &str, at: JstDateTime, random: [u8; 16]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}-{facility}-{}-{hex}", at.to_wire())
}

/// Checks the form and the facility of an offline challenge; returns when it was made.
pub(crate) fn check_offline_challenge(
    challenge: &str,
    facility: &MedicalInstitutionCode,
    now: JstDateTime,
) -> Result<JstDateTime, CheckError> {
    let bad = |d: &str| CheckError::OfflineChallengeInvalid(d.to_string());
    let mut parts = challenge.split('-');
    let (Some(PREFIX), Some(code), Some(at), Some(random), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad("形式"));
    };
    if random.len() != 32 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("乱数"));
    }
    if code != facility.as_str() {
        return Err(CheckError::NonceOtherFacility);
    }
    let signed = JstDateTime::parse_wire(at).map_err(|_| bad("日時"))?;
    if signed > now.add_seconds(CLOCK_SKEW_SECONDS) {
        return Err(bad("未来の日時"));
    }
    if now >= signed.add_seconds(DEFERRED_MAX_SECONDS) {
        return Err(CheckError::OfflineCheckTooOld);
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clinic() -> MedicalInstitutionCode {
        MedicalInstitutionCode::parse("1311234569").expect("code")
    }

    #[test]
    fn challenges_round_trip_and_are_bounded_in_time() {
        let now = JstDateTime::parse_wire("20261123100000").expect("time");
        let c = offline_challenge("1311234569", now.add_seconds(-3600), [0xab; 16]);
        assert_eq!(
            check_offline_challenge(&c, &clinic(), now).expect("ok"),
            now.add_seconds(-3600)
        );
        let old = offline_challenge(
            "1311234569",
            now.add_seconds(-DEFERRED_MAX_SECONDS),
            [1; 16],
        );
        assert!(matches!(
            check_offline_challenge(&old, &clinic(), now),
            Err(CheckError::OfflineCheckTooOld)
        ));
        let future = offline_challenge("1311234569", now.add_seconds(301), [1; 16]);
        assert!(check_offline_challenge(&future, &clinic(), now).is_err());
        let other = offline_challenge("1319876543", now, [1; 16]);
        assert!(matches!(
            check_offline_challenge(&other, &clinic(), now),
            Err(CheckError::NonceOtherFacility)
        ));
        for bad in [
            "",
            "OFFLINE-1311234569-20261123100000",
            &format!("{c}-x"),
            &c.replace("OFFLINE", "ONLINE"),
            &c[..c.len() - 1],
        ] {
            assert!(
                check_offline_challenge(bad, &clinic(), now).is_err(),
                "{bad}"
            );
        }
    }
}
