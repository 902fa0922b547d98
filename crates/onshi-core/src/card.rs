//! Rules about the My Number card's user-authentication certificate, consent windows and
//! smartphones at the counter (`shared/reference/domain.md` §4.3, §4.4, §5.1).

use crate::date::{JstDateTime, Ymd};

/// Where a certificate stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStanding {
    /// Valid. `renewal_alert` when three months or less remain (renewal is possible and
    /// the reader tells the patient so).
    Valid { renewal_alert: bool },
    /// Expired, but the card still proves qualification (and only that: no consent to
    /// medical information) until `until`, inclusive.
    Grace { until: Ymd },
    /// Expired and past the grace period: the patient must renew the certificate.
    Expired,
}

/// The last day of the grace period: the end of the third month after the month in
/// which the certificate expired (expiry 2026-01-15 → 2026-04-30).
pub fn grace_end(expiry: Ymd) -> Ymd {
    expiry
        .first_day_of_month()
        .add_months(3)
        .last_day_of_month()
}

/// Standing of a certificate whose last valid day is `expiry`, on day `on`.
pub fn certificate_standing(expiry: Ymd, on: Ymd) -> CertificateStanding {
    if on <= expiry {
        CertificateStanding::Valid {
            renewal_alert: on >= expiry.add_months(-3),
        }
    } else if on <= grace_end(expiry) {
        CertificateStanding::Grace {
            until: grace_end(expiry),
        }
    } else {
        CertificateStanding::Expired
    }
}

/// Outpatient viewing is allowed for 24 hours after consent (the `…AvailableTime`).
pub const OUTPATIENT_CONSENT_SECONDS: i64 = 24 * 60 * 60;

pub fn consent_available_until(consented_at: JstDateTime) -> JstDateTime {
    consented_at.add_seconds(OUTPATIENT_CONSENT_SECONDS)
}

/// 特定健診 information exists (and is asked about) only from age 40.
pub const HEALTH_CHECKUP_MIN_AGE: u16 = 40;

/// Why a smartphone was not accepted at the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmartphoneRefusal {
    /// The facility has not enabled 「スマホによる本人確認」.
    NotEnabledAtFacility,
    /// The person has never used the physical card at this facility.
    NoPriorPhysicalCardUse,
    /// The physical card's certificate is expired (past grace or not) or revoked.
    PhysicalCardNotUsable,
}

/// The smartphone rules, in the order a patient meets them.
pub fn smartphone_allowed(
    facility_enabled: bool,
    used_physical_card_here: bool,
    physical_card_usable: bool,
) -> Result<(), SmartphoneRefusal> {
    if !facility_enabled {
        Err(SmartphoneRefusal::NotEnabledAtFacility)
    } else if !physical_card_usable {
        Err(SmartphoneRefusal::PhysicalCardNotUsable)
    } else if !used_physical_card_here {
        Err(SmartphoneRefusal::NoPriorPhysicalCardUse)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> Ymd {
        Ymd::parse(s).unwrap()
    }

    #[test]
    fn grace_runs_to_the_end_of_the_third_month_after_expiry() {
        assert_eq!(grace_end(d("20260115")), d("20260430"));
        assert_eq!(grace_end(d("20260228")), d("20260531"));
        assert_eq!(grace_end(d("20261130")), d("20270228"));
        assert_eq!(grace_end(d("20271130")), d("20280229"));
    }

    #[test]
    fn standing_moves_from_valid_to_alert_to_grace_to_expired() {
        let expiry = d("20270315");
        assert_eq!(
            certificate_standing(expiry, d("20261214")),
            CertificateStanding::Valid {
                renewal_alert: false
            }
        );
        assert_eq!(
            certificate_standing(expiry, d("20261215")),
            CertificateStanding::Valid {
                renewal_alert: true
            }
        );
        assert_eq!(
            certificate_standing(expiry, d("20270315")),
            CertificateStanding::Valid {
                renewal_alert: true
            }
        );
        let grace = CertificateStanding::Grace {
            until: d("20270630"),
        };
        assert_eq!(certificate_standing(expiry, d("20270316")), grace);
        assert_eq!(certificate_standing(expiry, d("20270630")), grace);
        assert_eq!(
            certificate_standing(expiry, d("20270701")),
            CertificateStanding::Expired
        );
    }

    #[test]
    fn smartphone_rules_apply_in_order() {
        assert_eq!(
            smartphone_allowed(false, true, true),
            Err(SmartphoneRefusal::NotEnabledAtFacility)
        );
        assert_eq!(
            smartphone_allowed(true, true, false),
            Err(SmartphoneRefusal::PhysicalCardNotUsable)
        );
        assert_eq!(
            smartphone_allowed(true, false, true),
            Err(SmartphoneRefusal::NoPriorPhysicalCardUse)
        );
        assert_eq!(smartphone_allowed(true, true, true), Ok(()));
    }

    #[test]
    fn consent_is_viewable_for_24_hours() {
        let t = JstDateTime::parse_wire("20261123100000").unwrap();
        assert_eq!(consent_available_until(t).to_wire(), "20261124100000");
    }
}
