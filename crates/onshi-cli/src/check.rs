//! `onshi check`: one check by insurance-card data, as a facility, printed as a table.

use anyhow::{Context, Result, bail};
use onshi_central::client::CentralClient;
use onshi_central::provision::{self, DataDir};
use onshi_core::codes::QualificationValidity;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_core::{Clock, SystemClock};
use onshi_pki::PkiLayout;
use onshi_wire::{Encoding, Limits, siquc01};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    /// 保険者番号 (6 or 8 digits).
    #[arg(long)]
    insurer: String,
    /// 記号.
    #[arg(long)]
    symbol: Option<String>,
    /// 番号.
    #[arg(long)]
    number: String,
    /// 枝番.
    #[arg(long)]
    branch: Option<String>,
    /// 生年月日 YYYYMMDD.
    #[arg(long)]
    birth: String,
    /// 資格確認日 YYYYMMDD (default today).
    #[arg(long)]
    date: Option<String>,
    /// Send 限度額適用認定証提供同意 (consent to limit-certificate information).
    #[arg(long)]
    consent: bool,
    /// Print the raw result message instead of a table.
    #[arg(long)]
    xml: bool,
    /// Send the request in Shift_JIS.
    #[arg(long)]
    sjis: bool,
    /// Facility to act as (default: the demo clinic).
    #[arg(long)]
    facility: Option<String>,
    /// Central's address (default: the one the running demo wrote to DATA/central.addr).
    #[arg(long)]
    addr: Option<SocketAddr>,
}

pub async fn run(a: CheckArgs) -> Result<()> {
    let dir = DataDir::new(&a.data);
    let facility = match &a.facility {
        Some(f) => MedicalInstitutionCode::parse(f)?,
        None => provision::facilities(crate::bench::DEFAULT_SEED)[0]
            .code
            .clone(),
    };
    let addr = match a.addr {
        Some(a) => a,
        None => std::fs::read_to_string(dir.central_addr())
            .context("central address (is `onshi demo` running?)")?
            .trim()
            .parse()?,
    };
    let client = facility_client(&dir, &facility, addr)?;
    let date = a
        .date
        .clone()
        .unwrap_or_else(|| SystemClock.now().date().to_wire());
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: date,
            medical_institution_code: facility.as_str().into(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: a.insurer.clone(),
            insured_card_symbol: a.symbol.clone(),
            insured_identification_number: a.number.clone(),
            insured_branch_number: a.branch.clone(),
            birthdate: a.birth.clone(),
            limit_application_certificate_related_cons_flg: Some(
                if a.consent { "1" } else { "0" }.into(),
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

pub fn facility_client(
    dir: &DataDir,
    facility: &MedicalInstitutionCode,
    addr: SocketAddr,
) -> Result<CentralClient> {
    let pki = dir.pki();
    let cert = PkiLayout::read(&pki.facility(facility))
        .with_context(|| format!("certificate of facility {}", facility.as_str()))?;
    let ca = std::fs::read_to_string(pki.server_ca().0)?;
    let tls = onshi_pki::client_config(&ca, Some(&cert))?;
    Ok(CentralClient::new(addr, "localhost", tls)?)
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
    }
}
