//! Insurer registration rows: from the strings of a file to typed operations, and the
//! per-row refusal codes (ONS70xx). Pure; the decisions against the database are in
//! [`crate::insurer_plan`].

use onshi_core::burden::IncomeCategory;
use onshi_core::codes::{
    InsuredCardClassification, LimitCertificateClassification, LimitClassificationFlag,
    PersonalFamilyClassification, ReasonOfLoss, Sex, SpecificDiseaseCategory,
};
use onshi_core::date::Ymd;
use onshi_core::ids::{
    InsuredBranchNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsurerNumber,
};
use onshi_core::registry::{Identity, IdentityField};
use onshi_store::insurer::{CardPrefix, HoldKey};
use onshi_wire::insurer::RawRow;

/// Why one row was not applied. Codes are listed in `docs/errors.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    /// The row could not be read (CSV field count, quoting, unknown element).
    Unreadable(String),
    UnknownOperation(String),
    Missing(&'static str),
    BadInsurerNumber(String),
    BadDate(&'static str, String),
    BadCode(&'static str, String),
    BadCardText(&'static str, String),
    BadBranch(&'static str, String),
    /// The row's insurer is not registered at central.
    UnknownInsurer(String),
    /// The row names another insurer than the caller's certificate.
    OtherInsurer(String),
    /// The person does not match the resident registry on these items.
    IdentityMismatch(Vec<IdentityField>),
    /// Nobody in the registry is close to the person named.
    NotInRegistry,
    /// More than one registry person matches every item.
    IdentityAmbiguous,
    /// The 個人単位被保険者番号 belongs to someone else (or a suspended registration).
    DuplicateIndividualNumber(String),
    /// No qualification (of this insurer) under the card data.
    TargetNotFound,
    /// The card data without 枝番 matches several qualifications.
    TargetAmbiguous,
    /// 家族 without a current 被保険者 (本人) under the same 記号・番号.
    HeadNotFound,
    /// Contradicts what is registered (e.g. another acquisition date under the number).
    Conflict(String),
    /// Dates that cannot go together (end before start, loss before acquisition,
    /// 資格確認書 valid for more than five years).
    DatesInconsistent(String),
    /// No free 枝番 left under the 記号・番号.
    NoFreeBranch,
    /// The person already has a current qualification with this insurer.
    AlreadyInsured,
}

impl RowError {
    pub fn code(&self) -> &'static str {
        match self {
            RowError::UnknownOperation(_) => "ONS7001",
            RowError::Missing(_) => "ONS7002",
            RowError::BadInsurerNumber(_) => "ONS7003",
            RowError::BadDate(..) => "ONS7004",
            RowError::BadCode(..) => "ONS7005",
            RowError::BadCardText(..) => "ONS7006",
            RowError::BadBranch(..) => "ONS7007",
            RowError::Unreadable(_) => "ONS7008",
            RowError::UnknownInsurer(_) => "ONS7010",
            RowError::OtherInsurer(_) => "ONS7011",
            RowError::IdentityMismatch(_) => "ONS7020",
            RowError::NotInRegistry => "ONS7021",
            RowError::IdentityAmbiguous => "ONS7023",
            RowError::DuplicateIndividualNumber(_) => "ONS7030",
            RowError::TargetNotFound => "ONS7031",
            RowError::HeadNotFound => "ONS7032",
            RowError::Conflict(_) => "ONS7033",
            RowError::DatesInconsistent(_) => "ONS7035",
            RowError::NoFreeBranch => "ONS7036",
            RowError::TargetAmbiguous => "ONS7037",
            RowError::AlreadyInsured => "ONS7039",
        }
    }

    pub fn message_ja(&self) -> String {
        match self {
            RowError::Unreadable(d) => format!("行を読み取れません（{d}）。"),
            RowError::UnknownOperation(op) => format!(
                "処理区分「{op}」は使えません（acquire, change, lose, elderly, limit, specific, certificate, pending）。"
            ),
            RowError::Missing(f) => format!("{}（{f}）がありません。", field_ja(f)),
            RowError::BadInsurerNumber(d) => format!("保険者番号が正しくありません（{d}）。検証番号を確認してください。"),
            RowError::BadDate(f, v) => format!("{}「{v}」は存在しない日付です（YYYYMMDD）。", field_ja(f)),
            RowError::BadCode(f, v) => format!("{}の値「{v}」は使えません。", field_ja(f)),
            RowError::BadCardText(f, d) => format!("{}が正しくありません（{d}）。", field_ja(f)),
            RowError::BadBranch(f, v) => format!("{}「{v}」は2桁の数字で指定してください。", field_ja(f)),
            RowError::UnknownInsurer(n) => format!("保険者番号 {n} は登録されていない保険者です。"),
            RowError::OtherInsurer(n) => format!("保険者番号 {n} は他の保険者の番号です。自保険者の加入者のみ登録できます。"),
            RowError::IdentityMismatch(fields) => format!(
                "住民基本台帳の情報と一致しません（不一致: {}）。内容を確認して再送するか、確認中として保留（insist=1）してください。",
                fields.iter().map(|f| f.label_ja()).collect::<Vec<_>>().join("・")
            ),
            RowError::NotInRegistry => "住民基本台帳に該当する方が見つかりません（漢字氏名・カナ氏名・生年月日・性別・住所を確認してください）。".into(),
            RowError::IdentityAmbiguous => "住民基本台帳で複数の方が該当するため、紐付けできません。運用主体にお問い合わせください。".into(),
            RowError::DuplicateIndividualNumber(k) => format!("個人単位被保険者番号 {k} は既に別の方に使われています。"),
            RowError::TargetNotFound => "この保険者の記号・番号・枝番に該当する資格がありません。".into(),
            RowError::TargetAmbiguous => "記号・番号に複数の資格が該当します。枝番を指定してください。".into(),
            RowError::HeadNotFound => "家族の登録には、同じ記号・番号で有効な被保険者（本人）の資格が必要です（head_branch）。".into(),
            RowError::Conflict(d) => format!("登録済みの内容と矛盾します（{d}）。"),
            RowError::DatesInconsistent(d) => format!("日付の組み合わせが正しくありません（{d}）。"),
            RowError::NoFreeBranch => "この記号・番号で使える枝番がありません。".into(),
            RowError::AlreadyInsured => "この方には既にこの保険者の有効な資格があります。変更（change）で送ってください。".into(),
        }
    }

    /// The registry items a refusal is about (for the report).
    pub fn fields(&self) -> Vec<&'static str> {
        match self {
            RowError::IdentityMismatch(f) => f.iter().map(|f| f.key()).collect(),
            RowError::Missing(f)
            | RowError::BadDate(f, _)
            | RowError::BadCode(f, _)
            | RowError::BadCardText(f, _)
            | RowError::BadBranch(f, _) => vec![*f],
            _ => Vec::new(),
        }
    }
}

fn field_ja(f: &str) -> &'static str {
    match f {
        "op" => "処理区分",
        "insurer_number" => "保険者番号",
        "symbol" | "new_symbol" => "記号",
        "number" | "new_number" => "番号",
        "branch" | "new_branch" => "枝番",
        "head_branch" => "被保険者の枝番",
        "personal_family" => "本人家族区分",
        "name" => "漢字氏名",
        "name_kana" => "カナ氏名",
        "birthdate" => "生年月日",
        "sex" => "性別",
        "address" => "住所",
        "date" => "年月日",
        "reason" => "喪失事由",
        "card_classification" => "被保険者証区分",
        "valid_from" => "有効開始日",
        "valid_to" => "有効終了日",
        "income" => "所得区分",
        "ratio" => "一部負担金割合",
        "classification" => "限度額適用認定証区分",
        "flag" => "適用区分",
        "long_term_date" => "長期入院該当年月日",
        "category" => "特定疾病区分",
        "self_pay" => "自己負担限度額",
        "insist" => "保留指定",
        _ => "項目",
    }
}

/// 保険者番号 + 記号 + 番号 (+ 枝番): a member's card data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub insurer: InsurerNumber,
    pub symbol: Option<InsuredCardSymbol>,
    pub number: InsuredIdentificationNumber,
    pub branch: Option<InsuredBranchNumber>,
}

