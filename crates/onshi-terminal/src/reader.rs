//! `/reader`: the staff's switches for the card reader — 目視 mode, which consent screens
//! the kiosk shows, the encoding of face-result files. Kept in the terminal's local SQLite.

use crate::Terminal;
use crate::local::ConsentScreens;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use onshi_wire::Encoding;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Serialize, Deserialize)]
pub struct SettingsView {
    pub facility: Option<String>,
    pub visual_mode: bool,
    pub consent_screens: ConsentScreens,
    /// "UTF-8" or "Shift_JIS".
    pub face_encoding: String,
}

/// A change: only the fields given are set.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsChange {
    pub visual_mode: Option<bool>,
    pub consent_screens: Option<ConsentScreens>,
    pub face_encoding: Option<String>,
}

fn view(t: &Terminal) -> Result<SettingsView, crate::local::LocalError> {
    let s = t.local.kiosk_settings()?;
    Ok(SettingsView {
        facility: Some(t.facility.as_str().to_string()),
        visual_mode: s.visual_mode,
        consent_screens: s.consent_screens,
        face_encoding: s.face_encoding.xml_label().to_string(),
    })
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "terminal settings");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({ "error": "設定を読み書きできませんでした" })),
    )
        .into_response()
}

pub(crate) async fn get_settings(State(t): State<Arc<Terminal>>) -> Response {
    match view(&t) {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

pub(crate) async fn set_settings(
    State(t): State<Arc<Terminal>>,
    Json(change): Json<SettingsChange>,
) -> Response {
    let encoding = match change.face_encoding.as_deref().map(Encoding::from_label) {
        Some(None) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "face_encoding は UTF-8 か Shift_JIS です" })),
            )
                .into_response();
        }
        Some(Some(e)) => Some(e),
        None => None,
    };
    let result = (|| {
        if let Some(v) = change.visual_mode {
            t.local.set_visual_mode(v)?;
        }
        if let Some(c) = &change.consent_screens {
            t.local.set_consent_screens(c)?;
        }
        if let Some(e) = encoding {
            t.local.set_face_encoding(e)?;
        }
        Ok::<_, crate::local::LocalError>(())
    })();
    if let Err(e) = result {
        return internal(e);
    }
    match view(&t) {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

pub(crate) async fn page() -> Response {
    crate::kiosk::html(include_str!("../assets/reader.html"))
}

pub(crate) async fn index() -> Response {
    crate::kiosk::html(include_str!("../assets/index.html"))
}
