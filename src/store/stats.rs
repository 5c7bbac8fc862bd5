//! The statistics ledger: counters kept as events happen, in daily buckets, so that a statistics
//! page reads a period's buckets and never scans the tickets.
//!
//! Trees:
//! - `stats`: (local day, real or sandbox, village, item, metric) → count (`i64`, big-endian).
//!   A count that falls to zero is removed, so the tree holds only what happened.
//! - `stats_durations`: (local day, real or sandbox, village, item, metric, ticket) → ms: one
//!   exact sample per ticket, so medians and percentiles are exact.
//! - `stats_questions`: platform message ([`super::tickets::source_key`]) → the outcome of a
//!   resident's question (when, where, which item and aspect, what the bot did; never the text).
//!   Recorded once per message, so a message handled again is not counted twice, and it is what
//!   the question counters are recounted from.
//! - `stats_meta`: the UTC offset the days were cut with.
//!
//! What a ticket adds to the counters is a pure function of the ticket ([`ticket_counts`]);
//! `store::tickets` writes the difference between the ticket before and after a change in the
//! same transaction as the ticket, so the counters survive a crash exactly as the tickets do and
//! always equal a recount ([`Stats::recount`]). Days are the district's local days: Unix time plus
//! the offset of `org.toml [office_hours]`, cut at midnight (as `helpdesk::hours` does).

use super::tickets::{Change, Reason, Role, Stage, Ticket};
use super::{Store, StoreError, decode, encode};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) const COUNTERS: &str = "stats";
pub(crate) const DURATIONS: &str = "stats_durations";
const QUESTIONS: &str = "stats_questions";
const META: &str = "stats_meta";
const OFFSET: &[u8] = b"utc_offset";
/// Present while questions are being written: a start that finds it rebuilds the counters.
const WRITING: &[u8] = b"questions_writing";
const SEP: u8 = 0x1f;
const DAY_SECS: i64 = 86_400;
/// China's offset, until the engine stores the configured one.
pub const DEFAULT_OFFSET: i64 = 8 * 3600;

/// The metric names stored in the counters. Dynamic ones add a suffix: `q.aspect.fee`,
/// `t.opened.case`, `t.stage.pending`, `t.rated.1` (1 = 非常满意 … 5 = 非常不满意).
pub mod metric {
    /// Questions: answered + asked back + escalated.
    pub const ASKED: &str = "q.asked";
    pub const ANSWERED: &str = "q.answered";
    pub const ASKED_BACK: &str = "q.asked_back";
    /// Handed to an agent; `q.escalated.<reason>` by reason.
    pub const ESCALATED: &str = "q.escalated";
    /// Group chatter the bot stayed silent on.
    pub const IGNORED: &str = "q.ignored";
    /// Prefix: the aspect of an answered question.
    pub const ASPECT: &str = "q.aspect.";
    /// Tickets opened; `t.opened.<reason>` by reason.
    pub const OPENED: &str = "t.opened";
    /// Prefix: tickets opened on the day, by their stage now.
    pub const STAGE: &str = "t.stage.";
    /// First response by an agent (claim, reply or 办结), on the day it came.
    pub const RESPONDED: &str = "t.responded";
    /// 办结, on the day; `t.resolved.follow_up` for the follow-ups of bad ratings.
    pub const RESOLVED: &str = "t.resolved";
    /// The ladder: `t.escalated.township`, `t.escalated.district`.
    pub const LADDER: &str = "t.escalated.";
    pub const TRANSFERRED: &str = "t.transferred";
    /// Prefix: ratings, `t.rated.1` … `t.rated.5`.
    pub const RATED: &str = "t.rated.";
    /// A follow-up ticket opened for a bad rating (on the rated ticket's day of follow-up).
    pub const FOLLOW_UP: &str = "t.follow_up";
    /// Duration samples.
    pub const FIRST_RESPONSE: &str = "first_response";
    pub const RESOLUTION: &str = "resolution";
}

/// Where a count belongs: its local day and dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Bucket {
    /// Local day number (days since 1970-01-01, local).
    pub day: i64,
    /// From the console's sandbox, not from residents.
    pub sandbox: bool,
    /// The village id, `""` outside village groups.
    pub village: String,
    /// The item id, `""` when none.
    pub item: String,
    pub metric: String,
}

