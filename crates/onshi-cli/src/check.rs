//! `onshi check`: one check as a facility, printed as a table — by insurance-card data, or
//! with a My Number card (software card file) the way the kiosk does it.

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgGroup, ValueEnum};
use onshi_central::card_client::{self, CardConsents, IdentityMethod};
use onshi_central::client::{CentralClient, Reply};
use onshi_central::provision::{self, DataDir};
use onshi_core::codes::{ConsentFlag, QualificationValidity};
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::{Clock, SystemClock};
use onshi_pki::{Card, CertProfile, PkiLayout, SoftwareCard};
use onshi_wire::{Encoding, Limits, siquc01};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
#[command(group(ArgGroup::new("mode").required(true).args(["card", "insurer"])))]
#[command(group(ArgGroup::new("unlock").args(["pin", "face", "visual"])))]
pub struct CheckArgs {
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,

    /// My Number card mode: the software card file (as issued by `onshi card issue`).
    #[arg(long, requires = "unlock")]
    card: Option<PathBuf>,
    /// Card: the 4-digit PIN entered at the reader (Android smartphones too).
    #[arg(long, requires = "card")]
    pin: Option<String>,
    /// Card: face authentication at the reader (iPhone: Face ID/Touch ID on the phone).
    #[arg(long, requires = "card")]
    face: bool,
    /// Card: staff confirm the patient visually (目視) instead of face or PIN.
    #[arg(long, requires = "card")]
    visual: bool,
    /// Card: do the 初回登録 (register the card for insurance use) instead of a check.
    #[arg(long, requires = "card")]
    register: bool,
    /// Card: consent to everything the patient is asked about.
    #[arg(long, requires = "card", conflicts_with = "consent")]
    consent_all: bool,

    /// Insurance-card mode: 保険者番号 (6 or 8 digits).
    #[arg(long, requires_all = ["number", "birth"])]
    insurer: Option<String>,
    /// 記号.
    #[arg(long, requires = "insurer")]
    symbol: Option<String>,
    /// 番号.
    #[arg(long, requires = "insurer")]
    number: Option<String>,
    /// 枝番.
    #[arg(long, requires = "insurer")]
    branch: Option<String>,
    /// 生年月日 YYYYMMDD.
    #[arg(long, requires = "insurer")]
    birth: Option<String>,
    /// Send the request in Shift_JIS.
    #[arg(long, requires = "insurer")]
    sjis: bool,

    /// 資格確認日 YYYYMMDD (default today).
    #[arg(long)]
    date: Option<String>,
    /// Consents given: a comma-separated list (card mode). Without a value: 限度額 consent
    /// only (the one consent of an insurance-card check).
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        value_delimiter = ',',
        default_missing_value = "limit"
    )]
    consent: Option<Vec<Consent>>,
    /// Print the raw result message instead of a table.
    #[arg(long)]
    xml: bool,
    /// Facility to act as (default: the demo clinic).
    #[arg(long)]
    facility: Option<String>,
    /// Central's address (default: the one the running demo wrote to DATA/central.addr).
    #[arg(long)]
    addr: Option<SocketAddr>,
}

/// What a patient may consent to at the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Consent {
    /// 薬剤情報
    Pharmacists,
    /// 特定健診情報
    SpecificHealthCheckups,
    /// 診療情報
    Diagnosis,
    /// 手術情報
    Operation,
    /// 限度額適用認定証関連情報
    Limit,
    /// 特定疾病療養受療証情報
    SpecificDiseases,
}

fn consents(all: bool, list: Option<&[Consent]>) -> CardConsents {
    if all {
        return CardConsents::all();
    }
    let list = list.unwrap_or(&[]);
    CardConsents {
        pharmacists: list.contains(&Consent::Pharmacists),
        specific_health_checkups: list.contains(&Consent::SpecificHealthCheckups),
        diagnosis: list.contains(&Consent::Diagnosis),
        operation: list.contains(&Consent::Operation),
        limit: list.contains(&Consent::Limit),
        specific_diseases: list.contains(&Consent::SpecificDiseases),
    }
}

