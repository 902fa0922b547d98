//! The facility terminal (資格確認端末): the facility's agent, and the only thing that
//! talks to central.
//!
//! - [`files`]: the file interface through which receipt computers and EMRs exchange
//!   `XmlMsg` files with the system;
//! - [`kiosk`]: the face-auth card reader's screens, served as a page;
//! - [`reader`]: the small staff page that switches the reader (目視 mode, consent screens,
//!   face-file encoding);
//! - [`link`]: [`CentralLink`], the one road to central for the kiosk;
//! - [`local`]: the terminal's own SQLite (settings);
//! - [`staff`]: the staff screens under `/staff` (login, 資格確認履歴照会, 保険証で確認,
//!   一括照会, 同意済み患者一覧 and medical views, 災害時閲覧, 環境設定);
//! - [`outage`], [`relay`], [`rest`]: system-failure mode, the relay to central shared by
//!   the file interface and the REST form, and the REST form itself.
//!
//! [`router`] gives the terminal's pages as one axum router; other screens and APIs are
//! added by merging their routers into it.

pub mod files;
pub mod kiosk;
pub mod link;
pub mod local;
pub mod outage;
pub mod patient;
pub mod reader;
pub mod relay;
pub mod rest;
pub mod staff;

pub use link::CentralLink;

use axum::Router;
use axum::routing::{get, post};
use onshi_core::Clock;
use onshi_core::ids::MedicalInstitutionCode;
use onshi_wire::{Encoding, siquc01};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a terminal is made of.
pub struct TerminalConfig {
    pub facility: MedicalInstitutionCode,
    pub link: CentralLink,
    pub local: local::LocalDb,
    /// The file-interface root (`req`, `res`, `face`).
    pub oqs_root: PathBuf,
    /// Directory of software cards the kiosk offers to place (the demo wallet).
    pub wallet: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
    /// The system-failure mode's last known answers and queue; without one the kiosk
    /// can only say that central is unreachable.
    pub outbox: Option<Arc<outage::Outbox>>,
}

/// A running terminal's shared state.
pub struct Terminal {
    pub facility: MedicalInstitutionCode,
    pub link: CentralLink,
    pub local: local::LocalDb,
    pub oqs_root: PathBuf,
    pub wallet: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
    pub outbox: Option<Arc<outage::Outbox>>,
    sessions: kiosk::Sessions,
}

impl Terminal {
    pub fn new(c: TerminalConfig) -> Result<Arc<Self>, files::FileError> {
        let face = c.oqs_root.join("face");
        std::fs::create_dir_all(&face)
            .map_err(|source| files::FileError::Io { path: face, source })?;
        Ok(Arc::new(Terminal {
            facility: c.facility,
            link: c.link,
            local: c.local,
            oqs_root: c.oqs_root,
            wallet: c.wallet,
            clock: c.clock,
            outbox: c.outbox,
            sessions: kiosk::Sessions::default(),
        }))
    }

    pub fn face_dir(&self) -> PathBuf {
        self.oqs_root.join("face")
    }

    /// Writes a completed kiosk check to `face/` as
    /// `OQSsiquc01res_face_{医療機関コード}{20 hex}_{yyyyMMddHHmmss}.xml` (atomically).
    pub fn write_face_file(
        &self,
        response: &siquc01::Response,
        encoding: Encoding,
    ) -> Result<PathBuf, files::FileError> {
        let t = &response.header.process_execution_time;
        let stamp = if t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()) {
            t.clone()
        } else {
            self.clock.now().to_wire()
        };
        let path = face_file_path(&self.face_dir(), &self.facility, &stamp);
        files::write_atomically(&path, &siquc01::encode_response_xml(response, encoding))?;
        Ok(path)
    }
}

/// A new face-result file name under `dir` (`face/` relative for queued checks).
pub(crate) fn face_file_path(
    dir: &Path,
    facility: &MedicalInstitutionCode,
    stamp: &str,
) -> PathBuf {
    use rand::RngCore;
    let mut b = [0u8; 10];
    rand::rng().fill_bytes(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    dir.join(format!(
        "OQSsiquc01res_face_{}{hex}_{stamp}.xml",
        facility.as_str()
    ))
}

/// The terminal's pages: `/kiosk` (the reader's screens, with its API under
/// `/kiosk/api`) and `/reader` (staff switches). Merge further routers into it.
pub fn router(t: Arc<Terminal>) -> Router {
    Router::new()
        .route("/", get(reader::index))
        .route("/kiosk", get(kiosk::page))
        .route("/kiosk/kiosk.js", get(kiosk::script))
        .route("/kiosk/kiosk.css", get(kiosk::style))
        .route("/kiosk/api/wallet", get(kiosk::wallet))
        .route("/kiosk/api/session", post(kiosk::place))
        .route("/kiosk/api/session/{id}", post(kiosk::act))
        .route("/kiosk/api/session/{id}/end", post(kiosk::end))
        .route("/patient", get(patient::show_form).post(patient::view))
        .route("/reader", get(reader::page))
        .route(
            "/reader/api/settings",
            get(reader::get_settings).post(reader::set_settings),
        )
        .route("/staff", get(staff::menu))
        .route("/staff/login", get(staff::login_page).post(staff::login))
        .route("/staff/login/force", post(staff::login_force))
        .route("/staff/logout", post(staff::logout))
        .route("/staff/check", get(staff::check_page).post(staff::check))
        .route("/staff/patients", get(staff::patients))
        .route("/staff/patients/{person}/drug", get(staff::drug))
        .route("/staff/patients/{person}/treatment", get(staff::treatment))
        .route("/staff/patients/{person}/checkup", get(staff::checkup))
        .route("/staff/history", get(staff::history_page))
        .route("/staff/history/{id}", get(staff::history_detail))
        .route(
            "/staff/bulk",
            get(staff::bulk_page)
                .post(staff::bulk_upload)
                .layer(axum::extract::DefaultBodyLimit::max(staff::MAX_UPLOAD)),
        )
        .route("/staff/bulk/{reception}", get(staff::bulk_job))
        .route(
            "/staff/settings",
            get(staff::settings_page).post(staff::settings_save),
        )
        .route("/staff/disaster", get(staff::disaster_page))
        .route("/staff/disaster/search", post(staff::disaster_search))
        .with_state(t)
}

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn face_file_names_follow_the_real_pattern() {
        let code = MedicalInstitutionCode::parse("0110113719").unwrap();
        let p = face_file_path(Path::new("/x"), &code, "20261123100000");
        let name = p.file_name().unwrap().to_str().unwrap();
        let rest = name.strip_prefix("OQSsiquc01res_face_0110113719").unwrap();
        let (hex, tail) = rest.split_at(20);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(tail, "_20261123100000.xml");
    }
}
