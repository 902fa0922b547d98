//! Named examples of the age and burden rules at their boundaries (domain.md §2) and of
//! the 和暦 era changes. Each test states the person and the expected day-by-day result.

#![allow(clippy::unwrap_used)]

use onshi_core::Ymd;
use onshi_core::burden::{
    AgeBand, IncomeCategory, age_band, burden_percent, elderly_start, late_elderly_start,
    preschool_end, reach_date,
};

const GENERAL: IncomeCategory = IncomeCategory::General;
const MIDDLE: IncomeCategory = IncomeCategory::LateElderlyMiddle;
const ACTIVE: IncomeCategory = IncomeCategory::ActiveEquivalent;

fn d(s: &str) -> Ymd {
    Ymd::parse(s).unwrap()
}

fn pct(birth: &str, on: &str, income: IncomeCategory) -> u8 {
    burden_percent(d(birth), d(on), income, false)
}

// ---------------------------------------------------------------- 未就学 (age 6)

#[test]
fn born_1_april_leaves_preschool_on_the_31_march_they_reach_6() {
    let b = d("20180401");
    assert_eq!(reach_date(b, 6), d("20240331"));
    assert_eq!(preschool_end(b), d("20240331"));
    assert_eq!(age_band(b, d("20240330")), AgeBand::Preschool);
    assert_eq!(age_band(b, d("20240331")), AgeBand::Preschool);
    assert_eq!(age_band(b, d("20240401")), AgeBand::Working);
    assert_eq!(pct("20180401", "20240331", GENERAL), 20);
    assert_eq!(pct("20180401", "20240401", GENERAL), 30);
}

#[test]
fn born_2_april_stays_preschool_one_more_school_year() {
    let b = d("20180402");
    assert_eq!(reach_date(b, 6), d("20240401"));
    assert_eq!(preschool_end(b), d("20250331"));
    assert_eq!(age_band(b, d("20240401")), AgeBand::Preschool);
    assert_eq!(age_band(b, d("20250331")), AgeBand::Preschool);
    assert_eq!(age_band(b, d("20250401")), AgeBand::Working);
    assert_eq!(pct("20180402", "20250331", GENERAL), 20);
    assert_eq!(pct("20180402", "20250401", GENERAL), 30);
}

#[test]
fn born_31_march_and_1_march() {
    // Reaches 6 on 30 March → that same 31 March ends 未就学.
    assert_eq!(preschool_end(d("20180331")), d("20240331"));
    assert_eq!(preschool_end(d("20180301")), d("20240331"));
    assert_eq!(preschool_end(d("20180101")), d("20240331"));
    // Born 1 January reaches 6 on 31 December of the previous year.
    assert_eq!(reach_date(d("20180101"), 6), d("20231231"));
}

#[test]
fn newborn_is_preschool() {
    assert_eq!(age_band(d("20240601"), d("20240601")), AgeBand::Preschool);
    assert_eq!(pct("20240601", "20240601", ACTIVE), 20);
}

// ---------------------------------------------------------------- 70 boundary

#[test]
fn born_on_the_1st_enters_70_74_in_the_birthday_month() {
    let b = d("19550501");
    assert_eq!(reach_date(b, 70), d("20250430"));
    assert_eq!(elderly_start(b), d("20250501"));
    assert_eq!(age_band(b, d("20250430")), AgeBand::Working);
    assert_eq!(age_band(b, d("20250501")), AgeBand::Elderly70To74);
    assert_eq!(pct("19550501", "20250430", GENERAL), 30);
    assert_eq!(pct("19550501", "20250501", GENERAL), 20);
}

#[test]
fn born_on_the_2nd_enters_70_74_the_month_after_the_birthday() {
    let b = d("19550502");
    assert_eq!(reach_date(b, 70), d("20250501"));
    assert_eq!(elderly_start(b), d("20250601"));
    assert_eq!(pct("19550502", "20250531", GENERAL), 30);
    assert_eq!(pct("19550502", "20250601", GENERAL), 20);
}

#[test]
fn seventy_boundary_day_before_and_day_of() {
    let b = "19550515";
    assert_eq!(elderly_start(d(b)), d("20250601"));
    // The 70th birthday itself is still 3割.
    assert_eq!(pct(b, "20250515", GENERAL), 30);
    assert_eq!(pct(b, "20250531", GENERAL), 30);
    assert_eq!(pct(b, "20250601", GENERAL), 20);
    assert_eq!(pct(b, "20250601", MIDDLE), 20);
    assert_eq!(pct(b, "20250601", ACTIVE), 30);
    assert_eq!(pct(b, "20250531", ACTIVE), 30);
}

#[test]
fn seventy_boundary_across_the_year_end() {
    // Born 1 January: reaches 70 on 31 December → 1 January (the birthday month).
    assert_eq!(elderly_start(d("19550101")), d("20250101"));
    // Born 2 December: reaches 70 on 1 December → 1 January of the next year.
    assert_eq!(elderly_start(d("19551202")), d("20260101"));
    assert_eq!(pct("19551202", "20251231", GENERAL), 30);
    assert_eq!(pct("19551202", "20260101", GENERAL), 20);
    // Born 31 May: reaches 70 on 30 May → 1 June.
    assert_eq!(elderly_start(d("19550531")), d("20250601"));
}

// ---------------------------------------------------------------- 75 boundary

