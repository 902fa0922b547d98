//! The audit chain: every view of medical information, every disaster-time search and every
//! staff login, append-only, each row bound to the one before it.
//!
//! `hash(row) = SHA-256(prev_hash ‖ canonical(row))`, where `canonical` writes the
//! sequence number and every field as a length-prefixed byte string, so no two different
//! rows have the same bytes. The first row's `prev_hash` is 64 zeros. Rows are appended in
//! one transaction per group that reads the current head under a lock (SQLite: the write
//! transaction; PostgreSQL: an advisory lock), so the chain never forks, whichever central
//! process appends.
//!
//! [`ChainVerifier`] walks the rows in `seq` order and reports the first problem: a row
//! whose hash does not match its content (changed), a gap in the sequence (deleted rows),
//! or a row whose `prev_hash` is not the previous row's hash (inserted or reordered).
//! Without an anchor kept elsewhere, rows cut from the end, or rows appended by someone
//! who recomputes the chain, cannot be told from honest ones: `onshi audit verify` prints
//! the head so that an operator can keep it and pass it back (`--expect-head`).

use onshi_core::date::JstDateTime;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: JstDateTime,
    pub facility_code: String,
    /// The staff account as the terminal reports it (or `patient` for self views).
    pub account: String,
    pub person_id: Option<i64>,
    /// `view`, `search` or `login`.
    pub kind: String,
    /// OQSCD036 code of a view; empty otherwise.
    pub information: String,
    /// `consent`, `disaster`, `patient`; empty when refused or not a view.
    pub basis: String,
    /// `allowed` / `refused` for views and searches, `ok` / `failed` for logins.
    pub outcome: String,
    /// Free text: the refusal code, the search form, the login failure reason.
    pub detail: String,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes a row's hash covers (besides the previous hash).
pub fn canonical(seq: i64, e: &AuditEntry) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"onshi-audit-v1");
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&e.at.unix_micros().to_be_bytes());
    push_field(&mut out, e.facility_code.as_bytes());
    push_field(&mut out, e.account.as_bytes());
    match e.person_id {
        Some(p) => {
            out.push(1);
            out.extend_from_slice(&p.to_be_bytes());
        }
        None => out.push(0),
    }
    push_field(&mut out, e.kind.as_bytes());
    push_field(&mut out, e.information.as_bytes());
    push_field(&mut out, e.basis.as_bytes());
    push_field(&mut out, e.outcome.as_bytes());
    push_field(&mut out, e.detail.as_bytes());
    out
}

/// `SHA-256(prev_hash ‖ canonical)` in lower-case hex.
pub fn chain_hash(prev_hash: &str, seq: i64, e: &AuditEntry) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(prev_hash.as_bytes());
    ctx.update(&canonical(seq, e));
    hex(ctx.finish().as_ref())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Links `entries` after the head `(seq, hash)` (`(0, GENESIS_HASH)` for an empty chain).
pub fn link(head: (i64, String), entries: &[AuditEntry]) -> Vec<AuditRow> {
    let (mut seq, mut prev) = head;
    entries
        .iter()
        .map(|e| {
            seq += 1;
            let hash = chain_hash(&prev, seq, e);
            let row = AuditRow {
                seq,
                entry: e.clone(),
                prev_hash: prev.clone(),
                hash: hash.clone(),
            };
            prev = hash;
            row
        })
        .collect()
}

/// The first thing wrong with the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// The row's content no longer matches its hash.
    Changed { seq: i64 },
    /// Rows `from..=to` are missing.
    Deleted { from: i64, to: i64 },
    /// The row does not follow the one before it (inserted, reordered, or a deletion
    /// hidden by renumbering).
    Broken { seq: i64 },
    /// The head kept from an earlier verification is not in the chain any more.
    AnchorMissing { seq: i64 },
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Changed { seq } => write!(
                f,
                "row {seq} was changed (its hash does not match its content)"
            ),
            ChainProblem::Deleted { from, to } if from == to => write!(f, "row {from} was deleted"),
            ChainProblem::Deleted { from, to } => write!(f, "rows {from}–{to} were deleted"),
            ChainProblem::Broken { seq } => write!(
                f,
                "row {seq} does not follow the row before it (a row was inserted or removed there)"
            ),
            ChainProblem::AnchorMissing { seq } => write!(
                f,
                "the kept head (row {seq}) is not in the chain any more: rows were removed or rewritten"
            ),
        }
    }
}

/// Walks rows in `seq` order, page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    pub rows: i64,
    pub problem: Option<ChainProblem>,
    anchor: Option<(i64, String)>,
    anchor_seen: bool,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            rows: 0,
            problem: None,
            anchor: None,
            anchor_seen: false,
        }
    }
}

impl ChainVerifier {
    /// Also require that row `seq` still has `hash` (a head kept from an earlier run).
    pub fn with_anchor(seq: i64, hash: &str) -> Self {
        ChainVerifier {
            anchor: Some((seq, hash.to_ascii_lowercase())),
            ..Default::default()
        }
    }

