//! The soak driver, shared by `benches/soak.rs` (an hour, the release binary) and
//! `tests/soak.rs` (half a minute, the test binary): the real `bangban run` as a child process
//! against a fake NapCat over OneBot reverse WebSocket, at a steady moderate load, with the
//! WebSocket dropped and reopened every so often and the bot killed with SIGKILL and restarted
//! on the same data directory every so often.
//!
//! **The load.** Questions @-mentioning the bot at `rate` a second, each from one of `residents`
//! residents (each living in one of the 76 village groups 900001–900076); every
//! `escalate_one_in`-th is a case the bot hands to an agent, so tickets and agents' notices
//! (group 900100) exist. Pacing and input limits are off (as in `benches/onebot_load.rs`): every
//! question is due an answer, and the figures are about durability and memory, not about the
//! limits (`benches/flood.rs` covers those). The daily digest is off.
//!
//! **The fake NapCat** confirms every send at once, as NapCat does, and records each one. For a
//! moment (`STALL`) before each kill it stops reading, as a stalled NapCat would, so that
//! replies are waiting in the outbox when the bot is killed: those must go out after the
//! restart. NapCat does not queue events for a bot that is down, so questions due while no
//! connection is up are not sent: they are counted as "asked while down".
//!
//! **What is judged.**
//! - *Lost*: a question not answered by the end. After the run (the bot stopped) the data
//!   directory is opened and its dedupe store read: a question the bot marked seen was accepted,
//!   so its reply was stored with it, and not answering it breaks the durability contract. A
//!   question not marked seen is lost too, unless the connection it was written on ended (a kill
//!   or a drop) within `IN_FLIGHT` of it: then it was still in the sockets ("in flight").
//! - *Repeats*: the same reply (group, quoted question, text) sent twice. The outbox promises at
//!   most once after a confirmation. The bot does not mark a resend, so a repeat is explained
//!   from what the fake saw of the first copy: its confirmation could not be written
//!   ("unconfirmed"), or the connection it was written on ended within `CONFIRMATION_CUT` of it —
//!   killed (the removal from the outbox not yet durable: sled makes it so within half a second,
//!   or at the next batch's flush) or dropped (the confirmation may not have been read).
//!   Those are "maybe-delivered repeats". Any other repeat is unexplained.
//! - *Memory*: the bot's VmHWM/VmRSS from `/proc`, sampled every second; the peak is bounded.
//! - Also counted: crashes (the bot exiting on its own), connections the bot closed, replies
//!   the bot gave up on (`outbox_failed`), answered questions the dedupe store does not know.
#![allow(dead_code)] // The bench and the test each use their own part.

use bangban::store::Store;
use bangban_contract::{Chat, Incoming, Platform};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "soak-test-token";
pub const BOT: u64 = 123_456_789;
pub const GROUPS: u64 = 76;
pub const FIRST_GROUP: u64 = 900_001;
pub const AGENTS_CHAT: u64 = 900_100;
/// Message ids: the n-th question is `FIRST_ID + n`.
pub const FIRST_ID: u64 = 1_000_000;
/// A question written this shortly before its connection ended may not have been read.
pub const IN_FLIGHT: Duration = Duration::from_secs(2);
/// A reply confirmed this shortly before its connection ended may legitimately come again.
pub const CONFIRMATION_CUT: Duration = Duration::from_secs(2);
/// How long the fake stops reading before each kill (replies wait in the outbox meanwhile).
pub const STALL: Duration = Duration::from_secs(1);
/// An answer slower than this is listed (when, how slow) in the summary.
pub const SLOW: Duration = Duration::from_millis(250);
/// NapCat's heartbeat, which also arms the bot's heartbeat watch.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// No reconnect this close to a kill (the kill reconnects anyway).
const NEAR_KILL: Duration = Duration::from_secs(5);

/// Answered from the item guide (checked with `bangban ask`).
pub const QUESTIONS: &[&str] = &[
    "老年卡要带什么",
    "社保卡怎么激活",
    "养老认证手机上能做吗",
    "低保怎么申请",
    "残疾证在哪办",
    "医保异地就医怎么备案",
    "新生儿落户要什么材料",
    "社保卡丢了怎么办",
];
/// Handed to an agent: a ticket and a notice in the agents' chat.
pub const ESCALATIONS: &[&str] = &["村里的路灯坏了找谁", "我家的低保怎么停了，帮我查一下"];

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `bangban` binary.
    pub bin: PathBuf,
    /// How long questions are sent (the drain comes after).
    pub duration: Duration,
    /// Questions a second.
    pub rate: u64,
    pub residents: u64,
    /// Every n-th question is an escalation.
    pub escalate_one_in: u64,
    /// Drop and reopen the WebSocket this often (`None`: never).
    pub reconnect_every: Option<Duration>,
    /// `kill -9` the bot and restart it this often (`None`: never).
    pub kill_every: Option<Duration>,
    /// A report line this often.
    pub report_every: Duration,
    /// Peak resident memory allowed, KiB.
    pub max_rss_kib: u64,
    /// How long the answers may take after the last question.
    pub drain: Duration,
    /// How long one start of the bot may take (the first may train the matcher).
    pub start_timeout: Duration,
    /// Fill the soak's own matcher cache (`bangban ask` once) before the first start, so that
    /// every start loads the trained matcher as a restart does. Otherwise the first start
    /// trains it, as the first start after an install or an upgrade does.
    pub warm_cache: bool,
    /// Parent of the temporary config, data and cache directories (default: the system temp
    /// dir).
    pub data_parent: Option<PathBuf>,
    /// Echo the bot's stderr.
    pub show_logs: bool,
}

/// One sample of the bot, taken every second.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub secs: f64,
    pub process: usize,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub outbox_depth: Option<i64>,
    pub seen_entries: Option<i64>,
    pub silent: Option<i64>,
    pub errors: Option<i64>,
}

/// A report line's figures (one per `report_every`).
#[derive(Debug, Clone)]
pub struct Interval {
    pub secs: u64,
    pub sent: u64,
    pub answered: u64,
    pub down: u64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub outbox_depth: Option<i64>,
    pub outbox_max: i64,
    pub seen_entries: Option<i64>,
    /// The data directory's size on disk.
    pub data_kib: u64,
    pub kills: u64,
    pub reconnects: u64,
    pub repeats: u64,
}

