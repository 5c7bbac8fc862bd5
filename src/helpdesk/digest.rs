//! The daily digest (每日简报): once a day, at `[digest] at` local time, each agents' chat gets
//! one short message about yesterday — questions asked and answered, new tickets, tickets
//! resolved, bad ratings — and the tickets
//! still open past `overdue_hours` of office time. A chat with a `township` gets that township's
//! figures; any other agents' chat gets the district's, with one line per township.
//!
//! The day sent is recorded per chat in sled before the messages are handed to the outbox, so a
//! restart neither repeats nor (after the hour) skips a day; a bot down all day sends that day's
//! digest when it comes back. The messages go through the paced outbox like every other.

use super::hours::{WEEKDAYS, civil, weekday};
use super::{Desk, secs};
use crate::config::org::{AgentsChat, Org};
use crate::store::stats::{Bucket, metric};
use crate::store::tickets::{Change, Ticket};
use bangban_contract::{Chat, Outgoing, Platform};

/// Listed overdue tickets at most; more are counted.
const MAX_LISTED: usize = 8;

/// Yesterday's figures for one scope (a township, or the district).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    /// Residents' questions (answered, asked back or escalated), and those answered.
    pub asked: i64,
    pub answered: i64,
    pub opened: usize,
    pub resolved: usize,
    /// Ticket numbers rated 不满意 or worse yesterday.
    pub bad: Vec<u64>,
    /// Ticket numbers still open past the overdue time, oldest first.
    pub overdue: Vec<u64>,
}

impl Desk {
    /// The digests due at `now` (Unix ms): for every agents' chat that has not had today's. The
    /// day is recorded and flushed before they are returned.
    pub async fn digests(&self, now: u64) -> anyhow::Result<Vec<Outgoing>> {
        let org = &self.config.org;
        let Some(at) = org.digest.at else {
            return Ok(Vec::new());
        };
        let (today, clock) = org.hours.local(secs(now));
        if clock < at || org.agents_chats.is_empty() {
            return Ok(Vec::new());
        }
        let mut due = Vec::new();
        for chat in &org.agents_chats {
            let key = chat_key(chat);
            if self.store.digest_day(&key)?.is_none_or(|d| d < today) {
                due.push((chat, key));
            }
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let tickets = self.store.tickets()?.all()?;
        let day = today - 1;
        let counts = self.store.stats()?.counts(day, day)?;
        let yesterday = Yesterday {
            tickets: &tickets,
            counts: &counts,
            day,
        };
        let mut out = Vec::new();
        for (chat, _) in &due {
            let Some(account) = account_for(chat, &tickets) else {
                tracing::warn!(platform = ?chat.platform, chat = %chat.chat,
                    "no bot account known for the agents' chat; its digest is skipped. Set `account` in org.toml");
                continue;
            };
            out.push(Outgoing::SendText {
                platform: chat.platform,
                account,
                chat: Chat::Group(chat.chat.0.clone()),
                text: render(org, chat.township.as_deref(), &yesterday, secs(now)),
                quote: None,
                mention: None,
            });
        }
        let keys: Vec<String> = due.into_iter().map(|(_, k)| k).collect();
        self.store.mark_digests(&keys, today).await?;
        tracing::info!(chats = out.len(), day, "daily digest sent");
        Ok(out)
    }
}

fn chat_key(chat: &AgentsChat) -> String {
    format!("{:?}/{}", chat.platform, chat.chat.0).to_lowercase()
}

/// The bot account that speaks in `chat`: the configured one, else the one the latest ticket on
/// that platform came in through (the sandbox has a single account).
fn account_for(chat: &AgentsChat, tickets: &[Ticket]) -> Option<String> {
    if let Some(a) = &chat.account {
        return Some(a.0.clone());
    }
    if chat.platform == Platform::Sandbox {
        return Some("sandbox".into());
    }
    tickets
        .iter()
        .rev()
        .find(|t| t.platform == chat.platform)
        .map(|t| t.account.clone())
}

/// What the digest of local day `day` is made from: every ticket, and the statistics' counts of
/// that day.
pub struct Yesterday<'a> {
    pub tickets: &'a [Ticket],
    pub counts: &'a [(Bucket, i64)],
    pub day: i64,
}

/// The figures of `y.day` for the tickets and questions of `township`'s villages, or of the
/// whole district when `None`, at `now` (Unix seconds). Questions from the console's sandbox
/// are not counted.
pub fn figures(org: &Org, township: Option<&str>, y: &Yesterday, now: i64) -> Figures {
    let on_day = |ms: u64| org.hours.local(secs(ms)).0 == y.day;
    let mut f = Figures::default();
    let village_in_scope = |v: Option<&str>| match township {
        None => true,
        Some(id) => v
            .and_then(|v| org.village(v))
            .is_some_and(|v| v.township == id),
    };
    for (b, n) in y.counts {
        if b.day != y.day || b.sandbox || !village_in_scope(Some(&b.village)) {
            continue;
        }
        match b.metric.as_str() {
            metric::ASKED => f.asked += n,
            metric::ANSWERED => f.answered += n,
            _ => {}
        }
    }
    for t in y
        .tickets
        .iter()
        .filter(|t| village_in_scope(t.village.as_deref()))
    {
        if on_day(t.created_at) {
            f.opened += 1;
        }
        if t.resolved_at.is_some_and(on_day) {
            f.resolved += 1;
        }
        let rated_bad = t.events.iter().any(|e| {
            matches!(&e.change, Change::Rated { rating } if rating.is_bad()) && on_day(e.at)
        });
        if rated_bad {
            f.bad.push(t.id);
        }
        if !t.stage.is_closed()
            && org.hours.working_secs(secs(t.created_at), now) >= org.digest.overdue
        {
            f.overdue.push(t.id);
        }
    }
    f
}

/// The digest's text for `township` (or the district).
pub fn render(org: &Org, township: Option<&str>, y: &Yesterday, now: i64) -> String {
    let (_, m, d) = civil(y.day);
    let scope = match township.and_then(|id| org.township(id)) {
        Some(t) => t.name.as_str(),
        None => "全区",
    };
    let f = figures(org, township, y, now);
    let mut lines = vec![
        format!(
            "【帮办日报】{scope} {m}月{d}日（{}）",
            WEEKDAYS[weekday(y.day) as usize]
        ),
        format!("群众提问 {} 条，机器人答复 {} 条。", f.asked, f.answered),
        format!("新工单 {} 件，办结 {} 件。", f.opened, f.resolved),
        listed("超时未办结", &f.overdue),
        listed("差评", &f.bad),
    ];
    if township.is_none() && org.townships.len() > 1 {
        for t in &org.townships {
            let f = figures(org, Some(&t.id), y, now);
            lines.push(format!(
                "{}：问{} 新{} 办结{} 超时{} 差评{}",
                t.name,
                f.asked,
                f.opened,
                f.resolved,
                f.overdue.len(),
                f.bad.len()
            ));
        }
    }
    lines.join("\n")
}

fn listed(label: &str, ids: &[u64]) -> String {
    if ids.is_empty() {
        return format!("{label}：无。");
    }
    let shown: Vec<String> = ids.iter().take(MAX_LISTED).map(u64::to_string).collect();
    let more = if ids.len() > MAX_LISTED { " 等" } else { "" };
    format!(
        "{label} {} 件：工单 {}{more}。",
        ids.len(),
        shown.join("、")
    )
}
