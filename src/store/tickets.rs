//! Tickets (工单) and their audit trail: what the help desk keeps in sled.
//!
//! A ticket is one record holding its events (who did what, when), so a change and its event are
//! written together. Besides the records there are indexes, all written in the same transaction as
//! the record they follow from:
//! - `ticket_sources`: the platform message a ticket was created from → its number, so that the
//!   same message handled twice (a replay after a crash) finds the same ticket;
//! - `tickets_waiting`: the numbers of tickets nobody has claimed (the ladder's work list);
//! - `tickets_rating`: (platform, chat, resident) → their latest resolved ticket, which awaits
//!   their rating until its stage says it was rated.
//!
//! Ticket numbers count up from 1 without gaps; the counter lives in `tickets_meta`.
//!
//! The statistics' ticket counters and duration samples (`store::stats`) follow each change in
//! the same transaction too: what the ticket adds after the change minus what it added before.

use super::stats::{self, COUNTERS, DURATIONS};
use super::{Store, StoreError, decode, encode, key};
use bangban_contract::{Chat, Platform};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

const TICKETS: &str = "tickets";
const SOURCES: &str = "ticket_sources";
const WAITING: &str = "tickets_waiting";
const RATING: &str = "tickets_rating";
const META: &str = "tickets_meta";
const NEXT_ID: &[u8] = b"next_id";

/// One ticket as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: u64,
    /// The platform message it was created from (see [`source_key`]).
    pub source: String,
    pub platform: Platform,
    /// The bot account that received the message; replies to the resident go out through it.
    pub account: String,
    /// The resident's chat (their village group, or a private chat).
    pub chat: Chat,
    /// The resident's message, quoted by replies.
    pub message_id: String,
    pub resident: String,
    pub resident_name: Option<String>,
    /// The resident's village (id in `org.toml`), when the chat is a village group.
    pub village: Option<String>,
    /// The catalog item the question is about, if one was recognised.
    pub item: Option<String>,
    /// Without a confident item: the likely items, for the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The message as posted: the agent may need what is in it. Shown masked wherever a group
    /// could see it (see `helpdesk::privacy`).
    pub question: String,
    pub reason: Reason,
    /// For a follow-up opened by a bad rating: the rated ticket.
    pub follow_up_of: Option<u64>,
    pub stage: Stage,
    /// Who the ticket is with now.
    pub handler: Handler,
    /// The rung of the 1+5+76 ladder it has reached.
    pub level: Level,
    /// Who claimed it (the latest claim).
    pub assignee: Option<Actor>,
    /// When the current wait for a claim began (creation or the latest transfer), Unix ms.
    pub waiting_since: u64,
    pub created_at: u64,
    /// The first claim, Unix ms.
    pub claimed_at: Option<u64>,
    pub resolved_at: Option<u64>,
    pub rating: Option<Rating>,
    pub events: Vec<TicketEvent>,
}

impl Ticket {
    /// The event recorded for the platform message `source`, if that message was handled already.
    pub fn event_from(&self, source: &str) -> Option<&TicketEvent> {
        self.events
            .iter()
            .find(|e| e.source.as_deref() == Some(source))
    }

    /// Appends an event.
    pub fn record(&mut self, at: u64, by: Actor, change: Change, source: Option<&str>) {
        self.events.push(TicketEvent {
            at,
            by,
            change,
            source: source.map(str::to_string),
        });
    }
}

/// The stages of the service process (办理环节).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Pending,
    Claimed,
    Transferred,
    Escalated,
    Resolved,
    Rated,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Pending => "待受理",
            Stage::Claimed => "已受理",
            Stage::Transferred => "已转办",
            Stage::Escalated => "已升级",
            Stage::Resolved => "已办结",
            Stage::Rated => "已评价",
        }
    }

    /// Nobody has claimed it (yet, or since its transfer): the ladder's clock runs.
    pub fn is_waiting(self) -> bool {
        matches!(self, Stage::Pending | Stage::Transferred | Stage::Escalated)
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Stage::Resolved | Stage::Rated)
    }
}

/// Who a ticket is with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Handler {
    /// The village station's agents.
    Village(String),
    /// The township centre's agents.
    Township(String),
    /// The district centre's agents.
    District,
    /// One agent (after a transfer to them).
    Agent(String),
}

/// The rungs of the 1+5+76 ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Village,
    Township,
    District,
}

/// 好差评: the five levels, numbered as residents are asked (1 = 非常满意).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    VerySatisfied,
    Satisfied,
    Basic,
    Dissatisfied,
    VeryDissatisfied,
}