impl Interval {
    pub fn line(&self) -> String {
        let opt = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
        format!(
            "soak {:>5} s  sent {:>7}  answered {:>7}  down {:>5}  rss {:>5.1} MiB (peak {:>5.1})  outbox {:>3} (max {:>4})  seen {:>7}  data {:>6.1} MiB  kills {:>2}  reconnects {:>3}  repeats {}",
            self.secs,
            self.sent,
            self.answered,
            self.down,
            mib(self.rss_kib),
            mib(self.hwm_kib),
            opt(self.outbox_depth),
            self.outbox_max,
            opt(self.seen_entries),
            mib(self.data_kib),
            self.kills,
            self.reconnects,
            self.repeats
        )
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The fake dropped it (a reconnect).
    Drop,
    /// The bot was killed with SIGKILL.
    Kill,
    /// The bot closed it, or exited on its own.
    Bot,
    /// The run ended.
    Finish,
}

#[derive(Debug, Clone)]
struct Conn {
    process: usize,
    ended: Option<(Instant, End)>,
}

#[derive(Debug, Clone)]
struct Question {
    group: u64,
    /// `None`: due while no connection was up, not sent.
    sent: Option<(Instant, usize)>,
    /// When, and by which start of the bot, it was first answered.
    answered: Option<(Instant, usize)>,
    escalation: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplyKey {
    group: u64,
    quote: Option<u64>,
    text: u64,
}

#[derive(Debug, Clone)]
struct FirstCopy {
    conn: usize,
    /// When its confirmation was written (`None`: it could not be).
    confirmed: Option<Instant>,
    count: u64,
}

/// Repeated replies, by what explains them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repeats {
    /// The first copy's confirmation could not be written.
    pub unconfirmed: u64,
    /// Confirmed shortly before a kill.
    pub cut_by_kill: u64,
    /// Confirmed shortly before the connection was dropped (or closed by the bot).
    pub cut_by_drop: u64,
    /// None of those: the outbox sent a confirmed reply again.
    pub unexplained: u64,
    /// Messages quoting no question (agents' notices, summaries) sent with the same text
    /// again: reported, not judged (two summaries may read alike).
    pub unquoted: u64,
    /// The first few of those (group, start of the text), to tell which they were.
    pub unquoted_examples: Vec<String>,
}

impl Repeats {
    pub fn explained(&self) -> u64 {
        self.unconfirmed + self.cut_by_kill + self.cut_by_drop
    }
}

/// The questions that were never answered, by what explains them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unanswered {
    /// Marked seen by the bot (so accepted, its reply stored), never answered.
    pub lost_accepted: u64,
    /// Not marked seen, though written on a connection that lived on.
    pub lost_unread: u64,
    /// Written shortly before its connection ended by a kill.
    pub in_flight_kill: u64,
    /// Written shortly before its connection was dropped or closed.
    pub in_flight_drop: u64,
}

impl Unanswered {
    pub fn lost(&self) -> u64 {
        self.lost_accepted + self.lost_unread
    }
}

/// What the fake NapCat saw: every question, every send, every connection.
#[derive(Debug, Default)]
pub struct Ledger {
    questions: Vec<Question>,
    conns: Vec<Conn>,
    replies: HashMap<ReplyKey, FirstCopy>,
    pub repeats: Repeats,
    /// Messages to the agents' chat.
    pub notices: u64,
    /// Other messages quoting nothing we asked.
    pub other: u64,
    answered: u64,
    /// Answered by a later start of the bot than the one asked.
    pub answered_after_restart: u64,
    /// Event frame to reply frame, ms, for questions answered by the start that was asked.
    latencies: Vec<f64>,
    /// Answers that took over `SLOW`: when the question was asked, and how long it took.
    slow: Vec<(Instant, Duration)>,
    last_answer: Option<Instant>,
}

impl Ledger {
    /// A new connection, to start `process` of the bot; its id.
    pub fn connected(&mut self, process: usize) -> usize {
        self.conns.push(Conn {
            process,
            ended: None,
        });
        self.conns.len() - 1
    }

    pub fn ended(&mut self, conn: usize, at: Instant, why: End) {
        self.conns[conn].ended.get_or_insert((at, why));
    }

    /// Question `n` (message id `FIRST_ID + n`) was written on `conn` (`None`: due while down).
    pub fn asked(&mut self, group: u64, escalation: bool, sent: Option<(Instant, usize)>) -> u64 {
        self.questions.push(Question {
            group,
            sent,
            answered: None,
            escalation,
        });
        self.questions.len() as u64 - 1
    }

    /// A send the bot made, read on `conn` at `at`; its key, for [`Ledger::confirmed`].
    pub fn delivered(
        &mut self,
        group: u64,
        quote: Option<u64>,
        text: &str,
        conn: usize,
        at: Instant,
    ) -> ReplyKey {
        let mut h = DefaultHasher::new();
        text.hash(&mut h);
        let key = ReplyKey {
            group,
            quote,
            text: h.finish(),
        };
        if group == AGENTS_CHAT {
            self.notices += 1;
        }
        let process = self.conns[conn].process;
        let question = quote
            .and_then(|q| q.checked_sub(FIRST_ID))
            .and_then(|n| self.questions.get_mut(n as usize))
            .filter(|q| q.group == group && q.sent.is_some());
        match question {
            Some(q) if q.answered.is_none() => {
                q.answered = Some((at, process));
                self.answered += 1;
                self.last_answer = Some(at);
                let (sent_at, sent_conn) = q.sent.expect("filtered");
                if self.conns[sent_conn].process == process {
                    let took = at.saturating_duration_since(sent_at);
                    self.latencies.push(took.as_secs_f64() * 1000.0);
                    if took > SLOW {
                        self.slow.push((sent_at, took));
                    }
                } else {
                    self.answered_after_restart += 1;
                }
            }
            Some(_) => {}
            None if group != AGENTS_CHAT => self.other += 1,
            None => {}
        }
        if let Some(first) = self.replies.get_mut(&key) {
            first.count += 1;
            let first = first.clone();
            if quote.is_none() {
                self.repeats.unquoted += 1;
                if self.repeats.unquoted_examples.len() < 5 {
                    let start: String = text.chars().take(40).collect();
                    self.repeats
                        .unquoted_examples
                        .push(format!("{group}: {start}"));
                }
            } else {
                self.judge_repeat(&first);
            }
        } else {
            self.replies.insert(
                key,
                FirstCopy {
                    conn,
                    confirmed: None,
                    count: 1,
                },
            );
        }
        key
    }