pub async fn run(a: CheckArgs) -> Result<()> {
    let dir = DataDir::new(&a.data);
    let facility = match &a.facility {
        Some(f) => MedicalInstitutionCode::parse(f)?,
        None => provision::facilities(crate::bench::DEFAULT_SEED)[0]
            .code
            .clone(),
    };
    if let Some(card) = a.card.clone() {
        return run_card(&a, &dir, &facility, &card).await;
    }
    let (Some(insurer), Some(number), Some(birth)) = (&a.insurer, &a.number, &a.birth) else {
        bail!("give --card FILE, or --insurer, --number and --birth");
    };
    let addr = central_addr(&dir, a.addr)?;
    let client = facility_client(&dir, &facility, addr)?;
    let date = a
        .date
        .clone()
        .unwrap_or_else(|| SystemClock.now().date().to_wire());
    let limit_consent = a
        .consent
        .as_deref()
        .is_some_and(|c| c.is_empty() || c.contains(&Consent::Limit));
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: date,
            medical_institution_code: facility.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: insurer.clone(),
            insured_card_symbol: a.symbol.clone(),
            insured_identification_number: number.clone(),
            insured_branch_number: a.branch.clone(),
            birthdate: birth.clone(),
            limit_application_certificate_related_cons_flg: Some(
                if limit_consent { "1" } else { "0" }.into(),
            ),
            arbitrary_identifier: None,
        },
    };
    let enc = if a.sjis {
        Encoding::ShiftJis
    } else {
        Encoding::Utf8
    };
    let mut conn = client.connect().await?;
    let reply = conn
        .post(
            "/oqs/v1/qualification",
            "application/xml",
            siquc01::encode_request_xml(&req, enc),
        )
        .await?;
    if a.xml {
        let (res, _) = siquc01::decode_response_xml(&reply.body, &Limits::default())?;
        // Print as UTF-8 whatever the wire encoding was.
        println!(
            "{}",
            String::from_utf8_lossy(&siquc01::encode_response_xml(&res, Encoding::Utf8))
        );
        return Ok(());
    }
    let (res, _) = siquc01::decode_response_xml(&reply.body, &Limits::default())
        .with_context(|| format!("HTTP {}", reply.status))?;
    print_table(&res);
    if !reply.status.is_success() {
        bail!("central refused the request (HTTP {})", reply.status);
    }
    Ok(())
}

fn central_addr(dir: &DataDir, given: Option<SocketAddr>) -> Result<SocketAddr> {
    match given {
        Some(a) => Ok(a),
        None => Ok(std::fs::read_to_string(dir.central_addr())
            .context("central address (is `onshi demo` running?)")?
            .trim()
            .parse()?),
    }
}

/// The kiosk: read the card, identify the patient (PIN, face or 目視), then check.
async fn run_card(
    a: &CheckArgs,
    dir: &DataDir,
    facility: &MedicalInstitutionCode,
    path: &Path,
) -> Result<()> {
    let mut card = crate::card::open_card(path)?;
    let profile = card.profile().map_err(crate::card::card_failure)?;
    let method = if let Some(pin) = &a.pin {
        if profile == CertProfile::SmartphoneIphone {
            bail!(
                "iPhoneではカードリーダーで暗証番号を入力しません。iPhoneの生体認証（--face）で本人確認をしてください"
            );
        }
        crate::card::unlock_with_pin(&mut card, pin)?;
        IdentityMethod::Pin
    } else if a.face || a.visual {
        if profile == CertProfile::SmartphoneAndroid {
            bail!(
                "Androidスマートフォンでは顔認証・目視確認は使えません。カードリーダーで暗証番号（--pin）を入力してください"
            );
        }
        crate::card::unlock_with_face(&mut card)?;
        if a.visual {
            IdentityMethod::Visual
        } else {
            IdentityMethod::Face
        }
    } else {
        bail!("本人確認の方法を指定してください: --pin PIN, --face または --visual");
    };
    let addr = central_addr(dir, a.addr)?;
    let client = facility_client(dir, facility, addr)?;
    let mut conn = client.connect().await?;
    if a.register {
        // 初回登録 first; the kiosk then goes on with the check in the same session.
        let reply = card_client::card_register(&mut conn, &mut card)
            .await
            .map_err(|e| anyhow!("利用登録ができませんでした: {e}"))?;
        print_registration(&reply)?;
    }
    let consents = consents(a.consent_all, a.consent.as_deref());
    let reply = card_client::card_check(
        &mut conn,
        &mut card,
        method,
        &consents,
        a.date.as_deref(),
        a.xml,
    )
    .await
    .map_err(|e| anyhow!("資格確認ができませんでした: {e}"))?;
    if a.xml {
        print_raw_xml(&reply);
        if !reply.status.is_success() {
            bail!("central refused the card (HTTP {})", reply.status);
        }
        return Ok(());
    }
    let res = decode_any(&reply).with_context(|| format!("HTTP {}", reply.status))?;
    println!("マイナ保険証による資格確認");
    print_card(&card, profile, method);
    print_table(&res);
    if !reply.status.is_success() {
        bail!("central refused the card (HTTP {})", reply.status);
    }
    Ok(())
}

