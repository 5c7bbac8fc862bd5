//! The agents' commands, carried out: who may act on which ticket, what each command changes, and
//! what everyone concerned is told.

use super::commands::{Command, USAGE};
use super::notify::Shown;
use super::{Desk, actor, fill, notify, privacy, secs};
use crate::config::org::{Org, Person};
use crate::engine::reply_to;
use crate::runtime::metrics::record_ticket;
use crate::store::tickets::{
    Actor, Change, Handler, Level, Stage, Ticket, TicketEvent, source_key,
};
use bangban_contract::{Chat, Incoming, Outgoing};
use std::fmt::Write;

/// How many tickets `我的工单` lists of each kind.
const LIST_MAX: usize = 20;

/// `我的工单` and `工单 N` typed where residents read (a village group): no details there.
const NOT_HERE: &str = "请在专员群或私聊里查工单。";

enum Act {
    Claim,
    Reply(String),
    Transfer(Handler),
    Resolve,
}

enum Refusal {
    /// Tell the agent why not.
    Say(String),
    /// This very message was carried out already: announce it again.
    Done,
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
        let act = match command {
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
        self.act(event, person, act.0, act.1, now).await
    }

    async fn act(
        &self,
        event: &Incoming,
        person: Person<'_>,
        n: u64,
        act: Act,
        now: u64,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let source = source_key(event.platform, &event.account, &event.message_id);
        let me = actor(person);
        let tickets = self.store.tickets()?;
        let result = tickets.update(n, |t| {
            if t.event_from(&source).is_some() {
                return Err(Refusal::Done);
            }
            if !may_act(org, person, t) {
                return Err(Refusal::Say(refusal(org, t)));
            }
            if t.stage.is_closed() {
                return Err(Refusal::Say(format!("工单{n}已经办结了。")));
            }
            apply(org, t, &act, &me, now, &source)
        })?;
        let (ticket, new) = match result {
            None => return Ok(vec![reply_to(event, format!("没有工单{n}。"))]),
            Some(Err(Refusal::Say(why))) => return Ok(vec![reply_to(event, why)]),
            Some(Err(Refusal::Done)) => (
                tickets
                    .get(n)?
                    .ok_or_else(|| anyhow::anyhow!("ticket {n} vanished"))?,
                false,
            ),
            Some(Ok((ticket, ()))) => (ticket, true),
        };
        // Flush before anyone is told, also on a replay (the first attempt may not have flushed).
        self.store.flush().await?;
        let done = ticket
            .event_from(&source)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("ticket {n} lacks the event of {source}"))?;
        if new {
            tracing::info!(ticket = n, change = done.change.name(), by = %done.by.id, "ticket changed");
            record_ticket(done.change.name());
        }
        Ok(self.announce(event, &ticket, &done))
    }

    /// What everyone concerned is told about `done`, an agent's change to `t`.
    fn announce(&self, event: &Incoming, t: &Ticket, done: &TicketEvent) -> Vec<Outgoing> {
        let org = &self.config.org;
        let id = t.id.to_string();
        let in_group = matches!(event.chat, Chat::Group(_));
        match &done.change {
            // Where residents read (a village group), no details of someone else's question.
            Change::Claimed if !staff_chat(org, event) => {
                vec![reply_to(event, format!("已接单：工单{id}。"))]
            }
            Change::Claimed => vec![reply_to(
                event,
                format!(
                    "已接单：工单{id}。\n{}\n用“回复 {id} 内容”答复居民，办好后发“办结 {id}”。",
                    notify::summary(org, &self.guide.load().catalog, t, in_group)
                ),
            )],
            Change::Replied { text } => vec![
                notify::to_resident(
                    t,
                    fill(
                        &org.replies.agent_reply,
                        &[("agent", &done.by.name), ("text", text), ("ticket", &id)],
                    ),
                ),
                reply_to(event, format!("已转达给居民（工单{id}）。")),
            ],
            Change::Transferred { to } => {
                let who = notify::who(org, to);
                let mut out = vec![reply_to(event, format!("工单{id}已转给{who}。"))];
                out.extend(notify::to_agents(org, t, to, |private| {
                    format!(
                        "【转办工单 {id}】{}转来：\n{}\n请{who}发“接单 {id}”认领。",
                        done.by.name,
                        notify::summary(org, &self.guide.load().catalog, t, !private)
                    )
                }));
                out
            }
            Change::Resolved => vec![
                notify::to_resident(
                    t,
                    fill(
                        &org.replies.resolved,
                        &[("ticket", &id), ("agent", &done.by.name)],
                    ),
                ),
                reply_to(event, format!("工单{id}已办结，已请居民评价。")),
            ],
            other => vec![reply_to(event, format!("工单{id}：{}。", other.label()))],
        }
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
            return Ok(vec![reply_to(event, refusal(org, &t))]);
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
    t: &mut Ticket,
    act: &Act,
    me: &Actor,
    now: u64,
    source: &str,
) -> Result<(), Refusal> {
    let n = t.id;
    match act {
        Act::Claim => {
            if let (Stage::Claimed, Some(a)) = (t.stage, &t.assignee) {
                return Err(Refusal::Say(if a.id == me.id {
                    format!("您已经接了工单{n}。")
                } else {
                    format!("工单{n}已由{}接单。", a.name)
                }));
            }
            claim(t, me, now, Some(source));
        }
        Act::Reply(text) => {
            let kinds = privacy::kinds(text);
            if matches!(t.chat, Chat::Group(_)) && !kinds.is_empty() {
                return Err(Refusal::Say(format!(
                    "回复里有{}，不能发到居民群里。请私下联系居民。",
                    privacy::describe(&kinds)
                )));
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
                return Err(Refusal::Say(format!(
                    "工单{n}已经在{}那里了。",
                    notify::who(org, to)
                )));
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
fn refusal(org: &Org, t: &Ticket) -> String {
    let n = t.id;
    if t.follow_up_of.is_some() {
        return format!(
            "工单{n}是居民差评后的回访，由乡镇便民服务中心或区里处理（现在在{}那里），您不能操作。",
            notify::who(org, &t.handler)
        );
    }
    format!(
        "工单{n}不归您负责（现在在{}那里）。需要的话请他们转办给您。",
        notify::who(org, &t.handler)
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
fn waits_for(org: &Org, person: Person<'_>, t: &Ticket) -> bool {
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
