//! The agents' actions on tickets — claim, reply, transfer, resolve — carried out the same way
//! whether typed in chat ([`Desk::command`]) or clicked in the console (`console::desk`): who
//! may act on which ticket ([`may_act`]), what each action changes ([`act`]), and what everyone
//! concerned is told ([`notices`], [`confirmation`]).

use super::commands::{Command, USAGE};
use super::notify::Shown;
use super::{Desk, actor, fill, notify, privacy, secs};
use crate::catalog::Catalog;
use crate::config::org::{Org, Person};
use crate::config::service::Service;
use crate::engine::reply_to;
use crate::runtime::metrics::record_ticket;
use crate::store::Store;
use crate::store::tickets::{
    Actor, Change, Handler, Level, Stage, Ticket, TicketEvent, source_key,
};
use bangban_contract::{Chat, Incoming, Outgoing};
use std::fmt::Write;

/// How many tickets `我的工单` lists of each kind.
const LIST_MAX: usize = 20;

/// `我的工单` and `工单 N` typed where residents read (a village group): no details there.
const NOT_HERE: &str = "请在专员群或私聊里查工单。";

/// An agent's action on a ticket, typed in chat or clicked in the console.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Claim,
    Reply(String),
    Transfer(Handler),
    Resolve,
}

/// Why an action was not carried out: a machine code (for the API) and what the agent reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `not_found`, `not_yours`, `follow_up`, `closed`, `claimed`, `transferred_away`,
    /// `same_handler`, `personal_numbers`.
    pub code: &'static str,
    pub message: String,
}

impl Refused {
    fn new(code: &'static str, message: String) -> Refused {
        Refused { code, message }
    }
}

/// An action carried out: the ticket as written and the event it added. `new` is false when
/// the same source (chat message, or the console's form) had carried it out already.
#[derive(Debug, Clone)]
pub struct Acted {
    pub ticket: Ticket,
    pub event: TicketEvent,
    pub new: bool,
}

enum Refusal {
    Say(Refused),
    /// This very source was carried out already: announce it again.
    Done,
}

/// Carries out `act` by `person` on ticket `n`, once per `source` (a [`source_key`] for a chat
/// message; the console makes one per form): the same source again changes nothing and returns
/// what it did. The change is flushed before this returns. This is the one place the rules of
/// the agents' actions live, for the chat commands and the console alike.
pub async fn act(
    org: &Org,
    store: &Store,
    person: Person<'_>,
    n: u64,
    act: &Act,
    source: &str,
    now: u64,
) -> anyhow::Result<Result<Acted, Refused>> {
    let me = actor(person);
    let tickets = store.tickets()?;
    let result = tickets.update(n, |t| {
        if t.event_from(source).is_some() {
            return Err(Refusal::Done);
        }
        if !may_act(org, person, t) {
            return Err(Refusal::Say(refusal(org, t)));
        }
        if t.stage.is_closed() {
            return Err(Refusal::Say(Refused::new(
                "closed",
                format!("工单{n}已经办结了。"),
            )));
        }
        apply(org, person, t, act, &me, now, source).map_err(Refusal::Say)
    })?;
    let (ticket, new) = match result {
        None => {
            return Ok(Err(Refused::new("not_found", format!("没有工单{n}。"))));
        }
        Some(Err(Refusal::Say(why))) => return Ok(Err(why)),
        Some(Err(Refusal::Done)) => (
            tickets
                .get(n)?
                .ok_or_else(|| anyhow::anyhow!("ticket {n} vanished"))?,
            false,
        ),
        Some(Ok((ticket, ()))) => (ticket, true),
    };
    // Flush before anyone is told, also on a replay (the first attempt may not have flushed).
    store.flush().await?;
    let event = ticket
        .event_from(source)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("ticket {n} lacks the event of {source}"))?;
    if new {
        tracing::info!(ticket = n, change = event.change.name(), by = %event.by.id, "ticket changed");
        record_ticket(event.change.name());
    }
    Ok(Ok(Acted { ticket, event, new }))
}

/// What the wording must say about a ticket's resident chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResidentChat {
    /// The bot may speak there only in reply to a message it just received (the QQ official
    /// bot, the WeCom AI bot): an agent's answer waits for the resident's next message.
    pub replies_only: bool,
    /// The bot sees only the messages that @ it there (such a platform's groups): the resident
    /// must @ it to rate.
    pub mention_only: bool,
}

