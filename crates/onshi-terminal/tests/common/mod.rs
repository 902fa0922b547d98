//! What the terminal's browser tests share: the demo clinic's terminal served on a local
//! port against a spawned central, its staff accounts, and a browser.
// Each test file uses a part of this module.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use onshi_core::Clock;
use onshi_terminal::local::LocalDb;
use onshi_terminal::outage::Outbox;
use onshi_terminal::staff::{self, Role};
use onshi_terminal::{CentralLink, Terminal, TerminalConfig};
use onshi_testkit::TestApp;
use onshi_testkit::browser::{Browser, INSTALL_HINT};
use std::path::Path;
use std::sync::Arc;

pub const GENERAL: (&str, &str) = ("002", "Onshi*002*002");
pub const MEDICAL: (&str, &str) = ("003", "Onshi*003*003");
pub const ADMIN: (&str, &str) = ("admin", "Admin*pass*01");

/// How the terminal under test is set up.
#[derive(Clone, Copy, Default)]
pub struct Setup {
    /// The kiosk's wallet is the cards the test issued (`DIR/cards` of the app).
    pub wallet: bool,
    /// The three staff accounts [`GENERAL`], [`MEDICAL`] and [`ADMIN`].
    pub accounts: bool,
    /// The system-failure mode's queue, in the terminal's own database as in
    /// `onshi terminal serve`.
    pub outbox: bool,
}

/// A terminal serving its pages; stops when dropped.
pub struct Served {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub terminal: Arc<Terminal>,
    queue: Option<Arc<Outbox>>,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    /// The system-failure queue (the terminal was started with [`Setup::outbox`]).
    pub fn outbox(&self) -> &Arc<Outbox> {
        self.queue.as_ref().expect("started without an outbox")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The demo clinic's terminal against `app`.
pub async fn start_terminal(app: &TestApp, setup: Setup) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let clinic = app.clinic().code.clone();
    let client = app.client_with(Some(&app.facility_cert(&clinic)));
    let local_path = dir
        .path()
        .join(format!("terminal-{}.sqlite", clinic.as_str()));
    let local = LocalDb::open(&local_path).unwrap();
    if setup.accounts {
        staff::add_account(&local, GENERAL.0, Role::General, GENERAL.1).unwrap();
        staff::add_account(&local, MEDICAL.0, Role::Medical, MEDICAL.1).unwrap();
        staff::add_account(&local, ADMIN.0, Role::Admin, ADMIN.1).unwrap();
    }
    let outbox = setup
        .outbox
        .then(|| Arc::new(Outbox::open(&local_path).unwrap()));
    let terminal = Terminal::new(TerminalConfig {
        facility: clinic,
        link: CentralLink::new(client),
        local,
        oqs_root: dir.path().join("oqs"),
        wallet: setup.wallet.then(|| app.dir.path().join("cards")),
        clock: app.clock.clone() as Arc<dyn Clock>,
        outbox: outbox.clone(),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = onshi_terminal::router(terminal.clone());
    let server = tokio::spawn(async move {
        let _ = onshi_terminal::serve(listener, router).await;
    });
    Served {
        url: format!("http://{addr}"),
        addr,
        terminal,
        queue: outbox,
        dir,
        server,
    }
}

/// Headless Chromium through ChromeDriver; says how to install them when missing.
pub fn browser() -> Browser {
    Browser::start().unwrap_or_else(|e| panic!("{e:#}\n{INSTALL_HINT}"))
}

pub fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}