impl Rating {
    pub const ALL: [Rating; 5] = [
        Rating::VerySatisfied,
        Rating::Satisfied,
        Rating::Basic,
        Rating::Dissatisfied,
        Rating::VeryDissatisfied,
    ];

    pub fn from_number(n: u32) -> Option<Rating> {
        Rating::ALL.get((n as usize).checked_sub(1)?).copied()
    }

    pub fn label(self) -> &'static str {
        match self {
            Rating::VerySatisfied => "非常满意",
            Rating::Satisfied => "满意",
            Rating::Basic => "基本满意",
            Rating::Dissatisfied => "不满意",
            Rating::VeryDissatisfied => "非常不满意",
        }
    }

    /// 不满意 or worse: the township centre follows up.
    pub fn is_bad(self) -> bool {
        matches!(self, Rating::Dissatisfied | Rating::VeryDissatisfied)
    }
}

/// Why a ticket was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A question the guide does not answer.
    Uncovered,
    /// The resident's own case.
    Case,
    /// A complaint.
    Complaint,
    /// The resident posted personal numbers; continue privately.
    Privacy,
    /// A rating of 不满意 or worse.
    FollowUp,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Uncovered => "指南答不了",
            Reason::Case => "本人的事",
            Reason::Complaint => "意见投诉",
            Reason::Privacy => "含个人信息，需私聊",
            Reason::FollowUp => "差评回访",
        }
    }
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub role: Role,
    /// Platform user id for residents, `org.toml` id for agents and admins.
    pub id: String,
    /// The name at the time (the ledger keeps history as it was).
    pub name: String,
}

impl Actor {
    pub fn bot() -> Actor {
        Actor {
            role: Role::Bot,
            id: "bot".into(),
            name: "帮办小助手".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Agent,
    Admin,
    Bot,
}

/// One entry of a ticket's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// Unix ms.
    pub at: u64,
    pub by: Actor,
    pub change: Change,
    /// The platform message that caused it (see [`source_key`]), if one did.
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Created,
    Claimed,
    Replied {
        text: String,
    },
    Transferred {
        to: Handler,
    },
    Escalated {
        to: Level,
    },
    Resolved,
    Rated {
        rating: Rating,
    },
    /// A follow-up ticket was opened for this one.
    FollowUp {
        ticket: u64,
    },
}

impl Change {
    /// For metrics and logs: `created`, `claimed`, `replied`…
    pub fn name(&self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Claimed => "claimed",
            Change::Replied { .. } => "replied",
            Change::Transferred { .. } => "transferred",
            Change::Escalated { .. } => "escalated",
            Change::Resolved => "resolved",
            Change::Rated { .. } => "rated",
            Change::FollowUp { .. } => "follow_up",
        }
    }

    /// As the audit trail shows it: 建单, 接单, 回复…
    pub fn label(&self) -> &'static str {
        match self {
            Change::Created => "建单",
            Change::Claimed => "接单",
            Change::Replied { .. } => "回复",
            Change::Transferred { .. } => "转办",
            Change::Escalated { .. } => "升级",
            Change::Resolved => "办结",
            Change::Rated { .. } => "评价",
            Change::FollowUp { .. } => "回访",
        }
    }
}

/// The identity of a platform message: platform, receiving account, message id.
pub fn source_key(platform: Platform, account: &str, message_id: &str) -> String {
    format!("{}:{account}:{message_id}", platform_name(platform))
}

fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Onebot => "onebot",
        Platform::Wecom => "wecom",
        Platform::Qqbot => "qqbot",
        Platform::Telegram => "telegram",
        Platform::Sandbox => "sandbox",
    }
}

fn rating_key(platform: Platform, chat: &Chat, resident: &str) -> Vec<u8> {
    let kind = match chat {
        Chat::Group(_) => "g",
        Chat::Private(_) => "p",
    };
    format!(
        "{}\u{1f}{kind}{}\u{1f}{resident}",
        platform_name(platform),
        chat.id()
    )
    .into_bytes()
}

/// The tickets trees of an open [`Store`].
pub struct Tickets {
    store: Store,
    tickets: sled::Tree,
    sources: sled::Tree,
    waiting: sled::Tree,
    rating: sled::Tree,
    meta: sled::Tree,
    counters: sled::Tree,
    samples: sled::Tree,
    /// The UTC offset statistics days are cut with (`store::stats`).
    offset: i64,
}

