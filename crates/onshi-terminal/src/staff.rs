//! The staff screens of the 資格確認端末 under `/staff`: login per facility account,
//! the menu, 同意済み患者一覧 and the medical views (薬剤閲覧, 手術・診療・薬剤閲覧, 特健閲覧).
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
    items.push_str("<a href=\"/staff/check\" id=\"menu-check\">保険証/処方箋で確認</a>");
    if s.role == Role::Medical {
        items.push_str("<a href=\"/staff/patients\" id=\"menu-patients\">同意済み患者一覧</a>");
    }
    if s.role == Role::Admin {
        items.push_str("<a href=\"/reader\" id=\"menu-settings\">環境設定（カードリーダー）</a>");
    }
    items.push_str("</nav>");
    page(&s, "メニュー", &items)
}

// ---------------------------------------------------------------------------------------
// 同意済み患者一覧 and the medical views

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// `yyyyMMdd` or `yyyyMMddHHmmss` as `yyyy/MM/dd[ HH:mm]`.
fn wire_date(s: &str) -> String {
    match (
        s.get(..4),
        s.get(4..6),
        s.get(6..8),
        s.get(8..10),
        s.get(10..12),
    ) {
        (Some(y), Some(m), Some(d), Some(hh), Some(mm)) => format!("{y}/{m}/{d} {hh}:{mm}"),
        (Some(y), Some(m), Some(d), _, _) => format!("{y}/{m}/{d}"),
        _ => s.to_string(),
    }
}

fn info_label(code: &str) -> &str {
    match code {
        "YZK" => "薬剤",
        "SRJ" => "診療",
        "SHJ" => "手術",
        "TKK" => "特定健診",
        other => other,
    }
}

/// Central's answer, or the page that says why there is none.
#[allow(clippy::result_large_err)]
async fn central_view(t: &Terminal, s: &Session, path: &str) -> Result<Value, Response> {
    match t
        .link
        .staff_request(Method::GET, path, &s.account, None)
        .await
    {
        Ok((200, v)) => Ok(v),
        Ok((status, v)) => Err(error_page(
            if status == 403 || status == 404 {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_GATEWAY
            },
            Some(s),
            "閲覧できません",
            &format!(
                "{}（{}）",
                text(&v, "error_message"),
                text(&v, "error_code")
            ),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "medical view");
            Err(error_page(
                StatusCode::BAD_GATEWAY,
                Some(s),
                "接続できません",
                "オンライン資格確認等システムに接続できませんでした。しばらくしてから再度お試しください。",
            ))
        }
    }
}

pub async fn patients(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match central_view(&t, &s, "/oqs/v1/medical/patients").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut b = String::from("<p>※医療情報は患者が同意後24時間以内のみ閲覧可能です。</p>");
    if v.get("disaster").and_then(Value::as_bool) == Some(true) {
        b.push_str("<p class=\"msg\" id=\"disaster\">災害時モード：災害が宣言されている地域のため、同意のない患者の薬剤・特定健診情報も閲覧できます。</p>");
    }
    let list = v
        .get("patients")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        b.push_str("<p class=\"msg\" id=\"no-patients\">同意済みの患者はいません。</p>");
    } else {
        b.push_str("<table id=\"patients\"><tr><th>氏名</th><th>カナ氏名</th><th>生年月日</th><th>年齢</th><th>性別</th><th>同意日時</th><th>閲覧期限</th><th>同意した情報</th><th>閲覧</th></tr>");
        for p in &list {
            let id = p.get("person_id").and_then(Value::as_i64).unwrap_or(0);
            let info: Vec<&str> = p
                .get("information")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut links = String::new();
            if info.contains(&"YZK") {
                let _ = write!(
                    links,
                    "<a href=\"/staff/patients/{id}/drug\" class=\"view-drug\">薬剤閲覧</a> "
                );
            }
            if info.iter().any(|c| ["SRJ", "SHJ", "YZK"].contains(c)) {
                let _ = write!(
                    links,
                    "<a href=\"/staff/patients/{id}/treatment\" class=\"view-treatment\">手術・診療・薬剤閲覧</a> "
                );
            }
            if info.contains(&"TKK") {
                let _ = write!(
                    links,
                    "<a href=\"/staff/patients/{id}/checkup\" class=\"view-checkup\">特健閲覧</a>"
                );
            }
            let _ = write!(
                b,
                "<tr class=\"patient\" data-person=\"{id}\"><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}歳</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{links}</td></tr>",
                esc(text(p, "name")),
                esc(text(p, "name_kana")),
                esc(text(p, "birthdate_wareki")),
                num(p, "age"),
                esc(text(p, "sex_label")),
                wire_date(text(p, "consented_at")),
                wire_date(text(p, "available_until")),
                info.iter()
                    .map(|c| info_label(c))
                    .collect::<Vec<_>>()
                    .join("・"),
            );
        }
        b.push_str("</table>");
    }
    page(&s, "同意済み患者一覧", &b)
}