impl Bucket {
    fn key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(16 + self.village.len() + self.item.len() + 16);
        k.extend_from_slice(&(self.day.max(0) as u32).to_be_bytes());
        k.push(if self.sandbox { b's' } else { b'r' });
        for part in [&self.village, &self.item] {
            k.extend_from_slice(part.as_bytes());
            k.push(SEP);
        }
        k.extend_from_slice(self.metric.as_bytes());
        k
    }

    fn parse(k: &[u8]) -> Option<Bucket> {
        let day = u32::from_be_bytes(k.get(..4)?.try_into().ok()?) as i64;
        let sandbox = *k.get(4)? == b's';
        let mut parts = k.get(5..)?.splitn(3, |&b| b == SEP);
        let mut text = || String::from_utf8(parts.next()?.to_vec()).ok();
        Some(Bucket {
            day,
            sandbox,
            village: text()?,
            item: text()?,
            metric: text()?,
        })
    }
}

/// A duration sample's key: its bucket and the ticket.
fn sample_key(bucket: &Bucket, ticket: u64) -> Vec<u8> {
    let mut k = bucket.key();
    k.push(SEP);
    k.extend_from_slice(&ticket.to_be_bytes());
    k
}

fn parse_sample(k: &[u8]) -> Option<(Bucket, u64)> {
    let (head, id) = k.split_at(k.len().checked_sub(9)?);
    if id[0] != SEP {
        return None;
    }
    Some((
        Bucket::parse(head)?,
        u64::from_be_bytes(id[1..].try_into().ok()?),
    ))
}

/// What the bot did with a resident's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    AskedBack,
    Escalated(Reason),
    /// Chatter in a group, left alone.
    Ignored,
}

/// One resident's question as the statistics keep it (never its text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Unix ms.
    pub at: u64,
    pub sandbox: bool,
    pub village: Option<String>,
    pub item: Option<String>,
    /// The aspect answered (`fee`, `materials`…), for answers.
    pub aspect: Option<String>,
    pub outcome: Outcome,
}

/// Counter deltas and duration samples, keyed by their stored keys.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub counters: BTreeMap<Vec<u8>, i64>,
    pub samples: BTreeMap<Vec<u8>, u64>,
}

impl Counts {
    fn add(&mut self, bucket: Bucket, n: i64) {
        *self.counters.entry(bucket.key()).or_default() += n;
    }

    fn merge(&mut self, other: Counts) {
        for (k, n) in other.counters {
            *self.counters.entry(k).or_default() += n;
        }
        self.samples.extend(other.samples);
    }
}

fn local_day(ms: u64, offset: i64) -> i64 {
    ((ms / 1000) as i64 + offset).div_euclid(DAY_SECS)
}

pub fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::Uncovered => "uncovered",
        Reason::Case => "case",
        Reason::Complaint => "complaint",
        Reason::Privacy => "privacy",
        Reason::FollowUp => "follow_up",
    }
}

pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Pending => "pending",
        Stage::Claimed => "claimed",
        Stage::Transferred => "transferred",
        Stage::Escalated => "escalated",
        Stage::Resolved => "resolved",
        Stage::Rated => "rated",
    }
}

/// What one question adds to the counters.
pub fn question_counts(q: &Question, offset: i64) -> Counts {
    let mut c = Counts::default();
    let day = local_day(q.at, offset);
    let bucket = |metric: &str| Bucket {
        day,
        sandbox: q.sandbox,
        village: q.village.clone().unwrap_or_default(),
        item: q.item.clone().unwrap_or_default(),
        metric: metric.to_string(),
    };
    match q.outcome {
        Outcome::Ignored => c.add(bucket(metric::IGNORED), 1),
        outcome => {
            c.add(bucket(metric::ASKED), 1);
            match outcome {
                Outcome::Answered => {
                    c.add(bucket(metric::ANSWERED), 1);
                    if let Some(a) = &q.aspect {
                        c.add(bucket(&format!("{}{a}", metric::ASPECT)), 1);
                    }
                }
                Outcome::AskedBack => c.add(bucket(metric::ASKED_BACK), 1),
                Outcome::Escalated(r) => {
                    c.add(bucket(metric::ESCALATED), 1);
                    c.add(
                        bucket(&format!("{}.{}", metric::ESCALATED, reason_name(r))),
                        1,
                    );
                }
                Outcome::Ignored => {}
            }
        }
    }
    c
}

