//! The kiosk: the screens of the face-auth card reader (顔認証付きカードリーダー) as a page
//! served by the terminal, and the flow behind them.
//!
//! The server owns the flow; the page only shows the screen it is given and sends the
//! patient's taps back. A session holds the placed card between screens:
//!
//! ```text
//! place card ─→ identity: 顔認証 | 暗証番号 (Android: PIN only; iPhone: the phone's
//!               biometrics; 目視 mode: staff confirm)
//!            ─→ check at central with no consents ─┬─ refused: error screen (codes)
//!                                                  └─ ONS4020 unregistered: 利用登録
//!                                                     → PIN → register → check
//!            ─→ consent screens the facility chose (特定健診 from 40; none in the
//!               certificate's grace period) ─→ consents to central
//!            ─→ face-result file ─→ 「○○様 確認が完了しました」
//! ```

use crate::Terminal;
use crate::link::{CheckAnswer, LinkError, Registration};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use onshi_central::card_client::{CardConsents, IdentityMethod};
use onshi_core::Ymd;
use onshi_core::card::HEALTH_CHECKUP_MIN_AGE;
use onshi_core::codes::QualificationValidity;
use onshi_core::date::JstDateTime;
use onshi_pki::{Card, CardError, CertProfile, EmulatedFaceMatcher, SoftwareCard};
use onshi_wire::siquc01;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A session left alone this long is forgotten (the patient walked away).
pub const SESSION_SECONDS: i64 = 300;

/// Seconds before the page retries by itself after a network error (011).
const RETRY_SECONDS: u32 = 5;

/// One consent question of the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    SpecificHealthCheckups,
    Pharmacists,
    Diagnosis,
    Operation,
    Limit,
    SpecificDiseases,
}

impl ConsentKind {
    /// In the order the reader asks.
    pub const ALL: [ConsentKind; 6] = [
        ConsentKind::SpecificHealthCheckups,
        ConsentKind::Pharmacists,
        ConsentKind::Diagnosis,
        ConsentKind::Operation,
        ConsentKind::Limit,
        ConsentKind::SpecificDiseases,
    ];

    fn shown(self, s: &crate::local::ConsentScreens) -> bool {
        match self {
            ConsentKind::SpecificHealthCheckups => s.specific_health_checkups,
            ConsentKind::Pharmacists => s.pharmacists,
            ConsentKind::Diagnosis => s.diagnosis,
            ConsentKind::Operation => s.operation,
            ConsentKind::Limit => s.limit,
            ConsentKind::SpecificDiseases => s.specific_diseases,
        }
    }

    fn set(self, c: &mut CardConsents, yes: bool) {
        match self {
            ConsentKind::SpecificHealthCheckups => c.specific_health_checkups = yes,
            ConsentKind::Pharmacists => c.pharmacists = yes,
            ConsentKind::Diagnosis => c.diagnosis = yes,
            ConsentKind::Operation => c.operation = yes,
            ConsentKind::Limit => c.limit = yes,
            ConsentKind::SpecificDiseases => c.specific_diseases = yes,
        }
    }

    /// (title, question, note, yes label, no label).
    fn texts(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        const NOTE: &str = "この情報はあなたの診察や健康管理のために使用します。";
        match self {
            ConsentKind::SpecificHealthCheckups => (
                "健診情報の提供",
                "過去の健診情報を当機関に提供することに同意しますか。",
                NOTE,
                "同意する",
                "同意しない",
            ),
            ConsentKind::Pharmacists => (
                "お薬情報の提供",
                "過去のお薬情報を当機関に提供することに同意しますか。",
                NOTE,
                "同意する",
                "同意しない",
            ),
            ConsentKind::Diagnosis => (
                "診療情報の提供",
                "過去の診療情報を当機関に提供することに同意しますか。",
                NOTE,
                "同意する",
                "同意しない",
            ),
            ConsentKind::Operation => (
                "手術情報の提供",
                "過去の手術情報を当機関に提供することに同意しますか。",
                NOTE,
                "同意する",
                "同意しない",
            ),
            ConsentKind::Limit => (
                "高額療養費制度を利用する方",
                "限度額情報を当機関に提供することに同意しますか。",
                "同意すると、窓口でのお支払いが自己負担限度額までとなります（限度額適用認定証の提示が不要になります）。",
                "同意する",
                "同意しない",
            ),
            ConsentKind::SpecificDiseases => (
                "特定疾病療養受療証をお持ちの方",
                "特定疾病療養受療証の情報を当機関に提供することに同意しますか。",
                "人工透析・血友病等の治療で受療証をお持ちの方が対象です。",
                "同意する",
                "同意しない",
            ),
        }
    }
}