    /// The confirmation of the send `key` was written at `at` (only the first copy's counts).
    pub fn confirmed(&mut self, key: ReplyKey, at: Instant) {
        if let Some(first) = self.replies.get_mut(&key)
            && first.count == 1
        {
            first.confirmed = Some(at);
        }
    }

    fn judge_repeat(&mut self, first: &FirstCopy) {
        let Some(confirmed) = first.confirmed else {
            self.repeats.unconfirmed += 1;
            return;
        };
        match self.conns[first.conn].ended {
            Some((end, why)) if end.saturating_duration_since(confirmed) <= CONFIRMATION_CUT => {
                match why {
                    End::Kill => self.repeats.cut_by_kill += 1,
                    End::Drop | End::Bot => self.repeats.cut_by_drop += 1,
                    End::Finish => self.repeats.unexplained += 1,
                }
            }
            _ => self.repeats.unexplained += 1,
        }
    }

    /// Every question never answered, judged with `seen` (whether the bot's dedupe store holds
    /// the question's message id in its group).
    pub fn unanswered(&self, mut seen: impl FnMut(u64, u64) -> bool) -> Unanswered {
        let mut u = Unanswered::default();
        for (n, q) in self.questions.iter().enumerate() {
            let (Some((sent_at, conn)), None) = (q.sent, q.answered) else {
                continue;
            };
            if seen(q.group, FIRST_ID + n as u64) {
                u.lost_accepted += 1;
                continue;
            }
            match self.conns[conn].ended {
                Some((end, why))
                    if why != End::Finish
                        && end.saturating_duration_since(sent_at) <= IN_FLIGHT =>
                {
                    if why == End::Kill {
                        u.in_flight_kill += 1;
                    } else {
                        u.in_flight_drop += 1;
                    }
                }
                _ => u.lost_unread += 1,
            }
        }
        u
    }

    /// Answered questions the bot's dedupe store does not hold (`seen` as above).
    pub fn answered_unseen(&self, mut seen: impl FnMut(u64, u64) -> bool) -> u64 {
        self.questions
            .iter()
            .enumerate()
            .filter(|(n, q)| q.answered.is_some() && !seen(q.group, FIRST_ID + *n as u64))
            .count() as u64
    }

    pub fn sent(&self) -> u64 {
        self.questions.iter().filter(|q| q.sent.is_some()).count() as u64
    }

    pub fn down(&self) -> u64 {
        self.questions.iter().filter(|q| q.sent.is_none()).count() as u64
    }

    pub fn answered(&self) -> u64 {
        self.answered
    }

    pub fn escalations(&self) -> u64 {
        self.questions
            .iter()
            .filter(|q| q.escalation && q.sent.is_some())
            .count() as u64
    }

    /// Whether every question written on `conn` is answered.
    fn all_answered_on(&self, conn: usize) -> bool {
        self.questions
            .iter()
            .rev()
            .take_while(|q| q.sent.is_none_or(|(_, c)| c >= conn))
            .all(|q| q.sent.is_none_or(|(_, c)| c != conn) || q.answered.is_some())
    }

    fn repeats_total(&self) -> u64 {
        self.repeats.explained() + self.repeats.unexplained
    }
}

/// The memory of one start of the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// It trained the matcher (no cached one): training's memory stays with the process.
    pub trained: bool,
    pub peak_hwm_kib: u64,
    pub last_rss_kib: u64,
    /// Seconds into the run of its first and last sample.
    pub from_secs: u64,
    pub to_secs: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    pub settings: Settings,
    pub sent: u64,
    pub answered: u64,
    pub down: u64,
    pub escalations: u64,
    pub notices: u64,
    pub other: u64,
    pub answered_after_restart: u64,
    pub unanswered: Unanswered,
    pub repeats: Repeats,
    /// Answered, yet not in the dedupe store: a redelivered event would be answered again.
    pub answered_unseen: u64,
    pub kills: u64,
    pub reconnects: u64,
    /// The bot exited without being killed.
    pub crashes: u64,
    /// Connections the bot closed itself.
    pub bot_closed: u64,
    /// Replies the bot gave up on (its `outbox_failed` tree at the end).
    pub gave_up: u64,
    /// Latency of answers by the start that was asked, ms: p50, p99, max.
    pub latency_ms: (f64, f64, f64),
    /// Answers slower than [`SLOW`]: seconds into the run the question was asked, ms taken.
    pub slow: Vec<(f64, f64)>,
    pub intervals: Vec<Interval>,
    /// Per start of the bot: whether it trained the matcher, its peak VmHWM and its last VmRSS
    /// sampled, KiB.
    pub starts: Vec<Start>,
    pub peak_hwm_kib: u64,
    pub outbox_max: i64,
    /// The outbox depth when the drain ended (`None`: never read).
    pub outbox_end: Option<i64>,
    /// The dedupe store's size, counted in the data directory after the run.
    pub seen_end: u64,
    /// After each restart: the first `bangban_seen_entries` read, and how many questions
    /// had been answered (so accepted) before it.
    pub seen_after_restart: Vec<(i64, u64)>,
    /// Per start, the last value read of these counters, summed.
    pub silent: i64,
    pub engine_errors: i64,
    /// Whether the bot stopped cleanly on SIGTERM at the end.
    pub stopped_cleanly: bool,
    /// Distinct WARN/ERROR log lines (level, target, message): how many, and the first in full
    /// (bangban logs no message text).
    pub log_lines: BTreeMap<String, (u64, String)>,
    pub drain_secs: f64,
}

