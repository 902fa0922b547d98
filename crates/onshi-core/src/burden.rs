//! Patient burden ratio (一部負担割合) by date of birth, date of care and income.
//!
//! Legal rule: a person "reaches" age N on the day before the N-th birthday
//! (年齢計算ニ関スル法律). See `shared/reference/domain.md` §2. Every boundary below is
//! derived from [`reach_date`] so that the day-before rule lives in one place:
//!
//! | Band | From | Ratio |
//! |---|---|---|
//! | 未就学 | birth, until the first 31 March on or after reaching 6 ([`preschool_end`]) | 2割 |
//! | 就学後–69 | the day after [`preschool_end`] | 3割 |
//! | 70–74 | 1st of the month after the month of reaching 70 ([`elderly_start`]) | 2割 (現役並み 3割) |
//! | 後期 | the 75th birthday ([`late_elderly_start`]) or 後期 membership at any age | 1割 (一定以上 2割 from 2022-10-01, 現役並み 3割) |
//!
//! Consequences worth knowing: a child born on 1 April leaves 未就学 a school year
//! earlier than one born on 2 April, and someone born on the 1st of a month enters the
//! 70–74 band in their birthday month itself.
//!
//! Not modelled: the 2014 特例 that kept people born on or before 1944-04-01 at 1割 in
//! the 70–74 band (all of them are over 75 since 2019-04), municipal child subsidies (公費)
//! and the 配慮措置 ceiling of 後期 2割. The online response carries the insurer's actual
//! ratio; this function is the rule to generate and cross-check it.

use crate::date::Ymd;

/// Income category as the insurer determined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IncomeCategory {
    /// 一般 (incl. 低所得).
    #[default]
    General,
    /// 後期高齢者 一定以上所得 (2割, from 2022-10-01). Treated as General before that date
    /// and outside 後期.
    LateElderlyMiddle,
    /// 現役並み所得 (3割 for 70–74 and 後期).
    ActiveEquivalent,
}

impl IncomeCategory {
    pub const ALL: [IncomeCategory; 3] = [
        IncomeCategory::General,
        IncomeCategory::LateElderlyMiddle,
        IncomeCategory::ActiveEquivalent,
    ];

    /// Stable code used in the database: `general`, `middle`, `active`.
    pub fn code(self) -> &'static str {
        match self {
            IncomeCategory::General => "general",
            IncomeCategory::LateElderlyMiddle => "middle",
            IncomeCategory::ActiveEquivalent => "active",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == s)
    }
}

/// The age band that decides the ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeBand {
    /// 義務教育就学前: until the first 31 March on or after reaching 6.
    Preschool,
    /// From school age to the month in which the person reaches 70.
    Working,
    /// 高齢受給者 (70–74): from the month after the month of reaching 70.
    Elderly70To74,
    /// 後期高齢者: from the 75th birthday itself.
    LateElderly,
}

/// The day the 後期 一定以上所得 (2割) category took effect.
pub const LATE_ELDERLY_MIDDLE_FROM: Ymd = Ymd(time::macros::date!(2022 - 10 - 01));

/// Band on `on` for a person born `birth`. Membership in 後期 is by age here; the caller
/// also treats anyone whose insurer is a 後期高齢者医療広域連合 as LateElderly.
///
/// Dates before birth fall in [`AgeBand::Preschool`].
pub fn age_band(birth: Ymd, on: Ymd) -> AgeBand {
    if on <= preschool_end(birth) {
        AgeBand::Preschool
    } else if on >= late_elderly_start(birth) {
        AgeBand::LateElderly
    } else if on >= elderly_start(birth) {
        AgeBand::Elderly70To74
    } else {
        AgeBand::Working
    }
}

