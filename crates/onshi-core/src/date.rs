//! Calendar dates as the wire writes them (YYYYMMDD), JST instants, and 和暦 for display.
//!
//! SKELETON: signatures are the contract; bodies to be filled in.

/// A calendar date. Ordered. Parsed from `YYYYMMDD` (also accepts `YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ymd(pub time::Date);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?}: expected YYYYMMDD")]
pub struct DateError(pub String);

impl Ymd {
    pub fn parse(s: &str) -> Result<Self, DateError> { todo!() }
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Result<Self, DateError> { todo!() }
    /// `YYYYMMDD`.
    pub fn to_wire(self) -> String { todo!() }
    /// `YYYY-MM-DD` (database form; sorts like the date).
    pub fn to_iso(self) -> String { todo!() }
    pub fn year(self) -> i32 { self.0.year() }
    pub fn month(self) -> u8 { u8::from(self.0.month()) }
    pub fn day(self) -> u8 { self.0.day() }
    pub fn add_days(self, days: i64) -> Self { todo!() }
    /// Same day `months` months later, clamped to the month's last day.
    pub fn add_months(self, months: i32) -> Self { todo!() }
    pub fn last_day_of_month(self) -> Self { todo!() }
    pub fn first_day_of_month(self) -> Self { todo!() }
    /// The N-th birthday (29 Feb → 28 Feb... per 年齢計算ニ関スル法律 the birthday in a non-leap
    /// year for someone born 29 Feb is treated as 1 Mar; document the choice).
    pub fn birthday(self, age: u16) -> Self { todo!() }
    /// Completed years on `on` under 年齢計算ニ関スル法律 (age increases the day before the birthday).
    pub fn legal_age_on(self, on: Ymd) -> u16 { todo!() }
    /// 和暦 display, e.g. `令和6年10月21日` (明治/大正/昭和/平成/令和; 元年 for year 1).
    pub fn to_wareki(self) -> String { todo!() }
}

impl std::fmt::Display for Ymd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.to_wire()) }
}

/// An instant, kept as microseconds since the Unix epoch, shown in JST (+09:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JstDateTime(pub i64);

impl JstDateTime {
    pub fn from_unix_micros(us: i64) -> Self { JstDateTime(us) }
    pub fn unix_micros(self) -> i64 { self.0 }
    /// The JST calendar date of this instant.
    pub fn date(self) -> Ymd { todo!() }
    /// `YYYYMMDDHHmmss` in JST.
    pub fn to_wire(self) -> String { todo!() }
    pub fn parse_wire(s: &str) -> Result<Self, DateError> { todo!() }
    pub fn add_seconds(self, s: i64) -> Self { JstDateTime(self.0 + s * 1_000_000) }
}
