//! Code tables of the qualification messages (OQSCD…), as enums that round-trip their codes.
//! Values and labels: `shared/reference/ons-interface.md` §9.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table}: unknown code {code:?}")]
pub struct CodeError {
    pub table: &'static str,
    pub code: String,
}

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident, $table:literal { $($variant:ident = $code:literal, $label:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const TABLE: &'static str = $table;
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The code as written on the wire.
            pub fn code(self) -> &'static str { match self { $($name::$variant => $code),+ } }
            /// The Japanese label of the code table.
            pub fn label(self) -> &'static str { match self { $($name::$variant => $label),+ } }
            pub fn from_code(code: &str) -> Result<Self, CodeError> {
                match code { $($code => Ok($name::$variant),)+ _ => Err(CodeError { table: $table, code: code.to_string() }) }
            }
        }
    };
}

code_enum!(
    /// OQSCD001 限度額適用認定証提供同意フラグ.
    LimitConsentFlag, "OQSCD001" { NotConsented = "0", "未同意"; Consented = "1", "同意"; });
code_enum!(
    /// OQSCD002 照会区分.
    ReferenceClassification, "OQSCD002" { MyNumberCard = "1", "マイナンバーカード"; InsuranceCard = "2", "被保険者証情報"; });
code_enum!(
    /// OQSCD003 処理結果区分.
    SegmentOfResult, "OQSCD003" { Normal = "1", "正常終了"; Processing = "2", "処理中"; Abnormal = "9", "異常終了"; });
code_enum!(
    /// OQSCD004 処理結果状況.
    ProcessingResultStatus, "OQSCD004" { Normal = "1", "正常終了"; Error = "2", "エラー"; });
code_enum!(
    /// OQSCD005 文字コード識別 (0 UTF-8, 1 Shift_JIS; ons-interface.md §11).
    CharacterCode, "OQSCD005" { Utf8 = "0", "UTF-8"; ShiftJis = "1", "Shift_JIS"; });
code_enum!(
/// OQSCD006 資格有効性.
QualificationValidity, "OQSCD006" {
    Valid = "1", "有効";
    Invalid = "2", "無効";
    InvalidWithNew = "3", "無効（新しい資格あり）";
    NotFound = "4", "該当資格なし";
    Multiple = "5", "複数該当";
    ValidUnregistered = "6", "有効（未登録）";
});
code_enum!(
    /// OQSCD007 性別.
    Sex, "OQSCD007" { Male = "1", "男"; Female = "2", "女"; Unset = "3", "未設定"; });
code_enum!(
/// OQSCD008 資格喪失事由.
ReasonOfLoss, "OQSCD008" {
    Death = "01", "死亡";
    WelfareStart = "02", "生活保護受給開始";
    OtherInsurance = "03", "医療保険等の資格取得";
    Other = "99", "その他";
});
code_enum!(
    /// OQSCD009 本人・家族区分.
    PersonalFamilyClassification, "OQSCD009" { Insured = "1", "本人"; Dependent = "2", "家族"; });
code_enum!(
/// OQSCD010 被保険者証区分.
InsuredCardClassification, "OQSCD010" {
    General = "01", "被保険者証（一般）";
    Retired = "02", "被保険者証（退職）";
    ShortTermGeneral = "03", "短期被保険者証（一般）";
    ShortTermRetired = "04", "短期被保険者証（退職）";
    SpecialMedicalExpense = "05", "特別療養費支給対象者";
    SpecialRetired = "06", "特例退職被保険者証";
    SelfDefenseForces = "07", "自衛官診療証";
    MedicalAssistance = "A1", "医療扶助";
});
code_enum!(
/// OQSCD011 限度額適用認定証区分.
LimitCertificateClassification, "OQSCD011" {
    Limit = "01", "限度額適用認定証";
    LimitAndReduction = "02", "限度額適用・標準負担額減額認定証";
    Reduction = "03", "標準負担額減額認定証";
});
code_enum!(
/// OQSCD012 限度額適用認定証適用区分.
LimitClassificationFlag, "OQSCD012" {
    A01 = "A01", "ア"; A02 = "A02", "イ"; A03 = "A03", "ウ"; A04 = "A04", "エ";
    A05 = "A05", "オ"; A06 = "A06", "オ（境）";
    B01 = "B01", "現役並みⅢ"; B02 = "B02", "現役並みⅡ"; B03 = "B03", "現役並みⅠ";
    B04 = "B04", "一般"; B05 = "B05", "低所得Ⅱ"; B06 = "B06", "低所得Ⅰ";
    B07 = "B07", "低所得Ⅰ（老福）"; B08 = "B08", "低所得Ⅰ（境）";
    B09 = "B09", "一般Ⅱ"; B10 = "B10", "一般Ⅰ";
});
code_enum!(
/// OQSCD013 特定疾病療養受療証認定疾病区分.
SpecificDiseaseCategory, "OQSCD013" {
    ChronicRenalFailure = "1", "人工透析を必要とする慢性腎不全";
    Hemophilia = "2", "先天性血液凝固因子障害（第VIII因子、第IX因子）";
    HivFromBloodProducts = "3", "血液凝固因子製剤の投与に起因するHIV感染症";
});
code_enum!(
    /// OQSCD014 限度額適用認定証情報変更有無.
    LimitCertificateChanged, "OQSCD014" { Unchanged = "0", "変更なし"; Changed = "1", "変更あり または 判定不能"; });