impl ResidentChat {
    /// `t`'s resident chat under the service's settings ([`Service::replies_only`]).
    pub fn of(service: &Service, t: &Ticket) -> ResidentChat {
        ResidentChat::with(service.replies_only(t.platform, &t.account), &t.chat)
    }

    fn with(replies_only: bool, chat: &Chat) -> ResidentChat {
        ResidentChat {
            replies_only,
            mention_only: replies_only && matches!(chat, Chat::Group(_)),
        }
    }
}

/// What the resident and the agents concerned are told about `done`, an agent's change to `t`
/// (not the agent who made it: see [`confirmation`]), for a resident's chat as `chat` says:
/// where the bot sees only @-messages, the rating prompt asks for an @
/// (`replies.resolved_mention`).
pub fn notices(
    org: &Org,
    catalog: &Catalog,
    t: &Ticket,
    done: &TicketEvent,
    chat: ResidentChat,
) -> Vec<Outgoing> {
    let id = t.id.to_string();
    match &done.change {
        Change::Replied { text } => vec![notify::to_resident(
            t,
            fill(
                &org.replies.agent_reply,
                &[("agent", &done.by.name), ("text", text), ("ticket", &id)],
            ),
        )],
        Change::Transferred { to } => {
            let who = notify::who(org, to);
            notify::to_agents(org, t, to, |private| {
                format!(
                    "【转办工单 {id}】{}转来：\n{}\n请{who}发“接单 {id}”认领。",
                    done.by.name,
                    notify::summary(org, catalog, t, !private)
                )
            })
        }
        Change::Resolved => {
            let prompt = if chat.mention_only && !org.replies.resolved_mention.is_empty() {
                &org.replies.resolved_mention
            } else {
                &org.replies.resolved
            };
            vec![notify::to_resident(
                t,
                fill(prompt, &[("ticket", &id), ("agent", &done.by.name)]),
            )]
        }
        _ => Vec::new(),
    }
}

/// What the agent who made `done` is told: `已接单：工单12。`, `已转达给居民（工单12）。`…;
/// where the bot may only reply to the resident's messages (`chat`), the agent learns that the
/// answer may wait for the resident's next one (it goes at once while the platform still lets
/// the bot reply to their last message).
pub fn confirmation(org: &Org, t: &Ticket, done: &TicketEvent, chat: ResidentChat) -> String {
    let id = t.id;
    match &done.change {
        Change::Claimed => format!("已接单：工单{id}。"),
        Change::Replied { .. } if chat.replies_only => {
            format!("回复已记下（工单{id}），居民最迟在下次发消息时收到。")
        }
        Change::Replied { .. } => format!("已转达给居民（工单{id}）。"),
        Change::Transferred { to } => format!("工单{id}已转给{}。", notify::who(org, to)),
        Change::Resolved if chat.replies_only => {
            format!("工单{id}已办结，会请居民评价。")
        }
        Change::Resolved => format!("工单{id}已办结，已请居民评价。"),
        other => format!("工单{id}：{}。", other.label()),
    }
}

impl Desk {
    /// Carries out an agent's command from `event`. Anyone who is not an agent or admin in
    /// `org.toml` is refused.
    pub async fn command(
        &self,
        event: &Incoming,
        command: Command,
        now: u64,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let Some(person) = org.person(event.platform, &event.sender) else {
            tracing::info!(platform = ?event.platform, chat = %event.chat.id(),
                "agent command from someone not listed as an agent; refused");
            return Ok(vec![reply_to(event, org.replies.not_agent.clone())]);
        };
        let (n, what) = match command {
            Command::Help => return Ok(vec![reply_to(event, USAGE.into())]),
            Command::Mine | Command::Show(_) if !staff_chat(org, event) => {
                return Ok(vec![reply_to(event, NOT_HERE.into())]);
            }
            Command::Mine => return self.mine(event, person),
            Command::Show(n) => return self.show(event, person, n),
            Command::Claim(n) => (n, Act::Claim),
            Command::Resolve(n) => (n, Act::Resolve),
            Command::Reply(n, text) => (n, Act::Reply(text)),
            Command::Transfer(n, target) => match find_target(org, &target) {
                Some(handler) => (n, Act::Transfer(handler)),
                None => {
                    return Ok(vec![reply_to(
                        event,
                        format!(
                            "找不到转办对象“{target}”。可以写专员名字、村名、乡镇名或“区中心”。"
                        ),
                    )]);
                }
            },
        };
        let source = source_key(event.platform, &event.account, &event.message_id);
        match act(org, &self.store, person, n, &what, &source, now).await? {
            Err(why) => Ok(vec![reply_to(event, why.message)]),
            Ok(done) => Ok(self.announce(event, &done.ticket, &done.event)),
        }
    }