/// What one ticket, as it stands, adds to the counters and samples.
pub fn ticket_counts(t: &Ticket, offset: i64) -> Counts {
    let mut c = Counts::default();
    let sandbox = t.platform == bangban_contract::Platform::Sandbox;
    let bucket = |at: u64, metric: &str| Bucket {
        day: local_day(at, offset),
        sandbox,
        village: t.village.clone().unwrap_or_default(),
        item: t.item.clone().unwrap_or_default(),
        metric: metric.to_string(),
    };
    let opened = t.created_at;
    c.add(bucket(opened, metric::OPENED), 1);
    c.add(
        bucket(
            opened,
            &format!("{}.{}", metric::OPENED, reason_name(t.reason)),
        ),
        1,
    );
    c.add(
        bucket(opened, &format!("{}{}", metric::STAGE, stage_name(t.stage))),
        1,
    );
    let response = t.events.iter().find(|e| {
        matches!(e.by.role, Role::Agent | Role::Admin)
            && matches!(
                e.change,
                Change::Claimed | Change::Replied { .. } | Change::Resolved
            )
    });
    if let Some(e) = response {
        let b = bucket(e.at, metric::RESPONDED);
        c.add(b.clone(), 1);
        let b = Bucket {
            metric: metric::FIRST_RESPONSE.into(),
            ..b
        };
        c.samples
            .insert(sample_key(&b, t.id), e.at.saturating_sub(opened));
    }
    if let Some(at) = t.resolved_at {
        c.add(bucket(at, metric::RESOLVED), 1);
        if t.reason == Reason::FollowUp {
            c.add(
                bucket(
                    at,
                    &format!("{}.{}", metric::RESOLVED, reason_name(t.reason)),
                ),
                1,
            );
        }
        c.samples.insert(
            sample_key(&bucket(at, metric::RESOLUTION), t.id),
            at.saturating_sub(opened),
        );
    }
    for e in &t.events {
        match &e.change {
            Change::Escalated { to } => {
                let to = match to {
                    super::tickets::Level::Village => "village",
                    super::tickets::Level::Township => "township",
                    super::tickets::Level::District => "district",
                };
                c.add(bucket(e.at, &format!("{}{to}", metric::LADDER)), 1);
            }
            Change::Transferred { .. } => c.add(bucket(e.at, metric::TRANSFERRED), 1),
            Change::FollowUp { .. } => c.add(bucket(e.at, metric::FOLLOW_UP), 1),
            _ => {}
        }
    }
    if let Some(r) = t.rating {
        let at = t
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.change, Change::Rated { .. }))
            .map_or(t.resolved_at.unwrap_or(opened), |e| e.at);
        let n = super::tickets::Rating::ALL
            .iter()
            .position(|&x| x == r)
            .unwrap_or(0)
            + 1;
        c.add(bucket(at, &format!("{}{n}", metric::RATED)), 1);
    }
    c
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Writes the change from `before` to `after` into the counters and samples, inside the
/// ticket's transaction (`store::tickets`).
pub(crate) fn apply_ticket(
    counters: &TransactionalTree,
    samples: &TransactionalTree,
    before: Option<&Ticket>,
    after: &Ticket,
    offset: i64,
) -> TxResult<()> {
    let new = ticket_counts(after, offset);
    let mut delta = new.counters.clone();
    let mut old_samples = BTreeMap::new();
    if let Some(b) = before {
        let old = ticket_counts(b, offset);
        for (k, n) in old.counters {
            *delta.entry(k).or_default() -= n;
        }
        old_samples = old.samples;
    }
    add_counters(counters, &delta)?;
    for k in old_samples.keys() {
        if !new.samples.contains_key(k) {
            samples.remove(k.as_slice())?;
        }
    }
    for (k, ms) in &new.samples {
        if old_samples.get(k) != Some(ms) {
            samples.insert(k.as_slice(), &ms.to_be_bytes())?;
        }
    }
    Ok(())
}

fn add_counters(counters: &TransactionalTree, delta: &BTreeMap<Vec<u8>, i64>) -> TxResult<()> {
    for (k, &n) in delta {
        if n == 0 {
            continue;
        }
        let now = counters.get(k.as_slice())?.map_or(0, |v| value(&v)) + n;
        if now == 0 {
            counters.remove(k.as_slice())?;
        } else {
            counters.insert(k.as_slice(), &now.to_be_bytes())?;
        }
    }
    Ok(())
}

