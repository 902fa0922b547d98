//! Medical information at central (薬剤情報, 診療・手術情報, 特定健診情報) and the rules of
//! who may see it: a valid consent of the viewing facility covering the information type,
//! or a declared disaster covering the facility's area (`shared/reference/domain.md` §5.1,
//! §5.2, §5.4, §7).
//!
//! The records here are what the synthetic population makes and the store persists; the
//! access decision ([`decide_access`]) is a pure function so that it can be tested with
//! properties and shared by every retrieval path (JSON views, the YZK/TKK file requests).

use crate::codes::Sex;
use crate::date::{JstDateTime, Ymd};

/// An information type a facility may view, with its OQSCD036 consent code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InfoKind {
    /// 薬剤情報 (YZK), from claims.
    Drug,
    /// 診療情報 (SRJ): 診療行為 from claims.
    Treatment,
    /// 手術情報 (SHJ): 手術 and 傷病名 from claims.
    Surgery,
    /// 特定健診情報 (TKK), from insurers.
    Checkup,
}

impl InfoKind {
    pub const ALL: [InfoKind; 4] = [
        InfoKind::Drug,
        InfoKind::Treatment,
        InfoKind::Surgery,
        InfoKind::Checkup,
    ];

    /// The OQSCD036 code of the consent that opens this information.
    pub fn code(self) -> &'static str {
        match self {
            InfoKind::Drug => "YZK",
            InfoKind::Treatment => "SRJ",
            InfoKind::Surgery => "SHJ",
            InfoKind::Checkup => "TKK",
        }
    }

    pub fn from_code(code: &str) -> Option<InfoKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The path segment of the view (`/oqs/v1/medical/{segment}`).
    pub fn segment(self) -> &'static str {
        match self {
            InfoKind::Drug => "drug",
            InfoKind::Treatment => "treatment",
            InfoKind::Surgery => "surgery",
            InfoKind::Checkup => "checkup",
        }
    }

    pub fn from_segment(s: &str) -> Option<InfoKind> {
        Self::ALL.into_iter().find(|k| k.segment() == s)
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            InfoKind::Drug => "薬剤情報",
            InfoKind::Treatment => "診療情報",
            InfoKind::Surgery => "手術情報",
            InfoKind::Checkup => "特定健診情報",
        }
    }

    /// The disaster measure opens drug and checkup information only (domain.md §5.4).
    pub fn viewable_in_disaster(self) -> bool {
        matches!(self, InfoKind::Drug | InfoKind::Checkup)
    }

    /// How far back the information goes (domain.md §5.2): 3 years of claims, 5 of checkups.
    pub fn horizon_months(self) -> i32 {
        match self {
            InfoKind::Checkup => 60,
            _ => 36,
        }
    }

    /// The first day shown when viewing on `today`.
    pub fn horizon_start(self, today: Ymd) -> Ymd {
        today
            .first_day_of_month()
            .add_months(-self.horizon_months() + 1)
    }
}

/// Why a view was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// A consent given at this facility after a card check, still in its window.
    Consent,
    /// A declared disaster covers the facility's area now.
    Disaster,
    /// The patient looks at their own information (after a card check).
    Patient,
}

impl Basis {
    pub fn code(self) -> &'static str {
        match self {
            Basis::Consent => "consent",
            Basis::Disaster => "disaster",
            Basis::Patient => "patient",
        }
    }

    pub fn from_code(s: &str) -> Option<Basis> {
        [Basis::Consent, Basis::Disaster, Basis::Patient]
            .into_iter()
            .find(|b| b.code() == s)
    }
}

/// Why a view was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No valid consent of this facility covers the information type, and no disaster
    /// opens it.
    NoConsent,
    /// A disaster covers the facility, but it does not open this information type, and
    /// there is no consent.
    NotInDisaster,
}

/// A consent as the access rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentWindow {
    pub consented_at: JstDateTime,
    pub available_until: JstDateTime,
    /// OQSCD036 codes.
    pub information: Vec<String>,
}

impl ConsentWindow {
    pub fn opens(&self, kind: InfoKind, at: JstDateTime) -> bool {
        self.consented_at <= at
            && at < self.available_until
            && self.information.iter().any(|c| c == kind.code())
    }
}