    /// What everyone concerned is told about `done`, an agent's change to `t` by chat.
    fn announce(&self, event: &Incoming, t: &Ticket, done: &TicketEvent) -> Vec<Outgoing> {
        let org = &self.config.org;
        let catalog = &self.guide.load().catalog;
        let id = t.id;
        let in_group = matches!(event.chat, Chat::Group(_));
        let chat = ResidentChat::of(&self.config.service, t);
        let mut told = confirmation(org, t, done, chat);
        // Where residents read (a village group), no details of someone else's question.
        if done.change == Change::Claimed && staff_chat(org, event) {
            told = format!(
                "{told}\n{}\n用“回复 {id} 内容”答复居民，办好后发“办结 {id}”。",
                notify::summary(org, catalog, t, in_group)
            );
        }
        let ack = reply_to(event, told);
        let mut out = notices(org, catalog, t, done, chat);
        if matches!(done.change, Change::Transferred { .. }) {
            out.insert(0, ack);
        } else {
            out.push(ack);
        }
        out
    }

    /// `我的工单`: the tickets the agent holds, and those waiting for them.
    fn mine(&self, event: &Incoming, person: Person<'_>) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let all = self.store.tickets()?.all()?;
        let held: Vec<&Ticket> = all
            .iter()
            .filter(|t| !t.stage.is_closed())
            .filter(|t| t.assignee.as_ref().is_some_and(|a| a.id == person.id()))
            .collect();
        let waiting: Vec<&Ticket> = all
            .iter()
            .filter(|t| t.stage.is_waiting() && waits_for(org, person, t))
            .collect();
        if held.is_empty() && waiting.is_empty() {
            return Ok(vec![reply_to(event, "您现在没有未办结的工单。".into())]);
        }
        let mut text = String::new();
        for (title, list) in [("在办", &held), ("待接", &waiting)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(text, "{title}（{}件）：", list.len());
            for t in list.iter().take(LIST_MAX) {
                let _ = writeln!(text, "{}", line(org, t));
            }
            if list.len() > LIST_MAX {
                let _ = writeln!(text, "……还有{}件", list.len() - LIST_MAX);
            }
        }
        Ok(vec![reply_to(event, text.trim_end().to_string())])
    }

    /// `工单 N`: the ticket and its history. Personal numbers only in a private chat.
    fn show(&self, event: &Incoming, person: Person<'_>, n: u64) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let Some(t) = self.store.tickets()?.get(n)? else {
            return Ok(vec![reply_to(event, format!("没有工单{n}。"))]);
        };
        if !may_act(org, person, &t) {
            return Ok(vec![reply_to(event, refusal(org, &t).message)]);
        }
        let in_group = matches!(event.chat, Chat::Group(_));
        let mut text = format!(
            "工单{n}（{}，在{}）\n{}",
            t.stage.label(),
            notify::who(org, &t.handler),
            notify::summary(org, &self.guide.load().catalog, &t, in_group)
        );
        for e in &t.events {
            // A resident's display name is their own text, and may carry a phone number
            // (`王建国139…`).
            let name = notify::one_line(&e.by.name);
            let by = if in_group { privacy::mask(&name) } else { name };
            let _ = write!(
                text,
                "\n{} {}（{by}）",
                org.hours.format_datetime(secs(e.at)),
                e.change.label(),
            );
            match &e.change {
                Change::Replied { text: said } => {
                    let said = if in_group {
                        notify::excerpt(&privacy::mask(said))
                    } else {
                        said.clone()
                    };
                    let _ = write!(text, "：{said}");
                }
                Change::Transferred { to } => {
                    let _ = write!(text, "给{}", notify::who(org, to));
                }
                Change::Escalated { to } => {
                    let _ = write!(text, "到{}", notify::level_label(*to));
                }
                Change::Rated { rating } => {
                    let _ = write!(text, "：{}", rating.label());
                }
                Change::FollowUp { ticket } => {
                    let _ = write!(text, "：工单{ticket}");
                }
                _ => {}
            }
        }
        if in_group {
            let _ = write!(text, "\n（个人号码已隐去，私聊我发“工单 {n}”可看全文）");
        }
        Ok(vec![reply_to(event, text)])
    }
}

