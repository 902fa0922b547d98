//! Plain records of the central database, shared by the synthetic population generator
//! (which makes them), the store (which persists them) and the verification engine (which
//! reads them). They carry already-parsed domain types, so a record that exists is valid.

use crate::burden::IncomeCategory;
use crate::codes::{
    InsuredCardClassification, LimitCertificateClassification, LimitClassificationFlag,
    PersonalFamilyClassification, ReasonOfLoss, Sex, SpecificDiseaseCategory,
};
use crate::date::Ymd;
use crate::ids::{
    InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsurerNumber,
    MedicalInstitutionCode,
};

/// The kind of insurer, which decides number layout (6-digit 国保) and burden rules (後期).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum InsurerKind {
    /// 全国健康保険協会 (協会けんぽ), 法別 01.
    KyokaiKenpo,
    /// 健康保険組合, 法別 06.
    KenpoKumiai,
    /// 共済組合, 法別 31–34.
    Kyosai,
    /// 市町村国民健康保険: 6-digit insurer numbers.
    Kokuho,
    /// 後期高齢者医療広域連合, 法別 39.
    LateElderly,
}

impl InsurerKind {
    pub const ALL: [InsurerKind; 5] = [
        InsurerKind::KyokaiKenpo,
        InsurerKind::KenpoKumiai,
        InsurerKind::Kyosai,
        InsurerKind::Kokuho,
        InsurerKind::LateElderly,
    ];

    /// Stable code used in the database.
    pub fn code(self) -> &'static str {
        match self {
            InsurerKind::KyokaiKenpo => "kyokai",
            InsurerKind::KenpoKumiai => "kumiai",
            InsurerKind::Kyosai => "kyosai",
            InsurerKind::Kokuho => "kokuho",
            InsurerKind::LateElderly => "kouki",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insurer {
    pub number: InsurerNumber,
    pub name: String,
    pub kind: InsurerKind,
}

/// A person as the resident registry knows them (基本4情報 plus kana and postcode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    /// 漢字氏名, family and given name separated by a full-width space (U+3000).
    pub name: String,
    /// カナ氏名 in half-width katakana with a half-width space, as the wire carries it.
    pub name_kana: String,
    pub birthdate: Ymd,
    pub sex: Sex,
    pub address: String,
    /// 郵便番号 as `123-4567`.
    pub post_number: String,
}

/// One qualification (資格) of one person with one insurer. A job change ends one
/// qualification (with a loss date and reason) and starts another; `successor_id`
/// links the two so that a check on the old card can answer 「無効（新しい資格あり）」.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualification {
    pub id: i64,
    pub person_id: i64,
    pub insurer_number: InsurerNumber,
    pub symbol: Option<InsuredCardSymbol>,
    pub number: InsuredIdentificationNumber,
    pub branch: Option<InsuredBranchNumber>,
    pub personal_family: PersonalFamilyClassification,
    /// 被保険者氏名 (the head of household), set for 家族.
    pub insured_name: Option<String>,
    pub card_classification: InsuredCardClassification,
    /// 資格取得年月日.
    pub qualification_date: Ymd,
    /// 資格喪失年月日; `None` while the qualification is current.
    pub disqualification_date: Option<Ymd>,
    pub reason_of_loss: Option<ReasonOfLoss>,
    /// The qualification that followed this one, when known.
    pub successor_id: Option<i64>,
    /// 被保険者証交付年月日 (or 資格確認書 issue date).
    pub certificate_issuance_date: Option<Ymd>,
    /// 有効開始年月日.
    pub card_valid_from: Option<Ymd>,
    /// 有効終了年月日.
    pub card_valid_to: Option<Ymd>,
    /// Income category as the insurer determined it; drives 現役並み and 後期 2割.
    pub income: IncomeCategory,
}

/// 高齢受給者証 (70–74).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElderlyRecipient {
    pub qualification_id: i64,
    pub certificate_date: Ymd,
    pub valid_start: Ymd,
    pub valid_end: Ymd,
    /// 一部負担金割合 in percent (20 or 30).
    pub contribution_ratio: u8,
}

/// 限度額適用認定証 (or the 限度額 information that replaced it online).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCertificate {
    pub qualification_id: i64,
    pub classification: LimitCertificateClassification,
    pub flag: LimitClassificationFlag,
    pub certificate_date: Ymd,
    pub valid_start: Ymd,
    pub valid_end: Option<Ymd>,
    pub long_term_date: Option<Ymd>,
}

/// 特定疾病療養受療証.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecificDisease {
    pub qualification_id: i64,
    pub category: SpecificDiseaseCategory,
    pub certificate_date: Ymd,
    pub valid_start: Ymd,
    pub valid_end: Option<Ymd>,
    /// 自己負担限度額 (yen per month).
    pub self_pay: u32,
}

/// A medical institution or pharmacy that may call central.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility {
    pub code: MedicalInstitutionCode,
    pub name: String,
    pub enabled: bool,
    /// 「スマホによる本人確認」: smartphones accepted at the reader (off by default).
    pub smartphone_enabled: bool,
}