fn value(bytes: &[u8]) -> i64 {
    bytes.try_into().map(i64::from_be_bytes).unwrap_or_default()
}

/// How long the counts of recorded questions gather before they are added to the counters.
/// Adding them with every commit round cost most of that round's writes under load (three
/// counters per question, rarely shared within a round of a few messages); gathered for a
/// second, each counter that second's questions share is written once.
const ADD_EVERY: Duration = Duration::from_secs(1);

/// The most counters one commit round adds: a second's counts added in one round held that
/// round's replies for milliseconds.
const ADD_AT_MOST: usize = 64;

/// The counts of questions recorded but not yet added to the counters, kept by the lock that
/// question writes hold ([`Store::question_writes`]).
#[derive(Default)]
pub(crate) struct Pending {
    /// The counts of the questions recorded since `since`.
    gathering: BTreeMap<Vec<u8>, i64>,
    since: Option<Instant>,
    /// The counts gathered before, being added a few per round.
    adding: BTreeMap<Vec<u8>, i64>,
    /// Whether the [`WRITING`] marker is stored: from before the first record whose counts
    /// wait until they are all added.
    marked: bool,
}

impl Pending {
    /// Nothing waits (the marker is stored whenever a count does).
    fn idle(&self) -> bool {
        !self.marked
    }
}

/// The statistics trees of an open [`Store`].
pub struct Stats {
    store: Store,
    counters: sled::Tree,
    samples: sled::Tree,
    questions: sled::Tree,
    meta: sled::Tree,
}

/// A disagreement found by [`Stats::recount`]: a stored key, what is stored and what the
/// tickets and questions say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    pub bucket: String,
    /// The bucket, when the key is one.
    pub key: Option<Bucket>,
    /// For a duration sample: its ticket.
    pub ticket: Option<u64>,
    pub stored: Option<i64>,
    pub recounted: Option<i64>,
}

/// What [`Stats::recount`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recount {
    pub tickets: usize,
    pub questions: usize,
    pub counters: usize,
    pub samples: usize,
    pub mismatches: Vec<Mismatch>,
    /// Nothing counted changed while the recount was made (always so with the bot stopped).
    #[serde(default)]
    pub settled: bool,
}

/// How often [`Stats::recount`] tries for a recount nothing changed during.
pub const RECOUNT_ATTEMPTS: usize = 5;

impl Store {
    /// The statistics of this store.
    /// Keeps the outcome of message `source` for the next flush, which writes every question
    /// kept so far ([`Stats::record_questions`]). Counting each question in a transaction of
    /// its own cost two synchronous log writes per question.
    pub fn queue_question(&self, source: String, q: Question) {
        self.queued_questions().push((source, q));
    }

    /// Writes the questions kept by [`Store::queue_question`], and adds some of the counts
    /// gathered before to the counters ([`Stats::record_questions`]). A failure only logs:
    /// statistics never stop an answer.
    pub(crate) fn write_questions(&self) {
        self.write_questions_adding(false);
    }

    /// [`Store::write_questions`], adding every count now: before the counters are read, and
    /// before the flush at shutdown (so the next start has nothing to rebuild).
    pub fn settle_questions(&self) {
        self.write_questions_adding(true);
    }

    fn write_questions_adding(&self, now: bool) {
        let questions = std::mem::take(&mut *self.queued_questions());
        if questions.is_empty() && self.question_writes().idle() {
            return;
        }
        let written = self.stats().and_then(|s| {
            s.record_questions(&questions)?;
            if now {
                s.add_pending(&mut self.question_writes())?;
            }
            Ok(())
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, count = questions.len(),
                "questions were not counted in the statistics");
        }
    }

    pub fn stats(&self) -> Result<Stats, StoreError> {
        Ok(Stats {
            store: self.clone(),
            counters: self.tree(COUNTERS)?,
            samples: self.tree(DURATIONS)?,
            questions: self.tree(QUESTIONS)?,
            meta: self.tree(META)?,
        })
    }

    /// The UTC offset (seconds) statistics days are cut with.
    pub(crate) fn stats_offset(&self) -> Result<i64, StoreError> {
        let meta = self.tree(META)?;
        Ok(meta
            .get(OFFSET)
            .map_err(|e| self.err(e))?
            .map_or(DEFAULT_OFFSET, |v| value(&v)))
    }
}

impl Stats {
    pub fn offset(&self) -> Result<i64, StoreError> {
        self.store.stats_offset()
    }