/// The access rule. `consents` are the facility's consents of this patient (any window;
/// this function checks the window), `disaster` whether a declaration covers the
/// facility at `at`. A consent wins over a disaster, so a consented view is recorded as such.
pub fn decide_access(
    kind: InfoKind,
    consents: &[ConsentWindow],
    disaster: bool,
    at: JstDateTime,
) -> Result<Basis, Refusal> {
    if consents.iter().any(|c| c.opens(kind, at)) {
        Ok(Basis::Consent)
    } else if disaster && kind.viewable_in_disaster() {
        Ok(Basis::Disaster)
    } else if disaster {
        Err(Refusal::NotInDisaster)
    } else {
        Err(Refusal::NoConsent)
    }
}

/// An area of a disaster declaration: a whole prefecture ("13") or one municipality by
/// its 5-digit 地方公共団体コード without check digit ("13101").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisasterArea(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("area {0:?}: use a prefecture code (01–47) or a 5-digit municipality code")]
pub struct AreaError(pub String);

impl DisasterArea {
    pub fn parse(s: &str) -> Result<DisasterArea, AreaError> {
        let t = s.trim();
        let digits = t.bytes().all(|b| b.is_ascii_digit());
        let pref = t.get(..2).and_then(|p| p.parse::<u8>().ok()).unwrap_or(0);
        if !digits || !(t.len() == 2 || t.len() == 5) || !(1..=47).contains(&pref) {
            return Err(AreaError(s.to_string()));
        }
        Ok(DisasterArea(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn prefecture(&self) -> u8 {
        self.0.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0)
    }

    /// Whether a facility at `loc` is inside this area.
    pub fn covers(&self, loc: &FacilityLocation) -> bool {
        if self.0.len() == 2 {
            self.prefecture() == loc.prefecture
        } else {
            loc.municipality.as_deref() == Some(self.0.as_str())
        }
    }
}

/// Where a facility is: the prefecture from the first two digits of its 医療機関コード,
/// and the municipality when central has it on record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacilityLocation {
    pub prefecture: u8,
    pub municipality: Option<String>,
}

impl FacilityLocation {
    pub fn of_code(
        code: &crate::ids::MedicalInstitutionCode,
        municipality: Option<String>,
    ) -> Self {
        let prefecture = code
            .as_str()
            .get(..2)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        FacilityLocation {
            prefecture,
            municipality,
        }
    }
}

/// A disaster declaration (災害時の特別措置): areas and a period `[starts_at, ends_at)`,
/// possibly ended early by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisasterDeclaration {
    pub id: i64,
    pub name: String,
    pub areas: Vec<DisasterArea>,
    pub starts_at: JstDateTime,
    pub ends_at: JstDateTime,
    pub ended_at: Option<JstDateTime>,
    pub declared_at: JstDateTime,
}

impl DisasterDeclaration {
    pub fn active_at(&self, at: JstDateTime) -> bool {
        let end = match self.ended_at {
            Some(e) if e < self.ends_at => e,
            _ => self.ends_at,
        };
        self.starts_at <= at && at < end
    }

    pub fn covers(&self, loc: &FacilityLocation, at: JstDateTime) -> bool {
        self.active_at(at) && self.areas.iter().any(|a| a.covers(loc))
    }
}

// ---------------------------------------------------------------------------------------
// Records (made by onshi-synth, persisted by onshi-store).

/// A claim (レセプト): one facility, one month, one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub person_id: i64,
    /// `1` 医科, `3` 歯科, `4` 調剤 (the 点数表 digit of the facility code).
    pub kind: String,
    /// 診療(調剤)年月 YYYYMM.
    pub month: String,
    pub facility_code: String,
    pub facility_name: String,
    /// For 調剤 claims, the prescribing facility.
    pub prescriber_code: Option<String>,
    pub prescriber_name: Option<String>,
    /// `1` 入院, `2` 入院外.
    pub in_out: String,
}

/// One drug line of a claim: what was prescribed (医科 院内) or dispensed (調剤).
#[derive(Debug, Clone, PartialEq)]
pub struct DrugLine {
    pub claim_id: i64,
    pub person_id: i64,
    /// 調剤年月日 (or 診療日 for 院内処方).
    pub dispensed_on: Ymd,
    pub prescribed_on: Ymd,
    /// 9-digit レセプト電算 医薬品コード (synthetic in the demo data).
    pub drug_code: String,
    pub drug_name: String,
    pub ingredient: String,
    /// Quantity per day (or per use for 頓服 / 外用).
    pub quantity: f64,
    pub unit: String,
    pub usage: String,
    /// 日数 (or 回数).
    pub days: i32,
    /// 診療識別: 21 内服, 22 屯服, 23 外用.
    pub class: String,
}

