//! The staff screens of the 資格確認端末 under `/staff`: login per facility account and
//! the menu here; the screens in their modules: [`history`] 資格確認履歴照会, [`check`]
//! 保険証/処方箋で確認, [`bulk`] 一括照会, [`medical`] 同意済み患者一覧 and the medical
//! views (薬剤閲覧, 手術・診療・薬剤閲覧, 特健閲覧), [`disaster`] 災害時医療情報閲覧,
//! [`settings`] 環境設定.
//!
//! - Accounts live in the terminal's SQLite (`staff_account`), passwords hashed with
//!   argon2id; roles 一般 (`general`), 医療情報閲覧 (`medical`) and 管理者 (`admin`). Only
//!   the medical role opens medical information.
//! - A session is a random token in the `onshi_staff` cookie (HttpOnly, SameSite=Strict);
//!   30 minutes without a request (by the terminal's clock) ends it.
//! - A login while the account still has a session that was not logged out (open
//!   elsewhere, or closed by the idle timer) asks the real question
//!   「前回正常にログアウトされていなかった可能性があります。…強制的にログインしますか？」.
//! - 5 failed attempts in a row lock the account for 15 minutes.
//! - Every POST carries a token in a hidden field that must equal the `onshi_csrf` cookie
//!   (HttpOnly, SameSite=Strict); once logged in it is also the session's own token.
//! - Every login attempt (ok or failed) is reported to central (`POST /oqs/v1/audit/login`).

mod bulk;
mod check;
mod disaster;
mod history;
mod medical;
mod settings;

pub use bulk::{MAX_UPLOAD, bulk_job, bulk_page, bulk_upload};
pub use check::{CheckForm, check, check_page};
pub use disaster::{disaster_page, disaster_search};
pub use history::{history_detail, history_page};
pub use medical::{Series, checkup, drug, line_chart, patients, treatment};
pub use settings::{settings_page, settings_save};