/// The answer of `/oqs/v1/card/register`: `{"registered": true, "serial": …}` or
/// `{"error_code": …, "error_message": …}`.
fn print_registration(reply: &Reply) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(&reply.body).with_context(|| {
        format!(
            "HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    })?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    if reply.status.is_success() && v.get("registered").and_then(|x| x.as_bool()) == Some(true) {
        println!("健康保険証としての利用登録（初回登録）が完了しました");
        return Ok(());
    }
    bail!(
        "利用登録ができませんでした: {} {} (HTTP {})",
        text("error_code"),
        text("error_message"),
        reply.status
    )
}

/// JSON (the default of the card endpoints) or XML, whichever came back.
fn decode_any(reply: &Reply) -> Result<siquc01::Response> {
    let limits = Limits::default();
    let body = &reply.body;
    let looks_xml = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'<');
    if looks_xml {
        Ok(siquc01::decode_response_xml(body, &limits)?.0)
    } else {
        Ok(siquc01::decode_response_json(body, &limits)?)
    }
}

fn print_raw_xml(reply: &Reply) {
    match siquc01::decode_response_xml(&reply.body, &Limits::default()) {
        // Print as UTF-8 whatever the wire encoding was.
        Ok((res, Encoding::ShiftJis)) => println!(
            "{}",
            String::from_utf8_lossy(&siquc01::encode_response_xml(&res, Encoding::Utf8))
        ),
        _ => println!("{}", String::from_utf8_lossy(&reply.body)),
    }
}

fn print_card(card: &SoftwareCard, profile: CertProfile, method: IdentityMethod) {
    let medium = match profile {
        CertProfile::Card => "マイナンバーカード",
        CertProfile::SmartphoneAndroid => "スマートフォン（Android）",
        CertProfile::SmartphoneIphone => "スマートフォン（iPhone）",
    };
    let how = match method {
        IdentityMethod::Face => "顔認証",
        IdentityMethod::Pin => "暗証番号",
        IdentityMethod::Visual => "目視確認",
    };
    row("媒体", Some(medium));
    row("証明書シリアル", Some(card.serial_hex()));
    row("本人確認方法", Some(how));
}

pub fn facility_client(
    dir: &DataDir,
    facility: &MedicalInstitutionCode,
    addr: SocketAddr,
) -> Result<CentralClient> {
    Ok(CentralClient::new(
        addr,
        "localhost",
        facility_tls(dir, facility)?,
    )?)
}

/// The facility's TLS client configuration (its certificate, trusting central's CA).
pub fn facility_tls(
    dir: &DataDir,
    facility: &MedicalInstitutionCode,
) -> Result<rustls::ClientConfig> {
    let pki = dir.pki();
    let cert = PkiLayout::read(&pki.facility(facility))
        .with_context(|| format!("certificate of facility {}", facility.as_str()))?;
    let ca = std::fs::read_to_string(pki.server_ca().0)?;
    Ok(onshi_pki::client_config(&ca, Some(&cert))?)
}

fn row(label: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        println!("  {label:<14} {v}");
    }
}