/// What the page shows. `screen` names it; the page renders each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    /// 本人確認の方法を選んでください.
    Method { medium: &'static str },
    /// PIN pad.
    Pin {
        medium: &'static str,
        tries_left: u8,
        message: Option<String>,
        registering: bool,
    },
    /// Emulated camera: the page "takes the picture" by itself.
    Face,
    /// iPhone: biometrics on the phone.
    Iphone,
    /// 目視 mode: staff confirm.
    Visual,
    /// 利用登録 (初回登録) offer for an unregistered card.
    Register,
    Consent {
        kind: ConsentKind,
        title: &'static str,
        question: &'static str,
        note: &'static str,
        yes: &'static str,
        no: &'static str,
        index: usize,
        total: usize,
    },
    Done {
        name: String,
        validity: String,
        valid: bool,
        message: String,
        /// Certificate renewal alert (ONS0101) or the grace-period notice (ONS0102).
        alert: Option<String>,
        grace: bool,
        face_file: String,
    },
    /// System-failure mode, a new patient: the 被保険者資格申立書 items.
    Declaration,
    /// System-failure mode: accepted and queued (from the last known qualification, or
    /// with the declaration).
    Offline {
        name: String,
        /// Whether the terminal knew the patient's qualification from an earlier check.
        known: bool,
        message: String,
    },
    Error {
        /// The reader's code (e.g. 101, 011, 906) or central's code.
        code: String,
        title: String,
        message: String,
        action: String,
        /// The page retries by itself after `retry_seconds`.
        retry: bool,
        retry_seconds: u32,
        /// Central is unreachable and the terminal can accept the check offline
        /// (システム障害時モード): the page offers it.
        #[serde(default)]
        offline: bool,
    },
}

fn error_screen(code: &str, title: &str, message: &str, action: &str) -> Screen {
    Screen::Error {
        code: code.into(),
        title: title.into(),
        message: message.into(),
        action: action.into(),
        retry: false,
        retry_seconds: 0,
        offline: false,
    }
}

fn medium(p: CertProfile) -> &'static str {
    match p {
        CertProfile::Card => "card",
        CertProfile::SmartphoneAndroid => "android",
        CertProfile::SmartphoneIphone => "iphone",
    }
}

fn locked_screen() -> Screen {
    error_screen(
        "pin_locked",
        "暗証番号がロックされています",
        "暗証番号を3回続けて間違えたため、このカードの利用者証明用電子証明書は使えなくなりました。",
        "市区町村の窓口で暗証番号の再設定を行ってください。本日の受付は、受付窓口で資格確認書等をご提示ください。",
    )
}

fn card_unreadable(detail: &str) -> Screen {
    tracing::warn!(detail, "card could not be read");
    error_screen(
        "101",
        "マイナンバーカードの読み取りに失敗しました",
        "マイナンバーカードの券面情報読み取りに失敗しました。",
        "カードに汚れがないか、正しく置かれているか確認して、もう一度置いてください。",
    )
}

/// The central call a session is waiting to (re)do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Check,
    Register,
    Consent,
}

pub(crate) struct Session {
    card: Option<SoftwareCard>,
    profile: CertProfile,
    method: IdentityMethod,
    registering: bool,
    pending: Option<Pending>,
    check: Option<CheckAnswer>,
    questions: Vec<ConsentKind>,
    asked: usize,
    given: CardConsents,
    screen: Screen,
    /// Central was unreachable once: the next failure goes to the system-failure mode.
    unreachable_once: bool,
    /// The queued offline check waiting for its declaration.
    offline_id: Option<i64>,
}