fn patient_header(v: &Value) -> String {
    let p = v.get("patient").cloned().unwrap_or(Value::Null);
    let basis = if text(v, "basis") == "disaster" {
        "災害時（同意なし）"
    } else {
        "本人同意"
    };
    format!(
        "<table id=\"patient\"><tr><th>氏名</th><td class=\"name\">{}</td><th>カナ氏名</th><td>{}</td><th>生年月日</th><td>{}</td><th>性別</th><td>{}</td><th>閲覧の根拠</th><td>{basis}</td></tr></table>",
        esc(text(&p, "name")),
        esc(text(&p, "name_kana")),
        esc(text(&p, "birthdate_wareki")),
        esc(text(&p, "sex_label")),
    )
}

fn drug_tables(v: &Value) -> String {
    let mut b = String::new();
    let months = v
        .get("months")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if months.is_empty() {
        b.push_str("<p class=\"msg\">薬剤情報はありません。</p>");
        return b;
    }
    b.push_str("<table id=\"drugs\"><tr><th>調剤年月</th><th>調剤日</th><th>処方・調剤医療機関</th><th>区分</th><th>薬品名</th><th>成分</th><th>数量</th><th>用法</th><th>日数</th></tr>");
    for m in &months {
        for d in m
            .get("dispensings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let facility = if text(d, "facility_name") == text(d, "prescriber_name") {
                esc(text(d, "facility_name"))
            } else {
                format!(
                    "{}（処方：{}）",
                    esc(text(d, "facility_name")),
                    esc(text(d, "prescriber_name"))
                )
            };
            let own = if d.get("own").and_then(Value::as_bool) == Some(true) {
                " ★自院"
            } else {
                ""
            };
            for drug in d
                .get("drugs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let _ = write!(
                    b,
                    "<tr class=\"drug\"><td>{}</td><td>{}</td><td>{facility}{own}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                    esc(text(m, "month_label")),
                    wire_date(text(d, "dispensed_on")),
                    esc(text(d, "dispensing_kind")),
                    esc(text(drug, "name")),
                    esc(text(drug, "ingredient")),
                    num(drug, "quantity"),
                    esc(text(drug, "unit")),
                    esc(text(drug, "usage")),
                    num(drug, "days"),
                );
            }
        }
    }
    b.push_str("</table>");
    b
}

pub async fn drug(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(person): Path<i64>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match central_view(&t, &s, &format!("/oqs/v1/medical/drug?person={person}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = format!(
        "{}<p><a href=\"/staff/patients\">同意済み患者一覧へ戻る</a></p>{}",
        patient_header(&v),
        drug_tables(&v)
    );
    page(&s, "薬剤情報", &body)
}

fn visits_table(id: &str, visits: &[Value]) -> String {
    let mut b = format!(
        "<table id=\"{id}\"><tr><th>診療日</th><th>医療機関</th><th>入外</th><th>診療行為</th><th>回数</th></tr>"
    );
    for v in visits {
        for p in v
            .get("procedures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                wire_date(text(v, "performed_on")),
                esc(text(v, "facility_name")),
                if text(v, "in_out") == "1" {
                    "入院"
                } else {
                    "外来"
                },
                esc(text(p, "name")),
                num(p, "times"),
            );
        }
    }
    b.push_str("</table>");
    b
}

