//! Opening a ticket for a resident's message, and announcing it.

use super::{Desk, fill, notify, secs};
use crate::config::org::Org;
use crate::runtime::metrics::record_ticket;
use crate::store::StoreError;
use crate::store::tickets::{
    Actor, Change, Handler, Level, Reason, Role, Stage, Ticket, Tickets, source_key,
};
use bangban_contract::{Chat, Incoming, Outgoing};

impl Desk {
    /// Opens a ticket for `event` (or finds the one already opened for it), flushes it, and
    /// returns the reply to the resident — `lead`, then the ticket number and who follows up, and
    /// when to expect an answer if none of them is on duty (their `duty` hours in `org.toml`, or
    /// office hours) — and the agents' notification. `item`: the catalog item id the question is
    /// about, if known.
    pub async fn open_ticket(
        &self,
        event: &Incoming,
        item: Option<String>,
        candidates: Vec<String>,
        reason: Reason,
        lead: &str,
        now: u64,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let village = match &event.chat {
            Chat::Group(id) => org.village_of_chat(event.platform, id),
            Chat::Private(_) => None,
        };
        let handler = first_handler(org, village.map(|v| v.id.as_str()));
        let draft = Ticket {
            id: 0,
            source: source_key(event.platform, &event.account, &event.message_id),
            platform: event.platform,
            account: event.account.clone(),
            chat: event.chat.clone(),
            message_id: event.message_id.clone(),
            resident: event.sender.clone(),
            resident_name: event.sender_name.clone(),
            village: village.map(|v| v.id.clone()),
            item,
            candidates,
            question: capped(event.text.trim()),
            reason,
            follow_up_of: None,
            stage: Stage::Pending,
            level: notify::level_of(org, &handler),
            handler,
            assignee: None,
            waiting_since: now,
            created_at: now,
            claimed_at: None,
            resolved_at: None,
            rating: None,
            events: vec![crate::store::tickets::TicketEvent {
                at: now,
                by: Actor {
                    role: Role::Resident,
                    id: event.sender.clone(),
                    name: event.sender_name.clone().unwrap_or_default(),
                },
                change: Change::Created,
                source: Some(source_key(
                    event.platform,
                    &event.account,
                    &event.message_id,
                )),
            }],
        };
        let tickets = self.store.tickets()?;
        let (ticket, created) = create_once_in_chat(&tickets, draft)?;
        // Flush even when the ticket existed: the earlier attempt may have failed before its own.
        self.store.flush().await?;
        if created {
            tracing::info!(ticket = ticket.id, village = ?ticket.village, reason = ?reason, "ticket opened");
            record_ticket("opened");
        }
        let mut out = vec![notify::to_resident(&ticket, self.told(&ticket, lead))];
        out.extend(self.announce_new(&ticket, "新工单"));
        Ok(out)
    }

    /// What the resident is told when a ticket is opened. Depends only on the ticket, so a replay
    /// says the same.
    fn told(&self, t: &Ticket, lead: &str) -> String {
        let org = &self.config.org;
        let mut text = String::new();
        if !lead.is_empty() {
            text.push_str(lead);
            text.push('\n');
        }
        let id = t.id.to_string();
        text.push_str(&fill(
            &org.replies.ticket,
            &[("ticket", &id), ("who", &notify::who(org, &t.handler))],
        ));
        // When the earliest of the agents who follow up is next on duty (now, if one is).
        let created = secs(t.created_at);
        let next = notify::duty_of(org, &t.handler)
            .iter()
            .filter_map(|h| h.next_open(created))
            .min();
        if let Some(open) = next
            && open > created
        {
            text.push('\n');
            text.push_str(&fill(
                &org.replies.after_hours,
                &[("when", &org.hours.describe(created, open))],
            ));
        }
        if self.config.service.replies_only(t.platform, &t.account) {
            // A private chat is no group, and needs no @.
            let later = match &t.chat {
                Chat::Private(_) if !org.replies.reply_later_private.is_empty() => {
                    &org.replies.reply_later_private
                }
                _ => &org.replies.reply_later,
            };
            text.push('\n');
            text.push_str(later);
        }
        text
    }

