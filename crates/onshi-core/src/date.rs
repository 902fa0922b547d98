//! Calendar dates as the wire writes them (YYYYMMDD), JST instants, and 和暦 for display.
//!
//! Choices made here (see `shared/reference/domain.md` §2 for the legal background):
//!
//! - A [`Ymd`] built through this module lies in years 0000–9999, so that `to_wire` is
//!   always eight digits and parses back. Arithmetic ([`Ymd::add_days`],
//!   [`Ymd::add_months`], [`Ymd::birthday`]) saturates at [`Ymd::MIN`] / [`Ymd::MAX`]
//!   instead of panicking.
//! - Age follows 年齢計算ニ関スル法律 with 民法 §143: a person reaches age N at the start of
//!   the day before the N-th birthday. Someone born on 29 February has their birthday on
//!   1 March in common years ([`Ymd::birthday`]), so they reach the age on 28 February in
//!   every year, leap or not. This is the civil-law reading (the period ends on the last
//!   day of February when the corresponding day does not exist).
//! - [`JstDateTime`] is a UTC instant (microseconds since the Unix epoch); only its
//!   display and the calendar date are in Japan Standard Time (+09:00, no DST).

use time::{Date, Month};

/// A calendar date. Ordered. Parsed from `YYYYMMDD` (also accepts `YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ymd(pub time::Date);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?}: expected YYYYMMDD")]
pub struct DateError(pub String);