    /// Records the outcome of the resident's message `source`, once: a message already recorded
    /// changes nothing. `true` when recorded now. Not flushed.
    pub fn record_question(&self, source: &str, q: &Question) -> Result<bool, StoreError> {
        Ok(self.record_questions(&[(source.to_owned(), q.clone())])? == 1)
    }

    /// [`Stats::record_question`] for many messages; how many were new.
    ///
    /// Plain writes, not a transaction: a sled transaction takes a process-wide lock that
    /// stops every other read and write, and at thousands of questions a second that stalled
    /// the bot. Instead the records are written at once and their counts, gathered for
    /// [`ADD_EVERY`], are added to the counters over the next rounds ([`Pending`]; a read of the
    /// counters adds them first), bracketed by a marker ([`WRITING`]): it is written before the
    /// first record whose counts wait and removed once none waits. After a crash the database holds a prefix of the
    /// writes, so a start that finds the marker knows the counters may lag the records and
    /// rebuilds them ([`Stats::ensure_offset`]). Each counter is added to atomically, as
    /// tickets' transactions write the same counters.
    pub fn record_questions(&self, questions: &[(String, Question)]) -> Result<usize, StoreError> {
        let offset = self.offset()?;
        let err = |e| self.store.err(e);
        let mut pending = self.store.question_writes();
        if !questions.is_empty() && !pending.marked {
            self.meta.insert(WRITING, &[1]).map_err(err)?;
            pending.marked = true;
        }
        let mut new = 0;
        for (source, q) in questions {
            if self
                .questions
                .get(source.as_bytes())
                .map_err(err)?
                .is_some()
            {
                continue;
            }
            self.questions
                .insert(source.as_bytes(), encode(q))
                .map_err(err)?;
            for (k, n) in question_counts(q, offset).counters {
                *pending.gathering.entry(k).or_default() += n;
            }
            pending.since.get_or_insert_with(Instant::now);
            new += 1;
        }
        self.add_some(&mut pending)?;
        Ok(new)
    }

    /// Adds up to [`ADD_AT_MOST`] waiting counts: those gathered [`ADD_EVERY`] ago first
    /// become the ones being added. The marker goes once none waits.
    fn add_some(&self, pending: &mut Pending) -> Result<(), StoreError> {
        if pending.adding.is_empty() && pending.since.is_some_and(|s| s.elapsed() >= ADD_EVERY) {
            pending.adding = std::mem::take(&mut pending.gathering);
            pending.since = None;
        }
        for _ in 0..ADD_AT_MOST {
            let Some((k, n)) = pending.adding.pop_first() else {
                break;
            };
            self.add(k, n)?;
        }
        self.unmark_if_done(pending)
    }

    /// Adds every waiting count now and removes the marker. On an error the marker stays (the
    /// next start rebuilds the counters) and the counts are dropped: some may have been added.
    fn add_pending(&self, pending: &mut Pending) -> Result<(), StoreError> {
        let mut all = std::mem::take(&mut pending.adding);
        for (k, n) in std::mem::take(&mut pending.gathering) {
            *all.entry(k).or_default() += n;
        }
        pending.since = None;
        for (k, n) in all {
            self.add(k, n)?;
        }
        self.unmark_if_done(pending)
    }

    fn add(&self, k: Vec<u8>, n: i64) -> Result<(), StoreError> {
        if n != 0 {
            self.counters
                .update_and_fetch(k, |old| {
                    let now = old.map_or(0, value) + n;
                    (now != 0).then(|| now.to_be_bytes().to_vec())
                })
                .map_err(|e| self.store.err(e))?;
        }
        Ok(())
    }

    fn unmark_if_done(&self, pending: &mut Pending) -> Result<(), StoreError> {
        if pending.marked && pending.adding.is_empty() && pending.gathering.is_empty() {
            self.meta.remove(WRITING).map_err(|e| self.store.err(e))?;
            pending.marked = false;
        }
        Ok(())
    }

    /// Every count of the local days `from..=to`, with every question decided so far: the
    /// questions still kept for the next flush are written first, so a ticket is never counted
    /// before the question that opened it.
    pub fn counts(&self, from: i64, to: i64) -> Result<Vec<(Bucket, i64)>, StoreError> {
        self.store.settle_questions();
        let (lo, hi) = day_range(from, to);
        self.counters
            .range(lo..hi)
            .map(|r| {
                let (k, v) = r.map_err(|e| self.store.err(e))?;
                let b = Bucket::parse(&k).ok_or_else(|| bad_key(COUNTERS))?;
                Ok((b, value(&v)))
            })
            .collect()
    }

