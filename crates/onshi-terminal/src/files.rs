//! The file interface (連携アプリ): receipt computers drop request files into `req/` and
//! read results from `res/`; the face reader's results go to `face/`.
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

use crate::outage::{self, Outbox, QueuedKind};
use onshi_central::client::{CentralClient, Connection};
use onshi_core::Clock;
use onshi_wire::{Encoding, Limits, siquc01};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Message types the interface answers today.
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
    client: CentralClient,
    conn: Option<Connection>,
    /// How long a file must stay unchanged before it is read.
    pub settle: Duration,
    seen: HashMap<PathBuf, (u64, SystemTime, SystemTime)>,
    outage: Option<(Arc<Outbox>, Arc<dyn Clock>)>,
}

impl FileInterface {
    /// `root` holds `req`, `res` and `face` (made if missing).
    pub fn new(root: impl Into<PathBuf>, client: CentralClient) -> Result<Self, FileError> {
        let root = root.into();
        for d in ["req", "res", "face"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        Ok(FileInterface {
            root,
            client,
            conn: None,
            settle: Duration::from_millis(300),
            seen: HashMap::new(),
            outage: None,
        })
    }

    /// Turns on the system-failure mode: answers are remembered in `outbox`, and while
    /// central is down requests are answered from it and queued.
    pub fn with_outbox(mut self, outbox: Arc<Outbox>, clock: Arc<dyn Clock>) -> Self {
        self.outage = Some((outbox, clock));
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
        if !name.starts_with(SINGLE_CHECK) || !name.ends_with(".xml") {
            if !stable {
                return Ok(None);
            }
            return self
                .refuse(
                    path,
                    name,
                    &bytes,
                    "ONS1010",
                    "この種類の要求ファイルにはまだ対応していません。".into(),
                )
                .map(Some);
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
        let reply = match self.post(&bytes).await {
            Some(r) => r,
            None => {
                return match self.outage.clone() {
                    Some((outbox, clock)) => self
                        .provisional(
                            &outbox, &*clock, path, &res_name, &bytes, &request, encoding,
                        )
                        .map(Some),
                    None => Ok(Some(Outcome::Deferred(path.to_owned()))),
                };
            }
        };
        // Central's answer is already a complete message in the request's encoding; a
        // refusal by central (bad check digit, unknown facility…) is answered the same way,
        // as a result file with SegmentOfResult 9, which receipt computers read.
        let body = match siquc01::decode_response_xml(&reply, &limits) {
            Ok((res, _)) => {
                if let Some((outbox, clock)) = &self.outage
                    && res.header.segment_of_result == "1"
                {
                    let key = outage::insurance_key(&request.search);
                    if let Err(e) = outbox.remember(&key, &res, clock.now()) {
                        tracing::warn!(error = %e, "could not remember the answer");
                    }
                }
                reply
            }
            Err(_) => {
                let res = siquc01::Response {
                    header: siquc01::ResponseHeader {
                        segment_of_result: "9".into(),
                        error_code: Some("ONS9002".into()),
                        error_message: Some("中央システムの応答を読み取れませんでした。".into()),
                        arbitrary_file_identifier: request.header.arbitrary_file_identifier.clone(),
                        ..Default::default()
                    },
                    body: siquc01::ResponseBody {
                        processing_result_status: "2".into(),
                        ..Default::default()
                    },
                };
                siquc01::encode_response_xml(&res, encoding)
            }
        };
        write_atomically(&res_path, &body)?;
        std::fs::remove_file(path).map_err(io(path))?;
        Ok(Some(Outcome::Answered(res_path)))
    }

    /// System-failure mode: answer from the last known qualification (or say that
    /// nothing is known), queue the request for reconciliation, then remove it. The
    /// queue entry is committed before the answer is written, so a stop in between
    /// loses nothing (the next pass finds the answer and only removes the request).
    #[allow(clippy::too_many_arguments)]
    fn provisional(
        &self,
        outbox: &Outbox,
        clock: &dyn Clock,
        path: &Path,
        res_name: &str,
        bytes: &[u8],
        request: &siquc01::Request,
        encoding: Encoding,
    ) -> Result<Outcome, FileError> {
        let now = clock.now();
        let db = |e: outage::OutageError| FileError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        };
        let last = outbox
            .last_known(&outage::insurance_key(&request.search))
            .map_err(db)?;
        let answer = outage::provisional_answer(last, &request.header, now);
        outbox
            .enqueue(
                QueuedKind::FileCheck,
                bytes,
                &format!("res/reconciled/{res_name}"),
                encoding,
                now,
            )
            .map_err(db)?;
        let res_path = self.res_dir().join(res_name);
        write_atomically(&res_path, &siquc01::encode_response_xml(&answer, encoding))?;
        std::fs::remove_file(path).map_err(io(path))?;
        tracing::warn!(request = %path.display(), "central unreachable: answered provisionally and queued");
        Ok(Outcome::Provisional(res_path))
    }

    async fn post(&mut self, body: &[u8]) -> Option<Vec<u8>> {
        for _ in 0..2 {
            if self.conn.is_none() {
                self.conn = self.client.connect().await.ok();
            }
            let conn = self.conn.as_mut()?;
            match conn
                .post("/oqs/v1/qualification", "application/xml", body.to_vec())
                .await
            {
                // Central could not record the answer: try again on the next pass.
                Ok(reply) if reply.status.as_u16() == 503 => return None,
                Ok(reply) => return Some(reply.body.to_vec()),
                // A kept-alive connection may have been closed by central: reconnect once.
                Err(_) => self.conn = None,
            }
        }
        None
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