#[test]
fn seventy_five_boundary_is_the_birthday_itself() {
    let b = "19500515";
    assert_eq!(late_elderly_start(d(b)), d("20250515"));
    assert_eq!(age_band(d(b), d("20250514")), AgeBand::Elderly70To74);
    assert_eq!(age_band(d(b), d("20250515")), AgeBand::LateElderly);
    assert_eq!(pct(b, "20250514", GENERAL), 20);
    assert_eq!(pct(b, "20250515", GENERAL), 10);
    assert_eq!(pct(b, "20250514", MIDDLE), 20);
    assert_eq!(pct(b, "20250515", MIDDLE), 20);
    assert_eq!(pct(b, "20250514", ACTIVE), 30);
    assert_eq!(pct(b, "20250515", ACTIVE), 30);
}

#[test]
fn seventy_five_born_on_the_1st() {
    // Unlike 70, the 1st-of-month rule does not move the 75 boundary: it is the birthday.
    let b = "19500501";
    assert_eq!(late_elderly_start(d(b)), d("20250501"));
    assert_eq!(pct(b, "20250430", GENERAL), 20);
    assert_eq!(pct(b, "20250501", GENERAL), 10);
}

#[test]
fn late_elderly_middle_income_before_and_after_2022_10_01() {
    let b = "19400101";
    assert_eq!(pct(b, "20220930", MIDDLE), 10);
    assert_eq!(pct(b, "20221001", MIDDLE), 20);
    assert_eq!(pct(b, "20220930", GENERAL), 10);
    assert_eq!(pct(b, "20221001", GENERAL), 10);
    assert_eq!(pct(b, "20220930", ACTIVE), 30);
}

#[test]
fn late_elderly_insurer_under_75_uses_late_elderly_ratios() {
    // 68 years old with a 障害認定, insured by a 広域連合.
    let b = d("19560610");
    let on = d("20240610");
    assert_eq!(age_band(b, on), AgeBand::Working);
    assert_eq!(burden_percent(b, on, GENERAL, false), 30);
    assert_eq!(burden_percent(b, on, GENERAL, true), 10);
    assert_eq!(burden_percent(b, on, MIDDLE, true), 20);
    assert_eq!(burden_percent(b, on, ACTIVE, true), 30);
    assert_eq!(burden_percent(b, d("20220930"), MIDDLE, true), 10);
}

#[test]
fn working_age_income_does_not_matter() {
    for income in [GENERAL, MIDDLE, ACTIVE] {
        assert_eq!(pct("19800101", "20240101", income), 30);
    }
}

// ---------------------------------------------------------------- 29 February

#[test]
fn born_29_february_reaches_ages_on_28_february() {
    let b = d("19520229");
    // 2022 and 2027 are common years: birthdays fall on 1 March.
    assert_eq!(b.birthday(70), d("20220301"));
    assert_eq!(reach_date(b, 70), d("20220228"));
    assert_eq!(b.legal_age_on(d("20220227")), 69);
    assert_eq!(b.legal_age_on(d("20220228")), 70);
    assert_eq!(elderly_start(b), d("20220301"));
    assert_eq!(pct("19520229", "20220228", GENERAL), 30);
    assert_eq!(pct("19520229", "20220301", GENERAL), 20);

    assert_eq!(late_elderly_start(b), d("20270301"));
    assert_eq!(pct("19520229", "20270228", GENERAL), 20);
    assert_eq!(pct("19520229", "20270301", GENERAL), 10);

    // In a leap year the birthday is 29 Feb and the age is still reached on 28 Feb.
    assert_eq!(b.birthday(72), d("20240229"));
    assert_eq!(b.legal_age_on(d("20240227")), 71);
    assert_eq!(b.legal_age_on(d("20240228")), 72);
}

#[test]
fn born_29_february_preschool() {
    let b = d("20160229");
    assert_eq!(reach_date(b, 6), d("20220228"));
    assert_eq!(preschool_end(b), d("20220331"));
    assert_eq!(pct("20160229", "20220331", GENERAL), 20);
    assert_eq!(pct("20160229", "20220401", GENERAL), 30);
}

// ---------------------------------------------------------------- legal age

#[test]
fn legal_age_changes_the_day_before_the_birthday() {
    let b = d("19900815");
    assert_eq!(b.legal_age_on(d("20200813")), 29);
    assert_eq!(b.legal_age_on(d("20200814")), 30);
    assert_eq!(b.legal_age_on(d("20200815")), 30);
    assert_eq!(b.legal_age_on(d("20210813")), 30);
}

// ---------------------------------------------------------------- 和暦

#[test]
fn wareki_era_boundaries() {
    let cases = [
        ("18680124", "西暦1868年1月24日"),
        ("18680125", "明治元年1月25日"),
        ("18681231", "明治元年12月31日"),
        ("18690101", "明治2年1月1日"),
        ("19120729", "明治45年7月29日"),
        ("19120730", "大正元年7月30日"),
        ("19130101", "大正2年1月1日"),
        ("19261224", "大正15年12月24日"),
        ("19261225", "昭和元年12月25日"),
        ("19270101", "昭和2年1月1日"),
        ("19890107", "昭和64年1月7日"),
        ("19890108", "平成元年1月8日"),
        ("19900101", "平成2年1月1日"),
        ("20190430", "平成31年4月30日"),
        ("20190501", "令和元年5月1日"),
        ("20200101", "令和2年1月1日"),
        ("20241021", "令和6年10月21日"),
    ];
    for (wire, wareki) in cases {
        assert_eq!(d(wire).to_wareki(), wareki, "{wire}");
    }
}
