//! The one mapping from what can go wrong in a check to what the caller is told: an error
//! code, a Japanese message and an HTTP status. The codes are ours (the official 別紙6-1
//! 処理結果コード table is not public); `docs/errors.md` lists them.

use axum::http::StatusCode;
use onshi_core::card::SmartphoneRefusal;
use onshi_pki::CardVerifyError;
use onshi_wire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{field}: {detail}")]
    InvalidField {
        code: &'static str,
        field: &'static str,
        detail: String,
    },
    #[error("unsupported content type {0:?}")]
    UnsupportedMediaType(String),
    #[error("client certificate does not name a facility: {0}")]
    BadClientCertificate(String),
    #[error("request names facility {request} but the certificate is for {certificate}")]
    FacilityMismatch {
        request: String,
        certificate: String,
    },
    #[error("facility {0} is not registered")]
    UnknownFacility(String),
    #[error("facility {0} is suspended")]
    DisabledFacility(String),
    #[error("the verification history could not be recorded: {0}")]
    HistoryUnavailable(String),
    #[error("card request: {0}")]
    CardRequest(String),
    #[error("nonce is not one central issued")]
    NonceInvalid,
    #[error("nonce has expired")]
    NonceExpired,
    #[error("nonce was issued to another facility")]
    NonceOtherFacility,
    #[error("nonce has been used already")]
    NonceReplayed,
    #[error("card certificate: {0}")]
    CardCertificate(CardVerifyError),
    #[error("card certificate expired beyond the grace period")]
    CardExpiredPastGrace,
    #[error("card certificate is not linked to anyone")]
    CardUnknown,
    #[error("card is not registered for insurance use")]
    CardUnregistered,
    #[error("smartphone refused: {0:?}")]
    Smartphone(SmartphoneRefusal),
    #[error("card checks are not configured on this central")]
    CardsDisabled,
    #[error("consent token is not one central issued to this facility")]
    ConsentTokenInvalid,
    #[error("consent window of the check has closed")]
    ConsentTooLate,
    #[error("consents for this check were given already")]
    ConsentAlreadyGiven,
    #[error("offline challenge: {0}")]
    OfflineChallengeInvalid(String),
    #[error("offline check is older than central accepts")]
    OfflineCheckTooOld,
    #[error("reception number {0:?} is not one of this facility's bulk checks")]
    ReceptionNumberUnknown(String),
    #[error("bulk check without any patient")]
    BulkEmpty,
    #[error("bulk check with {count} patients (at most {max})")]
    BulkTooMany { count: usize, max: usize },
    #[error("bulk check failed: {0}")]
    BulkFailed(String),
    #[error("no current qualification under this card data")]
    ReferencePersonNotFound,
    #[error("the card data matches more than one person")]
    ReferencePersonAmbiguous,
    #[error("not an insurer certificate: {0}")]
    NotInsurer(String),
    #[error("insurer {0} is not registered")]
    UnknownInsurerCaller(String),
    #[error("registration file: {0}")]
    InsurerFile(String),
    #[error("registration file without rows")]
    InsurerBatchEmpty,
    #[error("registration file with {count} rows (at most {max})")]
    InsurerBatchTooMany { count: usize, max: usize },
    #[error("a single registration request holds {0} registrations")]
    InsurerSingleNotOne(usize),
    #[error("staff account missing or invalid: {0}")]
    MedicalAccount(String),
    #[error("medical information request: {0}")]
    MedicalRequest(String),
    #[error("no valid consent of this facility covers {0}")]
    MedicalNoConsent(&'static str),
    #[error("the disaster measure does not open {0}")]
    MedicalNotInDisaster(&'static str),
    #[error("no disaster declaration covers this facility now")]
    DisasterNotDeclared,
    #[error("no such patient")]
    PatientNotFound,
    #[error("medical information file: not offered: {0}")]
    MedicalFileUnsupported(String),
    #[error("several patients with access match the insurance data")]
    MedicalPatientAmbiguous,
    #[error("patient view: {0}")]
    PatientView(&'static str),
    #[error("history request: {0}")]
    HistoryRequest(String),
    #[error("history searched before {0}")]
    HistoryTooOld(String),
    #[error("no such history entry of this facility")]
    HistoryEntryNotFound,
    #[error("facility settings request: {0}")]
    SettingsRequest(String),
    #[error("the audit trail could not be written: {0}")]
    AuditUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CheckError {
    pub fn invalid(
        code: &'static str,
        field: &'static str,
        detail: impl std::fmt::Display,
    ) -> Self {
        CheckError::InvalidField {
            code,
            field,
            detail: detail.to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CheckError::Wire(w) => match w {
                WireError::TooLarge { .. } => "ONS1004",
                WireError::DoctypeForbidden => "ONS1002",
                WireError::EncodingMismatch { .. }
                | WireError::UnsupportedEncoding(_)
                | WireError::InvalidBytes(_) => "ONS1003",
                WireError::MissingElement(_) => "ONS1005",
                WireError::Json(_) => "ONS1006",
                WireError::WrongRoot { .. } => "ONS1007",
                WireError::TooDeep => "ONS1008",
                WireError::Malformed(_) => "ONS1001",
            },
            CheckError::InvalidField { code, .. } => code,
            CheckError::UnsupportedMediaType(_) => "ONS1009",
            CheckError::BadClientCertificate(_) => "ONS3004",
            CheckError::FacilityMismatch { .. } => "ONS3003",
            CheckError::UnknownFacility(_) => "ONS3001",
            CheckError::DisabledFacility(_) => "ONS3002",
            CheckError::HistoryUnavailable(_) => "ONS9001",
            CheckError::CardRequest(_) => "ONS4001",
            CheckError::NonceInvalid => "ONS4002",
            CheckError::NonceExpired => "ONS4003",
            CheckError::NonceOtherFacility => "ONS4004",
            CheckError::NonceReplayed => "ONS4005",
            CheckError::CardCertificate(e) => match e {
                CardVerifyError::Malformed => "ONS4010",
                CardVerifyError::UnknownIssuer => "ONS4011",
                CardVerifyError::Revoked => "ONS4012",
                CardVerifyError::Expired => "ONS4013",
                CardVerifyError::BadSignature => "ONS4014",
                _ => "ONS4015",
            },
            CheckError::CardExpiredPastGrace => "ONS4013",
            CheckError::CardUnregistered => "ONS4020",
            CheckError::CardUnknown => "ONS4021",
            CheckError::Smartphone(r) => match r {
                SmartphoneRefusal::NotEnabledAtFacility => "ONS4030",
                SmartphoneRefusal::NoPriorPhysicalCardUse => "ONS4031",
                SmartphoneRefusal::PhysicalCardNotUsable => "ONS4032",
            },
            CheckError::CardsDisabled => "ONS4099",
            CheckError::ConsentTokenInvalid => "ONS4040",
            CheckError::ConsentTooLate => "ONS4041",
            CheckError::ConsentAlreadyGiven => "ONS4042",
            CheckError::OfflineChallengeInvalid(_) => "ONS4050",
            CheckError::OfflineCheckTooOld => "ONS4051",
            CheckError::ReceptionNumberUnknown(_) => "ONS5001",
            CheckError::BulkEmpty => "ONS5002",
            CheckError::BulkTooMany { .. } => "ONS5003",
            CheckError::BulkFailed(_) => "ONS5004",
            CheckError::ReferencePersonNotFound => "ONS5010",
            CheckError::ReferencePersonAmbiguous => "ONS5011",
            CheckError::NotInsurer(_) => "ONS7101",
            CheckError::UnknownInsurerCaller(_) => "ONS7102",
            CheckError::InsurerFile(_) => "ONS7103",
            CheckError::InsurerBatchTooMany { .. } => "ONS7104",
            CheckError::InsurerBatchEmpty => "ONS7105",
            CheckError::InsurerSingleNotOne(_) => "ONS7106",
            CheckError::MedicalAccount(_) => "ONS6001",
            CheckError::MedicalRequest(_) => "ONS6002",
            CheckError::MedicalNoConsent(_) => "ONS6010",
            CheckError::MedicalNotInDisaster(_) => "ONS6011",
            CheckError::DisasterNotDeclared => "ONS6020",
            CheckError::HistoryRequest(_) => "ONS6040",
            CheckError::HistoryTooOld(_) => "ONS6041",
            CheckError::HistoryEntryNotFound => "ONS6042",
            CheckError::SettingsRequest(_) => "ONS6050",
            CheckError::PatientNotFound => "ONS6030",
            CheckError::MedicalFileUnsupported(_) => "ONS6003",
            CheckError::MedicalPatientAmbiguous => "ONS6031",
            CheckError::PatientView(_) => "ONS6060",
            CheckError::AuditUnavailable(_) => "ONS6090",
            CheckError::Internal(_) => "ONS9002",
        }
    }

    pub fn message_ja(&self) -> String {
        match self {
            CheckError::Wire(w) => w.message_ja(),
            CheckError::InvalidField { field, detail, .. } => {
                format!("{}の値が正しくありません（{detail}）。入力内容を確認してください。", field_ja(field))
            }
            CheckError::UnsupportedMediaType(t) => {
                format!("Content-Type「{t}」は受け付けられません。application/xml または application/json で送信してください。")
            }
            CheckError::BadClientCertificate(_) => {
                "クライアント証明書から医療機関コードを読み取れません。証明書を確認してください。".into()
            }
            CheckError::FacilityMismatch { request, certificate } => format!(
                "要求の医療機関コード（{request}）がクライアント証明書の医療機関コード（{certificate}）と一致しません。"
            ),
            CheckError::UnknownFacility(code) => {
                format!("医療機関コード {code} は登録されていません。")
            }
            CheckError::DisabledFacility(code) => {
                format!("医療機関コード {code} は利用停止中です。運用主体にお問い合わせください。")
            }
            CheckError::HistoryUnavailable(_) => {
                "照会履歴を記録できなかったため、結果を返せません。しばらくしてから再度照会してください。".into()
            }
            CheckError::Internal(_) => {
                "システムエラーが発生しました。しばらくしてから再度照会してください。".into()
            }
            CheckError::CardRequest(d) => format!("カード照会の要求が正しくありません（{d}）。"),
            CheckError::NonceInvalid => "認証用の乱数が正しくありません。もう一度カードを置いてください。".into(),
            CheckError::NonceExpired => "認証の有効時間を過ぎました。もう一度カードを置いてください。".into(),
            CheckError::NonceOtherFacility => "この医療機関で発行された認証用の乱数ではありません。".into(),
            CheckError::NonceReplayed => "この認証は既に使用されています。もう一度カードを置いてください。".into(),
            CheckError::CardCertificate(e) => match e {
                CardVerifyError::Revoked => "マイナンバーカードの電子証明書が失効しています。お住まいの市区町村にお問い合わせください。".into(),
                CardVerifyError::BadSignature => "マイナンバーカードの署名を確認できませんでした。もう一度カードを置いてください。".into(),
                CardVerifyError::UnknownIssuer => "公的個人認証の電子証明書として確認できないカードです。".into(),
                CardVerifyError::Expired => "マイナンバーカードの電子証明書の有効期限が切れています。お住まいの市区町村で更新してください。".into(),
                _ => "マイナンバーカードの電子証明書を確認できませんでした。".into(),
            },
            CheckError::CardExpiredPastGrace => "マイナンバーカードの電子証明書の有効期限が切れているため、資格確認ができません。お住まいの市区町村で電子証明書を更新してください。資格確認書等で受付してください。".into(),
            CheckError::CardUnregistered => "このマイナンバーカードは健康保険証としての利用登録（初回登録）がされていません。カードリーダーで利用登録ができます。".into(),
            CheckError::CardUnknown => "このマイナンバーカードの電子証明書に対応する情報がありません。".into(),
            CheckError::Smartphone(r) => match r {
                SmartphoneRefusal::NotEnabledAtFacility => "この医療機関ではスマートフォンによる本人確認を行っていません。マイナンバーカードをご利用ください。".into(),
                SmartphoneRefusal::NoPriorPhysicalCardUse => "この医療機関で初めて受診される方は、マイナンバーカード本体で受付してください。".into(),
                SmartphoneRefusal::PhysicalCardNotUsable => "マイナンバーカードの電子証明書が有効でないため、スマートフォンは利用できません。".into(),
            },
            CheckError::CardsDisabled => "カードによる資格確認は利用できません。".into(),
            CheckError::ConsentTokenInvalid => "同意の登録先となる資格確認が見つかりません。もう一度カードを置いてください。".into(),
            CheckError::ConsentTooLate => "同意の受付時間（資格確認から10分）を過ぎました。もう一度カードを置いてください。".into(),
            CheckError::ConsentAlreadyGiven => "この資格確認の同意は登録済みです。".into(),
            CheckError::OfflineChallengeInvalid(d) => format!("システム障害時の資格確認の記録が正しくありません（{d}）。"),
            CheckError::OfflineCheckTooOld => "システム障害時の資格確認から72時間を過ぎたため、照会できません。資格確認書等により確認してください。".into(),
            CheckError::ReceptionNumberUnknown(n) => format!(
                "受付番号「{n}」の一括照会はありません。受付番号を確認してください（他の医療機関の受付番号は照会できません）。"
            ),
            CheckError::BulkEmpty => "一括照会の対象者がありません。QualificationConfirmSearchInfoを1件以上指定してください。".into(),
            CheckError::BulkTooMany { count, max } => format!(
                "一括照会の対象者が多すぎます（{count}件、上限{max}件）。分割して照会してください。"
            ),
            CheckError::BulkFailed(_) => "一括照会の処理中にエラーが発生しました。もう一度一括照会を依頼してください。".into(),
            CheckError::ReferencePersonNotFound => "入力された被保険者証情報に該当する有効な資格がないため、照会番号を登録できませんでした。保険者番号・記号・番号・枝番を確認してください。".into(),
            CheckError::ReferencePersonAmbiguous => "入力された被保険者証情報に複数の方が該当するため、照会番号を登録できませんでした。枝番を指定してください。".into(),
            CheckError::NotInsurer(_) => "保険者用のクライアント証明書で接続してください（医療機関の証明書では加入者を登録できません）。".into(),
            CheckError::UnknownInsurerCaller(n) => format!("保険者番号 {n} は登録されていない保険者です。運用主体にお問い合わせください。"),
            CheckError::InsurerFile(d) => format!("登録ファイルを読み取れません（{d}）。形式は docs/insurer.md を参照してください。"),
            CheckError::InsurerBatchEmpty => "登録ファイルに登録行がありません。".into(),
            CheckError::InsurerBatchTooMany { count, max } => format!("登録ファイルの行数が多すぎます（{count}行、上限{max}行）。分割して送信してください。"),
            CheckError::InsurerSingleNotOne(n) => format!("単件登録には登録を1件だけ指定してください（{n}件）。複数件は一括登録（/insurer/v1/batch）で送信してください。"),
            CheckError::MedicalAccount(_) => "医療情報閲覧用アカウントが指定されていません。資格確認端末にログインし直してください。".into(),
            CheckError::MedicalRequest(d) => format!("医療情報の照会内容が正しくありません（{d}）。"),
            CheckError::MedicalNoConsent(label) => format!(
                "この患者の{label}の閲覧に同意が得られていないか、同意から24時間を過ぎています。顔認証付きカードリーダーでマイナンバーカードによる本人確認と同意を行ってください。"
            ),
            CheckError::MedicalNotInDisaster(label) => format!(
                "災害時の特別措置では{label}は閲覧できません。閲覧には患者のマイナンバーカードによる本人確認と同意が必要です。"
            ),
            CheckError::DisasterNotDeclared => "この医療機関の所在地は、現在、災害時の特別措置（緊急時医療情報・資格確認機能）の対象地域・期間ではありません。マイナンバーカードによる本人確認と同意が必要です。".into(),
            CheckError::PatientNotFound => "該当する患者の情報がありません。".into(),
            CheckError::MedicalFileUnsupported(what) => format!("この形式・診療区分の要求には対応していません（{what}）。FileCategory は XML（薬剤情報 2、薬剤・診療情報 4、特定健診情報 2）を、MedicalTreatmentFlag は 1（外来）を指定してください。"),
            CheckError::MedicalPatientAmbiguous => "入力された被保険者証情報に、閲覧できる方が複数該当します。枝番を指定してください。".into(),
            CheckError::PatientView(why) => format!("ご本人の情報を表示できません（{why}）。"),
            CheckError::HistoryRequest(d) => format!("資格確認対象期間の指定が正しくありません（{d}）。開始日と終了日をYYYYMMDDで、開始日が終了日以前になるよう指定してください。"),
            CheckError::HistoryTooOld(earliest) => format!("資格確認履歴は過去2年間のみ検索できます。開始日には{earliest}以降の日付を指定してください。"),
            CheckError::HistoryEntryNotFound => "指定された資格確認履歴はありません。".into(),
            CheckError::SettingsRequest(d) => format!("環境設定の内容が正しくありません（{d}）。"),
            CheckError::AuditUnavailable(_) => "閲覧の記録を保存できなかったため、医療情報を表示できません。しばらくしてから再度照会してください。".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            CheckError::Wire(WireError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            CheckError::Wire(_) | CheckError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            CheckError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CheckError::BadClientCertificate(_)
            | CheckError::FacilityMismatch { .. }
            | CheckError::UnknownFacility(_)
            | CheckError::DisabledFacility(_) => StatusCode::FORBIDDEN,
            CheckError::HistoryUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CheckError::CardRequest(_)
            | CheckError::NonceInvalid
            | CheckError::NonceExpired
            | CheckError::CardCertificate(CardVerifyError::Malformed) => StatusCode::BAD_REQUEST,
            CheckError::NonceReplayed | CheckError::ConsentAlreadyGiven => StatusCode::CONFLICT,
            CheckError::ConsentTokenInvalid
            | CheckError::ConsentTooLate
            | CheckError::OfflineChallengeInvalid(_)
            | CheckError::OfflineCheckTooOld => StatusCode::BAD_REQUEST,
            CheckError::NonceOtherFacility
            | CheckError::CardCertificate(_)
            | CheckError::CardExpiredPastGrace
            | CheckError::CardUnknown
            | CheckError::CardUnregistered
            | CheckError::Smartphone(_) => StatusCode::FORBIDDEN,
            CheckError::CardsDisabled => StatusCode::NOT_FOUND,
            CheckError::ReceptionNumberUnknown(_) => StatusCode::NOT_FOUND,
            CheckError::BulkEmpty => StatusCode::BAD_REQUEST,
            CheckError::BulkTooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // Answered, with ProcessingResultStatus 2 for that person.
            CheckError::ReferencePersonNotFound | CheckError::ReferencePersonAmbiguous => {
                StatusCode::OK
            }
            CheckError::NotInsurer(_) | CheckError::UnknownInsurerCaller(_) => {
                StatusCode::FORBIDDEN
            }
            CheckError::InsurerFile(_)
            | CheckError::InsurerBatchEmpty
            | CheckError::InsurerSingleNotOne(_) => StatusCode::BAD_REQUEST,
            CheckError::InsurerBatchTooMany { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CheckError::MedicalAccount(_)
            | CheckError::MedicalRequest(_)
            | CheckError::MedicalFileUnsupported(_)
            | CheckError::MedicalPatientAmbiguous => StatusCode::BAD_REQUEST,
            CheckError::PatientView(_) => StatusCode::FORBIDDEN,
            CheckError::MedicalNoConsent(_)
            | CheckError::MedicalNotInDisaster(_)
            | CheckError::DisasterNotDeclared => StatusCode::FORBIDDEN,
            CheckError::PatientNotFound => StatusCode::NOT_FOUND,
            CheckError::HistoryRequest(_)
            | CheckError::HistoryTooOld(_)
            | CheckError::SettingsRequest(_) => StatusCode::BAD_REQUEST,
            CheckError::HistoryEntryNotFound => StatusCode::NOT_FOUND,
            CheckError::AuditUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CheckError::BulkFailed(_) | CheckError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

fn field_ja(field: &str) -> &'static str {
    match field {
        "InsurerNumber" => "保険者番号",
        "InsuredCardSymbol" => "被保険者証記号",
        "InsuredIdentificationNumber" => "被保険者証番号",
        "InsuredBranchNumber" => "枝番",
        "Birthdate" => "生年月日",
        "QualificationConfirmationDate" => "資格確認日",
        "MedicalInstitutionCode" => "医療機関コード",
        "LimitApplicationCertificateRelatedConsFlg" => "限度額適用認定証提供同意フラグ",
        "ReferenceNumber" => "照会番号",
        "ReceptionNumber" => "受付番号",
        _ => "項目",
    }
}