/// Carries out `act` on `t` (already known to be open and the person's to act on).
fn apply(
    org: &Org,
    person: Person<'_>,
    t: &mut Ticket,
    act: &Act,
    me: &Actor,
    now: u64,
    source: &str,
) -> Result<(), Refused> {
    let n = t.id;
    // Claiming a ticket nobody holds (replying to or resolving one claims it too).
    let claims = t.stage.is_waiting() && !matches!(act, Act::Transfer(_));
    if claims && transferred_away(org, person, t) {
        return Err(Refused::new(
            "transferred_away",
            format!(
                "工单{n}已经从您这里转给{}了，您不能再接单。需要的话请对方转回给您。",
                notify::who(org, &t.handler)
            ),
        ));
    }
    match act {
        Act::Claim => {
            if let (Stage::Claimed, Some(a)) = (t.stage, &t.assignee) {
                return Err(Refused::new(
                    "claimed",
                    if a.id == me.id {
                        format!("您已经接了工单{n}。")
                    } else {
                        format!("工单{n}已由{}接单。", a.name)
                    },
                ));
            }
            claim(t, me, now, Some(source));
        }
        Act::Reply(text) => {
            let kinds = privacy::kinds(text);
            if matches!(t.chat, Chat::Group(_)) && !kinds.is_empty() {
                return Err(Refused::new(
                    "personal_numbers",
                    format!(
                        "回复里有{}，不能发到居民群里。请私下联系居民。",
                        privacy::describe(&kinds)
                    ),
                ));
            }
            if t.stage.is_waiting() {
                claim(t, me, now, None);
            }
            t.record(
                now,
                me.clone(),
                Change::Replied { text: text.clone() },
                Some(source),
            );
        }
        Act::Transfer(to) => {
            if &t.handler == to {
                return Err(Refused::new(
                    "same_handler",
                    format!("工单{n}已经在{}那里了。", notify::who(org, to)),
                ));
            }
            t.stage = Stage::Transferred;
            t.handler = to.clone();
            t.level = notify::level_of(org, to);
            t.assignee = None;
            t.waiting_since = now;
            t.record(
                now,
                me.clone(),
                Change::Transferred { to: to.clone() },
                Some(source),
            );
        }
        Act::Resolve => {
            if t.stage.is_waiting() {
                claim(t, me, now, None);
            }
            t.stage = Stage::Resolved;
            t.resolved_at = Some(now);
            t.record(now, me.clone(), Change::Resolved, Some(source));
        }
    }
    Ok(())
}

/// Whether the latest transfer of `t` took it away from agent `person` — they made it, or they
/// held the ticket then — and it has not come back to them (its handler's agents do not include
/// them). Such an agent may not claim it again: the transfer said someone else is to do it.
/// Admins are not held to this.
fn transferred_away(org: &Org, person: Person<'_>, t: &Ticket) -> bool {
    let Person::Agent(a) = person else {
        return false;
    };
    let Some(i) = t
        .events
        .iter()
        .rposition(|e| matches!(e.change, Change::Transferred { .. }))
    else {
        return false;
    };
    let held_then = t.events[..i]
        .iter()
        .rev()
        .find(|e| e.change == Change::Claimed)
        .is_some_and(|e| e.by.id == a.id);
    let from_them = t.events[i].by.id == a.id || held_then;
    from_them
        && !notify::agents_of(org, &t.handler)
            .iter()
            .any(|x| x.id == a.id)
}

fn claim(t: &mut Ticket, me: &Actor, now: u64, source: Option<&str>) {
    t.stage = Stage::Claimed;
    t.assignee = Some(me.clone());
    t.handler = Handler::Agent(me.id.clone());
    t.claimed_at.get_or_insert(now);
    t.record(now, me.clone(), Change::Claimed, source);
}

