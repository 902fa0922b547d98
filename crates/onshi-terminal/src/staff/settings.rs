//! 環境設定 (管理者 only): スマートフォンによる資格確認, which consent screens the kiosk
//! shows, 目視 mode, and the character code of the files the terminal writes (the
//! face-result files under `face/`).
//!
//! The kiosk settings live in the terminal's SQLite ([`crate::local::KioskSettings`]) and
//! the kiosk and the file writer read them on every use, so a change holds from the next
//! patient on. Whether smartphones are accepted is central's to enforce (it decides every
//! card check), so that switch is the facility's record at central
//! (`/oqs/v1/facility/settings`), read and written from here.

use super::medical::text;
use super::*;
use crate::local::ConsentScreens;
use onshi_wire::Encoding;

#[allow(clippy::result_large_err)]
fn require_admin(t: &Terminal, headers: &HeaderMap) -> Result<Session, Response> {
    let s = require(t, headers)?;
    if s.role != Role::Admin {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            Some(&s),
            "権限がありません",
            "環境設定は管理者アカウントでのみ変更できます。管理者のログインIDでログインし直してください。",
        ));
    }
    Ok(s)
}

/// Central's smartphone switch for this facility, or why it cannot be read.
async fn smartphone(t: &Terminal, s: &Session) -> Result<bool, String> {
    match t
        .link
        .staff_request(Method::GET, "/oqs/v1/facility/settings", &s.account, None)
        .await
    {
        Ok((200, v)) => v
            .get("smartphone_enabled")
            .and_then(Value::as_bool)
            .ok_or_else(|| "応答を読み取れませんでした".to_string()),
        Ok((_, v)) => Err(format!(
            "{}（{}）",
            text(&v, "error_message"),
            text(&v, "error_code")
        )),
        Err(e) => {
            tracing::warn!(error = %e, "facility settings");
            Err("オンライン資格確認等システムに接続できませんでした".into())
        }
    }
}

fn checked(on: bool) -> &'static str {
    if on { " checked" } else { "" }
}

fn form(
    s: &Session,
    t: &Terminal,
    phone: &Result<bool, String>,
    message: Option<&str>,
) -> Result<String, LocalError> {
    let k = t.local.kiosk_settings()?;
    let c = k.consent_screens;
    let mut b = String::new();
    if let Some(m) = message {
        let _ = write!(b, "<p class=\"msg\" id=\"message\">{}</p>", esc(m));
    }
    let phone_fields = match phone {
        Ok(on) => format!(
            "<label><input type=\"radio\" name=\"smartphone\" value=\"1\" id=\"smartphone-on\"{}> 利用する</label>
<label><input type=\"radio\" name=\"smartphone\" value=\"0\" id=\"smartphone-off\"{}> 利用しない</label>",
            checked(*on),
            checked(!on)
        ),
        Err(why) => format!(
            "<p class=\"msg err\" id=\"smartphone-unknown\">現在の設定を取得できません：{}</p>",
            esc(why)
        ),
    };
    let screen = |name: &str, label: &str, on: bool| {
        format!(
            "<label><input type=\"checkbox\" name=\"{name}\" value=\"1\" id=\"screen-{name}\"{}> {label}</label>",
            checked(on)
        )
    };
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/staff/settings\" id=\"settings-form\">
<input type=\"hidden\" name=\"csrf\" value=\"{}\">
<fieldset><legend>スマートフォンによる資格確認（マイナ保険証のスマートフォン搭載）</legend>{phone_fields}</fieldset>
<fieldset><legend>顔認証付きカードリーダーで表示する同意画面</legend>{}{}{}{}{}{}
<p>※特定健診情報の同意画面は40歳以上の方にのみ表示されます。</p></fieldset>
<fieldset><legend>本人確認</legend><label><input type=\"checkbox\" name=\"visual\" value=\"1\" id=\"visual-mode\"{}> 目視確認モード（職員が顔写真と本人を目視で確認する）</label></fieldset>
<fieldset><legend>出力ファイルの文字コード</legend>
<label><input type=\"radio\" name=\"encoding\" value=\"UTF-8\" id=\"encoding-utf8\"{}> UTF-8</label>
<label><input type=\"radio\" name=\"encoding\" value=\"Shift_JIS\" id=\"encoding-sjis\"{}> Shift_JIS</label>
<p>※資格確認結果ファイル（face フォルダ）の文字コードです。</p></fieldset>
<button type=\"submit\" id=\"settings-save\">保存</button></form>",
        esc(&s.csrf),
        screen("pharmacists", "薬剤情報", c.pharmacists),
        screen("checkups", "特定健診情報", c.specific_health_checkups),
        screen("diagnosis", "診療情報", c.diagnosis),
        screen("operation", "手術情報", c.operation),
        screen("limit", "限度額情報（高額療養費制度）", c.limit),
        screen("diseases", "特定疾病療養受療証情報", c.specific_diseases),
        checked(k.visual_mode),
        checked(k.face_encoding == Encoding::Utf8),
        checked(k.face_encoding == Encoding::ShiftJis),
    );
    Ok(b)
}

