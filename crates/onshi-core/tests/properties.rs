//! Property tests of the identifier, date, burden and text rules.

#![allow(clippy::unwrap_used)]

use onshi_core::burden::{
    AgeBand, IncomeCategory, age_band, burden_percent, elderly_start, late_elderly_start,
    preschool_end, reach_date,
};
use onshi_core::ids::{
    InsuredBranchNumber, InsuredCardSymbol, InsurerNumber, MedicalInstitutionCode, luhn_check_digit,
};
use onshi_core::text::{normalize_card_text, to_fullwidth_kana, to_halfwidth_kana};
use onshi_core::{JstDateTime, Ymd};
use proptest::prelude::*;

// ---------------------------------------------------------------- strategies

/// Any date between 1900 and 2100.
fn ymd() -> impl Strategy<Value = Ymd> {
    let lo = Ymd::parse("19000101").unwrap();
    (0i64..73_000).prop_map(move |n| lo.add_days(n))
}

/// Any date in the whole representable range.
fn any_ymd() -> impl Strategy<Value = Ymd> {
    (0i64..=3_652_424).prop_map(|n| Ymd::MIN.add_days(n))
}

fn income() -> impl Strategy<Value = IncomeCategory> {
    prop::sample::select(IncomeCategory::ALL.to_vec())
}

/// A valid 9-digit 医療機関コード body: prefecture 01–47, 点数表 1/3–8, 6 digits.
fn mic_body() -> impl Strategy<Value = String> {
    (
        1u8..=47,
        prop::sample::select(vec![1u8, 3, 4, 5, 6, 7, 8]),
        0u32..1_000_000,
    )
        .prop_map(|(p, t, n)| format!("{p:02}{t}{n:06}"))
}

fn replace_digit(s: &str, pos: usize, digit: u8) -> String {
    s.char_indices()
        .map(|(i, c)| {
            if i == pos {
                char::from(b'0' + digit)
            } else {
                c
            }
        })
        .collect()
}

fn band_rank(b: AgeBand) -> u8 {
    match b {
        AgeBand::Preschool => 0,
        AgeBand::Working => 1,
        AgeBand::Elderly70To74 => 2,
        AgeBand::LateElderly => 3,
    }
}

/// Full-width katakana that survive a half-width round trip, plus 　 and ー.
const LOSSLESS_KANA: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴヷヺァィゥェォッャュョー　。「」、・";

fn kana_string() -> impl Strategy<Value = String> {
    let chars: Vec<char> = LOSSLESS_KANA.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..20).prop_map(|v| v.into_iter().collect())
}

fn half_kana_string() -> impl Strategy<Value = String> {
    let mut chars: Vec<char> = ('\u{FF61}'..='\u{FF9F}').collect();
    chars.push(' ');
    prop::collection::vec(prop::sample::select(chars), 0..20).prop_map(|v| v.into_iter().collect())
}

fn to_fullwidth_ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
            ' ' => '\u{3000}',
            _ => c,
        })
        .collect()
}

// ---------------------------------------------------------------- identifiers