const MIN_YEAR: i32 = 0;
const MAX_YEAR: i32 = 9999;

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
const JST_OFFSET_SECONDS: i64 = 9 * 3600;
const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Parse an all-ASCII-digit slice into a number; `None` for anything else.
fn digits_value(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The 和暦 eras with the Gregorian date each starts on.
const ERAS: [(&str, (i32, u8, u8)); 5] = [
    ("令和", (2019, 5, 1)),
    ("平成", (1989, 1, 8)),
    ("昭和", (1926, 12, 25)),
    ("大正", (1912, 7, 30)),
    ("明治", (1868, 1, 25)),
];

impl Ymd {
    /// 0000-01-01, the earliest date with a four-digit wire form.
    pub const MIN: Ymd = Ymd(time::macros::date!(0000 - 01 - 01));
    /// 9999-12-31, the latest date with a four-digit wire form.
    pub const MAX: Ymd = Ymd(time::macros::date!(9999 - 12 - 31));

    /// `YYYYMMDD` or `YYYY-MM-DD`, ASCII digits only; refuses dates that do not exist.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let err = || DateError(s.to_string());
        let (y, m, d) = match s.len() {
            8 => (s.get(0..4), s.get(4..6), s.get(6..8)),
            10 if s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' => {
                (s.get(0..4), s.get(5..7), s.get(8..10))
            }
            _ => return Err(err()),
        };
        let (Some(y), Some(m), Some(d)) = (
            y.and_then(digits_value),
            m.and_then(digits_value),
            d.and_then(digits_value),
        ) else {
            return Err(err());
        };
        // y < 10000, m < 100, d < 100: the casts are lossless.
        Self::from_ymd(y as i32, m as u8, d as u8).map_err(|_| err())
    }

    /// A real date in years 0000–9999.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Result<Self, DateError> {
        let err = || DateError(format!("{year:04}-{month:02}-{day:02}"));
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(err());
        }
        let month = Month::try_from(month).map_err(|_| err())?;
        Date::from_calendar_date(year, month, day)
            .map(Ymd)
            .map_err(|_| err())
    }

    /// `YYYYMMDD`.
    pub fn to_wire(self) -> String {
        format!("{:04}{:02}{:02}", self.year(), self.month(), self.day())
    }

    /// `YYYY-MM-DD` (database form; sorts like the date).
    pub fn to_iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year(), self.month(), self.day())
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }
    pub fn month(self) -> u8 {
        u8::from(self.0.month())
    }
    pub fn day(self) -> u8 {
        self.0.day()
    }

    /// `days` later (earlier when negative), saturating at [`Ymd::MIN`] / [`Ymd::MAX`].
    pub fn add_days(self, days: i64) -> Self {
        let jd = i64::from(self.0.to_julian_day()).saturating_add(days);
        let lo = i64::from(Self::MIN.0.to_julian_day());
        let hi = i64::from(Self::MAX.0.to_julian_day());
        let jd = jd.clamp(lo, hi);
        // Within MIN..=MAX, so both conversions succeed; fall back to self defensively.
        i32::try_from(jd)
            .ok()
            .and_then(|jd| Date::from_julian_day(jd).ok())
            .map_or(self, Ymd)
    }

    /// Same day `months` months later, clamped to the month's last day
    /// (31 Jan + 1 month = 28/29 Feb). Saturates at [`Ymd::MIN`] / [`Ymd::MAX`].
    pub fn add_months(self, months: i32) -> Self {
        let total = i64::from(self.year()) * 12 + i64::from(self.month()) - 1 + i64::from(months);
        let year = total.div_euclid(12);
        if year < i64::from(MIN_YEAR) {
            return Self::MIN;
        }
        if year > i64::from(MAX_YEAR) {
            return Self::MAX;
        }
        // 0 ≤ rem < 12 and year is within 0..=9999.
        let month = (total.rem_euclid(12) + 1) as u8;
        Self::clamped(year as i32, month, self.day())
    }

    /// The date `year-month-day`, with `day` clamped to the month's length. `year` must be
    /// within 0..=9999 and `month` within 1..=12; anything else saturates.
    fn clamped(year: i32, month: u8, day: u8) -> Self {
        if year < MIN_YEAR {
            return Self::MIN;
        }
        if year > MAX_YEAR {
            return Self::MAX;
        }
        let Ok(m) = Month::try_from(month) else {
            return Self::MAX;
        };
        let day = day.clamp(1, m.length(year));
        Date::from_calendar_date(year, m, day).map_or(Self::MAX, Ymd)
    }

    pub fn last_day_of_month(self) -> Self {
        Self::clamped(self.year(), self.month(), 31)
    }

    pub fn first_day_of_month(self) -> Self {
        Self::clamped(self.year(), self.month(), 1)
    }

    /// The N-th birthday. For someone born on 29 February the birthday in a common year is
    /// **1 March** (so they reach the age on 28 February, the civil-law reading of
    /// 年齢計算ニ関スル法律 with 民法 §143). `birthday(0)` is the date of birth.
    /// Saturates at [`Ymd::MAX`].
    pub fn birthday(self, age: u16) -> Self {
        let year = i64::from(self.year()) + i64::from(age);
        if year > i64::from(MAX_YEAR) {
            return Self::MAX;
        }
        let year = year as i32;
        if self.month() == 2 && self.day() == 29 && !time::util::is_leap_year(year) {
            return Self::clamped(year, 3, 1);
        }
        Self::clamped(year, self.month(), self.day())
    }

    /// Completed years on `on` under 年齢計算ニ関スル法律 (age increases the day before the birthday).
    ///
    /// Equivalently: the largest N with `self.birthday(N) - 1 day <= on`. Dates before the
    /// day before birth give 0.
    pub fn legal_age_on(self, on: Ymd) -> u16 {
        // The age on `on` under the law is the ordinary age on the following day.
        let (ny, nm, nd) = match on.0.next_day() {
            Some(d) => (d.year(), u8::from(d.month()), d.day()),
            None => (on.year() + 1, 1, 1),
        };
        let mut age = i64::from(ny) - i64::from(self.year());
        // A 29 Feb birthday compares as 1 March in common years, which the (month, day)
        // comparison below already does: (3, 1) >= (2, 29) and (2, 28) < (2, 29).
        if (nm, nd) < (self.month(), self.day()) {
            age -= 1;
        }
        u16::try_from(age.max(0)).unwrap_or(u16::MAX)
    }

    /// 和暦 display, e.g. `令和6年10月21日` (明治/大正/昭和/平成/令和; 元年 for year 1).
    ///
    /// Eras change on the Gregorian day the new era starts (平成31年4月30日 is followed by
    /// 令和元年5月1日). Dates before 明治 (1868-01-25, the Gregorian date of 明治元年1月1日)
    /// have no era here and are shown as `西暦YYYY年M月D日`.
    pub fn to_wareki(self) -> String {
        let key = (self.year(), self.month(), self.day());
        let Some((name, (start_year, _, _))) = ERAS.iter().find(|(_, start)| key >= *start) else {
            return format!("西暦{}年{}月{}日", self.year(), self.month(), self.day());
        };
        let era_year = self.year() - start_year + 1;
        let year = if era_year == 1 {
            "元".to_string()
        } else {
            era_year.to_string()
        };
        format!("{name}{year}年{}月{}日", self.month(), self.day())
    }
}