/// What [`Tickets::update`] did: `None`, no such ticket; `Some(Err)`, the change was refused and
/// nothing written; `Some(Ok)`, the ticket as written and the change's value.
pub type Updated<T, E> = Option<Result<(Ticket, T), E>>;

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

impl Store {
    /// The tickets of this store.
    pub fn tickets(&self) -> Result<Tickets, StoreError> {
        Ok(Tickets {
            store: self.clone(),
            tickets: self.tree(TICKETS)?,
            sources: self.tree(SOURCES)?,
            waiting: self.tree(WAITING)?,
            rating: self.tree(RATING)?,
            meta: self.tree(META)?,
            counters: self.tree(COUNTERS)?,
            samples: self.tree(DURATIONS)?,
            offset: self.stats_offset()?,
        })
    }
}

impl Tickets {
    /// Stores `draft` under the next number, unless a ticket from the same source message exists:
    /// then that one is returned and nothing is written. `true` when created now.
    /// Not yet on disk: flush the store before telling anyone.
    pub fn create_once(&self, draft: &Ticket) -> Result<(Ticket, bool), StoreError> {
        let source = draft.source.as_bytes();
        let trees = (
            &self.tickets,
            &self.sources,
            &self.meta,
            &self.waiting,
            &self.rating,
            &self.counters,
            &self.samples,
        );
        let result = trees.transaction(|(t, s, m, w, r, sc, sd)| {
            if let Some(id) = s.get(source)? {
                let ticket = read(t, id_of(&id))?.ok_or_else(|| {
                    abort(StoreError::Record {
                        tree: SOURCES.into(),
                        detail: format!("source {} points to a missing ticket", draft.source),
                    })
                })?;
                return Ok((ticket, false));
            }
            let id = m.get(NEXT_ID)?.map_or(1, |v| id_of(&v));
            m.insert(NEXT_ID, &key(id + 1))?;
            let mut ticket = draft.clone();
            ticket.id = id;
            t.insert(&key(id), encode(&ticket))?;
            s.insert(source, &key(id))?;
            reindex(w, r, &ticket)?;
            stats::apply_ticket(sc, sd, None, &ticket, self.offset)?;
            Ok((ticket, true))
        });
        self.finish(result)
    }

    /// Changes ticket `id` with `f`, atomically with its indexes. `f` may run more than once (on a
    /// write conflict) and must only change the ticket it is given. `None`: no such ticket;
    /// `Some(Err)`: `f` refused and nothing was written.
    pub fn update<T, E>(
        &self,
        id: u64,
        f: impl Fn(&mut Ticket) -> Result<T, E>,
    ) -> Result<Updated<T, E>, StoreError> {
        let trees = (
            &self.tickets,
            &self.waiting,
            &self.rating,
            &self.counters,
            &self.samples,
        );
        let result = trees.transaction(|(t, w, r, sc, sd)| {
            let Some(mut ticket) = read(t, id)? else {
                return Ok(None);
            };
            let before = ticket.clone();
            match f(&mut ticket) {
                Err(e) => Ok(Some(Err(e))),
                Ok(value) => {
                    t.insert(&key(id), encode(&ticket))?;
                    reindex(w, r, &ticket)?;
                    stats::apply_ticket(sc, sd, Some(&before), &ticket, self.offset)?;
                    Ok(Some(Ok((ticket, value))))
                }
            }
        });
        self.finish(result)
    }