proptest! {
    #[test]
    fn insurer_with_check_digit_always_parses(body in "[0-9]{7}") {
        // A body "00" + 5 digits makes a 国保 number, which must start with a prefecture.
        if let Some(kokuho) = body.strip_prefix("00") {
            let pref: u8 = kokuho[..2].parse().unwrap();
            prop_assume!((1..=47).contains(&pref));
        }
        let n = InsurerNumber::with_check_digit(&body).unwrap();
        prop_assert_eq!(InsurerNumber::parse(&n.to_wire()).unwrap(), n.clone());
        prop_assert_eq!(InsurerNumber::parse(n.digits()).unwrap(), n.clone());
        prop_assert_eq!(n.to_wire().len(), 8);
        let full = format!("{body}{}", luhn_check_digit(&body).unwrap());
        let wire = n.to_wire();
        prop_assert_eq!(wire.trim_start(), full.strip_prefix("00").unwrap_or(&full));
        if body.starts_with("00") {
            prop_assert!(matches!(n, InsurerNumber::Six(_)), "{n:?}");
        }
    }

    #[test]
    fn kokuho_with_check_digit_always_parses(body in "(0[1-9]|[1-3][0-9]|4[0-7])[0-9]{3}") {
        let n = InsurerNumber::with_check_digit(&body).unwrap();
        prop_assert!(matches!(n, InsurerNumber::Six(_)));
        prop_assert_eq!(n.digits().len(), 6);
        prop_assert!(n.to_wire().starts_with("  "));
        prop_assert_eq!(InsurerNumber::parse(&n.to_wire()).unwrap(), n.clone());
        prop_assert_eq!(InsurerNumber::parse(&format!("00{}", n.digits())).unwrap(), n.clone());
        prop_assert_eq!(n.law_code(), None);
    }

    #[test]
    fn insurer_single_digit_change_is_rejected(
        body in "[0-9]{7}", pos in 0usize..8, delta in 1u8..10,
    ) {
        let valid = format!("{body}{}", luhn_check_digit(&body).unwrap());
        let old = valid.as_bytes()[pos] - b'0';
        let changed = replace_digit(&valid, pos, (old + delta) % 10);
        // 77777777 is the one number accepted without a valid check digit.
        prop_assume!(changed != "77777777");
        prop_assert!(InsurerNumber::parse(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn kokuho_single_digit_change_is_rejected(
        body in "[0-9]{5}", pos in 0usize..6, delta in 1u8..10,
    ) {
        let valid = format!("{body}{}", luhn_check_digit(&body).unwrap());
        let old = valid.as_bytes()[pos] - b'0';
        let changed = replace_digit(&valid, pos, (old + delta) % 10);
        prop_assert!(InsurerNumber::parse(&changed).is_err());
        let padded = format!("  {changed}");
        prop_assert!(InsurerNumber::parse(&padded).is_err());
    }

    #[test]
    fn insurer_parse_never_panics(s in "\\PC{0,12}") {
        let _ = InsurerNumber::parse(&s);
    }

    #[test]
    fn insurer_accepts_full_width_digits(body in "[1-9][0-9]{6}") {
        let n = InsurerNumber::with_check_digit(&body).unwrap();
        let wide = to_fullwidth_ascii(&n.to_wire());
        prop_assert_eq!(InsurerNumber::parse(&wide).unwrap(), n);
    }

    #[test]
    fn mic_with_check_digit_always_parses(body in mic_body()) {
        let c = MedicalInstitutionCode::with_check_digit(&body).unwrap();
        prop_assert_eq!(MedicalInstitutionCode::parse(c.as_str()).unwrap(), c.clone());
        prop_assert_eq!(&c.as_str()[..9], body.as_str());
        prop_assert_eq!(c.prefecture(), body[..2].parse::<u8>().unwrap());
        prop_assert_eq!(c.score_table().digit(), body.as_bytes()[2] - b'0');
    }

    #[test]
    fn mic_single_digit_change_is_rejected(body in mic_body(), pos in 0usize..10, delta in 1u8..10) {
        let c = MedicalInstitutionCode::with_check_digit(&body).unwrap();
        let old = c.as_str().as_bytes()[pos] - b'0';
        let changed = replace_digit(c.as_str(), pos, (old + delta) % 10);
        prop_assert!(MedicalInstitutionCode::parse(&changed).is_err());
    }

    #[test]
    fn branch_numbers_round_trip(n in 0u8..100) {
        let b = InsuredBranchNumber::new(n).unwrap();
        prop_assert_eq!(InsuredBranchNumber::parse(&b.to_wire()).unwrap(), b);
        prop_assert_eq!(InsuredBranchNumber::parse(&to_fullwidth_ascii(&b.to_wire())).unwrap(), b);
    }

    #[test]
    fn card_symbol_is_kept_verbatim(s in "[0-9A-Za-zあ-んア-ン漢字０-９]{1,38}") {
        let sym = InsuredCardSymbol::parse(&format!(" 　{s}　 ")).unwrap();
        prop_assert_eq!(sym.as_str(), s.as_str());
    }
}

// ---------------------------------------------------------------- dates

proptest! {
    #[test]
    fn ymd_wire_round_trip(x in any_ymd()) {
        let w = x.to_wire();
        prop_assert_eq!(w.len(), 8);
        prop_assert_eq!(Ymd::parse(&w).unwrap(), x);
        prop_assert_eq!(Ymd::parse(&x.to_iso()).unwrap(), x);
        prop_assert_eq!(x.to_iso().replace('-', ""), w);
    }

    #[test]
    fn ymd_parse_is_exact(s in "[0-9]{8}") {
        if let Ok(x) = Ymd::parse(&s) {
            prop_assert_eq!(x.to_wire(), s);
        }
    }

    #[test]
    fn add_days_inverts(x in ymd(), n in -100_000i64..100_000) {
        prop_assert_eq!(x.add_days(n).add_days(-n), x);
        prop_assert_eq!(x.add_days(n) > x, n > 0);
    }

    #[test]
    fn add_months_clamps(x in ymd(), n in -1200i32..1200) {
        let y = x.add_months(n);
        let months = (y.year() - x.year()) * 12 + i32::from(y.month()) - i32::from(x.month());
        prop_assert_eq!(months, n);
        prop_assert!(y.day() <= x.day());
        if y.day() < x.day() {
            prop_assert_eq!(y, y.last_day_of_month());
        }
    }

    #[test]
    fn month_ends(x in ymd()) {
        let first = x.first_day_of_month();
        let last = x.last_day_of_month();
        prop_assert_eq!(first.day(), 1);
        prop_assert!(first <= x && x <= last);
        prop_assert_eq!(last.add_days(1).day(), 1);
        prop_assert_eq!(first.add_days(-1).last_day_of_month(), first.add_days(-1));
    }

    #[test]
    fn legal_age_is_monotonic(birth in ymd(), on in ymd(), k in 0i64..2000) {
        prop_assert!(birth.legal_age_on(on) <= birth.legal_age_on(on.add_days(k)));
    }

    #[test]
    fn legal_age_steps_on_reach_date(birth in ymd(), age in 1u16..110) {
        let r = reach_date(birth, age);
        prop_assert_eq!(birth.legal_age_on(r), age);
        prop_assert_eq!(birth.legal_age_on(r.add_days(-1)), age - 1);
        prop_assert_eq!(r.add_days(1), birth.birthday(age));
    }

    #[test]
    fn jst_wire_round_trip(us in JstDateTime::MIN.0..=JstDateTime::MAX.0) {
        let t = JstDateTime(us);
        let w = t.to_wire();
        prop_assert_eq!(w.len(), 14);
        let back = JstDateTime::parse_wire(&w).unwrap();
        // Whole seconds survive; the sub-second part is dropped.
        prop_assert_eq!(back.0, us - us.rem_euclid(1_000_000));
        prop_assert_eq!(back.to_wire(), w.clone());
        prop_assert_eq!(t.date().to_wire(), &w[..8]);
    }
}

// ---------------------------------------------------------------- burden

proptest! {
    #[test]
    fn burden_percent_is_10_20_or_30(
        birth in ymd(), on in ymd(), inc in income(), late in any::<bool>(),
    ) {
        let p = burden_percent(birth, on, inc, late);
        prop_assert!(p == 10 || p == 20 || p == 30, "{}", p);
    }

    #[test]
    fn preschool_end_is_a_31_march_within_a_year_of_reaching_6(birth in ymd()) {
        let end = preschool_end(birth);
        let r6 = reach_date(birth, 6);
        prop_assert_eq!((end.month(), end.day()), (3, 31));
        prop_assert!(r6 <= end);
        prop_assert!(end < r6.add_months(12));
        prop_assert_eq!(age_band(birth, end), AgeBand::Preschool);
        prop_assert_eq!(age_band(birth, end.add_days(1)), AgeBand::Working);
    }

    #[test]
    fn elderly_start_is_first_of_month_after_reaching_70(birth in ymd()) {
        let s = elderly_start(birth);
        let r70 = reach_date(birth, 70);
        prop_assert_eq!(s.day(), 1);
        prop_assert!(r70 < s);
        prop_assert!(s <= r70.add_months(1));
        if birth.day() == 1 {
            prop_assert_eq!(s.month(), birth.month());
            prop_assert_eq!(s, birth.birthday(70));
        } else if (birth.month(), birth.day()) == (2, 29) {
            // Reaches 70 on 28 or 29 February (the day before the 70th birthday, which is
            // 1 March in a common year): 高齢受給者 from 1 March.
            prop_assert_eq!((s.month(), s.day()), (3, 1));
        } else {
            prop_assert_eq!(s, birth.birthday(70).first_day_of_month().add_months(1));
        }
        prop_assert_eq!(age_band(birth, s.add_days(-1)), AgeBand::Working);
        prop_assert_eq!(age_band(birth, s), AgeBand::Elderly70To74);
    }

    #[test]
    fn late_elderly_starts_on_the_75th_birthday(birth in ymd()) {
        let s = late_elderly_start(birth);
        prop_assert_eq!(birth.legal_age_on(s), 75);
        prop_assert_eq!(age_band(birth, s.add_days(-1)), AgeBand::Elderly70To74);
        prop_assert_eq!(age_band(birth, s), AgeBand::LateElderly);
    }

    #[test]
    fn age_band_never_goes_back(birth in ymd(), on in ymd(), k in 0i64..20_000) {
        let a = age_band(birth, on);
        let b = age_band(birth, on.add_days(k));
        prop_assert!(band_rank(a) <= band_rank(b));
    }

    #[test]
    fn ratio_follows_band(birth in ymd(), on in ymd(), inc in income()) {
        let p = burden_percent(birth, on, inc, false);
        match age_band(birth, on) {
            AgeBand::Preschool => prop_assert_eq!(p, 20),
            AgeBand::Working => prop_assert_eq!(p, 30),
            AgeBand::Elderly70To74 => {
                prop_assert_eq!(p, if inc == IncomeCategory::ActiveEquivalent { 30 } else { 20 })
            }
            AgeBand::LateElderly => prop_assert!(p == 10 || p == 20 || p == 30),
        }
        // Being insured by a 広域連合 never makes the ratio higher than for a 75-year-old.
        prop_assert!(burden_percent(birth, on, inc, true) <= 30);
        if inc == IncomeCategory::General {
            prop_assert_eq!(burden_percent(birth, on, inc, true), 10);
        }
    }
}

// ---------------------------------------------------------------- text

proptest! {
    #[test]
    fn kana_round_trip_full_half_full(s in kana_string()) {
        let half = to_halfwidth_kana(&s);
        let all_half = half.chars().all(|c| c == ' ' || ('\u{FF61}'..='\u{FF9F}').contains(&c));
        prop_assert!(all_half, "not half-width: {:?}", half);
        prop_assert_eq!(to_fullwidth_kana(&half), s);
    }

    #[test]
    fn kana_round_trip_half_full_half(s in half_kana_string()) {
        prop_assert_eq!(to_halfwidth_kana(&to_fullwidth_kana(&s)), s);
    }

    #[test]
    fn hiragana_and_katakana_give_the_same_half_width(s in "[ぁ-ゔ]{0,20}") {
        let kata: String = s.chars().map(|c| char::from_u32(u32::from(c) + 0x60).unwrap()).collect();
        prop_assert_eq!(to_halfwidth_kana(&s), to_halfwidth_kana(&kata));
    }

    #[test]
    fn normalize_is_idempotent(s in "\\PC{0,30}") {
        let once = normalize_card_text(&s);
        prop_assert_eq!(normalize_card_text(&once), once.clone());
        prop_assert!(!once.chars().any(char::is_whitespace));
    }

    #[test]
    fn normalize_folds_width_and_case(s in "[0-9A-Za-z -]{0,20}") {
        let expected: String = s
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        prop_assert_eq!(normalize_card_text(&s), expected.clone());
        prop_assert_eq!(normalize_card_text(&to_fullwidth_ascii(&s)), expected);
    }
}
