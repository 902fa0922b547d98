//! Deciding insurer rows against what central holds: a pure function from a snapshot
//! (read in the transaction that will write the result) and the parsed rows to the
//! writes and one result per row.
//!
//! Rows are decided in file order against an in-memory state that includes the earlier
//! rows' effects, so a 被保険者 and their 家族 can arrive in one file. Each row is checked
//! completely before it changes that state: a refused row changes nothing, an accepted
//! row is written whole (the chunk is one transaction).
//!
//! Re-uploading a file is harmless: every operation recognises its own effect already in
//! place (same person under the same 記号・番号 from the same date, same loss, same
//! certificate) and answers `unchanged`.

use crate::insurer_rows::{Acquire, Change, Key, Op, RowError};
use onshi_core::codes::{PersonalFamilyClassification, ReasonOfLoss};
use onshi_core::date::{JstDateTime, Ymd};
use onshi_core::ids::{InsuredBranchNumber, InsurerNumber};
use onshi_core::model::{
    ElderlyRecipient, Insurer, InsurerKind, LimitCertificate, Person, SpecificDisease,
};
use onshi_core::registry::{Identity, IdentityField};
use onshi_store::QualificationRecord;
use onshi_store::insurer::{
    BatchLog, CardPrefix, Hold, HoldKey, InsurerReads, InsurerSnapshot, InsurerWrites, NewNotice,
    PendingRegistration,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Applied,
    Unchanged,
    Suspended,
    Refused,
}

/// The answer for one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowResult {
    pub line: usize,
    pub op: String,
    /// `insurer/記号/番号/枝番` as registered (with the 枝番 central assigned).
    pub key: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Registry items that differ (refused or suspended), or the field in error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

/// Code reported with a registration kept suspended.
pub const SUSPENDED_CODE: &str = "ONS7022";

/// One chunk of parsed rows and what they need.
pub struct Chunk {
    pub caller: InsurerNumber,
    pub now: JstDateTime,
    pub rows: Vec<(usize, Result<Op, RowError>)>,
    /// Written with the last chunk: the batch's totals before this chunk, and its format.
    pub log: Option<BatchLog>,
}

impl Chunk {
    pub fn reads(&self) -> InsurerReads {
        let mut r = InsurerReads {
            insurer_numbers: vec![self.caller.digits().to_string()],
            ..Default::default()
        };
        for (_, op) in &self.rows {
            let Ok(op) = op else { continue };
            r.insurer_numbers
                .push(op.key().insurer.digits().to_string());
            r.card_prefixes.push(op.key().prefix());
            if let Op::Change(c) = op
                && c.renumbers()
            {
                r.card_prefixes.push(c.new_key().prefix());
            }
            if let Some(id) = op.identity() {
                r.identities.push(id.clone());
            }
        }
        r
    }
}

/// What [`plan`] decided, besides the writes.
pub struct Planned {
    pub results: Vec<RowResult>,
    /// False when the caller's own insurer number is not registered (nothing written).
    pub caller_known: bool,
}

enum Resolution {
    Linked(i64),
    /// No full match: the items that differ from the nearest person (empty when no one
    /// in the registry is close), and that person.
    Mismatch(Vec<IdentityField>, Option<i64>),
    Ambiguous,
}

struct Done {
    outcome: Outcome,
    branch: Option<u8>,
    key: Option<Key>,
    note: Option<(&'static str, String, Vec<&'static str>)>,
}

impl Done {
    fn new(outcome: Outcome, branch: Option<u8>) -> Self {
        Done {
            outcome,
            branch,
            key: None,
            note: None,
        }
    }
}

struct Planner {
    caller: InsurerNumber,
    now: JstDateTime,
    insurers: HashMap<String, Insurer>,
    persons: HashMap<i64, Person>,
    candidates: Vec<Vec<i64>>,
    quals: HashMap<i64, QualificationRecord>,
    by_prefix: HashMap<CardPrefix, Vec<i64>>,
    by_person: HashMap<i64, Vec<i64>>,
    touched: BTreeSet<i64>,
    created: Vec<i64>,
    next_id: i64,
    holds: HashMap<HoldKey, Hold>,
    initial_holds: HashMap<HoldKey, Hold>,
    pending: HashMap<(String, i64), PendingRegistration>,
    initial_pending: HashMap<(String, i64), PendingRegistration>,
    elderly: BTreeMap<i64, ElderlyRecipient>,
    limits: BTreeMap<i64, LimitCertificate>,
    specific_new: Vec<SpecificDisease>,
    specific_upd: Vec<SpecificDisease>,
    notices: Vec<NewNotice>,
}

