//! The file interface (連携アプリ): receipt computers drop request files into `req/` and
//! read results from `res/`; the face reader's results go to `face/`.
//!
//! Messages: `OQSsiquc01` (single check by insurance-card data; answered through the
//! relay, so the system-failure mode applies), `OQSmuquc01` / `OQSmuquc02` (bulk check:
//! upload → `ReceptionNumber`, then results, `SegmentOfResult` 2 while central is still
//! processing), `OQSsiimm01` (照会番号 registration) and the medical-information requests
//! `YZKsiquc01` / `TKKsiquc01` (answered only under a valid consent or a declared disaster,
//! otherwise with the refusal result), the last five validated here and forwarded to
//! central as they are (see [`crate::relay::FORWARDED`]).
//!
//! Rules this module keeps (`shared/reference/ons-interface.md` §1):
//! - A request `{PREFIX}req_{id}.xml` is answered by `{PREFIX}res_{id}.xml` in `res/`, and
//!   the answer echoes `ArbitraryFileIdentifier`, so either way of pairing works.
//! - A writer may still be writing: a request that decodes as a complete message is taken
//!   at once (a partial file never does: its root element is not closed), but a file is
//!   only refused as invalid once its size and modification time have not changed for
//!   [`FileInterface::settle`].
//! - Each request is answered exactly once: the result is written atomically (temporary
//!   name, then rename) before the request is removed; if the terminal stops in between,
//!   the next pass finds the result and only removes the request.
//! - An invalid request is moved to `res/` with a `.err` sibling (same base name) that
//!   says what is wrong: `ErrorCode=…` and `ErrorMessage=…` lines, CRLF, in the request's
//!   encoding (Shift_JIS when the request declared it, else UTF-8). The real format of
//!   `.err` files is not public; this one is ours.
//! - When central cannot be reached: with an [`Outbox`] (the terminal always has one) the
//!   request is answered provisionally from the last known qualification and queued
//!   (see [`crate::outage`]); without one it stays in `req/` for the next pass.

use crate::outage::Outbox;
use crate::relay::{Relay, SingleAnswer};
use onshi_central::client::CentralClient;
use onshi_core::Clock;
use onshi_wire::{Encoding, Limits, siquc01};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Single check by insurance-card data: answered through the relay (failure mode).
const SINGLE_CHECK: &str = "OQSsiquc01";

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What happened to one request file in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered: the result file.
    Answered(PathBuf),
    /// Refused: the request moved to `res/` with a `.err` beside it.
    Refused { request: PathBuf, err: PathBuf },
    /// A result already existed (the terminal stopped after answering): request removed.
    AlreadyAnswered(PathBuf),
    /// Central could not be reached: left in `req/` for the next pass.
    Deferred(PathBuf),
    /// Central could not be reached: answered from the last known qualification (or
    /// with 「申立書」 advice) and queued; the real result follows in `res/reconciled/`.
    Provisional(PathBuf),
}

pub struct FileInterface {
    root: PathBuf,
    relay: Arc<Relay>,
    /// How long a file must stay unchanged before it is read.
    pub settle: Duration,
    seen: HashMap<PathBuf, (u64, SystemTime, SystemTime)>,
    central_down_until: Option<std::time::Instant>,
}

impl FileInterface {
    /// `root` holds `req`, `res` and `face` (made if missing).
    pub fn new(root: impl Into<PathBuf>, client: CentralClient) -> Result<Self, FileError> {
        Self::with_relay(root, Arc::new(Relay::new(client)))
    }