/// Whether `person` may work on `t`: admins and district agents always; agents serving the
/// resident's village (directly or through its township); whoever the ticket is with now.
///
/// A follow-up of a bad rating (差评回访) is the township centre's: village agents — the rated
/// agent among them — may not act on it or read it, unless it was handed to them by name
/// (转办 to them or their village by someone who may).
pub fn may_act(org: &Org, person: Person<'_>, t: &Ticket) -> bool {
    let Person::Agent(a) = person else {
        return true;
    };
    let covers = t.village.as_deref().is_some_and(|v| org.covers(a, v))
        && (t.follow_up_of.is_none() || notify::agent_level(a) >= Level::Township);
    a.district
        || covers
        || match &t.handler {
            Handler::Agent(id) => *id == a.id,
            Handler::Township(tid) => a.townships.contains(tid),
            Handler::Village(v) => a.villages.contains(v),
            Handler::District => false,
        }
}

/// Why `t` is not the agent's to act on or read.
pub fn refusal(org: &Org, t: &Ticket) -> Refused {
    let n = t.id;
    if t.follow_up_of.is_some() {
        return Refused::new(
            "follow_up",
            format!(
                "工单{n}是居民差评后的回访，由乡镇便民服务中心或区里处理（现在在{}那里），您不能操作。",
                notify::who(org, &t.handler)
            ),
        );
    }
    Refused::new(
        "not_yours",
        format!(
            "工单{n}不归您负责（现在在{}那里）。需要的话请他们转办给您。",
            notify::who(org, &t.handler)
        ),
    )
}

/// Whether `event` came from an agents' chat or a private chat: where ticket details may be
/// shown. Village groups are where residents read.
fn staff_chat(org: &Org, event: &Incoming) -> bool {
    match &event.chat {
        Chat::Private(_) => true,
        Chat::Group(id) => org.is_agents_chat(event.platform, id),
    }
}

/// Whether unclaimed `t` waits for `person` (its handler's agents; admins see all).
pub fn waits_for(org: &Org, person: Person<'_>, t: &Ticket) -> bool {
    match person {
        Person::Admin(_) => true,
        Person::Agent(a) => notify::agents_of(org, &t.handler)
            .iter()
            .any(|x| x.id == a.id),
    }
}

/// How many characters of the question a list line shows.
const LINE_CHARS: usize = 24;

/// `工单12｜大湖村｜已受理｜「我家低保怎么停了」`.
fn line(org: &Org, t: &Ticket) -> String {
    let village = t
        .village
        .as_deref()
        .and_then(|v| org.village(v))
        .map_or("—", |v| v.name.as_str());
    let q = notify::quote(&t.question, Shown::Masked(LINE_CHARS));
    format!("工单{}｜{village}｜{}｜{q}", t.id, t.stage.label())
}

/// The handler an agent means by `text` in `转办 N text`: 区中心, an agent (id, name or user id),
/// a township (id, 庙岭镇, 庙岭, 庙岭镇便民服务中心) or a village (id, 大湖村, 大湖, its station).
pub fn find_target(org: &Org, text: &str) -> Option<Handler> {
    let s = text.trim();
    let s = s.strip_prefix(['给', '到']).unwrap_or(s).trim();
    if s.is_empty() {
        return None;
    }
    if ["区中心", "区里", "区", "区级", "区政务中心"].contains(&s) || s == org.district.name
    {
        return Some(Handler::District);
    }
    if let Some(a) = org.agents.iter().find(|a| {
        a.id == s
            || a.name == s
            || a.accounts
                .iter()
                .any(|(_, id)| id.as_ref().is_some_and(|id| id.0 == s))
    }) {
        return Some(Handler::Agent(a.id.clone()));
    }
    if let Some(t) = org.townships.iter().find(|t| {
        t.id == s || t.name == s || t.centre.name == s || t.name.trim_end_matches(['镇', '乡']) == s
    }) {
        return Some(Handler::Township(t.id.clone()));
    }
    org.villages
        .iter()
        .find(|v| {
            v.id == s || v.name == s || v.station.name == s || v.name.trim_end_matches('村') == s
        })
        .map(|v| Handler::Village(v.id.clone()))
}

/// The agent or admin of `org.toml` with this id (a console user's name).
pub fn person_by_id<'a>(org: &'a Org, id: &str) -> Option<Person<'a>> {
    if let Some(a) = org.admins.iter().find(|a| a.id == id) {
        return Some(Person::Admin(a));
    }
    org.agent(id).map(Person::Agent)
}
