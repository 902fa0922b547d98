//! Patient burden ratio (一部負担割合) by date of birth, date of care and income.
//!
//! Legal rule: a person "reaches" age N on the day before the N-th birthday
//! (年齢計算ニ関スル法律). See `shared/reference/domain.md` §2.
//!
//! SKELETON: signatures are the contract; bodies to be filled in.

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
    pub fn code(self) -> &'static str { todo!() }
    pub fn from_code(s: &str) -> Option<Self> { todo!() }
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

/// Band on `on` for a person born `birth`. Membership in 後期 is by age here; the caller
/// also treats anyone whose insurer is a 後期高齢者医療広域連合 as LateElderly.
pub fn age_band(birth: Ymd, on: Ymd) -> AgeBand { todo!() }

/// Burden ratio in percent (10, 20, 30).
pub fn burden_percent(birth: Ymd, on: Ymd, income: IncomeCategory, late_elderly_insurer: bool) -> u8 { todo!() }

/// The date the person reaches `age` (the day before the birthday).
pub fn reach_date(birth: Ymd, age: u16) -> Ymd { todo!() }

/// Last day of 未就学: the first 31 March on or after reaching 6.
pub fn preschool_end(birth: Ymd) -> Ymd { todo!() }

/// First day of the 70–74 band: the 1st of the month after the month of reaching 70.
pub fn elderly_start(birth: Ymd) -> Ymd { todo!() }

/// First day of 後期 by age: the 75th birthday.
pub fn late_elderly_start(birth: Ymd) -> Ymd { todo!() }