/// One 診療行為 or 手術 of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureLine {
    pub claim_id: i64,
    pub person_id: i64,
    pub performed_on: Ymd,
    /// `treatment` (診療) or `surgery` (手術).
    pub kind: String,
    pub code: String,
    pub name: String,
    pub times: i32,
}

/// A diagnosis (傷病名) of a claim, with its ICD-10 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub claim_id: i64,
    pub person_id: i64,
    pub code: String,
    pub name: String,
    pub started_on: Ymd,
    /// 転帰: `` 継続, `1` 治ゆ, `2` 死亡, `3` 中止.
    pub outcome: String,
}

/// One 特定健診 of one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkup {
    pub id: i64,
    pub person_id: i64,
    pub examined_on: Ymd,
    pub facility_code: String,
    pub facility_name: String,
}

/// One result item of a checkup; name, unit and range come from [`checkup_item`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupValue {
    pub checkup_id: i64,
    pub person_id: i64,
    pub item_code: String,
    pub value: String,
}

/// How a checkup item's value is written (the CDA data types of the XML files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// PQ: a measured quantity.
    Quantity,
    /// CD: a code of the item's value set.
    Coded,
}

impl ValueType {
    pub fn code(self) -> &'static str {
        match self {
            ValueType::Quantity => "PQ",
            ValueType::Coded => "CD",
        }
    }
}

/// A 特定健診 result item (domain.md §7.1) with the range used for the 保健指導 判定.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckupItemDef {
    /// JLAC10 17-digit code.
    pub code: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub value_type: ValueType,
    /// Values below are flagged low.
    pub low: Option<f64>,
    /// Values at or above are flagged high (保健指導判定値).
    pub high: Option<f64>,
    /// A different `high` for women (腹囲).
    pub high_female: Option<f64>,
    /// Labels of coded values (`code`, label).
    pub values: &'static [(&'static str, &'static str)],
}

const URINE: &[(&str, &str)] = &[
    ("1", "－"),
    ("2", "±"),
    ("3", "＋"),
    ("4", "＋＋"),
    ("5", "＋＋＋"),
];
const YES_NO: &[(&str, &str)] = &[("1", "はい"), ("2", "いいえ")];
const METABO: &[(&str, &str)] = &[
    ("1", "基準該当"),
    ("2", "予備群該当"),
    ("3", "非該当"),
    ("4", "判定不能"),
];
const GUIDANCE: &[(&str, &str)] = &[
    ("1", "積極的支援"),
    ("2", "動機付け支援"),
    ("3", "なし"),
    ("4", "判定不能"),
];

const fn pq(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    low: Option<f64>,
    high: Option<f64>,
) -> CheckupItemDef {
    CheckupItemDef {
        code,
        name,
        unit,
        value_type: ValueType::Quantity,
        low,
        high,
        high_female: None,
        values: &[],
    }
}

const fn cd(
    code: &'static str,
    name: &'static str,
    values: &'static [(&'static str, &'static str)],
) -> CheckupItemDef {
    CheckupItemDef {
        code,
        name,
        unit: "",
        value_type: ValueType::Coded,
        low: None,
        high: None,
        high_female: None,
        values,
    }
}