impl Key {
    pub fn prefix(&self) -> CardPrefix {
        CardPrefix {
            insurer_number: self.insurer.digits().to_string(),
            symbol_norm: self
                .symbol
                .as_ref()
                .map(|s| s.normalized())
                .unwrap_or_default(),
            number_norm: self.number.normalized(),
        }
    }

    pub fn hold_key(&self, branch: Option<u8>) -> HoldKey {
        let p = self.prefix();
        HoldKey {
            insurer_number: p.insurer_number,
            symbol_norm: p.symbol_norm,
            number_norm: p.number_norm,
            branch,
        }
    }

    /// `insurer/記号/番号/枝番` for reports.
    pub fn display(&self, branch: Option<u8>) -> String {
        format!(
            "{}/{}/{}/{}",
            self.insurer.digits(),
            self.symbol.as_ref().map(|s| s.as_str()).unwrap_or(""),
            self.number.as_str(),
            branch.map(|b| format!("{b:02}")).unwrap_or_default()
        )
    }
}

#[derive(Debug, Clone)]
pub struct Acquire {
    pub key: Key,
    pub identity: Identity,
    pub personal_family: PersonalFamilyClassification,
    pub head_branch: Option<InsuredBranchNumber>,
    pub date: Ymd,
    pub card_classification: InsuredCardClassification,
    pub valid_from: Option<Ymd>,
    pub valid_to: Option<Ymd>,
    pub income: IncomeCategory,
    pub insist: bool,
    /// The row as received (JSON), kept with a suspended registration.
    pub raw: String,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub key: Key,
    pub date: Ymd,
    pub new_symbol: Option<InsuredCardSymbol>,
    pub new_number: Option<InsuredIdentificationNumber>,
    pub new_branch: Option<InsuredBranchNumber>,
    pub personal_family: Option<PersonalFamilyClassification>,
    pub card_classification: Option<InsuredCardClassification>,
    pub income: Option<IncomeCategory>,
}