fn prefix_of(q: &QualificationRecord) -> CardPrefix {
    CardPrefix {
        insurer_number: q.qualification.insurer_number.digits().to_string(),
        symbol_norm: q
            .qualification
            .symbol
            .as_ref()
            .map(|s| s.normalized())
            .unwrap_or_default(),
        number_norm: q.qualification.number.normalized(),
    }
}

fn branch_of(q: &QualificationRecord) -> Option<u8> {
    q.qualification.branch.map(InsuredBranchNumber::value)
}

fn covers(q: &QualificationRecord, on: Ymd) -> bool {
    crate::engine::covers(q, on)
}

/// Decides a chunk. Pure: everything it knows is in `snap`.
pub fn plan(chunk: Chunk, snap: InsurerSnapshot) -> (InsurerWrites, Planned) {
    let caller_known = snap.insurers.contains_key(chunk.caller.digits());
    let mut p = Planner::new(&chunk, snap);
    let mut results = Vec::with_capacity(chunk.rows.len());
    let mut identity_index = 0usize;
    for (line, op) in chunk.rows {
        let (name, key) = match &op {
            Ok(op) => (op.name().to_string(), Some(op.key().clone())),
            Err(_) => (String::new(), None),
        };
        let idx = match &op {
            Ok(op) if op.identity().is_some() => {
                identity_index += 1;
                identity_index - 1
            }
            _ => usize::MAX,
        };
        let decided = match op {
            Err(e) => Err(e),
            Ok(_) if !caller_known => Err(RowError::UnknownInsurer(chunk.caller.digits().into())),
            Ok(op) => p.apply(op, idx),
        };
        let shown = |k: &Option<Key>, branch: Option<u8>| {
            k.as_ref()
                .map(|k| k.display(branch.or(k.branch.map(InsuredBranchNumber::value))))
                .unwrap_or_default()
        };
        results.push(match decided {
            Ok(done) => {
                let k = done.key.clone().or(key);
                let (code, message, fields) = match done.note {
                    Some((c, m, f)) => (Some(c), Some(m), f),
                    None => (None, None, Vec::new()),
                };
                RowResult {
                    line,
                    op: name,
                    key: shown(&k, done.branch),
                    outcome: done.outcome,
                    code,
                    message,
                    fields,
                }
            }
            Err(e) => RowResult {
                line,
                op: name,
                key: shown(&key, None),
                outcome: Outcome::Refused,
                code: Some(e.code()),
                message: Some(e.message_ja()),
                fields: e.fields(),
            },
        });
    }
    let mut writes = p.finish(chunk.now);
    if let Some(mut log) = chunk.log {
        for r in &results {
            log.rows += 1;
            match r.outcome {
                Outcome::Applied => log.applied += 1,
                Outcome::Unchanged => log.unchanged += 1,
                Outcome::Suspended => log.suspended += 1,
                Outcome::Refused => log.refused += 1,
            }
        }
        writes.batch = Some(log);
    }
    (
        writes,
        Planned {
            results,
            caller_known,
        },
    )
}