/// 手術・診療・薬剤閲覧: each section from its own view; a type without consent says so.
pub async fn treatment(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(person): Path<i64>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut header = None;
    let mut b = String::new();
    for (kind, title) in [
        ("surgery", "手術情報"),
        ("treatment", "診療情報"),
        ("drug", "薬剤情報"),
    ] {
        let _ = write!(b, "<h2>{title}</h2>");
        match t
            .link
            .staff_request(
                Method::GET,
                &format!("/oqs/v1/medical/{kind}?person={person}"),
                &s.account,
                None,
            )
            .await
        {
            Ok((200, v)) => {
                header.get_or_insert_with(|| patient_header(&v));
                match kind {
                    "surgery" => {
                        let surgeries: Vec<Value> = v
                            .get("surgeries")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        b.push_str(&visits_table("surgeries", &surgeries));
                        b.push_str("<h3>傷病名</h3><table id=\"diagnoses\"><tr><th>傷病名</th><th>ICD-10</th><th>診療開始日</th><th>転帰</th><th>医療機関</th><th>最終請求月</th></tr>");
                        for d in v
                            .get("diagnoses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let _ = write!(
                                b,
                                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                esc(text(d, "name")),
                                esc(text(d, "code")),
                                wire_date(text(d, "started_on")),
                                esc(text(d, "outcome")),
                                esc(text(d, "facility_name")),
                                esc(text(d, "last_month")),
                            );
                        }
                        b.push_str("</table>");
                    }
                    "treatment" => {
                        let visits: Vec<Value> = v
                            .get("visits")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        b.push_str(&visits_table("visits", &visits));
                    }
                    _ => b.push_str(&drug_tables(&v)),
                }
            }
            Ok((_, v)) => {
                let _ = write!(
                    b,
                    "<p class=\"msg\">閲覧できません：{}（{}）</p>",
                    esc(text(&v, "error_message")),
                    esc(text(&v, "error_code"))
                );
            }
            Err(e) => return internal(e),
        }
    }
    let body = format!(
        "{}<p><a href=\"/staff/patients\">同意済み患者一覧へ戻る</a></p>{b}",
        header.unwrap_or_default()
    );
    page(&s, "手術・診療・薬剤情報", &body)
}

/// One line of a chart: name, colour, points (date, value) oldest first.
pub type Series<'a> = (&'a str, &'a str, Vec<(String, f64)>);