impl Change {
    pub fn renumbers(&self) -> bool {
        self.new_symbol.is_some() || self.new_number.is_some() || self.new_branch.is_some()
    }

    /// The card data after the change (the new key's prefix).
    pub fn new_key(&self) -> Key {
        Key {
            insurer: self.key.insurer.clone(),
            symbol: self.new_symbol.clone().or_else(|| self.key.symbol.clone()),
            number: self
                .new_number
                .clone()
                .unwrap_or_else(|| self.key.number.clone()),
            branch: self.new_branch.or(self.key.branch),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Op {
    Acquire(Acquire),
    Change(Change),
    Lose {
        key: Key,
        date: Ymd,
        reason: ReasonOfLoss,
    },
    Elderly {
        key: Key,
        date: Ymd,
        valid_from: Ymd,
        valid_to: Ymd,
        ratio: u8,
    },
    Limit {
        key: Key,
        classification: LimitCertificateClassification,
        flag: LimitClassificationFlag,
        date: Ymd,
        valid_from: Ymd,
        valid_to: Option<Ymd>,
        long_term_date: Option<Ymd>,
    },
    Specific {
        key: Key,
        category: SpecificDiseaseCategory,
        date: Ymd,
        valid_from: Ymd,
        valid_to: Option<Ymd>,
        self_pay: u32,
    },
    /// 資格確認書 issued (交付) to a member without a usable card.
    Certificate {
        key: Key,
        date: Ymd,
        valid_from: Ymd,
        valid_to: Ymd,
    },
    /// 取得届 received, data not registered yet.
    Pending {
        key: Key,
        identity: Identity,
        date: Ymd,
    },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Acquire(_) => "acquire",
            Op::Change(_) => "change",
            Op::Lose { .. } => "lose",
            Op::Elderly { .. } => "elderly",
            Op::Limit { .. } => "limit",
            Op::Specific { .. } => "specific",
            Op::Certificate { .. } => "certificate",
            Op::Pending { .. } => "pending",
        }
    }

    pub fn key(&self) -> &Key {
        match self {
            Op::Acquire(a) => &a.key,
            Op::Change(c) => &c.key,
            Op::Lose { key, .. }
            | Op::Elderly { key, .. }
            | Op::Limit { key, .. }
            | Op::Specific { key, .. }
            | Op::Certificate { key, .. }
            | Op::Pending { key, .. } => key,
        }
    }

    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Op::Acquire(a) => Some(&a.identity),
            Op::Pending { identity, .. } => Some(identity),
            _ => None,
        }
    }
}