impl std::fmt::Display for Ymd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_wire())
    }
}

impl std::str::FromStr for Ymd {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, DateError> {
        Self::parse(s)
    }
}

/// An instant, kept as microseconds since the Unix epoch, shown in JST (+09:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JstDateTime(pub i64);

impl JstDateTime {
    /// The earliest instant shown as a four-digit year: 0000-01-01T00:00:00+09:00.
    pub const MIN: JstDateTime = JstDateTime(-62_167_251_600_000_000);
    /// The latest: 9999-12-31T23:59:59.999999+09:00.
    pub const MAX: JstDateTime = JstDateTime(253_402_268_399_999_999);

    pub fn from_unix_micros(us: i64) -> Self {
        JstDateTime(us)
    }
    pub fn unix_micros(self) -> i64 {
        self.0
    }

    /// Midnight JST at the start of `date`.
    pub fn start_of_day(date: Ymd) -> Self {
        let days = i64::from(date.0.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY;
        JstDateTime((days * SECONDS_PER_DAY - JST_OFFSET_SECONDS) * MICROS_PER_SECOND)
    }

    /// JST wall-clock parts: (date, seconds since local midnight). Instants outside
    /// [`JstDateTime::MIN`]..=[`JstDateTime::MAX`] are clamped.
    fn local_parts(self) -> (Ymd, i64) {
        let us = self.0.clamp(Self::MIN.0, Self::MAX.0);
        let local = us.div_euclid(MICROS_PER_SECOND) + JST_OFFSET_SECONDS;
        let days = local.div_euclid(SECONDS_PER_DAY);
        let secs = local.rem_euclid(SECONDS_PER_DAY);
        // Clamped above, so the Julian day is within Ymd::MIN..=Ymd::MAX.
        let date = i32::try_from(days + UNIX_EPOCH_JULIAN_DAY)
            .ok()
            .and_then(|jd| Date::from_julian_day(jd).ok())
            .map_or(Ymd::MIN, Ymd);
        (date, secs)
    }

    /// The JST calendar date of this instant.
    pub fn date(self) -> Ymd {
        self.local_parts().0
    }

    /// `YYYYMMDDHHmmss` in JST (sub-second part dropped).
    pub fn to_wire(self) -> String {
        let (d, secs) = self.local_parts();
        format!(
            "{}{:02}{:02}{:02}",
            d.to_wire(),
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// Inverse of [`JstDateTime::to_wire`]: 14 ASCII digits, a real date and a time
    /// 00:00:00–23:59:59 in JST.
    pub fn parse_wire(s: &str) -> Result<Self, DateError> {
        let err = || DateError(s.to_string());
        if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let date = Ymd::parse(&s[..8]).map_err(|_| err())?;
        let part = |r: std::ops::Range<usize>| digits_value(&s[r]).map(i64::from);
        let (Some(h), Some(mi), Some(se)) = (part(8..10), part(10..12), part(12..14)) else {
            return Err(err());
        };
        if h > 23 || mi > 59 || se > 59 {
            return Err(err());
        }
        Ok(JstDateTime(
            Self::start_of_day(date).0 + (h * 3600 + mi * 60 + se) * MICROS_PER_SECOND,
        ))
    }

    /// `s` seconds later (earlier when negative); saturates instead of overflowing.
    pub fn add_seconds(self, s: i64) -> Self {
        JstDateTime(self.0.saturating_add(s.saturating_mul(MICROS_PER_SECOND)))
    }
}

impl std::fmt::Display for JstDateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_wire())
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
    fn parse_forms() {
        let x = d("20240229");
        assert_eq!((x.year(), x.month(), x.day()), (2024, 2, 29));
        assert_eq!(d("2024-02-29"), x);
        assert_eq!(x.to_wire(), "20240229");
        assert_eq!(x.to_iso(), "2024-02-29");
        assert_eq!(x.to_string(), "20240229");
        assert_eq!(d("00000101").to_wire(), "00000101");
        assert_eq!(d("99991231"), Ymd::MAX);
    }

    #[test]
    fn parse_rejects_impossible_and_malformed() {
        for s in [
            "20230229",
            "20231301",
            "20230431",
            "20230001",
            "20230100",
            "2023011",
            "202301011",
            "2023/01/01",
            "2023-0101",
            "+2023010",
            "２０２３０１０１",
            "",
            "abcdefgh",
            "2023-1-01",
        ] {
            assert!(Ymd::parse(s).is_err(), "{s}");
        }
        assert!(Ymd::from_ymd(10000, 1, 1).is_err());
        assert!(Ymd::from_ymd(-1, 1, 1).is_err());
        assert!(Ymd::from_ymd(2023, 2, 29).is_err());
        assert!(Ymd::from_ymd(2024, 2, 29).is_ok());
    }

    #[test]
    fn arithmetic() {
        assert_eq!(d("20240228").add_days(1), d("20240229"));
        assert_eq!(d("20240301").add_days(-1), d("20240229"));
        assert_eq!(d("20231231").add_days(1), d("20240101"));
        assert_eq!(d("20240131").add_months(1), d("20240229"));
        assert_eq!(d("20230131").add_months(1), d("20230228"));
        assert_eq!(d("20240331").add_months(-1), d("20240229"));
        assert_eq!(d("20240115").add_months(-13), d("20221215"));
        assert_eq!(d("20241031").add_months(14), d("20251231"));
        assert_eq!(d("20240215").last_day_of_month(), d("20240229"));
        assert_eq!(d("20230415").last_day_of_month(), d("20230430"));
        assert_eq!(d("20230415").first_day_of_month(), d("20230401"));
        assert_eq!(Ymd::MAX.add_days(1), Ymd::MAX);
        assert_eq!(Ymd::MIN.add_days(-1), Ymd::MIN);
        assert_eq!(Ymd::MAX.add_days(i64::MAX), Ymd::MAX);
        assert_eq!(Ymd::MIN.add_days(i64::MIN), Ymd::MIN);
        assert_eq!(Ymd::MAX.add_months(1), Ymd::MAX);
        assert_eq!(Ymd::MIN.add_months(i32::MIN), Ymd::MIN);
    }

    #[test]
    fn birthdays_and_ages() {
        let b = d("20000515");
        assert_eq!(b.birthday(0), b);
        assert_eq!(b.birthday(20), d("20200515"));
        assert_eq!(b.legal_age_on(d("20200513")), 19);
        assert_eq!(b.legal_age_on(d("20200514")), 20); // the day before the birthday
        assert_eq!(b.legal_age_on(d("20200515")), 20);
        assert_eq!(b.legal_age_on(d("20000515")), 0);
        assert_eq!(b.legal_age_on(d("19990101")), 0);
        assert_eq!(d("99990101").birthday(5), Ymd::MAX);
        // Year end: born 1 January reaches the age on 31 December.
        let jan1 = d("20000101");
        assert_eq!(jan1.legal_age_on(d("20091230")), 9);
        assert_eq!(jan1.legal_age_on(d("20091231")), 10);
        assert_eq!(jan1.legal_age_on(Ymd::MAX), 8000);
    }

    #[test]
    fn leap_day_birthdays() {
        let b = d("20000229");
        assert_eq!(b.birthday(1), d("20010301"));
        assert_eq!(b.birthday(4), d("20040229"));
        assert_eq!(b.birthday(100), d("21000301")); // 2100 is not a leap year
        // Reaches the age on 28 Feb in common and in leap years.
        assert_eq!(b.legal_age_on(d("20010227")), 0);
        assert_eq!(b.legal_age_on(d("20010228")), 1);
        assert_eq!(b.legal_age_on(d("20040227")), 3);
        assert_eq!(b.legal_age_on(d("20040228")), 4);
        assert_eq!(b.legal_age_on(d("20040229")), 4);
    }

    #[test]
    fn wareki() {
        assert_eq!(d("20190501").to_wareki(), "令和元年5月1日");
        assert_eq!(d("20190430").to_wareki(), "平成31年4月30日");
        assert_eq!(d("20241021").to_wareki(), "令和6年10月21日");
        assert_eq!(d("19890108").to_wareki(), "平成元年1月8日");
        assert_eq!(d("19890107").to_wareki(), "昭和64年1月7日");
        assert_eq!(d("19261225").to_wareki(), "昭和元年12月25日");
        assert_eq!(d("19261224").to_wareki(), "大正15年12月24日");
        assert_eq!(d("19120730").to_wareki(), "大正元年7月30日");
        assert_eq!(d("19120729").to_wareki(), "明治45年7月29日");
        assert_eq!(d("18680125").to_wareki(), "明治元年1月25日");
        assert_eq!(d("18690101").to_wareki(), "明治2年1月1日");
        assert_eq!(d("18680124").to_wareki(), "西暦1868年1月24日");
    }

    #[test]
    fn jst_datetime() {
        // 2024-01-01T00:00:00+09:00 = 2023-12-31T15:00:00Z = 1704034800 s.
        let t = JstDateTime::from_unix_micros(1_704_034_800_000_000);
        assert_eq!(t.to_wire(), "20240101000000");
        assert_eq!(t.date(), d("20240101"));
        assert_eq!(t.add_seconds(-1).to_wire(), "20231231235959");
        assert_eq!(t.add_seconds(-1).date(), d("20231231"));
        assert_eq!(JstDateTime::parse_wire("20240101000000").unwrap(), t);
        assert_eq!(JstDateTime::start_of_day(d("20240101")), t);
        // The Unix epoch is 09:00 JST.
        assert_eq!(JstDateTime(0).to_wire(), "19700101090000");
        assert_eq!(JstDateTime(-1).to_wire(), "19700101085959");
        // Sub-second part is dropped on output.
        assert_eq!(t.add_seconds(1).0 + 999_999, 1_704_034_801_999_999);
        assert_eq!(
            JstDateTime(1_704_034_801_999_999).to_wire(),
            "20240101000001"
        );
        assert_eq!(
            JstDateTime::parse_wire("20230306145023").unwrap().to_wire(),
            "20230306145023"
        );
        for bad in [
            "2024010100000",
            "202401010000000",
            "20240101240000",
            "20240101006000",
            "20240101000060",
            "20230229000000",
            "2024010100000a",
        ] {
            assert!(JstDateTime::parse_wire(bad).is_err(), "{bad}");
        }
        assert_eq!(JstDateTime::MIN.to_wire(), "00000101000000");
        assert_eq!(JstDateTime::MAX.to_wire(), "99991231235959");
        assert_eq!(JstDateTime(i64::MIN).to_wire(), "00000101000000");
        assert_eq!(JstDateTime(i64::MAX).date(), Ymd::MAX);
        assert_eq!(
            JstDateTime::parse_wire("00000101000000").unwrap(),
            JstDateTime::MIN
        );
    }
}