    /// Every duration sample of the local days `from..=to`: bucket, ticket, ms.
    pub fn samples(&self, from: i64, to: i64) -> Result<Vec<(Bucket, u64, u64)>, StoreError> {
        let (lo, hi) = day_range(from, to);
        self.samples
            .range(lo..hi)
            .map(|r| {
                let (k, v) = r.map_err(|e| self.store.err(e))?;
                let (b, id) = parse_sample(&k).ok_or_else(|| bad_key(DURATIONS))?;
                Ok((b, id, value(&v) as u64))
            })
            .collect()
    }

    /// Everything the counters and samples should hold, computed from the tickets and the
    /// recorded questions.
    fn expected(&self, offset: i64) -> Result<(Counts, usize, usize), StoreError> {
        let tickets = self.store.tickets()?.all()?;
        let mut all = Counts::default();
        for t in &tickets {
            all.merge(ticket_counts(t, offset));
        }
        let mut questions = 0;
        for r in self.questions.iter().values() {
            let q: Question = decode(QUESTIONS, &r.map_err(|e| self.store.err(e))?)?;
            all.merge(question_counts(&q, offset));
            questions += 1;
        }
        all.counters.retain(|_, n| *n != 0);
        Ok((all, tickets.len(), questions))
    }

    /// Compares every stored counter and sample with a recount from the tickets and questions.
    ///
    /// Safe while the bot runs: sled has no snapshots, so the recount is made before and after
    /// the counters are read, and only a comparison between two equal recounts (nothing counted
    /// changed meanwhile) is given; after [`RECOUNT_ATTEMPTS`] tries without one, the last
    /// comparison comes with `settled: false`.
    pub fn recount(&self) -> Result<Recount, StoreError> {
        let offset = self.offset()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // No question half written while the recount reads (tickets are transactions), and
            // none whose counts still wait.
            let mut writes = self.store.question_writes();
            self.add_pending(&mut writes)?;
            let (expected, tickets, questions) = self.expected(offset)?;
            let (stored, stored_samples) = self.stored()?;
            let (again, _, _) = self.expected(offset)?;
            let settled = again == expected;
            if settled || attempt == RECOUNT_ATTEMPTS {
                let mut r = compare(&expected, &stored, &stored_samples);
                r.tickets = tickets;
                r.questions = questions;
                r.settled = settled;
                return Ok(r);
            }
        }
    }

    /// Every stored counter and sample.
    #[allow(clippy::type_complexity)]
    fn stored(&self) -> Result<(BTreeMap<Vec<u8>, i64>, BTreeMap<Vec<u8>, u64>), StoreError> {
        let mut stored = BTreeMap::new();
        for r in self.counters.iter() {
            let (k, v) = r.map_err(|e| self.store.err(e))?;
            stored.insert(k.to_vec(), value(&v));
        }
        let mut stored_samples = BTreeMap::new();
        for r in self.samples.iter() {
            let (k, v) = r.map_err(|e| self.store.err(e))?;
            stored_samples.insert(k.to_vec(), value(&v) as u64);
        }
        Ok((stored, stored_samples))
    }
    /// Makes sure the days are cut with `offset` and the counters are whole: when the stored
    /// offset differs (or none is stored yet, as in a data directory from before statistics),
    /// or the last start stopped while questions were written, every counter and sample is
    /// rebuilt from the tickets and questions. Call at start-up, before messages are handled.
    /// `true` when it rebuilt.
    pub fn ensure_offset(&self, offset: i64) -> Result<bool, StoreError> {
        let stored = self
            .meta
            .get(OFFSET)
            .map_err(|e| self.store.err(e))?
            .map(|v| value(&v));
        let interrupted = self
            .meta
            .get(WRITING)
            .map_err(|e| self.store.err(e))?
            .is_some();
        if stored == Some(offset) && !interrupted {
            return Ok(false);
        }
        self.rebuild(offset)?;
        Ok(true)
    }

    /// Replaces every counter and sample by a recount with `offset`, and stores the offset.
    /// Only while nothing else writes (start-up, or the command line with the bot stopped).
    pub fn rebuild(&self, offset: i64) -> Result<(), StoreError> {
        // Every question recorded, and none of their counts left waiting: the recount has them.
        self.store.write_questions();
        *self.store.question_writes() = Pending::default();
        let (expected, _, _) = self.expected(offset)?;
        let err = |e| self.store.err(e);
        // Without a stored offset, an interrupted rebuild is done again at the next start.
        self.meta.remove(OFFSET).map_err(err)?;
        self.store.flush_blocking()?;
        self.counters.clear().map_err(err)?;
        self.samples.clear().map_err(err)?;
        let mut batch = sled::Batch::default();
        for (k, n) in &expected.counters {
            batch.insert(k.as_slice(), &n.to_be_bytes());
        }
        self.counters.apply_batch(batch).map_err(err)?;
        let mut batch = sled::Batch::default();
        for (k, ms) in &expected.samples {
            batch.insert(k.as_slice(), &ms.to_be_bytes());
        }
        self.samples.apply_batch(batch).map_err(err)?;
        self.meta
            .insert(OFFSET, &offset.to_be_bytes())
            .map_err(err)?;
        self.meta.remove(WRITING).map_err(err)?;
        Ok(())
    }
}