    /// Shares the terminal's way to central (and its outbox) with the other front ends.
    pub fn with_relay(root: impl Into<PathBuf>, relay: Arc<Relay>) -> Result<Self, FileError> {
        let root = root.into();
        for d in ["req", "res", "face"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(FileInterface {
            root,
            relay,
            settle: Duration::from_millis(300),
            seen: HashMap::new(),
            central_down_until: None,
        })
    }

    /// Turns on the system-failure mode: answers are remembered in `outbox`, and while
    /// central is down requests are answered from it and queued.
    pub fn with_outbox(mut self, outbox: Arc<Outbox>, clock: Arc<dyn Clock>) -> Self {
        let client = self.relay.client().clone();
        self.relay = Arc::new(Relay::new(client).with_outbox(outbox, clock));
        self
    }

    pub fn req_dir(&self) -> PathBuf {
        self.root.join("req")
    }

    pub fn res_dir(&self) -> PathBuf {
        self.root.join("res")
    }

    /// Polls `req/` until the task is dropped.
    pub async fn run(mut self, every: Duration) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "file interface pass failed");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One pass over `req/`: every stable request file is handled once.
    pub async fn pass(&mut self) -> Result<Vec<Outcome>, FileError> {
        let req = self.req_dir();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&req)
            .map_err(io(&req))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        let mut out = Vec::new();
        let now = SystemTime::now();
        for path in names {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if name.starts_with('.') || !name.contains("req_") {
                continue;
            }
            let stable = self.is_stable(&path, now);
            if let Some(outcome) = self.handle(&path, &name, stable).await? {
                self.seen.remove(&path);
                out.push(outcome);
            }
        }
        Ok(out)
    }

    /// Stable = seen before with the same size and modification time, and neither the
    /// first sighting nor the last change is more recent than `settle`. A zero `settle`
    /// takes every file at once (tests, and writers that rename complete files into place).
    fn is_stable(&mut self, path: &Path, now: SystemTime) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        if self.settle.is_zero() {
            return true;
        }
        let (len, mtime) = (meta.len(), meta.modified().unwrap_or(now));
        let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        match self.seen.get(path) {
            Some(&(l, m, first)) if l == len && m == mtime => {
                age(first) >= self.settle && age(mtime) >= self.settle
            }
            _ => {
                self.seen.insert(path.to_owned(), (len, mtime, now));
                false
            }
        }
    }

    /// `None`: not taken yet (incomplete and not yet stable).
    async fn handle(
        &mut self,
        path: &Path,
        name: &str,
        stable: bool,
    ) -> Result<Option<Outcome>, FileError> {
        let res_name = name.replacen("req_", "res_", 1);
        let res_path = self.res_dir().join(&res_name);
        if res_path.exists() {
            std::fs::remove_file(path).map_err(io(path))?;
            return Ok(Some(Outcome::AlreadyAnswered(res_path)));
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            // Removed or renamed by its writer meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        let forwarded = name
            .split_once("req_")
            .and_then(|(message, _)| crate::relay::forwarded(message));
        if !name.ends_with(".xml") || (!name.starts_with(SINGLE_CHECK) && forwarded.is_none()) {
            if !stable {
                return Ok(None);
            }
            return self
                .refuse(
                    path,
                    name,
                    &bytes,
                    "ONS1010",
                    "この種類の要求ファイルには対応していません（OQSsiquc01, OQSmuquc01, OQSmuquc02, OQSsiimm01, YZKsiquc01, TKKsiquc01）。".into(),
                )
                .map(Some);
        }
        if let Some(f) = forwarded {
            return self.forward(path, name, &res_path, &bytes, f, stable).await;
        }
        let limits = Limits::default();
        let (request, encoding) = match siquc01::decode_request_xml(&bytes, &limits) {
            Ok(r) => r,
            Err(_) if !stable => return Ok(None),
            Err(e) => {
                // The same code and message central would give for this input.
                let err = onshi_central::error::CheckError::from(e);
                return self
                    .refuse(path, name, &bytes, err.code(), err.message_ja())
                    .map(Some);
            }
        };
        let target = format!("res/reconciled/{res_name}");
        let answer = self
            .relay
            .single_check(&bytes, &request, encoding, &target)
            .await
            .map_err(|e| FileError::Io {
                path: path.to_owned(),
                source: std::io::Error::other(e.to_string()),
            })?;
        // Central's refusals (bad check digit, unknown facility…) come back as result
        // files with SegmentOfResult 9, which receipt computers read.
        let (body, provisional) = match answer {
            SingleAnswer::Central(body) => (body, false),
            SingleAnswer::Provisional(body) => (body, true),
            SingleAnswer::Unreachable => return Ok(Some(Outcome::Deferred(path.to_owned()))),
        };
        write_atomically(&res_path, &body)?;
        std::fs::remove_file(path).map_err(io(path))?;
        if provisional {
            tracing::warn!(request = %path.display(), "central unreachable: answered provisionally and queued");
            return Ok(Some(Outcome::Provisional(res_path)));
        }
        Ok(Some(Outcome::Answered(res_path)))
    }

    /// A message central answers as it is: validated here (so a bad file gets its `.err`
    /// without a round trip), posted, and central's answer written as the result file.
    async fn forward(
        &mut self,
        path: &Path,
        name: &str,
        res_path: &Path,
        bytes: &[u8],
        forwarded: &crate::relay::Forwarded,
        stable: bool,
    ) -> Result<Option<Outcome>, FileError> {
        if let Err(e) = (forwarded.validate)(bytes) {
            if !stable {
                return Ok(None);
            }
            let err = onshi_central::error::CheckError::from(e);
            return self
                .refuse(path, name, bytes, err.code(), err.message_ja())
                .map(Some);
        }
        if self
            .central_down_until
            .is_some_and(|t| std::time::Instant::now() < t)
        {
            return Ok(Some(Outcome::Deferred(path.to_owned())));
        }
        let Some(reply) = self
            .relay
            .post(
                forwarded.path,
                "application/xml",
                "application/xml",
                bytes.to_vec(),
            )
            .await
        else {
            // Do not knock on a closed door every pass.
            self.central_down_until = Some(std::time::Instant::now() + Duration::from_secs(1));
            return Ok(Some(Outcome::Deferred(path.to_owned())));
        };
        self.central_down_until = None;
        write_atomically(res_path, &reply.body)?;
        std::fs::remove_file(path).map_err(io(path))?;
        Ok(Some(Outcome::Answered(res_path.to_owned())))
    }

    fn refuse(
        &self,
        path: &Path,
        name: &str,
        bytes: &[u8],
        code: &str,
        message: String,
    ) -> Result<Outcome, FileError> {
        let moved = self.res_dir().join(name);
        let err = self.res_dir().join(format!(
            "{}.err",
            name.rsplit_once('.').map(|(b, _)| b).unwrap_or(name)
        ));
        let text = format!("ErrorCode={code}\r\nErrorMessage={message}\r\n");
        let encoded = match declared_encoding(bytes) {
            Encoding::ShiftJis => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
            Encoding::Utf8 => text.into_bytes(),
        };
        // The .err appears first, then the request: a reader that sees the request in res/
        // always finds its explanation.
        write_atomically(&err, &encoded)?;
        std::fs::rename(path, &moved).map_err(io(path))?;
        Ok(Outcome::Refused {
            request: moved,
            err,
        })
    }
}

/// The encoding a request declares (for the `.err` text), UTF-8 when unsure.
fn declared_encoding(bytes: &[u8]) -> Encoding {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(100)]).to_ascii_lowercase();
    if head.contains("shift_jis")
        || head.contains("shift-jis")
        || head.contains("sjis")
        || head.contains("windows-31j")
    {
        Encoding::ShiftJis
    } else {
        Encoding::Utf8
    }
}

/// Writes `bytes` under a temporary name in the same folder, then renames: readers never
/// see a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}