/// The items central stores and shows, in display order. Codes from domain.md §7.1
/// (method-specific lab codes as in the public eCheckup sample); ranges are the
/// 特定保健指導 判定値 (BMI 25, 腹囲 85/90, 血圧 130/85, 中性脂肪 150, HDL 40, LDL 120,
/// AST/ALT 31, γ-GT 51, HbA1c 5.6).
pub const CHECKUP_ITEMS: &[CheckupItemDef] = &[
    pq("9N001000000000001", "身長", "cm", None, None),
    pq("9N006000000000001", "体重", "kg", None, None),
    pq("9N011000000000001", "BMI", "kg/m2", Some(18.5), Some(25.0)),
    CheckupItemDef {
        high_female: Some(90.0),
        ..pq("9N016160100000001", "腹囲（実測）", "cm", None, Some(85.0))
    },
    pq("9A751000000000001", "収縮期血圧", "mmHg", None, Some(130.0)),
    pq("9A761000000000001", "拡張期血圧", "mmHg", None, Some(85.0)),
    pq("3F015000002327101", "中性脂肪", "mg/dl", None, Some(150.0)),
    pq(
        "3F070000002327101",
        "HDLコレステロール",
        "mg/dl",
        Some(40.0),
        None,
    ),
    pq(
        "3F077000002327101",
        "LDLコレステロール",
        "mg/dl",
        None,
        Some(120.0),
    ),
    pq("3B035000002327201", "AST（GOT）", "U/l", None, Some(31.0)),
    pq("3B045000002327201", "ALT（GPT）", "U/l", None, Some(31.0)),
    pq(
        "3B090000002327101",
        "γ-GT（γ-GTP）",
        "U/l",
        None,
        Some(51.0),
    ),
    pq("3D046000001906202", "HbA1c（NGSP値）", "%", None, Some(5.6)),
    cd("1A020000000191111", "尿糖", URINE),
    cd("1A010000000191111", "尿蛋白", URINE),
    cd("9N701000000000011", "服薬1（血圧）", YES_NO),
    cd("9N706000000000011", "服薬2（血糖）", YES_NO),
    cd("9N711000000000011", "服薬3（脂質）", YES_NO),
    cd("9N736000000000011", "喫煙", YES_NO),
    cd("9N501000000000011", "メタボリックシンドローム判定", METABO),
    cd("9N506000000000011", "保健指導レベル", GUIDANCE),
];

pub fn checkup_item(code: &str) -> Option<&'static CheckupItemDef> {
    CHECKUP_ITEMS.iter().find(|i| i.code == code)
}

/// Where a value stands against the item's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Normal,
    Low,
    High,
}

impl Judgement {
    pub fn code(self) -> &'static str {
        match self {
            Judgement::Normal => "",
            Judgement::Low => "L",
            Judgement::High => "H",
        }
    }
}

impl CheckupItemDef {
    pub fn high_for(&self, sex: Sex) -> Option<f64> {
        match sex {
            Sex::Female => self.high_female.or(self.high),
            _ => self.high,
        }
    }

    /// The judgement of a stored value; coded and unparsable values are not judged.
    pub fn judge(&self, value: &str, sex: Sex) -> Judgement {
        let Ok(v) = value.trim().parse::<f64>() else {
            return Judgement::Normal;
        };
        if self.value_type != ValueType::Quantity {
            return Judgement::Normal;
        }
        if self.high_for(sex).is_some_and(|h| v >= h) {
            Judgement::High
        } else if self.low.is_some_and(|l| v < l) {
            Judgement::Low
        } else {
            Judgement::Normal
        }
    }