    pub fn get(&self, id: u64) -> Result<Option<Ticket>, StoreError> {
        match self.tickets.get(key(id)).map_err(|e| self.store.err(e))? {
            Some(bytes) => Ok(Some(decode(TICKETS, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The ticket created from platform message `source`, if any.
    pub fn by_source(&self, source: &str) -> Result<Option<Ticket>, StoreError> {
        match self.sources.get(source).map_err(|e| self.store.err(e))? {
            Some(id) => self.get(id_of(&id)),
            None => Ok(None),
        }
    }

    /// Every ticket, in number order.
    pub fn all(&self) -> Result<Vec<Ticket>, StoreError> {
        self.tickets
            .iter()
            .values()
            .map(|v| {
                let v = v.map_err(|e| self.store.err(e))?;
                decode(TICKETS, &v)
            })
            .collect()
    }

    /// Numbers of the tickets nobody has claimed, ascending.
    pub fn waiting(&self) -> Result<Vec<u64>, StoreError> {
        self.waiting
            .iter()
            .keys()
            .map(|k| k.map(|k| id_of(&k)).map_err(|e| self.store.err(e)))
            .collect()
    }

    /// The latest resolved ticket of `resident` in `chat`: it awaits their rating while its stage
    /// is [`Stage::Resolved`].
    pub fn awaiting_rating(
        &self,
        platform: Platform,
        chat: &Chat,
        resident: &str,
    ) -> Result<Option<u64>, StoreError> {
        let k = rating_key(platform, chat, resident);
        Ok(self
            .rating
            .get(k)
            .map_err(|e| self.store.err(e))?
            .map(|v| id_of(&v)))
    }

    fn finish<T>(&self, result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => self.store.err(e),
        })
    }
}

fn id_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(b)
}

fn read(t: &TransactionalTree, id: u64) -> TxResult<Option<Ticket>> {
    match t.get(key(id))? {
        Some(bytes) => decode(TICKETS, &bytes).map(Some).map_err(abort),
        None => Ok(None),
    }
}

/// Brings the indexes in line with `ticket`.
fn reindex(w: &TransactionalTree, r: &TransactionalTree, ticket: &Ticket) -> TxResult<()> {
    let id = key(ticket.id);
    if ticket.stage.is_waiting() {
        w.insert(&id, &[])?;
    } else {
        w.remove(&id)?;
    }
    // Kept after the rating, so that the rating message handled again finds its ticket; the next
    // resolved ticket of the same resident in the same chat takes the place.
    if ticket.stage == Stage::Resolved {
        let rk = rating_key(ticket.platform, &ticket.chat, &ticket.resident);
        r.insert(rk, &id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(source: &str) -> Ticket {
        Ticket {
            id: 0,
            source: source.into(),
            platform: Platform::Onebot,
            account: "10000".into(),
            chat: Chat::Group("900001".into()),
            message_id: "m1".into(),
            resident: "700001".into(),
            resident_name: Some("老张".into()),
            village: Some("v01".into()),
            item: None,
            candidates: Vec::new(),
            question: "我家低保怎么停了".into(),
            reason: Reason::Case,
            follow_up_of: None,
            stage: Stage::Pending,
            handler: Handler::Village("v01".into()),
            level: Level::Village,
            assignee: None,
            waiting_since: 1,
            created_at: 1,
            claimed_at: None,
            resolved_at: None,
            rating: None,
            events: Vec::new(),
        }
    }

    #[tokio::test]
    async fn numbers_count_up_and_a_source_makes_one_ticket() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let t = store.tickets().unwrap();
            let (a, new_a) = t.create_once(&draft("s1")).unwrap();
            let (b, new_b) = t.create_once(&draft("s2")).unwrap();
            let (a2, new_a2) = t.create_once(&draft("s1")).unwrap();
            assert_eq!((a.id, b.id, a2.id), (1, 2, 1));
            assert_eq!((new_a, new_b, new_a2), (true, true, false));
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let t = store.tickets().unwrap();
        assert_eq!(t.all().unwrap().len(), 2);
        assert_eq!(t.waiting().unwrap(), vec![1, 2]);
        let (c, _) = t.create_once(&draft("s3")).unwrap();
        assert_eq!(c.id, 3, "the counter survives a restart");
        assert_eq!(t.by_source("s2").unwrap().unwrap().id, 2);
    }

    #[test]
    fn updates_keep_the_indexes_in_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = store.tickets().unwrap();
        let (a, _) = t.create_once(&draft("s1")).unwrap();
        let chat = Chat::Group("900001".into());
        let refused: Option<Result<(Ticket, ()), &str>> = t.update(a.id, |_| Err("no")).unwrap();
        assert_eq!(refused.unwrap().unwrap_err(), "no");
        t.update(a.id, |t| {
            t.stage = Stage::Resolved;
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap()
        .unwrap();
        assert!(t.waiting().unwrap().is_empty());
        assert_eq!(
            t.awaiting_rating(Platform::Onebot, &chat, "700001")
                .unwrap(),
            Some(a.id)
        );
        t.update(a.id, |t| {
            t.stage = Stage::Rated;
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap()
        .unwrap();
        // Still found, so that a replayed rating message meets its ticket; the stage says rated.
        assert_eq!(
            t.awaiting_rating(Platform::Onebot, &chat, "700001")
                .unwrap(),
            Some(a.id)
        );
        assert!(t.update::<(), ()>(99, |_| Ok(())).unwrap().is_none());
    }

    #[test]
    fn records_carry_the_schema_version() {
        let bytes = encode(&draft("s1"));
        assert!(bytes.starts_with(br#"{"v":1,"#));
    }
}