    /// The agents' notification of a new ticket; `title` such as 新工单 or 差评回访.
    pub(crate) fn announce_new(&self, t: &Ticket, title: &str) -> Vec<Outgoing> {
        let org = &self.config.org;
        let who = notify::who(org, &t.handler);
        notify::to_agents(org, t, &t.handler, |private| {
            format!(
                "【{title} {id}】{summary}\n请{who}发“接单 {id}”认领，用“回复 {id} 内容”答复居民。",
                id = t.id,
                summary = notify::summary(org, &self.guide.load().catalog, t, !private),
            )
        })
    }
}

/// Stores `draft` once per source message (see [`Tickets::create_once`]). A message id is
/// unique only within its chat on some platforms (OneBot implementations that number messages
/// per group): when the ticket found for the source came from another chat, `draft` is another
/// message, and it is stored under a source that names its chat too. A redelivery of it then
/// finds that one.
pub(crate) fn create_once_in_chat(
    tickets: &Tickets,
    mut draft: Ticket,
) -> Result<(Ticket, bool), StoreError> {
    let (found, created) = tickets.create_once(&draft)?;
    if created || found.chat == draft.chat {
        return Ok((found, created));
    }
    let source = match &draft.chat {
        Chat::Group(id) => format!("{}@group:{id}", draft.source),
        Chat::Private(id) => format!("{}@private:{id}", draft.source),
    };
    for event in &mut draft.events {
        if event.source.as_ref() == Some(&draft.source) {
            event.source = Some(source.clone());
        }
    }
    draft.source = source;
    tickets.create_once(&draft)
}

/// How many characters of a resident's message a ticket keeps.
pub const QUESTION_MAX: usize = 2000;

/// The message as a ticket keeps it: in full up to [`QUESTION_MAX`] characters; a longer one is
/// cut, with a note saying so. The cut never leaves part of a number behind (a personal number
/// cut short would no longer be recognised, and so not masked).
pub fn capped(text: &str) -> String {
    let Some((at, _)) = text.char_indices().nth(QUESTION_MAX) else {
        return text.to_string();
    };
    let total = text.chars().count();
    let head = &text[..at];
    let trimmed = head.trim_end_matches(|c: char| {
        c.is_ascii_digit() || ('０'..='９').contains(&c) || " -－XxＸ".contains(c)
    });
    // A personal number written in parts is at most a few dozen characters long.
    let kept = if head.len() - trimmed.len() <= 80 {
        trimmed
    } else {
        head
    };
    format!("{kept}……\n（原消息共{total}字，太长，只保留前面一部分）")
}

/// Where a new ticket starts: the village's own agents, else its township centre; the district
/// centre when the village is not known (a private chat, an unregistered group).
pub fn first_handler(org: &Org, village: Option<&str>) -> Handler {
    match village.and_then(|v| org.village(v)) {
        Some(v) if !org.village_agents(&v.id).is_empty() => Handler::Village(v.id.clone()),
        Some(v) => Handler::Township(v.township.clone()),
        None => Handler::District,
    }
}

/// The handler for a ladder rung, for a ticket from `village`.
pub fn handler_at(org: &Org, level: Level, village: Option<&str>) -> Handler {
    let township = village
        .and_then(|v| org.village(v))
        .map(|v| v.township.clone());
    match (level, township) {
        (Level::Village, _) => first_handler(org, village),
        (Level::Township, Some(t)) => Handler::Township(t),
        _ => Handler::District,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_capped_without_leaving_part_of_a_number() {
        assert_eq!(capped("路灯坏了"), "路灯坏了");
        let exact = "字".repeat(QUESTION_MAX);
        assert_eq!(capped(&exact), exact);
        let long = format!("{}13812345678后面还有", "字".repeat(QUESTION_MAX - 5));
        let kept = capped(&long);
        assert!(kept.starts_with(&"字".repeat(QUESTION_MAX - 5)));
        assert!(!kept.contains("13812"), "{}", &kept[kept.len() - 90..]);
        assert!(kept.ends_with(&format!(
            "原消息共{}字，太长，只保留前面一部分）",
            QUESTION_MAX + 10
        )));
    }
}