/// An inline SVG line chart: `series` of (name, colour, points (date, value)); dates on
/// the x axis in the order given (oldest first), a dashed line at `limit` when given.
pub fn line_chart(
    id: &str,
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    limit: Option<f64>,
) -> String {
    const W: f64 = 640.0;
    const H: f64 = 260.0;
    const L: f64 = 60.0;
    const R: f64 = 20.0;
    const T: f64 = 30.0;
    const B: f64 = 40.0;
    let mut dates: Vec<&str> = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(d, _)| d.as_str()))
        .collect();
    dates.sort_unstable();
    dates.dedup();
    let values = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, v)| *v))
        .chain(limit);
    let (mut lo, mut hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(0.5);
    let (lo, hi) = (lo - pad, hi + pad);
    let x = |d: &str| {
        let i = dates.iter().position(|x| *x == d).unwrap_or(0) as f64;
        let n = (dates.len().max(2) - 1) as f64;
        L + (W - L - R) * if dates.len() < 2 { 0.5 } else { i / n }
    };
    let y = |v: f64| T + (H - T - B) * (1.0 - (v - lo) / (hi - lo));
    let mut s = format!(
        "<svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><text x=\"{L}\" y=\"18\" font-size=\"14\">{}（{}）</text>",
        esc(title),
        esc(title),
        esc(unit)
    );
    let _ = write!(
        s,
        "<line x1=\"{L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{}\" stroke=\"#888\"/>",
        H - B,
        W - R,
        H - B,
        H - B
    );
    for (v, label) in [
        (lo + pad, format!("{:.1}", lo + pad)),
        (hi - pad, format!("{:.1}", hi - pad)),
    ] {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{label}</text>",
            L - 4.0,
            y(v) + 4.0
        );
    }
    if let Some(l) = limit {
        let _ = write!(
            s,
            "<line class=\"limit\" x1=\"{L}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#c00\" stroke-dasharray=\"4 3\"/><text x=\"{1}\" y=\"{2:.1}\" font-size=\"10\" fill=\"#c00\" text-anchor=\"end\">基準値上限 {l}</text>",
            y(l),
            W - R,
            y(l) - 3.0
        );
    }
    for d in &dates {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(d),
            H - B + 16.0,
            esc(d.get(..4).unwrap_or(d))
        );
    }
    for (i, (name, colour, points)) in series.iter().enumerate() {
        let pts: Vec<String> = points
            .iter()
            .map(|(d, v)| format!("{:.1},{:.1}", x(d), y(*v)))
            .collect();
        let _ = write!(
            s,
            "<polyline class=\"series\" data-name=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            esc(name),
            pts.join(" ")
        );
        for (d, v) in points {
            let _ = write!(
                s,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{} {v}</title></circle><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{colour}\">{v}</text>",
                x(d),
                y(*v),
                esc(d),
                x(d),
                y(*v) - 7.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{colour}\">— {}</text>",
            W - R - 150.0 + 75.0 * i as f64 - 75.0,
            18,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

fn trend<'a>(v: &'a Value, code: &str) -> Option<&'a Value> {
    v.get("trends")
        .and_then(Value::as_array)?
        .iter()
        .find(|t| text(t, "code") == code)
}

fn points(t: Option<&Value>) -> Vec<(String, f64)> {
    t.and_then(|t| t.get("points"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        text(p, "examined_on").to_string(),
                        p.get("value")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

const HBA1C: &str = "3D046000001906202";
const SYSTOLIC: &str = "9A751000000000001";
const DIASTOLIC: &str = "9A761000000000001";

pub async fn checkup(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Path(person): Path<i64>,
) -> Response {
    let s = match require_medical(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match central_view(&t, &s, &format!("/oqs/v1/medical/checkup?person={person}")).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut b = patient_header(&v);
    b.push_str("<p><a href=\"/staff/patients\">同意済み患者一覧へ戻る</a></p>");
    let checkups = v
        .get("checkups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if checkups.is_empty() {
        b.push_str("<p class=\"msg\" id=\"no-checkups\">特定健診情報はありません。</p>");
        return page(&s, "特定健診情報", &b);
    }
    b.push_str("<h2>経年変化</h2>");
    let hba1c = trend(&v, HBA1C);
    b.push_str(&line_chart(
        "chart-hba1c",
        "HbA1c",
        hba1c.map(|t| text(t, "unit")).unwrap_or("%"),
        &[("HbA1c", "#d0602a", points(hba1c))],
        hba1c.and_then(|t| t.get("high")).and_then(Value::as_f64),
    ));
    let sys = trend(&v, SYSTOLIC);
    let dia = trend(&v, DIASTOLIC);
    b.push_str(&line_chart(
        "chart-bp",
        "血圧",
        sys.map(|t| text(t, "unit")).unwrap_or("mmHg"),
        &[
            ("収縮期", "#1f5c99", points(sys)),
            ("拡張期", "#3a9a4a", points(dia)),
        ],
        sys.and_then(|t| t.get("high")).and_then(Value::as_f64),
    ));
    // Items by row, checkups (oldest on the left) by column.
    let cols: Vec<&Value> = checkups.iter().rev().collect();
    b.push_str(
        "<h2>健診結果</h2><table id=\"checkups\"><tr><th>項目</th><th>単位</th><th>基準値</th>",
    );
    for c in &cols {
        let _ = write!(
            b,
            "<th>{}<br>{}</th>",
            wire_date(text(c, "examined_on")),
            esc(text(c, "facility_name"))
        );
    }
    b.push_str("</tr>");
    let mut codes: Vec<(String, String, String, String)> = Vec::new();
    for c in &cols {
        for i in c
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let code = text(i, "code").to_string();
            if !codes.iter().any(|x| x.0 == code) {
                let range = match (num(i, "low"), num(i, "high")) {
                    (l, h) if l.is_empty() && h.is_empty() => String::new(),
                    (l, h) => format!("{l}–{h}"),
                };
                codes.push((code, text(i, "name").into(), text(i, "unit").into(), range));
            }
        }
    }
    for (code, name, unit, range) in &codes {
        let _ = write!(
            b,
            "<tr data-code=\"{}\"><th>{}</th><td>{}</td><td>{}</td>",
            esc(code),
            esc(name),
            esc(unit),
            esc(range)
        );
        for c in &cols {
            let item = c
                .get("items")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|i| text(i, "code") == code));
            match item {
                Some(i) => {
                    let value = match text(i, "value_label") {
                        "" => num(i, "value"),
                        l => l.to_string(),
                    };
                    let j = text(i, "judgement");
                    let class = if j == "H" || j == "L" { j } else { "" };
                    let _ = write!(
                        b,
                        "<td class=\"{class}\">{}{}</td>",
                        esc(&value),
                        if class.is_empty() {
                            ""
                        } else if j == "H" {
                            " H"
                        } else {
                            " L"
                        }
                    );
                }
                None => b.push_str("<td></td>"),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</table>");
    page(&s, "特定健診情報", &b)
}

// ---------------------------------------------------------------------------------------
// 保険証/処方箋で確認

fn check_form(s: &Session, message: Option<&str>, f: &CheckForm) -> String {
    let v = |x: &Option<String>| esc(x.as_deref().unwrap_or(""));
    let msg = message
        .map(|m| format!("<p class=\"msg err\" id=\"message\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "{msg}<form method=\"post\" action=\"/staff/check\" id=\"check-form\">
<input type=\"hidden\" name=\"csrf\" value=\"{}\">
<label>保険者番号 <input type=\"text\" name=\"insurer\" id=\"check-insurer\" value=\"{}\" inputmode=\"numeric\" maxlength=\"8\"></label>
<label>記号 <input type=\"text\" name=\"symbol\" id=\"check-symbol\" value=\"{}\"></label>
<label>番号 <input type=\"text\" name=\"number\" id=\"check-number\" value=\"{}\"></label>
<label>枝番 <input type=\"text\" name=\"branch\" id=\"check-branch\" value=\"{}\" inputmode=\"numeric\" maxlength=\"2\"> ※保険証に記載がある場合のみ入力します。</label>
<label>生年月日 <input type=\"text\" name=\"birth\" id=\"check-birth\" value=\"{}\" placeholder=\"19800101\" maxlength=\"10\"></label>
<button type=\"submit\" id=\"check-search\">検索</button></form>",
        esc(&s.csrf),
        v(&f.insurer),
        v(&f.symbol),
        v(&f.number),
        v(&f.branch),
        v(&f.birth),
    )
}

#[derive(serde::Deserialize, Default)]
pub struct CheckForm {
    csrf: Option<String>,
    insurer: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
    birth: Option<String>,
}

pub async fn check_page(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    page(
        &s,
        "保険証/処方箋で確認",
        &check_form(&s, None, &CheckForm::default()),
    )
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// 3-digit ratio (`030`) as 「3割」.
fn ratio(v: &Option<String>) -> String {
    match v.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        Some(r) => match r.parse::<u32>() {
            Ok(n) if n % 10 == 0 => format!("{}割", n / 10),
            Ok(n) => format!("{}.{}割", n / 10, n % 10),
            Err(_) => esc(r),
        },
        None => String::new(),
    }
}

fn result_table(r: &onshi_wire::siquc01::ResultOfQualificationConfirmation) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("氏名", esc(opt(&r.name))),
        ("カナ氏名", esc(opt(&r.name_kana))),
        ("生年月日", wire_date(opt(&r.birthdate))),
        (
            "性別",
            match opt(&r.sex1) {
                "1" => "男".into(),
                "2" => "女".into(),
                _ => String::new(),
            },
        ),
        ("保険者番号", esc(opt(&r.insurer_number))),
        ("保険者名称", esc(opt(&r.insurer_name))),
        ("記号", esc(opt(&r.insured_card_symbol))),
        ("番号", esc(opt(&r.insured_identification_number))),
        ("枝番", esc(opt(&r.insured_branch_number))),
        (
            "本人・家族",
            match opt(&r.personal_family_classification) {
                "1" => "本人".into(),
                "2" => "家族".into(),
                _ => String::new(),
            },
        ),
        ("一部負担割合", ratio(&r.insured_partial_contribution_ratio)),
        ("資格取得日", wire_date(opt(&r.qualification_date))),
        ("資格喪失日", wire_date(opt(&r.disqualification_date))),
        ("有効期限", wire_date(opt(&r.insured_card_expiration_date))),
    ];
    if let Some(reason) = r.reason_of_loss.as_deref().filter(|x| !x.is_empty()) {
        let label = match reason {
            "01" => "死亡",
            "02" => "生活保護受給開始",
            "03" => "医療保険等の資格取得",
            _ => "その他",
        };
        rows.push(("喪失事由", label.into()));
    }
    if let Some(e) = &r.elderly_recipient {
        rows.push((
            "高齢受給者証",
            format!(
                "負担割合 {}（{}〜{}）",
                ratio(&e.elderly_recipient_contribution_ratio),
                wire_date(opt(&e.elderly_recipient_valid_start_date)),
                wire_date(opt(&e.elderly_recipient_valid_end_date))
            ),
        ));
    }
    if let Some(l) = &r.limit_info {
        rows.push((
            "限度額適用認定証",
            format!(
                "区分 {}（{}〜{}）",
                esc(opt(&l.limit_application_certificate_classification)),
                wire_date(opt(&l.limit_application_certificate_valid_start_date)),
                wire_date(opt(&l.limit_application_certificate_valid_end_date))
            ),
        ));
    }
    let mut b = String::from("<table class=\"qualification\">");
    for (k, v) in rows.into_iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(b, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    b.push_str("</table>");
    b
}

const NOT_FOUND_ADVICE: &str = "<ul id=\"advice\"><li>入力した保険者番号・記号・番号・枝番・生年月日が保険証と一致しているかご確認ください。</li><li>資格が確認できない場合は、患者に「被保険者資格申立書」を記入いただき、窓口負担は通常どおり（3割等）で受け付けてください。</li><li>レセプトは申立書の内容で請求します。保険者番号等が分からない場合は、過去の受診時の番号、または「不詳」として請求できます。</li></ul>";

pub async fn check(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<CheckForm>,
) -> Response {
    use onshi_wire::siquc01;
    let s = match require(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&headers, f.csrf.as_deref(), Some(&s)) {
        return csrf_refused();
    }
    let clean = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
    let insurer = clean(&f.insurer);
    let number = clean(&f.number);
    let birth: String = clean(&f.birth)
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let branch = clean(&f.branch);
    let symbol = clean(&f.symbol);
    let problem = if !(insurer.len() == 6 || insurer.len() == 8)
        || !insurer.bytes().all(|b| b.is_ascii_digit())
    {
        Some("保険者番号は6桁または8桁の数字で入力してください。")
    } else if number.is_empty() {
        Some("番号を入力してください。")
    } else if !branch.is_empty()
        && (branch.len() != 2 || !branch.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("枝番は2桁の数字で入力してください（記載がない場合は空欄）。")
    } else if birth.len() != 8 || onshi_core::Ymd::parse(&birth).is_err() {
        Some("生年月日はYYYYMMDD（例：19800101）で入力してください。")
    } else {
        None
    };
    if let Some(p) = problem {
        return html(
            StatusCode::BAD_REQUEST,
            page_html(
                "保険証/処方箋で確認",
                Some(&s),
                &check_form(&s, Some(p), &f),
            ),
        );
    }
    let req = siquc01::Request {
        header: siquc01::RequestHeader {
            qualification_confirmation_date: t.clock.now().date().to_wire(),
            medical_institution_code: t.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
        },
        search: siquc01::SearchInfo {
            insurer_number: insurer,
            insured_card_symbol: (!symbol.is_empty()).then_some(symbol),
            insured_identification_number: number,
            insured_branch_number: (!branch.is_empty()).then_some(branch),
            birthdate: birth,
            limit_application_certificate_related_cons_flg: Some("0".into()),
            arbitrary_identifier: None,
        },
    };
    let body: Value = match serde_json::from_slice(&siquc01::encode_request_json(&req)) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let answer = match t
        .link
        .staff_request(
            Method::POST,
            "/oqs/v1/qualification",
            &s.account,
            Some(&body),
        )
        .await
    {
        Ok((_, v)) => {
            siquc01::decode_response_json(v.to_string().as_bytes(), &onshi_wire::Limits::default())
        }
        Err(e) => {
            tracing::warn!(error = %e, "check by insurance card");
            return error_page(
                StatusCode::BAD_GATEWAY,
                Some(&s),
                "接続できません",
                "オンライン資格確認等システムに接続できませんでした。しばらくしてから再度お試しください。",
            );
        }
    };
    let res = match answer {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let validity = res.body.qualification_validity.as_deref().unwrap_or("");
    let mut b = String::new();
    match (validity, res.body.results.first()) {
        ("1" | "6", Some(r)) => {
            b.push_str("<p class=\"msg\" id=\"verdict\" data-validity=\"valid\">資格有効</p>");
            b.push_str(&result_table(r));
        }
        ("2" | "3", Some(r)) => {
            b.push_str(
                "<p class=\"msg err\" id=\"verdict\" data-validity=\"invalid\">資格(無効)</p>",
            );
            if validity == "3" {
                b.push_str("<p class=\"msg\">新しい資格が登録されています。マイナンバーカードでの確認、または新しい保険証の提示をお願いしてください。</p>");
            } else {
                b.push_str("<p>この保険証の資格は喪失しています。喪失した資格は次のとおりです。新しい保険証の提示をお願いしてください。</p>");
            }
            b.push_str(&result_table(r));
        }
        ("5", _) => {
            b.push_str("<p class=\"msg\" id=\"verdict\" data-validity=\"multiple\">複数の資格が該当しました</p>");
            for r in &res.body.results {
                b.push_str(&result_table(r));
            }
        }
        _ => {
            let why = res
                .header
                .error_message
                .as_deref()
                .or(res.body.processing_result_message.as_deref())
                .unwrap_or("");
            let _ = write!(
                b,
                "<p class=\"msg err\" id=\"verdict\" data-validity=\"none\">資格情報なし</p><p>{}</p>{NOT_FOUND_ADVICE}",
                esc(why)
            );
        }
    }
    b.push_str("<p><a href=\"/staff/check\" id=\"check-again\">別の保険証を確認</a>　<a href=\"/staff\">メニュー</a></p>");
    page(&s, "資格確認結果", &b)
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