use crate::Terminal;
use crate::local::{LocalDb, LocalError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::Arc;

/// Idle time after which a session ends (seconds).
pub const IDLE_SECONDS: i64 = 30 * 60;
/// Failed attempts in a row that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// How long a lock lasts (seconds).
pub const LOCK_SECONDS: i64 = 15 * 60;
/// How long the 強制ログイン question stays answerable (seconds).
const PENDING_SECONDS: i64 = 5 * 60;

const SESSION_COOKIE: &str = "onshi_staff";
const CSRF_COOKIE: &str = "onshi_csrf";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    General,
    Medical,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "general" | "一般" => Some(Role::General),
            "medical" | "医療情報閲覧" => Some(Role::Medical),
            "admin" | "管理者" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::General => "general",
            Role::Medical => "medical",
            Role::Admin => "admin",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::General => "一般",
            Role::Medical => "医療情報閲覧",
            Role::Admin => "管理者",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("login ID must be 1–32 characters of A–Z, a–z, 0–9, '-', '_', '.'")]
    BadId,
    #[error("password must be 8–128 characters")]
    BadPassword,
    #[error("password hashing: {0}")]
    Hash(String),
    #[error(transparent)]
    Local(#[from] LocalError),
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Creates the account, or replaces its role and password (and clears a lock).
pub fn add_account(db: &LocalDb, id: &str, role: Role, password: &str) -> Result<(), StaffError> {
    if !valid_id(id) {
        return Err(StaffError::BadId);
    }
    if !(8..=128).contains(&password.chars().count()) {
        return Err(StaffError::BadPassword);
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| StaffError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| StaffError::Hash(e.to_string()))?
        .to_string();
    db.with(|c| {
        c.execute(
            "INSERT INTO staff_account (id, role, password_hash) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET role = excluded.role,
                 password_hash = excluded.password_hash, failures = 0, locked_until = NULL",
            params![id, role.as_str(), hash],
        )
        .map(|_| ())
    })?;
    Ok(())
}

/// A random password for the demo accounts (readable: letters, digits and one symbol).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let b = random_bytes::<12>();
    let mut s: String = b
        .iter()
        .map(|x| char::from(ALPHABET[usize::from(*x) % ALPHABET.len()]))
        .collect();
    s.insert(6, '*');
    s
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

fn random_token() -> String {
    random_bytes::<24>().iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

// ---------------------------------------------------------------------------------------
// Login

/// What a password check came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    Ok(Role),
    Wrong,
    Locked,
}

fn check_password(
    db: &LocalDb,
    id: &str,
    password: &str,
    now_us: i64,
) -> Result<Attempt, LocalError> {
    let row: Option<(String, String, i64, Option<i64>)> = db.with(|c| {
        c.query_row(
            "SELECT role, password_hash, failures, locked_until FROM staff_account WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
    })?;
    let Some((role, hash, failures, locked_until)) = row else {
        return Ok(Attempt::Wrong);
    };
    if locked_until.is_some_and(|u| u > now_us) {
        return Ok(Attempt::Locked);
    }
    let good = PasswordHash::new(&hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    let role = Role::parse(&role);
    match (good, role) {
        (true, Some(role)) => {
            db.with(|c| {
                c.execute(
                    "UPDATE staff_account SET failures = 0, locked_until = NULL WHERE id = ?1",
                    [id],
                )
            })?;
            Ok(Attempt::Ok(role))
        }
        _ => {
            // A lock that ran out starts a fresh count.
            let failures = if locked_until.is_some() {
                1
            } else {
                failures + 1
            };
            let lock = (failures >= MAX_FAILURES).then(|| now_us + LOCK_SECONDS * 1_000_000);
            db.with(|c| {
                c.execute(
                    "UPDATE staff_account SET failures = ?2, locked_until = ?3 WHERE id = ?1",
                    params![id, if lock.is_some() { 0 } else { failures }, lock],
                )
            })?;
            Ok(if lock.is_some() {
                Attempt::Locked
            } else {
                Attempt::Wrong
            })
        }
    }
}

/// A logged-in staff member.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub account: String,
    pub role: Role,
    pub csrf: String,
}

fn open_session(db: &LocalDb, account: &str, now_us: i64) -> Result<(String, String), LocalError> {
    let token = random_token();
    let csrf = random_token();
    db.with(|c| {
        c.execute(
            "INSERT INTO staff_session (token, account, csrf, started, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![token, account, csrf, now_us],
        )
    })?;
    Ok((token, csrf))
}

/// Whether the account has a session that did not end by logging out.
fn has_unclosed_session(db: &LocalDb, account: &str) -> Result<bool, LocalError> {
    db.with(|c| {
        c.query_row(
            "SELECT count(*) FROM staff_session
             WHERE account = ?1 AND (ended IS NULL OR ended = 'idle')",
            [account],
            |r| r.get::<_, i64>(0),
        )
    })
    .map(|n| n > 0)
}

enum SessionState {
    Active(Session),
    Idle,
    None,
}

fn current_session(t: &Terminal, headers: &HeaderMap) -> Result<SessionState, LocalError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(SessionState::None);
    };
    let now = t.clock.now().unix_micros();
    type Row = (String, String, i64, Option<String>, Option<String>);
    let row: Option<Row> = t.local.with(|c| {
        c.query_row(
            "SELECT s.account, s.csrf, s.last_seen, s.ended, a.role
             FROM staff_session s LEFT JOIN staff_account a ON a.id = s.account
             WHERE s.token = ?1",
            [&token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
    })?;
    let Some((account, csrf, last_seen, ended, role)) = row else {
        return Ok(SessionState::None);
    };
    if ended.as_deref() == Some("idle") {
        return Ok(SessionState::Idle);
    }
    if ended.is_some() {
        return Ok(SessionState::None);
    }
    if now - last_seen >= IDLE_SECONDS * 1_000_000 {
        t.local.with(|c| {
            c.execute(
                "UPDATE staff_session SET ended = 'idle' WHERE token = ?1",
                [&token],
            )
        })?;
        return Ok(SessionState::Idle);
    }
    let Some(role) = role.as_deref().and_then(Role::parse) else {
        return Ok(SessionState::None);
    };
    t.local.with(|c| {
        c.execute(
            "UPDATE staff_session SET last_seen = ?2 WHERE token = ?1",
            params![token, now],
        )
    })?;
    Ok(SessionState::Active(Session {
        token,
        account,
        role,
        csrf,
    }))
}

/// The logged-in session, or the response that sends the browser to the login screen
/// (a handler returns it as is, so it is not boxed).
#[allow(clippy::result_large_err)]
fn require(t: &Terminal, headers: &HeaderMap) -> Result<Session, Response> {
    match current_session(t, headers) {
        Ok(SessionState::Active(s)) => Ok(s),
        Ok(SessionState::Idle) => Err(redirect("/staff/login?m=idle")),
        Ok(SessionState::None) => Err(redirect("/staff/login")),
        Err(e) => Err(internal(e)),
    }
}

#[allow(clippy::result_large_err)]
fn require_medical(t: &Terminal, headers: &HeaderMap) -> Result<Session, Response> {
    let s = require(t, headers)?;
    if s.role != Role::Medical {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            Some(&s),
            "権限がありません",
            "この画面は医療情報閲覧用アカウントでのみ表示できます。医療情報閲覧用のログインIDでログインし直してください。",
        ));
    }
    Ok(s)
}