impl Summary {
    /// What fails the run; empty when it passed.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let u = &self.unanswered;
        if u.lost() > 0 {
            f.push(format!(
                "{} replies lost ({} accepted and never answered, {} never read on a live connection)",
                u.lost(),
                u.lost_accepted,
                u.lost_unread
            ));
        }
        if self.repeats.unexplained > 0 {
            f.push(format!(
                "{} unexplained duplicate replies",
                self.repeats.unexplained
            ));
        }
        if self.peak_hwm_kib > self.settings.max_rss_kib {
            f.push(format!(
                "peak RSS {:.1} MiB over the bound of {:.0} MiB",
                mib(self.peak_hwm_kib),
                mib(self.settings.max_rss_kib)
            ));
        }
        if self.crashes > 0 {
            f.push(format!("the bot exited on its own {} times", self.crashes));
        }
        if self.bot_closed > 0 {
            f.push(format!(
                "the bot closed the connection {} times",
                self.bot_closed
            ));
        }
        if self.gave_up > 0 {
            f.push(format!("{} replies given up (outbox_failed)", self.gave_up));
        }
        if self.answered_unseen > 0 {
            f.push(format!(
                "{} answered questions missing from the dedupe store",
                self.answered_unseen
            ));
        }
        if self.outbox_end != Some(0) {
            f.push(format!(
                "the outbox did not drain: depth {:?} at the end",
                self.outbox_end
            ));
        }
        if !self.stopped_cleanly {
            f.push("the bot did not stop cleanly on SIGTERM".into());
        }
        f
    }

    pub fn print(&self) {
        let s = &self.settings;
        let every = |d: Option<Duration>| {
            d.map_or("never".to_owned(), |d| format!("every {} s", d.as_secs()))
        };
        println!(
            "soak: {} s at {} questions/s over {} village groups from {} residents (1 in {} escalated); reconnect {}, kill -9 {}",
            s.duration.as_secs(),
            s.rate,
            GROUPS,
            s.residents,
            s.escalate_one_in,
            every(s.reconnect_every),
            every(s.kill_every)
        );
        println!(
            "  questions   sent {}  answered {}  asked while down {}  in flight at a kill {}  at a drop {}",
            self.sent,
            self.answered,
            self.down,
            self.unanswered.in_flight_kill,
            self.unanswered.in_flight_drop
        );
        println!(
            "  lost        {} (accepted, never answered {}; never read on a live connection {})",
            self.unanswered.lost(),
            self.unanswered.lost_accepted,
            self.unanswered.lost_unread
        );
        println!(
            "  restarts    {} kills, {} reconnects, {} crashes, {} closed by the bot; {} answered only after a restart",
            self.kills, self.reconnects, self.crashes, self.bot_closed, self.answered_after_restart
        );
        println!(
            "  repeats     maybe-delivered {} (unconfirmed {}, confirmation cut by a kill {}, by a drop {}); unexplained {}; unquoted alike {}",
            self.repeats.explained(),
            self.repeats.unconfirmed,
            self.repeats.cut_by_kill,
            self.repeats.cut_by_drop,
            self.repeats.unexplained,
            self.repeats.unquoted
        );
        for example in &self.repeats.unquoted_examples {
            println!("              unquoted again: {example}");
        }
        println!(
            "  tickets     {} escalations asked, {} agents' notices; {} other messages; {} replies given up",
            self.escalations, self.notices, self.other, self.gave_up
        );
        println!(
            "  latency     p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms (event frame → reply frame, same start)",
            self.latency_ms.0, self.latency_ms.1, self.latency_ms.2
        );
        if !self.slow.is_empty() {
            let slow: Vec<String> = self
                .slow
                .iter()
                .take(12)
                .map(|(at, ms)| format!("{ms:.0} ms at {at:.1} s"))
                .collect();
            println!(
                "              {} answers over {} ms: {}",
                self.slow.len(),
                SLOW.as_millis(),
                slow.join(", ")
            );
        }
        let series: Vec<String> = self
            .intervals
            .iter()
            .map(|i| format!("{:.0}", mib(i.rss_kib)))
            .collect();
        println!(
            "  memory      peak RSS {:.1} MiB (VmHWM; bound {:.0}); RSS MiB per report: {}",
            mib(self.peak_hwm_kib),
            mib(s.max_rss_kib),
            series.join(" ")
        );
        for (i, start) in self.starts.iter().enumerate() {
            println!(
                "              start {i} ({} s–{} s{}): peak {:.1} MiB, last {:.1} MiB",
                start.from_secs,
                start.to_secs,
                if start.trained {
                    ", trained the matcher"
                } else {
                    ", matcher from the cache"
                },
                mib(start.peak_hwm_kib),
                mib(start.last_rss_kib)
            );
        }
        println!(
            "  outbox      max depth {}; at the end {:?} (drained {:.1} s after the last question)",
            self.outbox_max, self.outbox_end, self.drain_secs
        );
        let seen: Vec<String> = self
            .intervals
            .iter()
            .map(|i| i.seen_entries.map_or("-".into(), |v| v.to_string()))
            .collect();
        println!(
            "  dedupe      {} seen ids in the data directory at the end; per report: {}",
            self.seen_end,
            seen.join(" ")
        );
        let data: Vec<String> = self
            .intervals
            .iter()
            .map(|i| format!("{:.1}", mib(i.data_kib)))
            .collect();
        println!("  data dir    MiB per report: {}", data.join(" "));
        println!(
            "  engine      silent {}  errors {}; answered but not in the dedupe store {}; stopped cleanly: {}",
            self.silent, self.engine_errors, self.answered_unseen, self.stopped_cleanly
        );
        for (line, (n, first)) in &self.log_lines {
            println!("  log         {n:>6} × {line}");
            let first: String = first
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ");
            println!(
                "                       first: {}",
                first.chars().take(240).collect::<String>()
            );
        }
        let failures = self.failures();
        if failures.is_empty() {
            println!("  result      PASS");
        } else {
            println!("  result      FAIL: {}", failures.join("; "));
        }
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs the soak.
pub async fn run(settings: Settings) -> Summary {
    let parent = settings
        .data_parent
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let root = tempfile::tempdir_in(parent).unwrap();
    let config = config_dir(root.path());
    let data = root.path().join("data");
    // The soak's own matcher cache: the shared one holds one matcher, whichever binary or
    // configuration last wrote it, so whether a start trains would depend on other processes.
    let cache = root.path().join("cache");
    if settings.warm_cache {
        warm_cache(&settings.bin, &config, &cache);
    }
    let logs = Arc::new(Mutex::new(Logs::default()));
    let mut soak = Soak {
        bot: Bot::start(&settings, &config, &cache, &data, 0, logs.clone()).await,
        socket: None,
        ledger: Ledger::default(),
        shared: Arc::new(Mutex::new(Shared::default())),
        processes: 1,
        kills: 0,
        reconnects: 0,
        crashes: 0,
        bot_closed: 0,
        next_n: 0,
        intervals: Vec::new(),
        seen_after_restart: Vec::new(),
        answered_at_restart: None,
        logs,
        config,
        cache,
        data: data.clone(),
        settings: settings.clone(),
        start: Instant::now(),
        rng: Rng(0x9E37_79B9_7F4A_7C15),
    };
    soak.shared.lock().unwrap().target = Some((soak.bot.pid, soak.bot.addr, 0));
    let sampler = tokio::spawn(sample(soak.shared.clone()));
    soak.connect().await;
    soak.start = Instant::now();
    soak.shared.lock().unwrap().start = Some(soak.start);
    soak.drive().await;
    let drain_started = Instant::now();
    let outbox_end = soak.drain().await;
    let drain_secs = drain_started.elapsed().as_secs_f64();
    sampler.abort();
    let _ = sampler.await;
    soak.report(true);

    let now = Instant::now();
    if let Some((_, conn)) = soak.socket.take() {
        soak.ledger.ended(conn, now, End::Finish);
    }
    let stopped_cleanly = soak.bot.terminate().await;

    // The bot is stopped: its data directory tells what it accepted.
    let store = Store::open(&data).expect("the data directory opens after the run");
    let is_seen = |group: u64, id: u64| {
        store
            .is_seen(&dedupe_key(group, id))
            .expect("the dedupe store reads")
    };
    let answered_unseen = soak.ledger.answered_unseen(is_seen);
    assert!(
        soak.ledger.answered() == 0 || answered_unseen < soak.ledger.answered(),
        "no answered question is in the dedupe store: has the dedupe key changed (src/runtime/events.rs, dedupe_key)?"
    );
    let unanswered = soak.ledger.unanswered(is_seen);
    let gave_up = store.given_up().expect("outbox_failed reads").len() as u64;
    let seen_end = store.seen_len() as u64;
    drop(store);

    let shared = soak.shared.lock().unwrap();
    let mut last_per_process: BTreeMap<usize, &Sample> = BTreeMap::new();
    for s in &shared.samples {
        last_per_process.insert(s.process, s);
    }
    let silent = last_per_process.values().filter_map(|s| s.silent).sum();
    let engine_errors = last_per_process.values().filter_map(|s| s.errors).sum();
    let peak_hwm_kib = shared.samples.iter().map(|s| s.hwm_kib).max().unwrap_or(0);
    let mut starts: Vec<Start> = Vec::new();
    for sample in &shared.samples {
        if starts.len() <= sample.process {
            starts.resize(
                sample.process + 1,
                Start {
                    trained: false,
                    peak_hwm_kib: 0,
                    last_rss_kib: 0,
                    from_secs: sample.secs as u64,
                    to_secs: 0,
                },
            );
            starts[sample.process].from_secs = sample.secs as u64;
        }
        let start = &mut starts[sample.process];
        start.peak_hwm_kib = start.peak_hwm_kib.max(sample.hwm_kib);
        start.last_rss_kib = sample.rss_kib;
        start.to_secs = sample.secs as u64;
    }
    if let Some(first) = starts.first_mut() {
        first.trained = !settings.warm_cache;
    }
    let outbox_max = shared
        .samples
        .iter()
        .filter_map(|s| s.outbox_depth)
        .max()
        .unwrap_or(0);
    drop(shared);
    let mut lat = std::mem::take(&mut soak.ledger.latencies);
    lat.sort_by(f64::total_cmp);
    let log_lines = soak.logs.lock().unwrap().lines.clone();
    Summary {
        settings,
        sent: soak.ledger.sent(),
        answered: soak.ledger.answered(),
        down: soak.ledger.down(),
        escalations: soak.ledger.escalations(),
        notices: soak.ledger.notices,
        other: soak.ledger.other,
        answered_after_restart: soak.ledger.answered_after_restart,
        unanswered,
        repeats: soak.ledger.repeats.clone(),
        answered_unseen,
        kills: soak.kills,
        reconnects: soak.reconnects,
        crashes: soak.crashes,
        bot_closed: soak.bot_closed,
        gave_up,
        latency_ms: (pct(&lat, 50.0), pct(&lat, 99.0), pct(&lat, 100.0)),
        slow: soak
            .ledger
            .slow
            .iter()
            .map(|(at, took)| {
                (
                    at.saturating_duration_since(soak.start).as_secs_f64(),
                    took.as_secs_f64() * 1000.0,
                )
            })
            .collect(),
        intervals: soak.intervals,
        starts,
        peak_hwm_kib,
        outbox_max,
        outbox_end,
        seen_end,
        seen_after_restart: soak.seen_after_restart,
        silent,
        engine_errors,
        stopped_cleanly,
        log_lines,
        drain_secs,
    }
}

/// The event as the bot's dedupe store keys it: the group is part of the message id (see
/// `dedupe_key` in src/runtime/events.rs).
pub fn dedupe_key(group: u64, id: u64) -> Incoming {
    Incoming {
        platform: Platform::Onebot,
        account: BOT.to_string(),
        chat: Chat::Group(group.to_string()),
        sender: String::new(),
        sender_name: None,
        message_id: format!("g{group}\0{id}"),
        text: String::new(),
        mentions_bot: false,
        reply_to: None,
    }
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type Stream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// What the sampler shares with the driver.
#[derive(Default)]
struct Shared {
    /// The bot to sample: pid, address, start number.
    target: Option<(u32, SocketAddr, usize)>,
    samples: Vec<Sample>,
    start: Option<Instant>,
}

struct Soak {
    settings: Settings,
    config: PathBuf,
    cache: PathBuf,
    data: PathBuf,
    bot: Bot,
    /// The fake NapCat's connection and its id in the ledger.
    socket: Option<((Sink, Stream), usize)>,
    ledger: Ledger,
    shared: Arc<Mutex<Shared>>,
    logs: Arc<Mutex<Logs>>,
    processes: usize,
    kills: u64,
    reconnects: u64,
    crashes: u64,
    bot_closed: u64,
    /// The next question's number.
    next_n: u64,
    intervals: Vec<Interval>,
    seen_after_restart: Vec<(i64, u64)>,
    /// Answered questions when the current start began, until its first seen count is read.
    answered_at_restart: Option<u64>,
    start: Instant,
    rng: Rng,
}

impl Soak {
    /// Sends questions at the rate until the duration is over, with the reconnects and kills.
    async fn drive(&mut self) {
        let s = self.settings.clone();
        let end = self.start + s.duration;
        let mut next_kill = s.kill_every.map(|d| self.start + d);
        let mut next_reconnect = s.reconnect_every.map(|d| self.start + d);
        let mut next_report = self.start + s.report_every;
        let mut next_heartbeat = Instant::now() + HEARTBEAT;
        let mut ticks = tokio::time::interval(Duration::from_millis(5));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let now = Instant::now();
            // Before a kill (not one due at the end, which never comes).
            let stalled = next_kill.is_some_and(|k| k < end && now + STALL >= k);
            let reading = self.socket.is_some() && !stalled;
            tokio::select! {
                biased;
                frame = next_frame(&mut self.socket), if reading => self.on_frame(frame).await,
                now = ticks.tick() => {
                    if now >= end {
                        return;
                    }
                    if let Some(at) = next_kill.filter(|at| now >= *at) {
                        self.kill_and_restart().await;
                        next_kill = s.kill_every.map(|d| at + d);
                        // The kill reconnected: a reconnect due about now is skipped.
                        if let (Some(r), Some(d)) = (next_reconnect, s.reconnect_every)
                            && r <= Instant::now() + NEAR_KILL
                        {
                            next_reconnect = Some(r + d);
                        }
                    } else if let Some(at) = next_reconnect.filter(|at| now >= *at) {
                        let near = next_kill.is_some_and(|k| k.saturating_duration_since(now) < NEAR_KILL);
                        if !near {
                            self.reconnect(End::Drop).await;
                        }
                        next_reconnect = s.reconnect_every.map(|d| at + d);
                    }
                    if now >= next_heartbeat {
                        next_heartbeat = now + HEARTBEAT;
                        self.heartbeat().await;
                    }
                    if now >= next_report {
                        next_report += s.report_every;
                        self.report(false);
                    }
                    self.send_due().await;
                }
            }
        }
    }

    /// Serves the connection until every question is answered and the outbox is empty (or
    /// `drain` passed); the last outbox depth read.
    async fn drain(&mut self) -> Option<i64> {
        let deadline = Instant::now() + self.settings.drain;
        let mut checks = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                biased;
                frame = next_frame(&mut self.socket), if self.socket.is_some() => self.on_frame(frame).await,
                now = checks.tick() => {
                    let conn = self.socket.as_ref().map(|(_, c)| *c);
                    let answered = conn.is_some_and(|c| self.ledger.all_answered_on(c));
                    let last_answer = self.ledger.last_answer;
                    let depth = {
                        let shared = self.shared.lock().unwrap();
                        // A depth read after the last answer, from the bot serving now.
                        shared.samples.last().filter(|s| {
                            s.process == self.processes - 1
                                && last_answer.is_none_or(|a| self.start + Duration::from_secs_f64(s.secs) > a)
                        }).and_then(|s| s.outbox_depth)
                    };
                    if (answered && depth == Some(0)) || now >= deadline {
                        return depth.or_else(|| self.shared.lock().unwrap().samples.last().and_then(|s| s.outbox_depth));
                    }
                }
            }
        }
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) {
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                self.connection_lost().await;
                return;
            }
            Some(Ok(_)) => return,
        };
        let Ok(request) = serde_json::from_str::<Value>(&text) else {
            return;
        };
        let Some(((sink, _), conn)) = self.socket.as_mut() else {
            return;
        };
        let conn = *conn;
        let now = Instant::now();
        let key = (request["action"] == "send_group_msg").then(|| {
            let params = &request["params"];
            let group = params["group_id"]
                .as_u64()
                .or_else(|| params["group_id"].as_str()?.parse().ok())
                .unwrap_or(0);
            let mut quote = None;
            let mut text = String::new();
            for segment in params["message"].as_array().into_iter().flatten() {
                match segment["type"].as_str() {
                    Some("reply") => {
                        quote = segment["data"]["id"]
                            .as_str()
                            .and_then(|id| id.parse().ok())
                    }
                    Some("text") => text.push_str(segment["data"]["text"].as_str().unwrap_or("")),
                    _ => {}
                }
            }
            self.ledger.delivered(group, quote, &text, conn, now)
        });
        let ok = json!({"status": "ok", "retcode": 0,
            "data": {"message_id": 1_900_000_000u64 + self.ledger.replies.len() as u64},
            "message": "", "wording": "", "echo": request["echo"]});
        match sink.send(Message::text(ok.to_string())).await {
            Ok(()) => {
                if let Some(key) = key {
                    self.ledger.confirmed(key, Instant::now());
                }
            }
            Err(_) => self.connection_lost().await,
        }
    }

    /// The bot closed the connection or went away: restart it if it exited, else reconnect.
    async fn connection_lost(&mut self) {
        let Some((_, conn)) = self.socket.take() else {
            return;
        };
        let now = Instant::now();
        self.ledger.ended(conn, now, End::Bot);
        if let Some(status) = self.bot.exited() {
            self.crashes += 1;
            eprintln!(
                "soak: the bot exited on its own ({status}); its last lines:\n{}",
                self.logs.lock().unwrap().tail()
            );
            self.restart().await;
        } else {
            self.bot_closed += 1;
            eprintln!("soak: the bot closed the connection");
        }
        self.connect().await;
    }

    async fn kill_and_restart(&mut self) {
        let now = Instant::now();
        self.bot.kill_9();
        self.kills += 1;
        if let Some((_, conn)) = self.socket.take() {
            self.ledger.ended(conn, now, End::Kill);
        }
        self.restart().await;
        self.connect().await;
    }

    async fn restart(&mut self) {
        let process = self.processes;
        self.processes += 1;
        self.shared.lock().unwrap().target = None;
        self.answered_at_restart = Some(self.ledger.answered());
        self.bot = Bot::start(
            &self.settings,
            &self.config,
            &self.cache,
            &self.data,
            process,
            self.logs.clone(),
        )
        .await;
        self.shared.lock().unwrap().target = Some((self.bot.pid, self.bot.addr, process));
    }

    async fn reconnect(&mut self, why: End) {
        if let Some((_, conn)) = self.socket.take() {
            self.ledger.ended(conn, Instant::now(), why);
        }
        self.reconnects += 1;
        self.connect().await;
    }

    /// Opens the fake NapCat's connection (waiting for the bot to accept it, with a deadline);
    /// questions due meanwhile are counted as asked while down.
    async fn connect(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = self.bot.addr;
        let socket = loop {
            let mut request = format!("ws://{addr}/onebot/v11/ws")
                .into_client_request()
                .unwrap();
            let headers = request.headers_mut();
            headers.insert("X-Self-ID", BOT.to_string().parse().unwrap());
            headers.insert("X-Client-Role", "Universal".parse().unwrap());
            headers.insert("Authorization", format!("Bearer {TOKEN}").parse().unwrap());
            match tokio::time::timeout(
                Duration::from_secs(5),
                tokio_tungstenite::connect_async_with_config(request, None, true),
            )
            .await
            {
                Ok(Ok((socket, _))) => break socket,
                failed => {
                    assert!(
                        Instant::now() < deadline,
                        "the bot at {addr} did not accept the WebSocket within 30 s: {failed:?}"
                    );
                    // A refused connection comes back at once: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let (mut sink, stream) = socket.split();
        let lifecycle = json!({"time": unix_now(), "self_id": BOT, "post_type": "meta_event",
            "meta_event_type": "lifecycle", "sub_type": "connect"});
        let _ = sink.send(Message::text(lifecycle.to_string())).await;
        let conn = self.ledger.connected(self.processes - 1);
        self.socket = Some(((sink, stream), conn));
        self.heartbeat().await;
        // What fell due while no connection was up was asked while down.
        let due = self.due();
        while self.next_n < due {
            self.question(None);
        }
    }

    async fn heartbeat(&mut self) {
        if let Some(((sink, _), _)) = self.socket.as_mut() {
            let beat = json!({"time": unix_now(), "self_id": BOT, "post_type": "meta_event",
                "meta_event_type": "heartbeat", "status": {"online": true, "good": true},
                "interval": HEARTBEAT.as_millis() as u64});
            let _ = sink.send(Message::text(beat.to_string())).await;
        }
    }

    fn due(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * self.settings.rate as f64) as u64
    }

    /// Question `next_n`: its group and text; recorded as written on `sent` (or down).
    fn question(&mut self, sent: Option<(Instant, usize)>) -> (u64, u64, u64, &'static str) {
        let n = self.next_n;
        self.next_n += 1;
        let resident = self.rng.below(self.settings.residents);
        let group = FIRST_GROUP + resident % GROUPS;
        let user = 700_000 + resident;
        let escalation = n % self.settings.escalate_one_in == self.settings.escalate_one_in - 1;
        let text = if escalation {
            ESCALATIONS[(n / self.settings.escalate_one_in) as usize % ESCALATIONS.len()]
        } else {
            QUESTIONS[self.rng.below(QUESTIONS.len() as u64) as usize]
        };
        let index = self.ledger.asked(group, escalation, sent);
        debug_assert_eq!(index, n);
        (FIRST_ID + n, group, user, text)
    }

    async fn send_due(&mut self) {
        let due = self.due();
        if self.next_n >= due {
            return;
        }
        let Some((_, conn)) = self.socket.as_ref() else {
            while self.next_n < due {
                self.question(None);
            }
            return;
        };
        let conn = *conn;
        let mut frames = Vec::new();
        while self.next_n < due {
            let (id, group, user, text) = self.question(Some((Instant::now(), conn)));
            frames.push(event(id, group, user, text));
        }
        let Some(((sink, _), _)) = self.socket.as_mut() else {
            return;
        };
        // A connection that broke is noticed on the next read.
        for frame in frames {
            let _ = sink.feed(Message::text(frame)).await;
        }
        let _ = sink.flush().await;
    }

    fn report(&mut self, last: bool) {
        let shared = self.shared.lock().unwrap();
        let since = self.intervals.last().map_or(0.0, |i| i.secs as f64);
        let latest = shared.samples.last().cloned().unwrap_or_default();
        let window: Vec<&Sample> = shared.samples.iter().filter(|s| s.secs > since).collect();
        let outbox_max = window
            .iter()
            .filter_map(|s| s.outbox_depth)
            .max()
            .unwrap_or(0);
        let seen_entries = shared.samples.iter().rev().find_map(|s| s.seen_entries);
        // The first seen count of the current start, against what was answered before it.
        if let Some(answered) = self.answered_at_restart {
            let process = self.processes - 1;
            if let Some(v) = shared
                .samples
                .iter()
                .find(|s| s.process == process && s.seen_entries.is_some())
                .and_then(|s| s.seen_entries)
            {
                self.seen_after_restart.push((v, answered));
                self.answered_at_restart = None;
            }
        }
        drop(shared);
        let secs = if last {
            self.start.elapsed().as_secs()
        } else {
            self.intervals.len() as u64 * self.settings.report_every.as_secs()
                + self.settings.report_every.as_secs()
        };
        let interval = Interval {
            secs,
            sent: self.ledger.sent(),
            answered: self.ledger.answered(),
            down: self.ledger.down(),
            rss_kib: latest.rss_kib,
            hwm_kib: latest.hwm_kib,
            outbox_depth: latest.outbox_depth,
            outbox_max,
            seen_entries,
            data_kib: du_kib(&self.data),
            kills: self.kills,
            reconnects: self.reconnects,
            repeats: self.ledger.repeats_total(),
        };
        println!("{}", interval.line());
        self.intervals.push(interval);
    }
}

async fn next_frame(
    socket: &mut Option<((Sink, Stream), usize)>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match socket {
        Some(((_, stream), _)) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Samples the bot every second: memory from /proc, gauges from /metrics.
async fn sample(shared: Arc<Mutex<Shared>>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some((pid, addr, process)) = shared.lock().unwrap().target else {
            continue;
        };
        let (hwm_kib, rss_kib) = memory(pid);
        let text = match client.get(format!("http://{addr}/metrics")).send().await {
            Ok(r) => r.text().await.ok(),
            Err(_) => None,
        };
        let metric = |name: &str| text.as_deref().and_then(|t| metric_sum(t, name));
        let mut shared = shared.lock().unwrap();
        // The bot may have been replaced while we asked.
        if shared.target.map(|t| t.2) != Some(process) {
            continue;
        }
        let secs = shared.start.map_or(0.0, |s| s.elapsed().as_secs_f64());
        shared.samples.push(Sample {
            secs,
            process,
            rss_kib,
            hwm_kib,
            outbox_depth: metric("bangban_outbox_depth"),
            seen_entries: metric("bangban_seen_entries"),
            silent: metric("bangban_handled_total{outcome=\"silent\"}"),
            errors: metric("bangban_handled_total{outcome=\"error\"}"),
        });
    }
}

/// The sum of the series of `name` in a Prometheus text (`name` may include labels); `None`
/// when there is none.
pub fn metric_sum(text: &str, name: &str) -> Option<i64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = if let Some(v) = rest.strip_prefix(' ') {
            v
        } else if rest.starts_with('{') && !name.contains('{') {
            rest.rsplit_once(' ').map_or("", |(_, v)| v)
        } else {
            continue;
        };
        if let Ok(v) = value.trim().parse::<i64>() {
            *found.get_or_insert(0) += v;
        }
    }
    found
}