type SharedSession = Arc<tokio::sync::Mutex<Session>>;

/// The sessions of the kiosk page, by id, with when each was last used.
#[derive(Default)]
pub(crate) struct Sessions {
    map: std::sync::Mutex<std::collections::HashMap<String, (JstDateTime, SharedSession)>>,
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Sessions {
    fn insert(&self, now: JstDateTime, s: Session) -> String {
        let id = random_hex(16);
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, (t, _)| t.add_seconds(SESSION_SECONDS) > now);
            m.insert(id.clone(), (now, Arc::new(tokio::sync::Mutex::new(s))));
        }
        id
    }

    fn get(&self, id: &str, now: JstDateTime) -> Option<SharedSession> {
        let mut m = self.map.lock().ok()?;
        let (touched, s) = m.get_mut(id)?;
        if touched.add_seconds(SESSION_SECONDS) <= now {
            m.remove(id);
            return None;
        }
        *touched = now;
        Some(s.clone())
    }

    fn remove(&self, id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(id);
        }
    }
}

/// A card (or phone) of the demo wallet.
#[derive(Debug, Clone, Serialize)]
pub struct WalletItem {
    /// The file name in the wallet directory.
    pub id: String,
    pub label: String,
    pub medium: &'static str,
}

impl Terminal {
    /// The software cards in the wallet directory (none without one).
    pub fn wallet(&self) -> Vec<WalletItem> {
        let Some(dir) = &self.wallet else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut items: Vec<WalletItem> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                if name.starts_with('.') || !name.ends_with(".card.json") {
                    return None;
                }
                let mut card = SoftwareCard::open(&e.path()).ok()?;
                let profile = card.profile().ok()?;
                Some(WalletItem {
                    label: name.trim_end_matches(".card.json").to_string(),
                    id: name,
                    medium: medium(profile),
                })
            })
            .collect();
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items
    }

    /// The patient places a card: a new session and its first screen.
    fn place(&self, id: &str) -> Result<(Session, Screen), Screen> {
        let Some(dir) = &self.wallet else {
            return Err(card_unreadable("no wallet configured"));
        };
        // Only a plain file name of the wallet directory.
        if id.contains(['/', '\\']) || id.starts_with('.') || !id.ends_with(".card.json") {
            return Err(card_unreadable("not a wallet card"));
        }
        let mut card =
            SoftwareCard::open(&dir.join(id)).map_err(|e| card_unreadable(&e.to_string()))?;
        let profile = card
            .profile()
            .map_err(|e| card_unreadable(&e.to_string()))?;
        let tries = card
            .pin_tries_left()
            .map_err(|e| card_unreadable(&e.to_string()))?;
        if tries == 0 || card.is_locked() {
            return Err(locked_screen());
        }
        let settings = self.settings();
        let (method, screen) = match profile {
            CertProfile::SmartphoneAndroid => (
                IdentityMethod::Pin,
                Screen::Pin {
                    medium: "android",
                    tries_left: tries,
                    message: None,
                    registering: false,
                },
            ),
            CertProfile::SmartphoneIphone => (IdentityMethod::Face, Screen::Iphone),
            CertProfile::Card if settings.visual_mode => (IdentityMethod::Visual, Screen::Visual),
            CertProfile::Card => (IdentityMethod::Face, Screen::Method { medium: "card" }),
        };
        Ok((
            Session {
                card: Some(card),
                profile,
                method,
                registering: false,
                pending: None,
                check: None,
                questions: Vec::new(),
                asked: 0,
                given: CardConsents::default(),
                screen: screen.clone(),
                unreachable_once: false,
                offline_id: None,
            },
            screen,
        ))
    }

    fn settings(&self) -> crate::local::KioskSettings {
        self.local.kiosk_settings().unwrap_or_else(|e| {
            tracing::error!(error = %e, "kiosk settings unreadable; using defaults");
            Default::default()
        })
    }

    fn pin_screen(s: &Session, tries_left: u8, message: Option<String>) -> Screen {
        Screen::Pin {
            medium: medium(s.profile),
            tries_left,
            message,
            registering: s.registering,
        }
    }

    /// One action of the patient (or staff) on the current screen.
    async fn act(&self, s: &mut Session, action: Action) -> Screen {
        match (&s.screen, action) {
            (Screen::Method { .. }, Action::Method { method }) => match method.as_str() {
                "face" => {
                    s.method = IdentityMethod::Face;
                    Screen::Face
                }
                "pin" => {
                    s.method = IdentityMethod::Pin;
                    let tries = s
                        .card
                        .as_mut()
                        .and_then(|c| c.pin_tries_left().ok())
                        .unwrap_or(0);
                    Self::pin_screen(s, tries, None)
                }
                _ => s.screen.clone(),
            },
            (Screen::Pin { .. }, Action::Pin { pin }) => self.enter_pin(s, pin).await,
            (Screen::Face | Screen::Iphone | Screen::Visual, Action::Face) => self.face(s).await,
            (Screen::Register, Action::Register { answer }) => {
                if !answer {
                    return error_screen(
                        "ONS4020",
                        "利用登録が行われていません",
                        "このマイナンバーカードは健康保険証として利用登録されていません。",
                        "受付窓口で資格確認書等をご提示ください。",
                    );
                }
                s.registering = true;
                if s.profile == CertProfile::SmartphoneIphone {
                    // Biometrics on the phone already unlocked it; no PIN at the reader.
                    return self.register(s).await;
                }
                let tries = s
                    .card
                    .as_mut()
                    .and_then(|c| c.pin_tries_left().ok())
                    .unwrap_or(0);
                Self::pin_screen(s, tries, None)
            }
            (Screen::Consent { .. }, Action::Consent { answer }) => {
                if let Some(kind) = s.questions.get(s.asked).copied() {
                    kind.set(&mut s.given, answer);
                    s.asked += 1;
                }
                self.next_consent(s).await
            }
            (Screen::Error { retry: true, .. }, Action::Retry) => self.redo(s).await,
            (Screen::Error { offline: true, .. }, Action::Offline) => self.offline(s),
            (Screen::Declaration, Action::Declare { items }) => self.declare(s, items),
            // Anything else (a double tap, a stale page): stay where we are.
            _ => s.screen.clone(),
        }
    }

    async fn enter_pin(&self, s: &mut Session, pin: String) -> Screen {
        if !onshi_pki::is_valid_pin(&pin) {
            let tries = s
                .card
                .as_mut()
                .and_then(|c| c.pin_tries_left().ok())
                .unwrap_or(0);
            return Self::pin_screen(s, tries, Some("暗証番号は4桁の数字です。".into()));
        }
        let Some(mut card) = s.card.take() else {
            return card_unreadable("card gone");
        };
        // The PIN key derivation is deliberately slow: off the async workers.
        let joined = tokio::task::spawn_blocking(move || {
            let r = card.verify_pin(&pin);
            (card, r)
        })
        .await;
        let Ok((card, result)) = joined else {
            return card_unreadable("PIN task failed");
        };
        s.card = Some(card);
        match result {
            Ok(()) => {
                if s.registering {
                    self.register(s).await
                } else {
                    s.method = IdentityMethod::Pin;
                    self.check(s).await
                }
            }
            Err(CardError::WrongPin { tries_left }) => Self::pin_screen(
                s,
                tries_left,
                Some(format!(
                    "暗証番号が違います。あと{tries_left}回間違えるとロックされます。"
                )),
            ),
            Err(CardError::Locked) => locked_screen(),
            Err(CardError::PinFormat) => {
                Self::pin_screen(s, 0, Some("暗証番号は4桁の数字です。".into()))
            }
            Err(e) => card_unreadable(&e.to_string()),
        }
    }

    /// Face (emulated camera), the iPhone's biometrics, or staff's 目視 confirmation.
    async fn face(&self, s: &mut Session) -> Screen {
        let Some(card) = s.card.as_mut() else {
            return card_unreadable("card gone");
        };
        // The emulated camera sees the card holder (see `provision::face_template_for`).
        let sample = onshi_central::provision::face_template_for(card);
        match card.unlock_with_face(&sample, &EmulatedFaceMatcher) {
            Ok(()) => {
                if s.registering {
                    self.register(s).await
                } else {
                    self.check(s).await
                }
            }
            Err(CardError::Locked) => locked_screen(),
            Err(CardError::FaceMismatch) if s.profile == CertProfile::Card => {
                s.method = IdentityMethod::Pin;
                let tries = card.pin_tries_left().unwrap_or(0);
                Self::pin_screen(
                    s,
                    tries,
                    Some("顔認証ができませんでした。暗証番号で本人確認をしてください。".into()),
                )
            }
            Err(CardError::FaceMismatch) => error_screen(
                "face_mismatch",
                "本人確認ができませんでした",
                "スマートフォンでの生体認証ができませんでした。",
                "もう一度スマートフォンをかざしてください。",
            ),
            Err(e) => card_unreadable(&e.to_string()),
        }
    }

    async fn redo(&self, s: &mut Session) -> Screen {
        match s.pending {
            Some(Pending::Check) => self.check(s).await,
            Some(Pending::Register) => self.register(s).await,
            Some(Pending::Consent) => self.send_consents(s).await,
            None => s.screen.clone(),
        }
    }

    async fn check(&self, s: &mut Session) -> Screen {
        s.pending = Some(Pending::Check);
        let Some(card) = s.card.as_mut() else {
            return card_unreadable("card gone");
        };
        match self.link.card_check(card, s.method).await {
            Err(LinkError::Unreachable(e)) if self.outbox.is_some() => {
                if s.unreachable_once {
                    // The automatic retry failed too: システム障害時モード.
                    return self.offline(s);
                }
                s.unreachable_once = true;
                let mut screen = link_error(LinkError::Unreachable(e));
                if let Screen::Error { offline, .. } = &mut screen {
                    *offline = true;
                }
                screen
            }
            Err(e) => link_error(e),
            Ok(answer) => match answer.error_code() {
                Some("ONS4020") => {
                    s.pending = None;
                    Screen::Register
                }
                Some(code) => {
                    s.pending = None;
                    central_refusal(code, &answer)
                }
                None => self.after_check(s, answer).await,
            },
        }
    }

    async fn register(&self, s: &mut Session) -> Screen {
        s.pending = Some(Pending::Register);
        let Some(card) = s.card.as_mut() else {
            return card_unreadable("card gone");
        };
        match self.link.card_register(card).await {
            Err(e) => link_error(e),
            Ok(Registration::Registered) => {
                s.registering = false;
                self.check(s).await
            }
            Ok(Registration::Refused { code, message }) => {
                s.pending = None;
                error_screen(
                    &code,
                    "利用登録ができませんでした",
                    &message,
                    "受付窓口までお越しください。",
                )
            }
        }
    }

    async fn after_check(&self, s: &mut Session, answer: CheckAnswer) -> Screen {
        s.pending = None;
        let body = &answer.response.body;
        let grace = body.processing_result_code.as_deref() == Some("ONS0102");
        let Some(item) = body.results.first() else {
            return self.finish(s, answer.response);
        };
        if grace || !answer.takes_consents() {
            // A card in its grace period proves qualification only: no consent is asked.
            return self.finish(s, answer.response);
        }
        let on = answer
            .response
            .header
            .qualification_confirmation_date
            .as_deref()
            .and_then(|d| Ymd::parse(d).ok())
            .unwrap_or_else(|| self.clock.now().date());
        let age = item
            .birthdate
            .as_deref()
            .and_then(|d| Ymd::parse(d).ok())
            .map(|b| b.legal_age_on(on));
        let screens = self.settings().consent_screens;
        s.questions = ConsentKind::ALL
            .into_iter()
            .filter(|k| k.shown(&screens))
            .filter(|k| {
                *k != ConsentKind::SpecificHealthCheckups
                    || age.is_some_and(|a| a >= HEALTH_CHECKUP_MIN_AGE)
            })
            .collect();
        s.asked = 0;
        s.given = CardConsents::default();
        if s.questions.is_empty() {
            return self.finish(s, answer.response);
        }
        s.check = Some(answer);
        self.next_consent(s).await
    }

    async fn next_consent(&self, s: &mut Session) -> Screen {
        match s.questions.get(s.asked) {
            Some(kind) => {
                let (title, question, note, yes, no) = kind.texts();
                Screen::Consent {
                    kind: *kind,
                    title,
                    question,
                    note,
                    yes,
                    no,
                    index: s.asked + 1,
                    total: s.questions.len(),
                }
            }
            None => self.send_consents(s).await,
        }
    }

    async fn send_consents(&self, s: &mut Session) -> Screen {
        s.pending = Some(Pending::Consent);
        let Some(check) = s.check.clone() else {
            s.pending = None;
            return error_screen(
                "ONS9002",
                "問題が発生しました",
                "資格確認の結果を特定できませんでした。",
                "もう一度カードを置き直してください。",
            );
        };
        match self.link.card_consent(&check, &s.given).await {
            Err(e) => link_error(e),
            Ok(answer) => match answer.error_code() {
                Some(code) => {
                    s.pending = None;
                    central_refusal(code, &answer)
                }
                None => {
                    s.pending = None;
                    self.finish(s, answer.response)
                }
            },
        }
    }

    /// システム障害時モード: the card signs an offline challenge; the check is queued and
    /// answered from the card's last known qualification, or the patient is asked for the
    /// 被保険者資格申立書 items. The real result becomes a face-result file when central
    /// is back (see [`crate::outage`]).
    fn offline(&self, s: &mut Session) -> Screen {
        s.pending = None;
        let Some(outbox) = self.outbox.clone() else {
            return link_error(LinkError::Unreachable("no outbox".into()));
        };
        let Some(card) = s.card.as_mut() else {
            return card_unreadable("card gone");
        };
        let now = self.clock.now();
        let target =
            crate::face_file_path(std::path::Path::new("face"), &self.facility, &now.to_wire());
        let target = target.to_string_lossy().replace('\\', "/");
        let encoding = self.settings().face_encoding;
        match crate::outage::offline_card_check(
            &outbox,
            card,
            &self.facility,
            s.method,
            now,
            &target,
            encoding,
        ) {
            Ok((id, answer)) => {
                s.card = None;
                match answer.body.results.first() {
                    Some(item) => Screen::Offline {
                        name: item.name.clone().unwrap_or_default(),
                        known: true,
                        message: answer
                            .body
                            .processing_result_message
                            .clone()
                            .unwrap_or_default(),
                    },
                    None => {
                        s.offline_id = Some(id);
                        Screen::Declaration
                    }
                }
            }
            Err(crate::outage::OfflineCardError::Card(CardError::Locked)) => locked_screen(),
            Err(crate::outage::OfflineCardError::Card(e)) => card_unreadable(&e.to_string()),
            Err(e) => {
                tracing::error!(error = %e, "offline check could not be queued");
                error_screen(
                    "ONS9100",
                    "問題が発生しました",
                    "システム障害時モードでの受付ができませんでした。",
                    "恐れ入りますが受付窓口までお越しください。",
                )
            }
        }
    }

    fn declare(&self, s: &mut Session, items: crate::outage::Declaration) -> Screen {
        let (Some(outbox), Some(id)) = (&self.outbox, s.offline_id) else {
            return s.screen.clone();
        };
        if items.name.trim().is_empty() || Ymd::parse(items.birthdate.trim()).is_err() {
            return Screen::Declaration;
        }
        if let Err(e) = outbox.declare(id, &items, self.clock.now()) {
            tracing::error!(error = %e, "declaration could not be kept");
            return error_screen(
                "ONS9100",
                "問題が発生しました",
                "申立ての内容を保存できませんでした。",
                "恐れ入りますが受付窓口までお越しください。",
            );
        }
        s.offline_id = None;
        Screen::Offline {
            name: items.name.trim().to_string(),
            known: false,
            message: "システム障害時モード：被保険者資格申立書の内容を受け付けました。中央システムの復旧後に自動で資格を確認します。".into(),
        }
    }

    /// The face-result file, then the completion screen. The card session ends here.
    fn finish(&self, s: &mut Session, response: siquc01::Response) -> Screen {
        if let (Some(outbox), Some(card)) = (&self.outbox, s.card.as_mut())
            && response.header.segment_of_result == "1"
            && let Ok(serial) = crate::outage::serial_of(card)
            && let Err(e) = outbox.remember(
                &crate::outage::card_key(&serial),
                &response,
                self.clock.now(),
            )
        {
            tracing::warn!(error = %e, "could not remember the card's answer");
        }
        s.card = None;
        let encoding = self.settings().face_encoding;
        let face_file = match self.write_face_file(&response, encoding) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "face-result file could not be written");
                return error_screen(
                    "face_file",
                    "問題が発生しました",
                    "資格確認の結果を受付システムに渡せませんでした。",
                    "恐れ入りますが受付窓口までお越しください。",
                );
            }
        };
        let body = &response.body;
        let item = body.results.first();
        let validity_code = body.qualification_validity.clone().unwrap_or_default();
        let validity = QualificationValidity::from_code(&validity_code)
            .map(|v| v.label().to_string())
            .unwrap_or_default();
        let valid = validity_code == "1";
        let grace = body.processing_result_code.as_deref() == Some("ONS0102");
        let alert = match body.processing_result_code.as_deref() {
            Some("ONS0101" | "ONS0102") => body
                .processing_result_message
                .as_deref()
                .and_then(|m| m.lines().next())
                .map(str::to_string),
            _ => None,
        };
        let away = if s.profile.is_smartphone() {
            "スマートフォンをしまって、待合室でお待ちください。"
        } else {
            "終了する場合は、マイナンバーカードを取り出し、待合室でお待ちください。"
        };
        let message = if valid {
            away.to_string()
        } else {
            format!("資格情報を確認できませんでした（{validity}）。受付窓口にお声がけください。")
        };
        Screen::Done {
            name: item.and_then(|i| i.name.clone()).unwrap_or_default(),
            validity,
            valid,
            message,
            alert,
            grace,
            face_file: face_file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// Network or account trouble, with the reader's codes.
fn link_error(e: LinkError) -> Screen {
    tracing::warn!(error = %e, "kiosk could not complete a call to central");
    match e {
        LinkError::Unreachable(_) => Screen::Error {
            code: "011".into(),
            title: "ネットワークエラー".into(),
            message: "問題が発生しました。ただいまご利用になれません。自動的に再接続します。".into(),
            action: "しばらくお待ちください。解決しない場合は受付窓口までお越しください（職員は院内のLANケーブルの接続状況を確認してください）。".into(),
            retry: true,
            retry_seconds: RETRY_SECONDS,
            offline: false,
        },
        LinkError::Account(_) => error_screen(
            "906",
            "問題が発生しました",
            "ただいまご利用になれません。",
            "恐れ入りますが受付窓口までお越しください（職員はアカウント情報・証明書を確認してください）。",
        ),
        LinkError::Card(CardError::Locked) => locked_screen(),
        LinkError::Card(c) => card_unreadable(&c.to_string()),
        LinkError::Answer(_) => error_screen(
            "ONS9002",
            "問題が発生しました",
            "中央システムの応答を読み取れませんでした。",
            "恐れ入りますが受付窓口までお越しください。",
        ),
    }
}

/// Central said no: what happened and what to do.
fn central_refusal(code: &str, answer: &CheckAnswer) -> Screen {
    let central_message = answer
        .response
        .header
        .error_message
        .clone()
        .or_else(|| answer.response.body.processing_result_message.clone())
        .unwrap_or_default();
    match code {
        "ONS4012" => error_screen(
            code,
            "電子証明書が失効しています",
            "このマイナンバーカードの利用者証明用電子証明書は失効しているため、資格確認ができません。",
            "お住まいの市区町村の窓口にお問い合わせください。本日の受付は、受付窓口で資格確認書等をご提示ください。",
        ),
        "ONS4013" => error_screen(
            code,
            "電子証明書の有効期限が切れています",
            "マイナンバーカードの電子証明書の有効期限が切れているため、資格確認ができません。",
            "お住まいの市区町村の窓口で電子証明書を更新してください。本日の受付は、受付窓口で資格確認書等をご提示ください。",
        ),
        c if c.starts_with("ONS3") => error_screen(
            "906",
            "問題が発生しました",
            "ただいまご利用になれません。",
            "恐れ入りますが受付窓口までお越しください。",
        ),
        "ONS9001" => Screen::Error {
            code: code.into(),
            title: "問題が発生しました".into(),
            message: central_message,
            action: "自動的に再試行します。しばらくお待ちください。".into(),
            retry: true,
            retry_seconds: RETRY_SECONDS,
            offline: false,
        },
        c if c.starts_with("ONS403") => error_screen(
            code,
            "スマートフォンでは受付できません",
            &central_message,
            "マイナンバーカードを置いてください。",
        ),
        _ => error_screen(
            code,
            "資格確認ができませんでした",
            &central_message,
            "受付窓口までお越しください。",
        ),
    }
}

/// What the page sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum Action {
    Method {
        method: String,
    },
    Pin {
        pin: String,
    },
    /// Face capture, iPhone biometrics, or the staff's 目視 confirmation.
    Face,
    Register {
        answer: bool,
    },
    Consent {
        answer: bool,
    },
    Retry,
    /// Accept the check in the system-failure mode now (from the 011 screen).
    Offline,
    /// The 被保険者資格申立書 items.
    Declare {
        #[serde(flatten)]
        items: crate::outage::Declaration,
    },
}