/// Reports a login attempt to central; a failure to report is logged, not shown.
async fn report_login(t: &Terminal, account: &str, outcome: &str, detail: &str) {
    let mut account: String = account
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(64)
        .collect();
    if account.is_empty() {
        account.push('-');
    }
    let body = json!({ "account": account, "outcome": outcome, "detail": detail });
    match t
        .link
        .staff_request(Method::POST, "/oqs/v1/audit/login", &account, Some(&body))
        .await
    {
        Ok((200, _)) => {}
        Ok((status, v)) => tracing::warn!(status, answer = %v, "central refused the login record"),
        Err(e) => tracing::warn!(error = %e, "could not report the login to central"),
    }
}

// ---------------------------------------------------------------------------------------
// HTTP helpers

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn set_cookie(name: &str, value: &str) -> HeaderValue {
    let max_age = if value.is_empty() { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/staff; HttpOnly; SameSite=Strict{max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "staff screen");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "エラー",
        "端末の内部でエラーが発生しました。しばらくしてから再度お試しください。",
    )
}

/// The screen shown when central did not answer (`what` names the screen in the log).
fn central_unreachable(session: &Session, what: &str, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "{what}");
    error_page(
        StatusCode::BAD_GATEWAY,
        Some(session),
        "接続できません",
        "オンライン資格確認等システムに接続できませんでした。しばらくしてから再度お試しください。",
    )
}

/// Checks the form's token against the cookie (and the session's own token).
fn csrf_ok(headers: &HeaderMap, form_token: Option<&str>, session: Option<&Session>) -> bool {
    let (Some(form), Some(cookie)) = (form_token, cookie(headers, CSRF_COOKIE)) else {
        return false;
    };
    form == cookie && session.is_none_or(|s| s.csrf == form)
}

fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        None,
        "不正な操作です",
        "画面の有効期限が切れたか、正しくない画面からの送信です。メニューからやり直してください。",
    )
}