code_enum!(
    /// OQSCD015 未就学区分.
    PreschoolClassification, "OQSCD015" { Preschool = "1", "未就学該当"; });
code_enum!(
/// OQSCD016 同意区分.
ConsentFlag, "OQSCD016" {
    NotConsented = "0", "同意なし";
    Consented = "1", "同意あり";
    Expired = "2", "同意有効期限切れ";
    Difficult = "3", "同意取得困難";
});
code_enum!(
    /// OQSCD017 処方箋発行形態.
    PrescriptionIssueSelect, "OQSCD017" { Electronic = "1", "電子処方箋"; Paper = "2", "紙の処方箋"; });

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every code of a table parses back to its variant, codes and labels are unique and
    /// non-empty, and an unknown code is refused with the table's id.
    macro_rules! check_table {
        ($t:ty, $id:literal, $n:expr) => {{
            assert_eq!(<$t>::TABLE, $id);
            assert_eq!(<$t>::ALL.len(), $n, "{}", $id);
            let mut codes = HashSet::new();
            let mut labels = HashSet::new();
            for &v in <$t>::ALL {
                assert_eq!(<$t>::from_code(v.code()), Ok(v), "{} {:?}", $id, v);
                assert!(!v.code().is_empty() && !v.label().is_empty());
                assert!(codes.insert(v.code()), "duplicate code in {}", $id);
                assert!(labels.insert(v.label()), "duplicate label in {}", $id);
            }
            for bad in ["", "x", "00", "999", " 1"] {
                if !codes.contains(bad) {
                    assert_eq!(
                        <$t>::from_code(bad),
                        Err(CodeError {
                            table: $id,
                            code: bad.to_string()
                        })
                    );
                }
            }
        }};
    }

    #[test]
    fn all_tables_round_trip() {
        check_table!(LimitConsentFlag, "OQSCD001", 2);
        check_table!(ReferenceClassification, "OQSCD002", 2);
        check_table!(SegmentOfResult, "OQSCD003", 3);
        check_table!(ProcessingResultStatus, "OQSCD004", 2);
        check_table!(CharacterCode, "OQSCD005", 2);
        check_table!(QualificationValidity, "OQSCD006", 6);
        check_table!(Sex, "OQSCD007", 3);
        check_table!(ReasonOfLoss, "OQSCD008", 4);
        check_table!(PersonalFamilyClassification, "OQSCD009", 2);
        check_table!(InsuredCardClassification, "OQSCD010", 8);
        check_table!(LimitCertificateClassification, "OQSCD011", 3);
        check_table!(LimitClassificationFlag, "OQSCD012", 16);
        check_table!(SpecificDiseaseCategory, "OQSCD013", 3);
        check_table!(LimitCertificateChanged, "OQSCD014", 2);
        check_table!(PreschoolClassification, "OQSCD015", 1);
        check_table!(ConsentFlag, "OQSCD016", 4);
        check_table!(PrescriptionIssueSelect, "OQSCD017", 2);
    }

    #[test]
    fn codes_match_the_reference_tables() {
        // Spot checks against ons-interface.md §9; leading zeros are significant.
        assert_eq!(SegmentOfResult::Abnormal.code(), "9");
        assert_eq!(QualificationValidity::InvalidWithNew.code(), "3");
        assert_eq!(
            QualificationValidity::from_code("6"),
            Ok(QualificationValidity::ValidUnregistered)
        );
        assert_eq!(ReasonOfLoss::Other.code(), "99");
        assert!(ReasonOfLoss::from_code("1").is_err());
        assert_eq!(InsuredCardClassification::MedicalAssistance.code(), "A1");
        assert!(InsuredCardClassification::from_code("1").is_err());
        assert_eq!(LimitClassificationFlag::B09.label(), "一般Ⅱ");
        assert_eq!(
            LimitClassificationFlag::from_code("A06"),
            Ok(LimitClassificationFlag::A06)
        );
        assert_eq!(
            LimitCertificateClassification::LimitAndReduction.code(),
            "02"
        );
        assert_eq!(Sex::Unset.label(), "未設定");
        assert_eq!(CharacterCode::Utf8.code(), "0");
        assert_eq!(ConsentFlag::Difficult.code(), "3");
    }

    #[test]
    fn code_error_message_names_the_table() {
        let e = Sex::from_code("9").err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("OQSCD007: unknown code \"9\""));
    }
}