#[derive(Serialize)]
struct Reply {
    session: Option<String>,
    screen: Screen,
}

#[derive(Deserialize)]
pub(crate) struct PlaceRequest {
    card: String,
}

pub(crate) async fn wallet(State(t): State<Arc<Terminal>>) -> Response {
    Json(t.wallet()).into_response()
}

pub(crate) async fn place(
    State(t): State<Arc<Terminal>>,
    Json(req): Json<PlaceRequest>,
) -> Response {
    match t.place(&req.card) {
        Ok((session, screen)) => {
            let id = t.sessions.insert(t.clock.now(), session);
            Json(Reply {
                session: Some(id),
                screen,
            })
            .into_response()
        }
        Err(screen) => Json(Reply {
            session: None,
            screen,
        })
        .into_response(),
    }
}

pub(crate) async fn act(
    State(t): State<Arc<Terminal>>,
    Path(id): Path<String>,
    Json(action): Json<Action>,
) -> Response {
    let Some(session) = t.sessions.get(&id, t.clock.now()) else {
        return (
            StatusCode::NOT_FOUND,
            Json(Reply {
                session: None,
                screen: error_screen(
                    "timeout",
                    "操作の時間が過ぎました",
                    "一定時間操作がなかったため、受付を終了しました。",
                    "もう一度カードを置いてください。",
                ),
            }),
        )
            .into_response();
    };
    let mut s = session.lock().await;
    let screen = t.act(&mut s, action).await;
    s.screen = screen.clone();
    let finished = matches!(
        screen,
        Screen::Done { .. } | Screen::Error { retry: false, .. }
    );
    drop(s);
    if finished {
        t.sessions.remove(&id);
    }
    Json(Reply {
        session: (!finished).then_some(id),
        screen,
    })
    .into_response()
}

/// The patient takes the card away (終了する).
pub(crate) async fn end(State(t): State<Arc<Terminal>>, Path(id): Path<String>) -> Response {
    t.sessions.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn page() -> Response {
    html(include_str!("../assets/kiosk.html"))
}

pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/kiosk.js"),
    )
        .into_response()
}

pub(crate) async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/kiosk.css"),
    )
        .into_response()
}

pub(crate) fn html(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