    /// The label of a coded value (or the value itself).
    pub fn value_label<'a>(&self, value: &'a str) -> &'a str {
        self.values
            .iter()
            .find(|(c, _)| *c == value)
            .map(|(_, l)| *l)
            .unwrap_or(value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: i64) -> JstDateTime {
        JstDateTime::from_unix_micros(1_800_000_000_000_000 + s * 1_000_000)
    }

    fn consent(at: i64, codes: &[&str]) -> ConsentWindow {
        ConsentWindow {
            consented_at: t(at),
            available_until: t(at + 86_400),
            information: codes.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_consent_opens_only_its_information_types_for_24_hours() {
        let c = [consent(0, &["YZK"])];
        assert_eq!(
            decide_access(InfoKind::Drug, &c, false, t(10)),
            Ok(Basis::Consent)
        );
        assert_eq!(
            decide_access(InfoKind::Checkup, &c, false, t(10)),
            Err(Refusal::NoConsent)
        );
        assert_eq!(
            decide_access(InfoKind::Drug, &c, false, t(86_399)),
            Ok(Basis::Consent)
        );
        assert_eq!(
            decide_access(InfoKind::Drug, &c, false, t(86_400)),
            Err(Refusal::NoConsent)
        );
        assert_eq!(
            decide_access(InfoKind::Drug, &c, false, t(-1)),
            Err(Refusal::NoConsent)
        );
    }

    #[test]
    fn a_disaster_opens_drug_and_checkup_but_not_treatment() {
        assert_eq!(
            decide_access(InfoKind::Drug, &[], true, t(0)),
            Ok(Basis::Disaster)
        );
        assert_eq!(
            decide_access(InfoKind::Checkup, &[], true, t(0)),
            Ok(Basis::Disaster)
        );
        assert_eq!(
            decide_access(InfoKind::Surgery, &[], true, t(0)),
            Err(Refusal::NotInDisaster)
        );
        let c = [consent(0, &["SHJ"])];
        assert_eq!(
            decide_access(InfoKind::Surgery, &c, true, t(5)),
            Ok(Basis::Consent)
        );
    }

    #[test]
    fn areas_are_prefectures_or_municipalities() {
        let tokyo = FacilityLocation {
            prefecture: 13,
            municipality: Some("13101".into()),
        };
        assert!(DisasterArea::parse("13").unwrap().covers(&tokyo));
        assert!(DisasterArea::parse("13101").unwrap().covers(&tokyo));
        assert!(!DisasterArea::parse("13102").unwrap().covers(&tokyo));
        assert!(!DisasterArea::parse("27").unwrap().covers(&tokyo));
        for bad in ["", "1", "48", "00", "131", "1310a", "1310100"] {
            assert!(DisasterArea::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_declaration_is_active_in_its_period_until_ended() {
        let mut d = DisasterDeclaration {
            id: 1,
            name: "x".into(),
            areas: vec![DisasterArea::parse("17").unwrap()],
            starts_at: t(0),
            ends_at: t(100),
            ended_at: None,
            declared_at: t(0),
        };
        assert!(!d.active_at(t(-1)));
        assert!(d.active_at(t(0)));
        assert!(d.active_at(t(99)));
        assert!(!d.active_at(t(100)));
        d.ended_at = Some(t(50));
        assert!(d.active_at(t(49)));
        assert!(!d.active_at(t(50)));
    }

    #[test]
    fn checkup_values_are_judged_against_the_guidance_thresholds() {
        let hba1c = checkup_item("3D046000001906202").unwrap();
        assert_eq!(hba1c.judge("5.5", Sex::Male), Judgement::Normal);
        assert_eq!(hba1c.judge("5.6", Sex::Male), Judgement::High);
        let waist = checkup_item("9N016160100000001").unwrap();
        assert_eq!(waist.judge("87", Sex::Male), Judgement::High);
        assert_eq!(waist.judge("87", Sex::Female), Judgement::Normal);
        let hdl = checkup_item("3F070000002327101").unwrap();
        assert_eq!(hdl.judge("38", Sex::Female), Judgement::Low);
        let codes: std::collections::HashSet<_> = CHECKUP_ITEMS.iter().map(|i| i.code).collect();
        assert_eq!(codes.len(), CHECKUP_ITEMS.len());
        assert!(CHECKUP_ITEMS.iter().all(|i| i.code.len() == 17));
    }

    proptest! {
        /// Whatever the consents, an allowed view is inside a window of a consent naming
        /// the type, or a disaster view of drug/checkup.
        #[test]
        fn allowed_only_inside_a_window_or_a_disaster(
            consents in proptest::collection::vec((0i64..400_000, 0usize..4, 0usize..4), 0..5),
            at in 0i64..500_000,
            disaster: bool,
            k in 0usize..4,
        ) {
            let kind = InfoKind::ALL[k];
            let cs: Vec<ConsentWindow> = consents.iter().map(|(s, a, b)| {
                consent(*s, &[InfoKind::ALL[*a].code(), InfoKind::ALL[*b].code()])
            }).collect();
            let in_window = consents.iter().any(|(s, a, b)| {
                *s <= at && at < s + 86_400 && (InfoKind::ALL[*a] == kind || InfoKind::ALL[*b] == kind)
            });
            match decide_access(kind, &cs, disaster, t(at)) {
                Ok(Basis::Consent) => prop_assert!(in_window),
                Ok(Basis::Disaster) => prop_assert!(disaster && kind.viewable_in_disaster() && !in_window),
                Ok(Basis::Patient) => prop_assert!(false),
                Err(_) => prop_assert!(!(in_window || (disaster && kind.viewable_in_disaster()))),
            }
        }
    }
}