impl Planner {
    fn new(chunk: &Chunk, snap: InsurerSnapshot) -> Self {
        let mut by_prefix: HashMap<CardPrefix, Vec<i64>> = HashMap::new();
        let mut by_person: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut ids: Vec<i64> = snap.qualifications.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(q) = snap.qualifications.get(&id) {
                by_prefix.entry(prefix_of(q)).or_default().push(id);
                by_person.entry(q.person.id).or_default().push(id);
            }
        }
        let holds: HashMap<HoldKey, Hold> = snap
            .holds
            .into_iter()
            .map(|h| {
                (
                    HoldKey {
                        insurer_number: h.insurer_number.clone(),
                        symbol_norm: h.symbol_norm.clone(),
                        number_norm: h.number_norm.clone(),
                        branch: h.branch,
                    },
                    h,
                )
            })
            .collect();
        let pending: HashMap<(String, i64), PendingRegistration> = snap
            .pending
            .into_iter()
            .map(|p| ((p.insurer_number.clone(), p.person_id), p))
            .collect();
        Planner {
            caller: chunk.caller.clone(),
            now: chunk.now,
            insurers: snap.insurers,
            persons: snap.persons,
            candidates: snap.candidates,
            quals: snap.qualifications,
            by_prefix,
            by_person,
            touched: BTreeSet::new(),
            created: Vec::new(),
            next_id: snap.next_qualification_id,
            initial_holds: holds.clone(),
            holds,
            initial_pending: pending.clone(),
            pending,
            elderly: BTreeMap::new(),
            limits: BTreeMap::new(),
            specific_new: Vec::new(),
            specific_upd: Vec::new(),
            notices: Vec::new(),
        }
    }

    fn apply(&mut self, op: Op, identity: usize) -> Result<Done, RowError> {
        let insurer = self.check_insurer(op.key())?;
        match op {
            Op::Acquire(a) => self.acquire(a, &insurer, identity),
            Op::Change(c) => self.change(c),
            Op::Lose { key, date, reason } => self.lose(&key, date, reason),
            Op::Elderly {
                key,
                date,
                valid_from,
                valid_to,
                ratio,
            } => {
                let id = self.target(&key)?;
                let e = ElderlyRecipient {
                    qualification_id: id,
                    certificate_date: date,
                    valid_start: valid_from,
                    valid_end: valid_to,
                    contribution_ratio: ratio,
                };
                let q = self.qual_mut(id)?;
                if q.elderly.as_ref() == Some(&e) {
                    return Ok(Done::new(Outcome::Unchanged, branch_of(q)));
                }
                q.elderly = Some(e.clone());
                let b = branch_of(q);
                self.elderly.insert(id, e);
                Ok(Done::new(Outcome::Applied, b))
            }
            Op::Limit {
                key,
                classification,
                flag,
                date,
                valid_from,
                valid_to,
                long_term_date,
            } => {
                let id = self.target(&key)?;
                let l = LimitCertificate {
                    qualification_id: id,
                    classification,
                    flag,
                    certificate_date: date,
                    valid_start: valid_from,
                    valid_end: valid_to,
                    long_term_date,
                };
                let q = self.qual_mut(id)?;
                if q.limit.as_ref() == Some(&l) {
                    return Ok(Done::new(Outcome::Unchanged, branch_of(q)));
                }
                q.limit = Some(l.clone());
                let b = branch_of(q);
                self.limits.insert(id, l);
                Ok(Done::new(Outcome::Applied, b))
            }
            Op::Specific {
                key,
                category,
                date,
                valid_from,
                valid_to,
                self_pay,
            } => {
                let id = self.target(&key)?;
                let d = SpecificDisease {
                    qualification_id: id,
                    category,
                    certificate_date: date,
                    valid_start: valid_from,
                    valid_end: valid_to,
                    self_pay,
                };
                let q = self.qual_mut(id)?;
                let b = branch_of(q);
                let same_slot = q
                    .specific_diseases
                    .iter_mut()
                    .find(|x| x.category == category && x.valid_start == valid_from);
                match same_slot {
                    Some(x) if *x == d => Ok(Done::new(Outcome::Unchanged, b)),
                    Some(x) => {
                        *x = d.clone();
                        self.specific_upd.push(d);
                        Ok(Done::new(Outcome::Applied, b))
                    }
                    None => {
                        q.specific_diseases.push(d.clone());
                        self.specific_new.push(d);
                        self.touch(id);
                        Ok(Done::new(Outcome::Applied, b))
                    }
                }
            }
            Op::Certificate {
                key,
                date,
                valid_from,
                valid_to,
            } => {
                let id = self.target(&key)?;
                let q = self.qual_mut(id)?;
                let b = branch_of(q);
                let qq = &mut q.qualification;
                if qq.certificate_issuance_date == Some(date)
                    && qq.card_valid_from == Some(valid_from)
                    && qq.card_valid_to == Some(valid_to)
                {
                    return Ok(Done::new(Outcome::Unchanged, b));
                }
                qq.certificate_issuance_date = Some(date);
                qq.card_valid_from = Some(valid_from);
                qq.card_valid_to = Some(valid_to);
                self.touch(id);
                Ok(Done::new(Outcome::Applied, b))
            }
            Op::Pending {
                key,
                identity: claim,
                date,
            } => {
                let person = match self.resolve(identity, &claim) {
                    Resolution::Linked(p) => p,
                    Resolution::Ambiguous => return Err(RowError::IdentityAmbiguous),
                    Resolution::Mismatch(f, _) if f.is_empty() => {
                        return Err(RowError::NotInRegistry);
                    }
                    Resolution::Mismatch(f, _) => return Err(RowError::IdentityMismatch(f)),
                };
                let ins = key.insurer.digits().to_string();
                let registered = self.person_quals(person).any(|q| {
                    q.qualification.insurer_number == key.insurer
                        && q.qualification.disqualification_date.is_none()
                });
                if registered {
                    return Ok(Done::new(Outcome::Unchanged, None));
                }
                let prefix = key.prefix();
                let entry = PendingRegistration {
                    insurer_number: ins.clone(),
                    person_id: person,
                    symbol_norm: prefix.symbol_norm,
                    number_norm: prefix.number_norm,
                    branch: key.branch.map(InsuredBranchNumber::value),
                    received_date: date,
                    registered_at: self.now,
                };
                if let Some(old) = self.pending.get(&(ins.clone(), person)) {
                    let mut same = old.clone();
                    same.registered_at = self.now;
                    if same == entry {
                        return Ok(Done::new(Outcome::Unchanged, entry.branch));
                    }
                }
                let b = entry.branch;
                self.pending.insert((ins, person), entry);
                Ok(Done::new(Outcome::Applied, b))
            }
        }
    }

    fn check_insurer(&self, key: &Key) -> Result<Insurer, RowError> {
        let n = key.insurer.digits();
        match self.insurers.get(n) {
            Some(i) if key.insurer == self.caller => Ok(i.clone()),
            Some(_) => Err(RowError::OtherInsurer(n.into())),
            None => Err(RowError::UnknownInsurer(n.into())),
        }
    }

    fn qual_mut(&mut self, id: i64) -> Result<&mut QualificationRecord, RowError> {
        self.quals.get_mut(&id).ok_or(RowError::TargetNotFound)
    }

    fn touch(&mut self, id: i64) {
        if !self.created.contains(&id) {
            self.touched.insert(id);
        }
    }

    fn under(&self, prefix: &CardPrefix) -> impl Iterator<Item = &QualificationRecord> {
        self.by_prefix
            .get(prefix)
            .into_iter()
            .flatten()
            .filter_map(|id| self.quals.get(id))
    }

    fn person_quals(&self, person: i64) -> impl Iterator<Item = &QualificationRecord> {
        self.by_person
            .get(&person)
            .into_iter()
            .flatten()
            .filter_map(|id| self.quals.get(id))
    }

    /// The one qualification a non-acquire row is about.
    fn target(&self, key: &Key) -> Result<i64, RowError> {
        let found: Vec<i64> = self
            .under(&key.prefix())
            .filter(|q| key.branch.is_none_or(|b| q.qualification.branch == Some(b)))
            .map(|q| q.qualification.id)
            .collect();
        match found.as_slice() {
            [] => Err(RowError::TargetNotFound),
            [id] => Ok(*id),
            _ => Err(RowError::TargetAmbiguous),
        }
    }

    fn key_taken(&self, prefix: &CardPrefix, branch: Option<u8>) -> Option<&QualificationRecord> {
        self.under(prefix).find(|q| branch_of(q) == branch)
    }

    fn hold_taken(&self, prefix: &CardPrefix, branch: Option<u8>) -> bool {
        self.holds.contains_key(&HoldKey {
            insurer_number: prefix.insurer_number.clone(),
            symbol_norm: prefix.symbol_norm.clone(),
            number_norm: prefix.number_norm.clone(),
            branch,
        })
    }

    /// 枝番 for a new member: none in 後期 (personal numbers), "00" for a 被保険者 in
    /// employee insurance, else the lowest free from "01" (the synthetic population's
    /// convention, which follows the printed cards).
    fn free_branch(
        &self,
        prefix: &CardPrefix,
        kind: InsurerKind,
        pf: PersonalFamilyClassification,
    ) -> Result<Option<u8>, RowError> {
        if kind == InsurerKind::LateElderly {
            return Ok(None);
        }
        let start = if kind != InsurerKind::Kokuho && pf == PersonalFamilyClassification::Insured {
            0
        } else {
            1
        };
        (start..=99u8)
            .find(|&b| {
                self.key_taken(prefix, Some(b)).is_none() && !self.hold_taken(prefix, Some(b))
            })
            .map(Some)
            .ok_or(RowError::NoFreeBranch)
    }

    fn resolve(&self, idx: usize, claim: &Identity) -> Resolution {
        let ids = self.candidates.get(idx).cloned().unwrap_or_default();
        let mut full = Vec::new();
        let mut nearest: Option<(Vec<IdentityField>, i64)> = None;
        for id in ids {
            let Some(p) = self.persons.get(&id) else {
                continue;
            };
            let d = claim.differences(p);
            if d.is_empty() {
                full.push(id);
            } else if nearest.as_ref().is_none_or(|(n, _)| d.len() < n.len()) {
                nearest = Some((d, id));
            }
        }
        match (full.as_slice(), nearest) {
            ([id], _) => Resolution::Linked(*id),
            ([_, _, ..], _) => Resolution::Ambiguous,
            ([], Some((d, id))) if d.len() <= 2 => Resolution::Mismatch(d, Some(id)),
            ([], _) => Resolution::Mismatch(Vec::new(), None),
        }
    }

    /// A suspended registration this row corrects or replaces: the one under its key, or
    /// (without 枝番) the only one under its 記号・番号 with the same birthdate or name.
    fn hold_for(&self, key: &Key, claim: &Identity) -> Option<HoldKey> {
        if let Some(b) = key.branch {
            let hk = key.hold_key(Some(b.value()));
            return self.holds.contains_key(&hk).then_some(hk);
        }
        let prefix = key.prefix();
        let mut found = self.holds.iter().filter(|(k, h)| {
            k.insurer_number == prefix.insurer_number
                && k.symbol_norm == prefix.symbol_norm
                && k.number_norm == prefix.number_norm
                && (h.birthdate == claim.birthdate.to_wire() || h.name == claim.name)
        });
        match (found.next(), found.next()) {
            (Some((k, _)), None) => Some(k.clone()),
            _ => None,
        }
    }

    fn acquire(&mut self, a: Acquire, insurer: &Insurer, idx: usize) -> Result<Done, RowError> {
        match self.resolve(idx, &a.identity) {
            Resolution::Ambiguous => Err(RowError::IdentityAmbiguous),
            Resolution::Linked(person) => self.acquire_linked(a, insurer, person),
            Resolution::Mismatch(fields, nearest) if a.insist => {
                self.suspend(a, insurer, fields, nearest)
            }
            Resolution::Mismatch(fields, _) if fields.is_empty() => Err(RowError::NotInRegistry),
            Resolution::Mismatch(fields, _) => Err(RowError::IdentityMismatch(fields)),
        }
    }

    fn acquire_linked(
        &mut self,
        a: Acquire,
        insurer: &Insurer,
        person: i64,
    ) -> Result<Done, RowError> {
        let prefix = a.key.prefix();
        let want = a.key.branch.map(InsuredBranchNumber::value);
        if let Some(q) = self.under(&prefix).find(|q| {
            q.person.id == person
                && q.qualification.qualification_date == a.date
                && want.is_none_or(|b| branch_of(q) == Some(b))
        }) {
            return Ok(Done::new(Outcome::Unchanged, branch_of(q)));
        }
        let hold = self.hold_for(&a.key, &a.identity);
        let branch = match (want, &hold) {
            (Some(b), _) => Some(b),
            (None, Some(h)) => h.branch,
            (None, None) => self.free_branch(&prefix, insurer.kind, a.personal_family)?,
        };
        if let Some(other) = self.key_taken(&prefix, branch) {
            return Err(if other.person.id == person {
                RowError::Conflict(format!(
                    "この個人単位被保険者番号は資格取得日 {} で登録済みです",
                    other.qualification.qualification_date.to_wire()
                ))
            } else {
                RowError::DuplicateIndividualNumber(a.key.display(branch))
            });
        }
        if hold.is_none() && self.hold_taken(&prefix, branch) {
            return Err(RowError::DuplicateIndividualNumber(a.key.display(branch)));
        }
        if self
            .person_quals(person)
            .any(|q| q.qualification.insurer_number == a.key.insurer && covers(q, a.date))
        {
            return Err(RowError::AlreadyInsured);
        }
        let insured_name = if a.personal_family == PersonalFamilyClassification::Dependent {
            let head = self.under(&prefix).find(|q| {
                q.qualification.personal_family == PersonalFamilyClassification::Insured
                    && q.person.id != person
                    && covers(q, a.date)
                    && a.head_branch
                        .is_none_or(|b| q.qualification.branch == Some(b))
            });
            match head {
                Some(h) => Some(h.person.name.clone()),
                None => return Err(RowError::HeadNotFound),
            }
        } else {
            None
        };
        let branch_number = branch
            .map(InsuredBranchNumber::new)
            .transpose()
            .map_err(|_| RowError::NoFreeBranch)?;
        let p = self
            .persons
            .get(&person)
            .cloned()
            .ok_or(RowError::NotInRegistry)?;
        // Every check passed: from here on the row is applied.
        let id = self.next_id;
        self.next_id += 1;
        let q = onshi_core::model::Qualification {
            id,
            person_id: person,
            insurer_number: a.key.insurer.clone(),
            symbol: a.key.symbol.clone(),
            number: a.key.number.clone(),
            branch: branch_number,
            personal_family: a.personal_family,
            insured_name,
            card_classification: a.card_classification,
            qualification_date: a.date,
            disqualification_date: None,
            reason_of_loss: None,
            successor_id: None,
            certificate_issuance_date: a.valid_from.map(|_| a.date),
            card_valid_from: a.valid_from,
            card_valid_to: a.valid_to,
            income: a.income,
        };
        self.add_new(QualificationRecord {
            qualification: q,
            person: p,
            insurer: insurer.clone(),
            elderly: None,
            limit: None,
            specific_diseases: Vec::new(),
        });
        // A lost qualification of the same person that ended before this one began now
        // has a successor: checks on the old card answer 「無効（新しい資格あり）」.
        let predecessors: Vec<i64> = self
            .person_quals(person)
            .filter(|o| {
                o.qualification.id != id
                    && o.qualification.disqualification_date.is_some()
                    && o.qualification.successor_id.is_none()
                    && o.qualification.qualification_date < a.date
            })
            .map(|o| o.qualification.id)
            .collect();
        for o in predecessors {
            if let Some(r) = self.quals.get_mut(&o) {
                r.qualification.successor_id = Some(id);
            }
            self.touch(o);
        }
        self.pending
            .remove(&(a.key.insurer.digits().to_string(), person));
        if let Some(h) = hold {
            self.holds.remove(&h);
        }
        self.notices.push(NewNotice {
            person_id: person,
            qualification_id: id,
            insurer_number: a.key.insurer.digits().to_string(),
            kind: "acquire",
        });
        Ok(Done::new(Outcome::Applied, branch))
    }

    fn add_new(&mut self, r: QualificationRecord) {
        let id = r.qualification.id;
        self.by_prefix.entry(prefix_of(&r)).or_default().push(id);
        self.by_person.entry(r.person.id).or_default().push(id);
        self.quals.insert(id, r);
        self.created.push(id);
    }

    fn suspend(
        &mut self,
        a: Acquire,
        insurer: &Insurer,
        fields: Vec<IdentityField>,
        nearest: Option<i64>,
    ) -> Result<Done, RowError> {
        let prefix = a.key.prefix();
        let hold = self.hold_for(&a.key, &a.identity);
        let branch = match (a.key.branch, &hold) {
            (Some(b), _) => Some(b.value()),
            (None, Some(h)) => h.branch,
            (None, None) => self.free_branch(&prefix, insurer.kind, a.personal_family)?,
        };
        if self.key_taken(&prefix, branch).is_some() {
            return Err(RowError::DuplicateIndividualNumber(a.key.display(branch)));
        }
        let differences = if fields.is_empty() {
            "not_found".to_string()
        } else {
            fields.iter().map(|f| f.key()).collect::<Vec<_>>().join(",")
        };
        let hk = a.key.hold_key(branch);
        let keys: Vec<&'static str> = fields.iter().map(|f| f.key()).collect();
        let labels = if fields.is_empty() {
            "住民基本台帳に該当者なし".to_string()
        } else {
            fields
                .iter()
                .map(|f| f.label_ja())
                .collect::<Vec<_>>()
                .join("・")
        };
        let message = format!(
            "住民基本台帳の情報と一致しないため、閲覧停止として保留しました（不一致: {labels}）。訂正して再送するまで、どの照会にも表示されません。"
        );
        if let Some(h) = self.holds.get(&hk)
            && h.registration == a.raw
            && h.differences == differences
        {
            let mut d = Done::new(Outcome::Unchanged, branch);
            d.note = Some((SUSPENDED_CODE, message, keys));
            return Ok(d);
        }
        if let Some(old) = hold {
            self.holds.remove(&old);
        }
        self.holds.insert(
            hk.clone(),
            Hold {
                insurer_number: hk.insurer_number,
                symbol_norm: hk.symbol_norm,
                number_norm: hk.number_norm,
                branch,
                birthdate: a.identity.birthdate.to_wire(),
                name: a.identity.name.clone(),
                registration: a.raw,
                differences,
                candidate_person_id: nearest,
                received_at: self.now,
            },
        );
        let mut d = Done::new(Outcome::Suspended, branch);
        d.note = Some((SUSPENDED_CODE, message, keys));
        Ok(d)
    }

    fn change(&mut self, c: Change) -> Result<Done, RowError> {
        let tid = self.target(&c.key)?;
        let t = self
            .quals
            .get(&tid)
            .cloned()
            .ok_or(RowError::TargetNotFound)?;
        if !c.renumbers() {
            let q = &t.qualification;
            let pf = c.personal_family.unwrap_or(q.personal_family);
            let cc = c.card_classification.unwrap_or(q.card_classification);
            let income = c.income.unwrap_or(q.income);
            if (pf, cc, income) == (q.personal_family, q.card_classification, q.income) {
                return Ok(Done::new(Outcome::Unchanged, branch_of(&t)));
            }
            if q.disqualification_date.is_some() {
                return Err(RowError::Conflict("喪失済みの資格は変更できません".into()));
            }
            let r = self.qual_mut(tid)?;
            r.qualification.personal_family = pf;
            r.qualification.card_classification = cc;
            r.qualification.income = income;
            self.touch(tid);
            return Ok(Done::new(Outcome::Applied, branch_of(&t)));
        }
        let nk = c.new_key();
        let np = nk.prefix();
        let done_before = t.qualification.disqualification_date == Some(c.date)
            && t.qualification
                .successor_id
                .and_then(|s| self.quals.get(&s))
                .is_some_and(|s| {
                    prefix_of(s) == np
                        && c.new_branch
                            .is_none_or(|b| s.qualification.branch == Some(b))
                });
        if done_before {
            let s = t
                .qualification
                .successor_id
                .and_then(|s| self.quals.get(&s));
            let mut d = Done::new(Outcome::Unchanged, s.and_then(branch_of));
            d.key = Some(nk);
            return Ok(d);
        }
        if t.qualification.disqualification_date.is_some() {
            return Err(RowError::Conflict("喪失済みの資格は変更できません".into()));
        }
        if c.date <= t.qualification.qualification_date {
            return Err(RowError::DatesInconsistent(
                "変更日が資格取得日以前です".into(),
            ));
        }
        let pf = c.personal_family.unwrap_or(t.qualification.personal_family);
        let branch = match c.new_branch {
            Some(b) => Some(b.value()),
            None => match branch_of(&t) {
                Some(b)
                    if self.key_taken(&np, Some(b)).is_none() && !self.hold_taken(&np, Some(b)) =>
                {
                    Some(b)
                }
                None if t.insurer.kind == InsurerKind::LateElderly => None,
                _ => self.free_branch(&np, t.insurer.kind, pf)?,
            },
        };
        if self.key_taken(&np, branch).is_some() || self.hold_taken(&np, branch) {
            return Err(RowError::DuplicateIndividualNumber(nk.display(branch)));
        }
        let branch_number = branch
            .map(InsuredBranchNumber::new)
            .transpose()
            .map_err(|_| RowError::NoFreeBranch)?;
        let id = self.next_id;
        self.next_id += 1;
        let mut n = t.clone();
        n.qualification.id = id;
        n.qualification.symbol = nk.symbol.clone();
        n.qualification.number = nk.number.clone();
        n.qualification.branch = branch_number;
        n.qualification.personal_family = pf;
        n.qualification.qualification_date = c.date;
        n.qualification.disqualification_date = None;
        n.qualification.reason_of_loss = None;
        n.qualification.successor_id = None;
        if let Some(cc) = c.card_classification {
            n.qualification.card_classification = cc;
        }
        if let Some(i) = c.income {
            n.qualification.income = i;
        }
        // The certificates follow the member to the new number.
        if let Some(e) = &mut n.elderly {
            e.qualification_id = id;
            self.elderly.insert(id, e.clone());
        }
        if let Some(l) = &mut n.limit {
            l.qualification_id = id;
            self.limits.insert(id, l.clone());
        }
        for d in &mut n.specific_diseases {
            d.qualification_id = id;
            self.specific_new.push(d.clone());
        }
        let person = n.person.id;
        self.add_new(n);
        let r = self.qual_mut(tid)?;
        r.qualification.disqualification_date = Some(c.date);
        r.qualification.reason_of_loss = Some(ReasonOfLoss::Other);
        r.qualification.successor_id = Some(id);
        self.touch(tid);
        self.notices.push(NewNotice {
            person_id: person,
            qualification_id: id,
            insurer_number: nk.insurer.digits().to_string(),
            kind: "change",
        });
        let mut d = Done::new(Outcome::Applied, branch);
        d.key = Some(nk);
        Ok(d)
    }

    fn lose(&mut self, key: &Key, date: Ymd, reason: ReasonOfLoss) -> Result<Done, RowError> {
        let tid = match self.target(key) {
            Ok(id) => id,
            Err(RowError::TargetNotFound) => {
                // Losing a member whose registration is suspended withdraws it.
                let prefix = key.prefix();
                let held: Vec<HoldKey> = self
                    .holds
                    .keys()
                    .filter(|k| {
                        k.insurer_number == prefix.insurer_number
                            && k.symbol_norm == prefix.symbol_norm
                            && k.number_norm == prefix.number_norm
                            && key.branch.is_none_or(|b| k.branch == Some(b.value()))
                    })
                    .cloned()
                    .collect();
                return match held.as_slice() {
                    [one] => {
                        let b = one.branch;
                        self.holds.remove(one);
                        Ok(Done::new(Outcome::Applied, b))
                    }
                    [] => Err(RowError::TargetNotFound),
                    _ => Err(RowError::TargetAmbiguous),
                };
            }
            Err(e) => return Err(e),
        };
        let t = self
            .quals
            .get(&tid)
            .cloned()
            .ok_or(RowError::TargetNotFound)?;
        if date < t.qualification.qualification_date {
            return Err(RowError::DatesInconsistent(
                "資格喪失日が資格取得日より前です".into(),
            ));
        }
        if t.qualification.disqualification_date == Some(date)
            && t.qualification.reason_of_loss == Some(reason)
        {
            return Ok(Done::new(Outcome::Unchanged, branch_of(&t)));
        }
        let successor = match t.qualification.successor_id {
            Some(s) => Some(s),
            None => self
                .person_quals(t.person.id)
                .filter(|o| {
                    o.qualification.id != tid
                        && o.qualification.qualification_date > t.qualification.qualification_date
                })
                .min_by_key(|o| (o.qualification.qualification_date, o.qualification.id))
                .map(|o| o.qualification.id),
        };
        let r = self.qual_mut(tid)?;
        r.qualification.disqualification_date = Some(date);
        r.qualification.reason_of_loss = Some(reason);
        r.qualification.successor_id = successor;
        self.touch(tid);
        Ok(Done::new(Outcome::Applied, branch_of(&t)))
    }

    fn finish(self, now: JstDateTime) -> InsurerWrites {
        let mut w = InsurerWrites {
            at: Some(now),
            ..Default::default()
        };
        for id in self.created.iter().chain(self.touched.iter()) {
            if let Some(r) = self.quals.get(id)
                && !r.specific_diseases.is_empty()
            {
                w.has_specific.insert(*id);
            }
        }
        w.insert_qualifications = self
            .created
            .iter()
            .filter_map(|id| self.quals.get(id).map(|r| r.qualification.clone()))
            .collect();
        w.update_qualifications = self
            .touched
            .iter()
            .filter_map(|id| self.quals.get(id).map(|r| r.qualification.clone()))
            .collect();
        w.elderly = self.elderly.into_values().collect();
        w.limits = self.limits.into_values().collect();
        w.insert_specific = self.specific_new;
        w.update_specific = self.specific_upd;
        for (k, h) in &self.initial_holds {
            if self.holds.get(k) != Some(h) {
                w.delete_holds.push(k.clone());
            }
        }
        for (k, h) in &self.holds {
            if self.initial_holds.get(k) != Some(h) {
                w.insert_holds.push(h.clone());
            }
        }
        // Removed entries are deleted; changed ones are replaced by the upsert below.
        for k in self.initial_pending.keys() {
            if !self.pending.contains_key(k) {
                w.delete_pending.push(k.clone());
            }
        }
        for (k, p) in &self.pending {
            if self.initial_pending.get(k) != Some(p) {
                w.upsert_pending.push(p.clone());
            }
        }
        w.notices = self.notices;
        w
    }
}