pub async fn settings_page(State(t): State<Arc<Terminal>>, headers: HeaderMap) -> Response {
    let s = match require_admin(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let phone = smartphone(&t, &s).await;
    match form(&s, &t, &phone, None) {
        Ok(b) => page(&s, "環境設定", &b),
        Err(e) => internal(e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct SettingsForm {
    csrf: Option<String>,
    smartphone: Option<String>,
    pharmacists: Option<String>,
    checkups: Option<String>,
    diagnosis: Option<String>,
    operation: Option<String>,
    limit: Option<String>,
    diseases: Option<String>,
    visual: Option<String>,
    encoding: Option<String>,
}

pub async fn settings_save(
    State(t): State<Arc<Terminal>>,
    headers: HeaderMap,
    Form(f): Form<SettingsForm>,
) -> Response {
    let s = match require_admin(&t, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&headers, f.csrf.as_deref(), Some(&s)) {
        return csrf_refused();
    }
    let on = |v: &Option<String>| v.as_deref() == Some("1");
    let encoding = match f.encoding.as_deref() {
        None => None,
        Some(e) => match Encoding::from_label(e) {
            Some(e) => Some(e),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    Some(&s),
                    "環境設定",
                    "文字コードは UTF-8 か Shift_JIS を選択してください。",
                );
            }
        },
    };
    let screens = ConsentScreens {
        pharmacists: on(&f.pharmacists),
        specific_health_checkups: on(&f.checkups),
        diagnosis: on(&f.diagnosis),
        operation: on(&f.operation),
        limit: on(&f.limit),
        specific_diseases: on(&f.diseases),
    };
    let saved = (|| {
        t.local.set_consent_screens(&screens)?;
        t.local.set_visual_mode(on(&f.visual))?;
        if let Some(e) = encoding {
            t.local.set_face_encoding(e)?;
        }
        Ok::<_, LocalError>(())
    })();
    if let Err(e) = saved {
        return internal(e);
    }
    tracing::info!(account = s.account, "kiosk settings changed");
    let mut message = String::from("設定を保存しました。次の患者の受付から反映されます。");
    let phone = match f.smartphone.as_deref() {
        Some(v @ ("0" | "1")) => {
            let body = json!({ "smartphone_enabled": v == "1" });
            match t
                .link
                .staff_request(
                    Method::POST,
                    "/oqs/v1/facility/settings",
                    &s.account,
                    Some(&body),
                )
                .await
            {
                Ok((200, v)) => v
                    .get("smartphone_enabled")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| "応答を読み取れませんでした".to_string()),
                Ok((_, v)) => {
                    message = format!(
                        "カードリーダーの設定は保存しましたが、スマートフォンの設定は変更できませんでした：{}（{}）",
                        text(&v, "error_message"),
                        text(&v, "error_code")
                    );
                    smartphone(&t, &s).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "facility settings");
                    message = "カードリーダーの設定は保存しましたが、オンライン資格確認等システムに接続できなかったため、スマートフォンの設定は変更できませんでした。".into();
                    Err("接続できません".into())
                }
            }
        }
        _ => smartphone(&t, &s).await,
    };
    match form(&s, &t, &phone, Some(&message)) {
        Ok(b) => page(&s, "環境設定", &b),
        Err(e) => internal(e),
    }
}