struct Fields<'r> {
    row: &'r RawRow,
}

impl Fields<'_> {
    fn opt(&self, f: &'static str) -> Option<&str> {
        self.row.get(f).map(str::trim).filter(|s| !s.is_empty())
    }
    fn req(&self, f: &'static str) -> Result<&str, RowError> {
        self.opt(f).ok_or(RowError::Missing(f))
    }
    fn date(&self, f: &'static str) -> Result<Ymd, RowError> {
        let v = self.req(f)?;
        Ymd::parse(v).map_err(|_| RowError::BadDate(f, v.to_string()))
    }
    fn opt_date(&self, f: &'static str) -> Result<Option<Ymd>, RowError> {
        match self.opt(f) {
            None => Ok(None),
            Some(_) => self.date(f).map(Some),
        }
    }
    fn code<T, E>(
        &self,
        f: &'static str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, RowError> {
        let v = self.req(f)?;
        parse(v).map_err(|_| RowError::BadCode(f, v.to_string()))
    }
    fn opt_code<T, E>(
        &self,
        f: &'static str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, RowError> {
        match self.opt(f) {
            None => Ok(None),
            Some(_) => self.code(f, parse).map(Some),
        }
    }
    fn branch(&self, f: &'static str) -> Result<Option<InsuredBranchNumber>, RowError> {
        match self.opt(f) {
            None => Ok(None),
            Some(v) => InsuredBranchNumber::parse(v)
                .map(Some)
                .map_err(|_| RowError::BadBranch(f, v.to_string())),
        }
    }
    fn symbol(&self, f: &'static str) -> Result<Option<InsuredCardSymbol>, RowError> {
        match self.row.get(f).filter(|s| !s.trim().is_empty()) {
            None => Ok(None),
            Some(v) => InsuredCardSymbol::parse(v)
                .map(Some)
                .map_err(|e| RowError::BadCardText(f, e.to_string())),
        }
    }
    fn number(&self, f: &'static str) -> Result<Option<InsuredIdentificationNumber>, RowError> {
        match self.row.get(f).filter(|s| !s.trim().is_empty()) {
            None => Ok(None),
            Some(v) => InsuredIdentificationNumber::parse(v)
                .map(Some)
                .map_err(|e| RowError::BadCardText(f, e.to_string())),
        }
    }

    fn key(&self) -> Result<Key, RowError> {
        let n = self.req("insurer_number")?;
        let insurer =
            InsurerNumber::parse(n).map_err(|e| RowError::BadInsurerNumber(e.to_string()))?;
        if insurer.is_unknown() {
            return Err(RowError::BadInsurerNumber(
                "不詳の保険者番号は登録できません".into(),
            ));
        }
        Ok(Key {
            insurer,
            symbol: self.symbol("symbol")?,
            number: self.number("number")?.ok_or(RowError::Missing("number"))?,
            branch: self.branch("branch")?,
        })
    }

    fn identity(&self) -> Result<Identity, RowError> {
        let name = self.req("name")?;
        let kana = self.req("name_kana")?;
        let birthdate = self.date("birthdate")?;
        let sex = self.code("sex", Sex::from_code)?;
        let address = self.req("address")?;
        Ok(Identity::new(name, kana, birthdate, sex, address))
    }

    fn ratio(&self) -> Result<u8, RowError> {
        let v = self.req("ratio")?;
        match v.trim_start_matches('0') {
            "20" | "2" => Ok(20),
            "30" | "3" => Ok(30),
            _ => Err(RowError::BadCode("ratio", v.to_string())),
        }
    }

    fn income(&self) -> Result<Option<IncomeCategory>, RowError> {
        self.opt_code("income", |s| IncomeCategory::from_code(s).ok_or(()))
    }
}