/// HTML text escaping.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:'Noto Sans CJK JP','Hiragino Sans','Yu Gothic',sans-serif;margin:0;background:#f4f6f8;color:#222}
header{background:#1f5c99;color:#fff;padding:8px 16px;display:flex;justify-content:space-between;align-items:center}
header form{display:inline;margin:0}main{padding:16px 24px}h1{font-size:1.4em}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px}th,td{border:1px solid #aab;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e3ebf3}.msg{padding:8px 12px;background:#fff3cd;border:1px solid #e0c060;margin:8px 0}
.err{background:#fde2e1;border-color:#d08080}.menu a{display:block;width:280px;margin:8px 0;padding:12px;background:#fff;border:1px solid #1f5c99;text-decoration:none;color:#1f5c99;font-weight:bold}
label{display:block;margin:8px 0}input[type=text],input[type=password]{font-size:1.1em;padding:4px}button{font-size:1em;padding:6px 16px}
.H{color:#c00;font-weight:bold}.L{color:#00c;font-weight:bold}svg.chart{background:#fff;border:1px solid #aab;margin:8px 0}";

fn page_html(title: &str, session: Option<&Session>, body: &str) -> String {
    let mut h = String::with_capacity(body.len() + 2048);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>{} - 資格確認端末</title><style>{STYLE}</style></head><body><header><span>オンライン資格確認等システム</span>",
        esc(title)
    );
    if let Some(s) = session {
        let _ = write!(
            h,
            "<span><span id=\"who\" data-role=\"{}\">{}（{}）</span> <a href=\"/staff\" style=\"color:#fff\">メニュー</a> <form method=\"post\" action=\"/staff/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button id=\"logout\">ログアウト</button></form></span>",
            s.role.as_str(),
            esc(&s.account),
            s.role.label(),
            esc(&s.csrf)
        );
    }
    let _ = write!(
        h,
        "</header><main><h1 id=\"title\">{}</h1>{body}</main></body></html>",
        esc(title)
    );
    h
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn page(session: &Session, title: &str, body: &str) -> Response {
    html(StatusCode::OK, page_html(title, Some(session), body))
}

fn error_page(status: StatusCode, session: Option<&Session>, title: &str, text: &str) -> Response {
    html(
        status,
        page_html(
            title,
            session,
            &format!(
                "<p class=\"msg err\" id=\"error\">{}</p><p><a href=\"/staff\">メニューへ戻る</a></p>",
                esc(text)
            ),
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Handlers: login, logout, menu

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    m: Option<String>,
}

fn login_form(csrf: &str, message: Option<(&str, bool)>) -> String {
    let msg = message
        .map(|(m, err)| {
            format!(
                "<p class=\"msg{}\" id=\"message\">{}</p>",
                if err { " err" } else { "" },
                esc(m)
            )
        })
        .unwrap_or_default();
    page_html(
        "ログイン",
        None,
        &format!(
            "{msg}<form method=\"post\" action=\"/staff/login\" id=\"login-form\">
<input type=\"hidden\" name=\"csrf\" value=\"{}\">
<label>ログインID <input type=\"text\" name=\"id\" id=\"login-id\" autocomplete=\"username\"></label>
<label>パスワード <input type=\"password\" name=\"password\" id=\"login-password\" autocomplete=\"current-password\"></label>
<button type=\"submit\" id=\"login-button\">ログイン</button></form>
<p>※30分間操作を行わないと、自動的にログオフされます。</p>",
            esc(csrf)
        ),
    )
}

/// A login page with a (new or kept) CSRF cookie.
fn login_response(
    headers: &HeaderMap,
    status: StatusCode,
    message: Option<(&str, bool)>,
) -> Response {
    let csrf = cookie(headers, CSRF_COOKIE).unwrap_or_else(random_token);
    let mut r = html(status, login_form(&csrf, message));
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, &csrf));
    r
}

pub async fn login_page(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if let Ok(SessionState::Active(_)) = current_session(&t, &headers) {
        return redirect("/staff");
    }
    let message = match q.m.as_deref() {
        Some("idle") => Some((
            "30分間操作がなかったため、自動的にログアウトしました。再度ログインしてください。",
            false,
        )),
        Some("logout") => Some(("ログアウトしました。", false)),
        _ => None,
    };
    login_response(&headers, StatusCode::OK, message)
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    id: Option<String>,
    password: Option<String>,
    csrf: Option<String>,
}

/// Starts a session: the cookies, then the menu.
fn logged_in(token: &str, csrf: &str) -> Response {
    let mut r = redirect("/staff");
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, token));
    h.append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, csrf));
    r
}