fn print_table(res: &siquc01::Response) {
    let h = &res.header;
    let b = &res.body;
    if h.segment_of_result != "1" {
        println!(
            "エラー {}: {}",
            h.error_code.as_deref().unwrap_or("-"),
            h.error_message.as_deref().unwrap_or("")
        );
        return;
    }
    let validity = b.qualification_validity.as_deref().unwrap_or("");
    let label = QualificationValidity::from_code(validity)
        .map(|v| v.label())
        .unwrap_or("?");
    println!("資格有効性  {validity} {label}");
    row("処理結果コード", b.processing_result_code.as_deref());
    row("メッセージ", b.processing_result_message.as_deref());
    for r in &b.results {
        row("氏名", r.name.as_deref());
        row("カナ氏名", r.name_kana.as_deref());
        row("生年月日", r.birthdate.as_deref());
        row(
            "性別",
            r.sex1.as_deref().map(|s| match s {
                "1" => "男",
                "2" => "女",
                _ => "未設定",
            }),
        );
        row("保険者番号", r.insurer_number.as_deref());
        row("保険者名", r.insurer_name.as_deref());
        row("記号", r.insured_card_symbol.as_deref());
        row("番号", r.insured_identification_number.as_deref());
        row("枝番", r.insured_branch_number.as_deref());
        row(
            "本人・家族",
            r.personal_family_classification
                .as_deref()
                .map(|s| if s == "1" { "本人" } else { "家族" }),
        );
        row("資格取得日", r.qualification_date.as_deref());
        row("資格喪失日", r.disqualification_date.as_deref());
        row(
            "一部負担割合",
            r.insured_partial_contribution_ratio.as_deref(),
        );
        row("未就学区分", r.preschool_classification.as_deref());
        if let Some(e) = &r.elderly_recipient {
            row(
                "高齢受給者",
                e.elderly_recipient_contribution_ratio.as_deref(),
            );
        }
        if let Some(l) = &r.limit_info {
            row(
                "限度額区分",
                l.limit_application_certificate_classification_flag
                    .as_deref(),
            );
        }
        row("住所", r.address.as_deref());
        consent_row(
            "薬剤情報",
            r.pharmacists_info_cons_flg.as_deref(),
            r.pharmacists_info_cons_time.as_deref(),
            r.pharmacists_info_available_time.as_deref(),
        );
        consent_row(
            "特定健診情報",
            r.specific_health_checkups_info_cons_flg.as_deref(),
            r.specific_health_checkups_info_cons_time.as_deref(),
            r.specific_health_checkups_info_available_time.as_deref(),
        );
        consent_row(
            "診療情報",
            r.diagnosis_info_cons_flg.as_deref(),
            r.diagnosis_info_cons_time.as_deref(),
            r.diagnosis_info_available_time.as_deref(),
        );
        consent_row(
            "手術情報",
            r.operation_info_cons_flg.as_deref(),
            r.operation_info_cons_time.as_deref(),
            r.operation_info_available_time.as_deref(),
        );
        consent_row(
            "限度額情報",
            r.limit_application_certificate_related_cons_flg.as_deref(),
            r.limit_application_certificate_related_cons_time.as_deref(),
            None,
        );
        consent_row(
            "特定疾病情報",
            r.specific_diseases_certificate_related_cons_flg.as_deref(),
            r.specific_diseases_certificate_related_cons_time.as_deref(),
            None,
        );
        for d in &r.specific_diseases {
            row("特定疾病", d.specific_diseases_disease_category.as_deref());
        }
    }
}

/// One consent: flag (OQSCD016 or, for 限度額, OQSCD001), when given, until when viewable.
fn consent_row(label: &str, flag: Option<&str>, time: Option<&str>, until: Option<&str>) {
    let Some(flag) = flag.filter(|f| !f.is_empty()) else {
        return;
    };
    let mut text = format!(
        "{flag} {}",
        ConsentFlag::from_code(flag)
            .map(|c| c.label())
            .unwrap_or("?")
    );
    if let Some(t) = time.filter(|t| !t.is_empty()) {
        text.push_str(&format!("  同意日時 {t}"));
    }
    if let Some(u) = until.filter(|u| !u.is_empty()) {
        text.push_str(&format!("  閲覧可能期限 {u}"));
    }
    row(&format!("{label}同意"), Some(&text));
}