fn event(id: u64, group: u64, user: u64, text: &str) -> String {
    json!({"time": unix_now(), "self_id": BOT,
        "post_type": "message", "message_type": "group", "sub_type": "normal",
        "message_id": id, "user_id": user, "group_id": group,
        "message": [{"type": "at", "data": {"qq": BOT.to_string()}},
                    {"type": "text", "data": {"text": format!(" {text}")}}],
        "raw_message": format!("[CQ:at,qq={BOT}] {text}"), "font": 0,
        "sender": {"user_id": user, "nickname": "村民", "card": "", "role": "member"}})
    .to_string()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

/// The size of the files under `dir`, KiB.
pub fn du_kib(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.metadata() {
            Ok(meta) if meta.is_dir() => total += du_kib(&entry.path()),
            Ok(meta) => total += meta.len() / 1024,
            Err(_) => {}
        }
    }
    total
}

/// VmHWM (peak) and VmRSS of `pid`, in KiB (0 when it is gone).
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// xorshift64*: the same questions every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Trains the matcher into `cache` with `bangban ask`, as `run` would on its first start.
fn warm_cache(bin: &Path, config: &Path, cache: &Path) {
    let status = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["ask", QUESTIONS[0]])
        .env("BANGBAN_CACHE_DIR", cache)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("the bangban binary");
    assert!(status.success(), "bangban ask failed: {status}");
    let cached = std::fs::read_dir(cache).map_or(0, |d| d.count());
    assert!(
        cached > 0,
        "bangban ask cached no matcher in {}",
        cache.display()
    );
}