fn ordered(from: Ymd, to: Option<Ymd>, what: &str) -> Result<(), RowError> {
    match to {
        Some(to) if to < from => Err(RowError::DatesInconsistent(format!(
            "{what}の終了日が開始日より前です"
        ))),
        _ => Ok(()),
    }
}

/// Parses one row; every check that needs no database is done here.
pub fn parse_row(row: &RawRow) -> Result<Op, RowError> {
    if let Some(e) = &row.error {
        return Err(RowError::Unreadable(e.clone()));
    }
    let f = Fields { row };
    let op = f.req("op")?.to_ascii_lowercase();
    let key = f.key()?;
    Ok(match op.as_str() {
        "acquire" => {
            let identity = f.identity()?;
            let date = f.date("date")?;
            let valid_from = f.opt_date("valid_from")?;
            let valid_to = f.opt_date("valid_to")?;
            if let Some(from) = valid_from {
                ordered(from, valid_to, "被保険者証")?;
            }
            if date < identity.birthdate {
                return Err(RowError::DatesInconsistent(
                    "資格取得日が生年月日より前です".into(),
                ));
            }
            let insist = match f.opt("insist") {
                None | Some("0") | Some("false") | Some("no") => false,
                Some("1") | Some("true") | Some("yes") => true,
                Some(v) => return Err(RowError::BadCode("insist", v.to_string())),
            };
            let raw: serde_json::Map<String, serde_json::Value> = row
                .values
                .iter()
                .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
                .collect();
            Op::Acquire(Acquire {
                key,
                identity,
                personal_family: f
                    .opt_code("personal_family", PersonalFamilyClassification::from_code)?
                    .unwrap_or(PersonalFamilyClassification::Insured),
                head_branch: f.branch("head_branch")?,
                date,
                card_classification: f
                    .opt_code("card_classification", InsuredCardClassification::from_code)?
                    .unwrap_or(InsuredCardClassification::General),
                valid_from,
                valid_to,
                income: f.income()?.unwrap_or_default(),
                insist,
                raw: serde_json::Value::Object(raw).to_string(),
            })
        }
        "change" => Op::Change(Change {
            key,
            date: f.date("date")?,
            new_symbol: f.symbol("new_symbol")?,
            new_number: f.number("new_number")?,
            new_branch: f.branch("new_branch")?,
            personal_family: f
                .opt_code("personal_family", PersonalFamilyClassification::from_code)?,
            card_classification: f
                .opt_code("card_classification", InsuredCardClassification::from_code)?,
            income: f.income()?,
        }),
        "lose" => Op::Lose {
            key,
            date: f.date("date")?,
            reason: f.code("reason", ReasonOfLoss::from_code)?,
        },
        "elderly" => {
            let valid_from = f.date("valid_from")?;
            let valid_to = f.date("valid_to")?;
            ordered(valid_from, Some(valid_to), "高齢受給者証")?;
            Op::Elderly {
                key,
                date: f.date("date")?,
                valid_from,
                valid_to,
                ratio: f.ratio()?,
            }
        }
        "limit" => {
            let valid_from = f.date("valid_from")?;
            let valid_to = f.opt_date("valid_to")?;
            ordered(valid_from, valid_to, "限度額適用認定証")?;
            Op::Limit {
                key,
                classification: f
                    .code("classification", LimitCertificateClassification::from_code)?,
                flag: f.code("flag", LimitClassificationFlag::from_code)?,
                date: f.date("date")?,
                valid_from,
                valid_to,
                long_term_date: f.opt_date("long_term_date")?,
            }
        }
        "specific" => {
            let valid_from = f.date("valid_from")?;
            let valid_to = f.opt_date("valid_to")?;
            ordered(valid_from, valid_to, "特定疾病療養受療証")?;
            Op::Specific {
                key,
                category: f.code("category", SpecificDiseaseCategory::from_code)?,
                date: f.date("date")?,
                valid_from,
                valid_to,
                self_pay: f.code("self_pay", |s| s.parse::<u32>())?,
            }
        }
        "certificate" => {
            let valid_from = f.date("valid_from")?;
            let valid_to = f.date("valid_to")?;
            ordered(valid_from, Some(valid_to), "資格確認書")?;
            // 資格確認書 are valid for at most five years (faq.myna.go.jp 3505).
            if valid_to >= valid_from.add_months(60) {
                return Err(RowError::DatesInconsistent(
                    "資格確認書の有効期間は5年以内です".into(),
                ));
            }
            Op::Certificate {
                key,
                date: f.date("date")?,
                valid_from,
                valid_to,
            }
        }
        "pending" => Op::Pending {
            key,
            identity: f.identity()?,
            date: f.date("date")?,
        },
        other => return Err(RowError::UnknownOperation(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(pairs: &[(&'static str, &str)]) -> RawRow {
        RawRow {
            line: 2,
            values: pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
            error: None,
        }
    }

    fn acquire(extra: &[(&'static str, &str)]) -> RawRow {
        let mut base = vec![
            ("op", "acquire"),
            ("insurer_number", "06139992"),
            ("symbol", "12"),
            ("number", "345"),
            ("name", "山田　花子"),
            ("name_kana", "ﾔﾏﾀﾞ ﾊﾅｺ"),
            ("birthdate", "19850412"),
            ("sex", "2"),
            ("address", "東京都千代田区"),
            ("date", "20261101"),
        ];
        for (k, v) in extra {
            base.retain(|(b, _)| b != k);
            base.push((k, v));
        }
        row(&base)
    }

    #[test]
    fn bad_values_get_their_own_codes() {
        assert!(parse_row(&acquire(&[])).is_ok());
        let code = |extra: &[(&'static str, &str)]| parse_row(&acquire(extra)).unwrap_err().code();
        assert_eq!(code(&[("insurer_number", "06139996")]), "ONS7003");
        assert_eq!(code(&[("insurer_number", "77777777")]), "ONS7003");
        assert_eq!(code(&[("birthdate", "19850230")]), "ONS7004");
        assert_eq!(code(&[("date", "20261301")]), "ONS7004");
        assert_eq!(code(&[("sex", "9")]), "ONS7005");
        assert_eq!(code(&[("op", "register")]), "ONS7001");
        assert_eq!(code(&[("branch", "1")]), "ONS7007");
        assert_eq!(code(&[("date", "19800101")]), "ONS7035");
        let mut r = acquire(&[]);
        r.values.remove("name_kana");
        assert_eq!(parse_row(&r).unwrap_err(), RowError::Missing("name_kana"));
    }

    #[test]
    fn a_qualification_certificate_is_valid_for_at_most_five_years() {
        let cert = |to: &str| {
            parse_row(&row(&[
                ("op", "certificate"),
                ("insurer_number", "06139992"),
                ("number", "345"),
                ("date", "20261101"),
                ("valid_from", "20261201"),
                ("valid_to", to),
            ]))
        };
        assert!(cert("20311130").is_ok());
        assert_eq!(cert("20311201").unwrap_err().code(), "ONS7035");
        assert_eq!(cert("20261130").unwrap_err().code(), "ONS7035");
    }
}
