//! Each chat's outbox stays bounded (`outbox.max_per_chat`), with a clear policy for what does
//! not fit:
//!
//! - **A resident's message** to a chat with that many replies waiting is dropped before the bot
//!   reads it (the event loop asks [`Depths::get`]).
//! - **Agents' notices** a resident's message causes (a new ticket, in the agents' chats or an
//!   agent's private chat) go one by one only while the source chat is within `limits.notices`
//!   for that agents' chat and the agents' chat is within `max_per_chat`; the rest are counted
//!   and go, `limits.summary_secs` after the first of them, as one `limits.summary` line
//!   ("另有 N 条新工单通知…"). So a flood of escalations costs the agents a few lines, and a
//!   ticket from a quiet village still gets its own notice promptly.
//! - What agents send (replies to residents, confirmations) is never dropped or summed up.

use super::flood::{Buckets, ChatKey};
use crate::config::service::Limits;
use bangban_contract::{Chat, Outgoing};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How many messages wait in each chat's outbox: the event loop adds what it stores, the
/// delivery worker takes away what leaves (sent or given up).
#[derive(Default)]
pub(crate) struct Depths(Mutex<HashMap<ChatKey, usize>>);

impl Depths {
    pub(crate) fn add(&self, key: ChatKey, n: usize) {
        if n > 0 {
            *self.lock().entry(key).or_insert(0) += n;
        }
    }

    /// One message of `key` left the outbox.
    pub(crate) fn remove(&self, key: &ChatKey) {
        let mut map = self.lock();
        if let Some(n) = map.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(key);
            }
        }
    }

    pub(crate) fn get(&self, key: &ChatKey) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChatKey, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The key of an action's chat.
pub(crate) fn action_key(action: &Outgoing) -> ChatKey {
    let Outgoing::SendText {
        platform,
        account,
        chat,
        ..
    } = action;
    (*platform, account.clone(), chat.clone())
}

/// Notices held back for one agents' chat.
struct Held {
    count: usize,
    /// The agent the notices @-mentioned, when they all named the same one.
    mention: Option<String>,
    due: Instant,
}

/// Agents' notices: which go one by one, and the summaries of the rest.
pub(crate) struct Notices {
    max_per_chat: usize,
    summary_after: Duration,
    summary: String,
    /// Per (agents' chat, source chat).
    sources: Buckets<(ChatKey, ChatKey)>,
    held: HashMap<ChatKey, Held>,
}

/// What to do with one agents' notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    /// Send it; `first`: the source's first notice there for a while (it goes ahead of bulk).
    Send { first: bool },
    /// Counted in the agents' chat's next summary instead.
    Summed,
}

impl Notices {
    pub(crate) fn new(limits: &Limits, max_per_chat: usize) -> Notices {
        Notices {
            max_per_chat,
            summary_after: Duration::from_secs(limits.summary_secs),
            summary: limits.summary.clone(),
            sources: Buckets::new(limits.notices),
            held: HashMap::new(),
        }
    }

    /// Decides on `notice`, caused by a message in `source` (`None`: by the clock, such as the
    /// ladder), with `waiting` messages already in its chat's outbox.
    pub(crate) fn admit(
        &mut self,
        notice: &Outgoing,
        source: Option<&ChatKey>,
        waiting: usize,
        now: Instant,
    ) -> Notice {
        let to = action_key(notice);
        if waiting < self.max_per_chat {
            match source {
                None => return Notice::Send { first: false },
                Some(source) => {
                    if let Some(first) = self.sources.try_take((to.clone(), source.clone()), now) {
                        return Notice::Send { first };
                    }
                }
            }
        }
        let Outgoing::SendText { mention, .. } = notice;
        let held = self.held.entry(to).or_insert_with(|| Held {
            count: 0,
            mention: mention.clone(),
            due: now + self.summary_after,
        });
        if held.mention != *mention {
            held.mention = None;
        }
        held.count += 1;
        Notice::Summed
    }

    /// When the next summary is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.held.values().map(|h| h.due).min()
    }

    /// The summaries due at `now`, with how many notices each stands for.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(Outgoing, usize)> {
        let due: Vec<ChatKey> = self
            .held
            .iter()
            .filter(|(_, h)| h.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|key| {
                let held = self.held.remove(&key)?;
                let (platform, account, chat) = key;
                let mention = held.mention.filter(|_| matches!(chat, Chat::Group(_)));
                let text = self.summary.replace("{n}", &held.count.to_string());
                let summary = Outgoing::SendText {
                    platform,
                    account,
                    chat,
                    text,
                    quote: None,
                    mention,
                };
                Some((summary, held.count))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::service::Bucket;
    use bangban_contract::Platform;

    fn notice(mention: &str) -> Outgoing {
        Outgoing::SendText {
            platform: Platform::Onebot,
            account: "1".into(),
            chat: Chat::Group("agents".into()),
            text: "新工单".into(),
            quote: None,
            mention: Some(mention.into()),
        }
    }

    fn source(group: &str) -> ChatKey {
        (Platform::Onebot, "1".into(), Chat::Group(group.into()))
    }

    fn limits() -> Limits {
        Limits {
            notices: Bucket {
                burst: 2,
                per_minute: 1.0,
            },
            summary_secs: 30,
            ..Limits::default()
        }
    }

    #[test]
    fn a_flood_of_notices_becomes_a_few_lines_and_one_summary() {
        let mut notices = Notices::new(&limits(), 10);
        let t0 = Instant::now();
        let flood = source("900001");
        let mut sent = 0;
        for _ in 0..1000 {
            if let Notice::Send { .. } = notices.admit(&notice("a"), Some(&flood), sent, t0) {
                sent += 1;
            }
        }
        assert_eq!(sent, 2);
        // A quiet village's ticket still gets its own notice, ahead of bulk.
        assert_eq!(
            notices.admit(&notice("a"), Some(&source("900002")), 2, t0),
            Notice::Send { first: true }
        );
        assert_eq!(notices.next_due(), Some(t0 + Duration::from_secs(30)));
        assert!(notices.due(t0 + Duration::from_secs(29)).is_empty());
        let due = notices.due(t0 + Duration::from_secs(30));
        assert_eq!(due.len(), 1);
        let (Outgoing::SendText { text, mention, .. }, n) = &due[0];
        assert_eq!(*n, 998);
        assert_eq!(text, "另有 998 条新工单通知，发“我的工单”查看");
        assert_eq!(mention.as_deref(), Some("a"));
        assert_eq!(notices.next_due(), None);
    }

    #[test]
    fn a_full_agents_chat_sums_up_even_a_quiet_sources_notice() {
        let mut notices = Notices::new(&limits(), 10);
        let t0 = Instant::now();
        assert_eq!(
            notices.admit(&notice("a"), Some(&source("900002")), 10, t0),
            Notice::Summed
        );
        assert_eq!(notices.admit(&notice("b"), None, 10, t0), Notice::Summed);
        assert_eq!(
            notices.admit(&notice("b"), None, 9, t0),
            Notice::Send { first: false }
        );
        let due = notices.due(t0 + Duration::from_secs(30));
        let (Outgoing::SendText { mention, .. }, n) = &due[0];
        assert_eq!(
            (*n, mention),
            (2, &None),
            "different agents: nobody mentioned"
        );
    }
}
