//! `onshi card …`: software My Number cards (and smartphones) for the demo and tests —
//! issue, list, revoke, sign — and the kiosk's unlock step shared with `onshi check`.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Subcommand;
use onshi_central::provision::{self, DataDir, NewCard};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::{Clock, SystemClock};
use onshi_pki::{Card, CardError, CertProfile, SoftwareCard};
use onshi_store::{CardRecord, Store};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CardArgs {
    #[command(subcommand)]
    command: CardCommand,
}

#[derive(Subcommand)]
enum CardCommand {
    /// Issue a software card (or smartphone) to a person: a card file and its registry row.
    Issue(IssueArgs),
    /// List the card certificates central knows.
    List {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Database; default DATA/central.sqlite.
        #[arg(long, env = "ONSHI_DATABASE_URL")]
        database: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// Revoke a card certificate (central refuses it from then on).
    Revoke {
        #[arg(long, default_value = "demo-data")]
        data: PathBuf,
        /// Database; default DATA/central.sqlite.
        #[arg(long, env = "ONSHI_DATABASE_URL")]
        database: Option<String>,
        /// The certificate's serial number (hex, as `onshi card list` shows it).
        serial: String,
    },
    /// Sign a message with a software card after the PIN (prints the signature in base64).
    Sign {
        /// The card file.
        #[arg(long)]
        card: PathBuf,
        /// The 4-digit PIN.
        #[arg(long)]
        pin: String,
        #[arg(long)]
        message: String,
    },
}

#[derive(clap::Args)]
struct IssueArgs {
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    /// Database; default DATA/central.sqlite.
    #[arg(long, env = "ONSHI_DATABASE_URL")]
    database: Option<String>,
    /// The person (id in central's registry).
    #[arg(long)]
    person: i64,
    /// card, smartphone_android or smartphone_iphone.
    #[arg(long, default_value = "card", value_parser = parse_profile)]
    profile: CertProfile,
    /// The 4-digit PIN (an iPhone keeps one too, but it is never entered at the reader).
    #[arg(long, default_value = "1234")]
    pin: String,
    /// The card file (default DATA/cards/<serial>.card.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Last valid day YYYYMMDD (default: the 5th birthday after today).
    #[arg(long)]
    expires: Option<String>,
    /// Leave the card unregistered for insurance use (初回登録 not done).
    #[arg(long)]
    unregistered: bool,
}

fn parse_profile(s: &str) -> Result<CertProfile, String> {
    CertProfile::parse(s)
        .ok_or_else(|| format!("{s:?}: use card, smartphone_android or smartphone_iphone"))
}

pub async fn run(args: CardArgs) -> Result<()> {
    match args.command {
        CardCommand::Issue(a) => issue_cmd(a).await,
        CardCommand::List {
            data,
            database,
            limit,
        } => {
            let dir = DataDir::new(data);
            let store = crate::open_store(&dir, database.as_deref()).await?;
            list(&store, limit).await
        }
        CardCommand::Revoke {
            data,
            database,
            serial,
        } => {
            let dir = DataDir::new(data);
            let store = crate::open_store(&dir, database.as_deref()).await?;
            let serial = serial.trim().to_ascii_lowercase();
            if store.revoke_card(&serial, SystemClock.now()).await? {
                println!("失効しました: {serial}");
                Ok(())
            } else {
                match store.card(&serial).await? {
                    Some(c) if c.revoked_at.is_some() => {
                        println!("すでに失効しています: {serial}");
                        Ok(())
                    }
                    _ => bail!("no card certificate with serial {serial}"),
                }
            }
        }
        CardCommand::Sign { card, pin, message } => {
            let mut card = open_card(&card)?;
            unlock_with_pin(&mut card, &pin)?;
            let sig = card.sign(message.as_bytes()).map_err(card_failure)?;
            println!("{}", B64.encode(sig));
            Ok(())
        }
    }
}

async fn issue_cmd(a: IssueArgs) -> Result<()> {
    let dir = DataDir::new(&a.data);
    let store = crate::open_store(&dir, a.database.as_deref()).await?;
    let now = time::OffsetDateTime::now_utc();
    let expires = match &a.expires {
        Some(s) => Ymd::parse(s.trim()).map_err(|e| anyhow!("--expires: {e}"))?,
        None => {
            let person = store
                .person(a.person)
                .await?
                .with_context(|| format!("no person with id {}", a.person))?;
            let today = SystemClock.now().date();
            Ymd(onshi_pki::auth_cert_not_after(today.0, person.birthdate.0))
        }
    };
    let (record, path) = issue(
        &dir,
        &store,
        Issue {
            person_id: a.person,
            profile: a.profile,
            pin: a.pin,
            // A few minutes back, so that a terminal whose clock is slightly behind accepts it.
            not_before: now - time::Duration::minutes(5),
            not_after: onshi_pki::end_of_day_jst(expires.0),
            registered: !a.unregistered,
            out: a.out,
        },
    )
    .await?;
    println!("serial   {}", record.serial);
    println!("file     {}", path.display());
    println!("person   {}", record.person_id);
    println!("profile  {}", record.profile);
    println!("expires  {}", record.not_after.to_wire());
    if record.registered_at.is_none() {
        println!("(初回登録はまだです: onshi check --card … --register で登録できます)");
    }
    Ok(())
}

/// What to issue; `out: None` means DATA/cards/<serial>.card.json.
pub struct Issue {
    pub person_id: i64,
    pub profile: CertProfile,
    pub pin: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    pub registered: bool,
    pub out: Option<PathBuf>,
}

/// Issues one card: certificate, card file, registry row. Returns the row and the file.
pub async fn issue(dir: &DataDir, store: &Store, spec: Issue) -> Result<(CardRecord, PathBuf)> {
    if !onshi_pki::is_valid_pin(&spec.pin) {
        bail!("a PIN is exactly 4 digits");
    }
    if store.person(spec.person_id).await?.is_none() {
        bail!("no person with id {}", spec.person_id);
    }
    provision::ensure_card_ca(dir).context("the card CA")?;
    let cards_dir = cards_dir(dir);
    // The serial is known only once the certificate exists: issue to a temporary name in the
    // cards directory and rename.
    let (path, rename) = match spec.out {
        Some(p) => (p, false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (
                cards_dir.join(format!(".new-{}-{nanos}.card.json", std::process::id())),
                true,
            )
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    if path.exists() {
        bail!(
            "{} exists already (a card file is never overwritten)",
            path.display()
        );
    }
    let card = NewCard {
        person_id: spec.person_id,
        profile: spec.profile,
        pin: spec.pin,
        not_before: spec.not_before,
        not_after: spec.not_after,
        registered: spec.registered,
        path: path.clone(),
    };
    let record = provision::issue_card(dir, store, &card)
        .await
        .with_context(|| format!("issue a card to person {}", spec.person_id))?;
    if rename {
        let target = cards_dir.join(format!("{}.card.json", record.serial));
        std::fs::rename(&path, &target)
            .with_context(|| format!("rename {} to {}", path.display(), target.display()))?;
        return Ok((record, target));
    }
    Ok((record, path))
}

pub fn cards_dir(dir: &DataDir) -> PathBuf {
    dir.root.join("cards")
}

async fn list(store: &Store, limit: i64) -> Result<()> {
    let cards = store.list_cards(limit).await?;
    println!(
        "{:<32}  {:>8}  {:<18}  {:<9}  {:<10}  {:<10}",
        "serial", "person", "profile", "not_after", "registered", "revoked"
    );
    for c in &cards {
        let day =
            |t: Option<JstDateTime>| t.map_or_else(|| "-".to_string(), |t| t.date().to_wire());
        println!(
            "{:<32}  {:>8}  {:<18}  {:<9}  {:<10}  {:<10}",
            c.serial,
            c.person_id,
            c.profile,
            c.not_after.to_wire(),
            day(c.registered_at),
            day(c.revoked_at)
        );
    }
    eprintln!("{} card(s)", cards.len());
    Ok(())
}

/// Opens a software card file, with a message a person at the counter understands.
pub fn open_card(path: &Path) -> Result<SoftwareCard> {
    SoftwareCard::open(path).map_err(|e| {
        anyhow!(
            "カードを読み取れませんでした（{}）: {e} [{}]",
            path.display(),
            e.code()
        )
    })
}

/// What the patient (or staff) reads when the card says no; ends with the error code.
pub fn card_message(e: &CardError) -> String {
    let text = match e {
        CardError::WrongPin { tries_left } => {
            format!("暗証番号が違います。あと{tries_left}回間違えるとロックされます（残り{tries_left}回）")
        }
        CardError::Locked => "ロックされています。暗証番号を3回間違えたため、このカードの利用者証明用電子証明書は使えません。お住まいの市区町村の窓口で暗証番号の再設定をしてください".into(),
        CardError::PinFormat => "暗証番号は4桁の数字です".into(),
        CardError::FaceMismatch => "顔認証ができませんでした。暗証番号で本人確認をしてください".into(),
        CardError::NotUnlocked => "本人確認（暗証番号または顔認証）が済んでいません".into(),
        CardError::Unsupported(why) => format!("この方法ではご本人の確認ができません（{why}）"),
        other => format!("カードを読み取れませんでした（{other}）"),
    };
    format!("{text} [{}]", e.code())
}

pub fn card_failure(e: CardError) -> anyhow::Error {
    anyhow!(card_message(&e))
}

/// PIN entry at the reader.
pub fn unlock_with_pin(card: &mut SoftwareCard, pin: &str) -> Result<()> {
    card.verify_pin(pin).map_err(card_failure)
}

/// Face authentication at the reader (emulated: the demo patient "shows" the face derived
/// from the card, see `provision::face_template_for`).
pub fn unlock_with_face(card: &mut SoftwareCard) -> Result<()> {
    let face = provision::face_template_for(card);
    card.unlock_with_face(&face, &onshi_pki::EmulatedFaceMatcher)
        .map_err(card_failure)
}