fn day_range(from: i64, to: i64) -> ([u8; 4], [u8; 4]) {
    let lo = from.clamp(0, u32::MAX as i64) as u32;
    let hi = (to.clamp(-1, u32::MAX as i64 - 1) + 1) as u32;
    (lo.to_be_bytes(), hi.max(lo).to_be_bytes())
}

fn bad_key(tree: &str) -> StoreError {
    StoreError::Record {
        tree: tree.into(),
        detail: "a key that is not a statistics bucket".into(),
    }
}

/// The differences between what the counters and samples should hold and what they hold.
fn compare(
    expected: &Counts,
    stored: &BTreeMap<Vec<u8>, i64>,
    stored_samples: &BTreeMap<Vec<u8>, u64>,
) -> Recount {
    let mut mismatches = Vec::new();
    let describe = |k: &[u8]| match Bucket::parse(k) {
        Some(b) => format!(
            "day {} {} village={} item={} {}",
            b.day,
            if b.sandbox { "sandbox" } else { "real" },
            b.village,
            b.item,
            b.metric
        ),
        None => format!("{k:?}"),
    };
    let mut keys: Vec<&Vec<u8>> = stored.keys().chain(expected.counters.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (s, e) = (stored.get(k).copied(), expected.counters.get(k).copied());
        if s != e {
            mismatches.push(Mismatch {
                bucket: describe(k),
                key: Bucket::parse(k),
                ticket: None,
                stored: s,
                recounted: e,
            });
        }
    }
    let mut keys: Vec<&Vec<u8>> = stored_samples
        .keys()
        .chain(expected.samples.keys())
        .collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (s, e) = (stored_samples.get(k), expected.samples.get(k));
        if s != e {
            let parsed = parse_sample(k);
            let bucket = match &parsed {
                Some((b, id)) => format!("{} ticket {id}", describe(&b.key())),
                None => format!("{k:?}"),
            };
            mismatches.push(Mismatch {
                bucket,
                ticket: parsed.as_ref().map(|(_, id)| *id),
                key: parsed.map(|(b, _)| b),
                stored: s.map(|&v| v as i64),
                recounted: e.map(|&v| v as i64),
            });
        }
    }
    Recount {
        counters: stored.len(),
        samples: stored_samples.len(),
        mismatches,
        ..Recount::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_include_the_questions_kept_for_the_next_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let q = Question {
            at: 1_765_000_000_000,
            sandbox: false,
            village: Some("v01".into()),
            item: Some("dibao".into()),
            aspect: None,
            outcome: Outcome::Escalated(Reason::Case),
        };
        let day = local_day(q.at, store.stats_offset().unwrap());
        store.queue_question("onebot:1:m1".into(), q.clone());
        // The same message kept twice is one question.
        store.queue_question("onebot:1:m1".into(), q);
        let asked: i64 = store
            .stats()
            .unwrap()
            .counts(day, day)
            .unwrap()
            .iter()
            .filter(|(b, _)| b.metric == metric::ASKED && b.village == "v01")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(asked, 1);
    }

    #[test]
    fn counts_wait_in_memory_marked_until_a_read_and_a_crash_meanwhile_rebuilds_them() {
        let dir = tempfile::tempdir().unwrap();
        let q = |n: u64| Question {
            at: 1_765_000_000_000 + n,
            sandbox: false,
            village: Some("v02".into()),
            item: Some("dibao".into()),
            aspect: None,
            outcome: Outcome::AskedBack,
        };
        let day = local_day(q(0).at, DEFAULT_OFFSET);
        {
            let store = Store::open(dir.path()).unwrap();
            let stats = store.stats().unwrap();
            stats.ensure_offset(DEFAULT_OFFSET).unwrap();
            store.queue_question("onebot:1:m1".into(), q(1));
            store.queue_question("onebot:1:m2".into(), q(2));
            store.write_questions();
            // Recorded and marked, not yet counted.
            assert_eq!(stats.questions.len(), 2);
            assert!(stats.meta.get(WRITING).unwrap().is_some());
            assert_eq!(stats.counters.len(), 0);
            // A read adds them first.
            assert_eq!(asked(&store, day), 2);
            assert!(stats.meta.get(WRITING).unwrap().is_none());
            assert!(stats.recount().unwrap().mismatches.is_empty());
            // One more, flushed as a commit round flushes, then a crash (no clean stop).
            store.queue_question("onebot:1:m3".into(), q(3));
            store.flush_blocking().unwrap();
            assert_eq!(stats.questions.len(), 3);
            // What a crash loses: the counts waiting in memory.
            *store.question_writes() = Pending::default();
        }
        let store = Store::open(dir.path()).unwrap();
        let stats = store.stats().unwrap();
        assert!(stats.ensure_offset(DEFAULT_OFFSET).unwrap(), "rebuilt");
        assert_eq!(asked(&store, day), 3);
        // A clean stop adds what waits: nothing to rebuild after it.
        store.queue_question("onebot:1:m4".into(), q(4));
        store.write_questions();
        store.settle_questions();
        store.flush_blocking().unwrap();
        drop((stats, store));
        let store = Store::open(dir.path()).unwrap();
        assert!(
            !store
                .stats()
                .unwrap()
                .ensure_offset(DEFAULT_OFFSET)
                .unwrap()
        );
        assert_eq!(asked(&store, day), 4);
    }

    fn asked(store: &Store, day: i64) -> i64 {
        let counts = store.stats().unwrap().counts(day, day).unwrap();
        counts
            .iter()
            .filter(|(b, _)| b.metric == metric::ASKED)
            .map(|(_, n)| n)
            .sum()
    }

    #[test]
    fn a_start_after_questions_were_cut_off_mid_write_rebuilds_the_counters() {
        let dir = tempfile::tempdir().unwrap();
        let q = |n: u64| Question {
            at: 1_765_000_000_000 + n,
            sandbox: false,
            village: Some("v01".into()),
            item: Some("senior-card".into()),
            aspect: Some("materials".into()),
            outcome: Outcome::Answered,
        };
        let day = local_day(q(0).at, DEFAULT_OFFSET);
        {
            let store = Store::open(dir.path()).unwrap();
            let stats = store.stats().unwrap();
            stats.ensure_offset(DEFAULT_OFFSET).unwrap();
            let new = stats
                .record_questions(&[("onebot:1:m1".into(), q(1)), ("onebot:1:m2".into(), q(2))])
                .unwrap();
            assert_eq!(new, 2);
            store.settle_questions();
            store.flush_blocking().unwrap();
        }
        {
            // A clean write leaves nothing to rebuild.
            let store = Store::open(dir.path()).unwrap();
            let stats = store.stats().unwrap();
            assert!(!stats.ensure_offset(DEFAULT_OFFSET).unwrap());
            assert_eq!(asked(&store, day), 2);
            // What a crash between a question's record and its counters leaves: the record, the
            // marker, and counters without it.
            stats.meta.insert(WRITING, &[1]).unwrap();
            stats
                .questions
                .insert("onebot:1:m3", encode(&q(3)))
                .unwrap();
            store.flush_blocking().unwrap();
            assert_eq!(asked(&store, day), 2);
        }
        let store = Store::open(dir.path()).unwrap();
        let stats = store.stats().unwrap();
        assert!(stats.ensure_offset(DEFAULT_OFFSET).unwrap(), "rebuilt");
        assert_eq!(asked(&store, day), 3);
        assert!(stats.recount().unwrap().mismatches.is_empty());
        assert!(!stats.ensure_offset(DEFAULT_OFFSET).unwrap(), "once");
    }
}