pub async fn login(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !csrf_ok(&headers, f.csrf.as_deref(), None) {
        return csrf_refused();
    }
    let id = f.id.unwrap_or_default().trim().to_string();
    let password = f.password.unwrap_or_default();
    let now = t.clock.now().unix_micros();
    let attempt = match check_password(&t.local, &id, &password, now) {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    match attempt {
        Attempt::Wrong => {
            report_login(&t, &id, "failed", "wrong id or password").await;
            login_response(
                &headers,
                StatusCode::UNAUTHORIZED,
                Some(("ログインIDまたはパスワードが正しくありません。", true)),
            )
        }
        Attempt::Locked => {
            report_login(&t, &id, "failed", "locked").await;
            login_response(
                &headers,
                StatusCode::FORBIDDEN,
                Some((
                    "ログインに続けて失敗したため、このログインIDはロックされています。15分後に再度お試しください。",
                    true,
                )),
            )
        }
        Attempt::Ok(_) => {
            match has_unclosed_session(&t.local, &id) {
                Ok(true) => {
                    // The real question; the answer comes back with a one-time token.
                    let pending = random_token();
                    if let Err(e) = t.local.with(|c| {
                        c.execute(
                            "INSERT INTO staff_pending (token, account, created) VALUES (?1, ?2, ?3)",
                            params![pending, id, now],
                        )
                    }) {
                        return internal(e);
                    }
                    let csrf = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
                    html(
                        StatusCode::OK,
                        page_html(
                            "ログイン",
                            None,
                            &format!(
                                "<p class=\"msg\" id=\"force-question\">前回正常にログアウトされていなかった可能性があります。または、該当ユーザは既に使用されています。強制的にログインしますか？</p>
<form method=\"post\" action=\"/staff/login/force\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"pending\" value=\"{}\">
<button id=\"force-yes\">はい</button> <a href=\"/staff/login\" id=\"force-no\">いいえ</a></form>",
                                esc(&csrf),
                                esc(&pending)
                            ),
                        ),
                    )
                }
                Ok(false) => match open_session(&t.local, &id, now) {
                    Ok((token, csrf)) => {
                        report_login(&t, &id, "ok", "").await;
                        logged_in(&token, &csrf)
                    }
                    Err(e) => internal(e),
                },
                Err(e) => internal(e),
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct ForceForm {
    pending: Option<String>,
    csrf: Option<String>,
}

pub async fn login_force(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<ForceForm>,
) -> Response {
    if !csrf_ok(&headers, f.csrf.as_deref(), None) {
        return csrf_refused();
    }
    let now = t.clock.now().unix_micros();
    let pending = f.pending.unwrap_or_default();
    let account: Option<String> = match t.local.with(|c| {
        let a = c
            .query_row(
                "SELECT account FROM staff_pending WHERE token = ?1 AND created >= ?2",
                params![pending, now - PENDING_SECONDS * 1_000_000],
                |r| r.get(0),
            )
            .optional()?;
        c.execute(
            "DELETE FROM staff_pending WHERE token = ?1 OR created < ?2",
            params![pending, now - PENDING_SECONDS * 1_000_000],
        )?;
        if let Some(a) = &a {
            c.execute(
                "UPDATE staff_session SET ended = 'forced'
                 WHERE account = ?1 AND (ended IS NULL OR ended = 'idle')",
                [a],
            )?;
        }
        Ok(a)
    }) {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let Some(account) = account else {
        return login_response(
            &headers,
            StatusCode::BAD_REQUEST,
            Some(("もう一度ログインしてください。", true)),
        );
    };
    match open_session(&t.local, &account, now) {
        Ok((token, csrf)) => {
            report_login(&t, &account, "ok", "forced").await;
            logged_in(&token, &csrf)
        }
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn logout(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let session = match current_session(&t, &headers) {
        Ok(SessionState::Active(s)) => s,
        Ok(_) => return redirect("/staff/login"),
        Err(e) => return internal(e),
    };
    if !csrf_ok(&headers, f.csrf.as_deref(), Some(&session)) {
        return csrf_refused();
    }
    if let Err(e) = t.local.with(|c| {
        c.execute(
            "UPDATE staff_session SET ended = 'logout' WHERE token = ?1",
            [&session.token],
        )
    }) {
        return internal(e);
    }
    let mut r = redirect("/staff/login?m=logout");
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, ""));
    r
}

pub async fn menu(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut items = String::from("<nav class=\"menu\">");
    items.push_str("<a href=\"/staff/history\" id=\"menu-history\">資格確認履歴照会</a>");
    items.push_str("<a href=\"/staff/check\" id=\"menu-check\">保険証/処方箋で確認</a>");
    items.push_str("<a href=\"/staff/bulk\" id=\"menu-bulk\">一括照会</a>");
    if s.role == Role::Medical {
        items.push_str("<a href=\"/staff/patients\" id=\"menu-patients\">同意済み患者一覧</a>");
        items.push_str("<a href=\"/staff/disaster\" id=\"menu-disaster\">災害時医療情報閲覧</a>");
    }
    if s.role == Role::Admin {
        items.push_str("<a href=\"/staff/settings\" id=\"menu-settings\">環境設定</a>");
    }
    items.push_str("</nav>");
    page(&s, "メニュー", &items)
}

/// Percent-encodes a value for a link's query string (keeps letters, digits, `.`, `-`).
pub(super) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn db() -> (tempfile::TempDir, LocalDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = LocalDb::open(&dir.path().join("t.sqlite")).unwrap();
        (dir, db)
    }

    #[test]
    fn passwords_are_hashed_and_checked() {
        let (_d, db) = db();
        add_account(&db, "003", Role::Medical, "Onshi*003*003").unwrap();
        let stored: String = db
            .with(|c| c.query_row("SELECT password_hash FROM staff_account", [], |r| r.get(0)))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("Onshi"));
        assert_eq!(
            check_password(&db, "003", "Onshi*003*003", 0).unwrap(),
            Attempt::Ok(Role::Medical)
        );
        assert_eq!(
            check_password(&db, "003", "wrong-password", 0).unwrap(),
            Attempt::Wrong
        );
        assert_eq!(
            check_password(&db, "nobody", "Onshi*003*003", 0).unwrap(),
            Attempt::Wrong
        );
        assert!(matches!(
            add_account(&db, "a b", Role::Admin, "long enough"),
            Err(StaffError::BadId)
        ));
        assert!(matches!(
            add_account(&db, "ab", Role::Admin, "short"),
            Err(StaffError::BadPassword)
        ));
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let (_d, db) = db();
        add_account(&db, "002", Role::General, "Onshi*002*002").unwrap();
        for _ in 0..4 {
            assert_eq!(
                check_password(&db, "002", "nope-nope", 0).unwrap(),
                Attempt::Wrong
            );
        }
        assert_eq!(
            check_password(&db, "002", "nope-nope", 0).unwrap(),
            Attempt::Locked
        );
        let min = 60 * 1_000_000;
        assert_eq!(
            check_password(&db, "002", "Onshi*002*002", 14 * min).unwrap(),
            Attempt::Locked
        );
        assert_eq!(
            check_password(&db, "002", "Onshi*002*002", 15 * min + 1).unwrap(),
            Attempt::Ok(Role::General)
        );
    }

    #[test]
    fn escaping_and_charts() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = line_chart(
            "c",
            "HbA1c",
            "%",
            &[(
                "HbA1c",
                "#000",
                vec![("20220401".into(), 6.1), ("20230401".into(), 6.8)],
            )],
            Some(5.5),
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2022") && svg.contains("2023") && svg.contains("class=\"limit\""));
    }
}