/// Burden ratio in percent (10, 20, 30).
///
/// `late_elderly_insurer` is true when the person is insured by a 後期高齢者医療広域連合;
/// the 後期 ratios then apply at any age (65–74 with a 障害認定).
pub fn burden_percent(
    birth: Ymd,
    on: Ymd,
    income: IncomeCategory,
    late_elderly_insurer: bool,
) -> u8 {
    let band = if late_elderly_insurer {
        AgeBand::LateElderly
    } else {
        age_band(birth, on)
    };
    match band {
        AgeBand::Preschool => 20,
        AgeBand::Working => 30,
        AgeBand::Elderly70To74 => match income {
            IncomeCategory::ActiveEquivalent => 30,
            IncomeCategory::General | IncomeCategory::LateElderlyMiddle => 20,
        },
        AgeBand::LateElderly => match income {
            IncomeCategory::ActiveEquivalent => 30,
            IncomeCategory::LateElderlyMiddle if on >= LATE_ELDERLY_MIDDLE_FROM => 20,
            IncomeCategory::LateElderlyMiddle | IncomeCategory::General => 10,
        },
    }
}

/// The date the person reaches `age` (the day before the birthday).
pub fn reach_date(birth: Ymd, age: u16) -> Ymd {
    birth.birthday(age).add_days(-1)
}

/// Last day of 未就学: the first 31 March on or after reaching 6.
pub fn preschool_end(birth: Ymd) -> Ymd {
    let r = reach_date(birth, 6);
    let year = if (r.month(), r.day()) <= (3, 31) {
        r.year()
    } else {
        r.year() + 1
    };
    // 31 March always exists; saturate at the end of the representable range.
    Ymd::from_ymd(year, 3, 31).unwrap_or(Ymd::MAX)
}

/// First day of the 70–74 band: the 1st of the month after the month of reaching 70.
pub fn elderly_start(birth: Ymd) -> Ymd {
    reach_date(birth, 70).first_day_of_month().add_months(1)
}

/// First day of 後期 by age: the 75th birthday.
pub fn late_elderly_start(birth: Ymd) -> Ymd {
    birth.birthday(75)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> Ymd {
        Ymd::parse(s).unwrap()
    }

    #[test]
    fn income_codes_round_trip() {
        for c in IncomeCategory::ALL {
            assert_eq!(IncomeCategory::from_code(c.code()), Some(c));
        }
        assert_eq!(IncomeCategory::from_code("General"), None);
        assert_eq!(IncomeCategory::from_code(""), None);
        assert_eq!(IncomeCategory::default(), IncomeCategory::General);
    }

    #[test]
    fn boundaries_for_an_ordinary_birthday() {
        let b = d("19550515");
        assert_eq!(reach_date(b, 6), d("19610514"));
        assert_eq!(preschool_end(b), d("19620331"));
        assert_eq!(reach_date(b, 70), d("20250514"));
        assert_eq!(elderly_start(b), d("20250601"));
        assert_eq!(late_elderly_start(b), d("20300515"));
    }

    #[test]
    fn bands() {
        let b = d("19550515");
        assert_eq!(age_band(b, d("19550515")), AgeBand::Preschool);
        assert_eq!(age_band(b, d("19620331")), AgeBand::Preschool);
        assert_eq!(age_band(b, d("19620401")), AgeBand::Working);
        assert_eq!(age_band(b, d("20250531")), AgeBand::Working);
        assert_eq!(age_band(b, d("20250601")), AgeBand::Elderly70To74);
        assert_eq!(age_band(b, d("20300514")), AgeBand::Elderly70To74);
        assert_eq!(age_band(b, d("20300515")), AgeBand::LateElderly);
    }

    #[test]
    fn late_elderly_middle_starts_2022_10_01() {
        let b = d("19400101");
        let m = IncomeCategory::LateElderlyMiddle;
        assert_eq!(burden_percent(b, d("20220930"), m, false), 10);
        assert_eq!(burden_percent(b, d("20221001"), m, false), 20);
        // Outside 後期 the middle category counts as general.
        let y = d("19520701");
        assert_eq!(age_band(y, d("20230101")), AgeBand::Elderly70To74);
        assert_eq!(burden_percent(y, d("20230101"), m, false), 20);
        assert_eq!(burden_percent(d("19800101"), d("20230101"), m, false), 30);
    }
}