/// The shipped config with pacing and input limits off and no daily digest.
pub fn config_dir(root: &Path) -> PathBuf {
    let dir = root.join("config");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config"),
        &dir,
    );
    std::fs::write(
        dir.join("bangban.toml"),
        "[pacing]\nenabled = false\n\n[limits]\nenabled = false\n",
    )
    .unwrap();
    // No daily digest: what is sent must not depend on the hour the soak runs.
    let org = std::fs::read_to_string(dir.join("org.toml")).unwrap();
    let mut section = "";
    let mut switched = false;
    let edited: Vec<String> = org
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                section = line.trim();
            } else if section == "[digest]" && line.starts_with("at =") {
                switched = true;
                return "at = \"\"".to_owned();
            }
            line.to_owned()
        })
        .collect();
    assert!(switched, "org.toml has a [digest] `at` line to switch off");
    std::fs::write(dir.join("org.toml"), edited.join("\n") + "\n").unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The bot's stderr: distinct WARN/ERROR lines counted, the last lines kept.
#[derive(Default)]
struct Logs {
    lines: BTreeMap<String, (u64, String)>,
    tail: VecDeque<String>,
}

impl Logs {
    fn add(&mut self, line: &str) {
        if self.tail.len() == 40 {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
        // `TIME  LEVEL target: message key=value…`: level, target and message, no fields.
        let mut words = line.split_whitespace().skip(1);
        let Some(level @ ("WARN" | "ERROR")) = words.next() else {
            return;
        };
        let message: Vec<&str> = words.take_while(|w| !w.contains('=')).collect();
        self.lines
            .entry(format!("{level} {}", message.join(" ")))
            .or_insert_with(|| (0, line.to_owned()))
            .0 += 1;
    }

    fn tail(&self) -> String {
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// One start of `bangban run`.
struct Bot {
    child: Child,
    pid: u32,
    addr: SocketAddr,
}

impl Bot {
    /// Starts the bot and waits (with a deadline) until it says where it listens.
    async fn start(
        settings: &Settings,
        config: &Path,
        cache: &Path,
        data: &Path,
        process: usize,
        logs: Arc<Mutex<Logs>>,
    ) -> Bot {
        let mut child = Command::new(&settings.bin)
            .args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .env("BANGBAN_ONEBOT_TOKEN", TOKEN)
            .env("BANGBAN_CACHE_DIR", cache)
            .env("RUST_LOG", "warn")
            .env_remove("BANGBAN_LOG_FORMAT")
            .env_remove("BANGBAN_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the bangban binary");
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        let show = settings.show_logs;
        // Read stderr for the whole run, so the bot never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if show {
                    eprintln!("bot[{process}]: {line}");
                }
                logs.lock().unwrap().add(&line);
                let _ = lines_tx.send(line);
            }
        });
        let addr = tokio::time::timeout(settings.start_timeout, async {
            while let Some(line) = lines.recv().await {
                if let Some(rest) = line.split("http://").nth(1) {
                    let addr = rest.split(|c: char| c.is_whitespace() || c == '"' || c == '）');
                    return addr.into_iter().next().and_then(|a| a.parse().ok());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("the bot printed where it listens");
        Bot {
            pid: child.id(),
            child,
            addr,
        }
    }

    fn kill_9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    /// Its exit status if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM; whether it then exited with success within 30 s (else it is killed).
    async fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut polls = tokio::time::interval(Duration::from_millis(20));
        loop {
            polls.tick().await;
            if let Some(status) = self.exited() {
                return status.success();
            }
            if Instant::now() >= deadline {
                self.kill_9();
                return false;
            }
        }
    }
}