    /// Starts the walk after row `seq` whose hash is `hash` (a retention checkpoint: the
    /// rows up to it were removed, the next row must follow it). An anchor at or before
    /// the checkpoint is taken as seen only if it is the checkpoint itself.
    pub fn continuing_from(mut self, seq: i64, hash: &str) -> Self {
        self.next_seq = seq + 1;
        self.prev_hash = hash.to_ascii_lowercase();
        if let Some((a, h)) = &self.anchor
            && *a <= seq
        {
            if *a == seq && *h == self.prev_hash {
                self.anchor_seen = true;
            } else if *a == seq {
                self.problem = Some(ChainProblem::AnchorMissing { seq });
            } else {
                // Removed by retention: it can no longer be checked here.
                self.anchor_seen = true;
            }
        }
        self
    }

    /// Feeds the next rows; returns false once a problem is found.
    pub fn feed(&mut self, rows: &[AuditRow]) -> bool {
        for r in rows {
            if self.problem.is_some() {
                return false;
            }
            if r.seq != self.next_seq {
                self.problem = Some(if r.seq > self.next_seq {
                    ChainProblem::Deleted {
                        from: self.next_seq,
                        to: r.seq - 1,
                    }
                } else {
                    ChainProblem::Broken { seq: r.seq }
                });
                return false;
            }
            if chain_hash(&r.prev_hash, r.seq, &r.entry) != r.hash {
                self.problem = Some(ChainProblem::Changed { seq: r.seq });
                return false;
            }
            if r.prev_hash != self.prev_hash {
                self.problem = Some(ChainProblem::Broken { seq: r.seq });
                return false;
            }
            if let Some((seq, hash)) = &self.anchor
                && *seq == r.seq
            {
                if *hash != r.hash {
                    self.problem = Some(ChainProblem::AnchorMissing { seq: *seq });
                    return false;
                }
                self.anchor_seen = true;
            }
            self.next_seq += 1;
            self.prev_hash = r.hash.clone();
            self.rows += 1;
        }
        true
    }

    /// Ends the walk: the problem, if any.
    pub fn finish(mut self) -> (i64, String, Option<ChainProblem>) {
        if self.problem.is_none()
            && let Some((seq, _)) = &self.anchor
            && !self.anchor_seen
        {
            self.problem = Some(ChainProblem::AnchorMissing { seq: *seq });
        }
        (self.next_seq - 1, self.prev_hash, self.problem)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            at: JstDateTime::from_unix_micros(n),
            facility_code: "1311234567".into(),
            account: "003".into(),
            person_id: Some(n),
            kind: "view".into(),
            information: "YZK".into(),
            basis: "consent".into(),
            outcome: "allowed".into(),
            detail: String::new(),
        }
    }

    fn chain(n: i64) -> Vec<AuditRow> {
        link(
            (0, GENESIS_HASH.into()),
            &(1..=n).map(entry).collect::<Vec<_>>(),
        )
    }

    fn verify(rows: &[AuditRow]) -> Option<ChainProblem> {
        let mut v = ChainVerifier::default();
        v.feed(rows);
        v.finish().2
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), None);
        assert_eq!(verify(&[]), None);
    }

    #[test]
    fn a_changed_row_is_found() {
        let mut rows = chain(5);
        rows[2].entry.account = "002".into();
        assert_eq!(verify(&rows), Some(ChainProblem::Changed { seq: 3 }));
    }

    #[test]
    fn a_deleted_row_is_found() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(
            verify(&rows),
            Some(ChainProblem::Deleted { from: 2, to: 2 })
        );
    }

    #[test]
    fn a_recomputed_insertion_is_found_at_the_next_row() {
        let rows = chain(3);
        // Insert a well-formed row after row 1 and renumber the rest: the renumbered rows'
        // hashes no longer match.
        let forged = link((1, rows[0].hash.clone()), &[entry(99)]);
        let mut tampered = vec![rows[0].clone(), forged[0].clone()];
        for r in &rows[1..] {
            let mut r = r.clone();
            r.seq += 1;
            tampered.push(r);
        }
        assert_eq!(verify(&tampered), Some(ChainProblem::Changed { seq: 3 }));
    }

    #[test]
    fn a_chain_continues_from_its_checkpoint() {
        let rows = chain(6);
        let v = ChainVerifier::default().continuing_from(3, &rows[2].hash);
        let mut v = v;
        v.feed(&rows[3..]);
        assert_eq!(v.finish(), (6, rows[5].hash.clone(), None));
        // A checkpoint that does not match the first kept row is found.
        let mut v = ChainVerifier::default().continuing_from(3, &rows[1].hash);
        v.feed(&rows[3..]);
        assert_eq!(v.finish().2, Some(ChainProblem::Broken { seq: 4 }));
        // A row missing right after the checkpoint is found.
        let mut v = ChainVerifier::default().continuing_from(3, &rows[2].hash);
        v.feed(&rows[4..]);
        assert_eq!(v.finish().2, Some(ChainProblem::Deleted { from: 4, to: 4 }));
    }

    #[test]
    fn cutting_the_tail_is_found_only_with_an_anchor() {
        let rows = chain(4);
        assert_eq!(verify(&rows[..3]), None);
        let mut v = ChainVerifier::with_anchor(4, &rows[3].hash);
        v.feed(&rows[..3]);
        assert_eq!(v.finish().2, Some(ChainProblem::AnchorMissing { seq: 4 }));
    }
}
