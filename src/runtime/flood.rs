//! Limits on what comes in, applied before the bot reads a message: per resident in a chat and
//! per chat, each a [`TokenBucket`] (`[limits] sender`, `group`). One flooding group or resident
//! then costs a map lookup per message, not an understanding, a store write and a reply.
//!
//! Over a limit, the first addressed message is answered once with `limits.too_fast`; the rest
//! are dropped (counted, logged once) until the bucket lets a message in again. Agents' chats and
//! agents themselves are never limited: their commands are the help desk's work.
//!
//! Memory stays bounded however many residents write: a bucket that is full again is the same
//! as no bucket, so full ones are forgotten whenever a map has doubled since it was last pruned.

use super::pacing::TokenBucket;
use crate::config::Config;
use crate::config::service::Bucket;
use bangban_contract::{Chat, Incoming, Platform};
use std::collections::HashMap;
use std::hash::Hash;
use tokio::time::Instant;

/// A chat of a bot account.
pub(crate) type ChatKey = (Platform, String, Chat);
/// A resident in a chat.
type SenderKey = (ChatKey, String);

/// Below this many buckets a map is never pruned.
const PRUNE_FLOOR: usize = 1024;

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Read it. `first`: the chat's first message for a while (its bucket was full), whose
    /// replies may go ahead of a busy chat's.
    Admit { first: bool },
    /// Over the `scope` limit ("sender" or "group"): dropped. `tell`: answer it with
    /// `limits.too_fast` (the first addressed message over the limit); `log`: the first message
    /// over it.
    Over {
        scope: &'static str,
        tell: bool,
        log: bool,
    },
}

/// Messages an agent sends, or that come from an agents' chat, are never limited.
pub(crate) fn from_agents(config: &Config, m: &Incoming) -> bool {
    let org = &config.org;
    matches!(&m.chat, Chat::Group(id) if org.is_agents_chat(m.platform, id))
        || org.person(m.platform, &m.sender).is_some()
}

/// Whether `chat` on `platform` is where agents read notices: an agents' chat, or a private
/// chat with an agent or admin.
pub(crate) fn to_agents(config: &Config, platform: Platform, chat: &Chat) -> bool {
    let org = &config.org;
    match chat {
        Chat::Group(id) => org.is_agents_chat(platform, id),
        Chat::Private(id) => org.person(platform, id).is_some(),
    }
}

pub(crate) fn chat_key(m: &Incoming) -> ChatKey {
    (m.platform, m.account.clone(), m.chat.clone())
}

struct Slot {
    bucket: TokenBucket,
    /// Over the limit since it last let a message in, and logged.
    logged: bool,
    /// …and told.
    told: bool,
}

/// Token buckets by key, forgetting the full ones.
pub(crate) struct Buckets<K> {
    rate: Bucket,
    slots: HashMap<K, Slot>,
    prune_at: usize,
}

impl<K: Hash + Eq> Buckets<K> {
    pub(crate) fn new(rate: Bucket) -> Buckets<K> {
        Buckets {
            rate,
            slots: HashMap::new(),
            prune_at: PRUNE_FLOOR,
        }
    }

    fn slot(&mut self, key: K, now: Instant) -> &mut Slot {
        if self.slots.len() >= self.prune_at {
            self.slots.retain(|_, s| !s.bucket.is_full(now));
            self.prune_at = (self.slots.len() * 2).max(PRUNE_FLOOR);
        }
        let rate = self.rate;
        self.slots.entry(key).or_insert_with(|| Slot {
            bucket: TokenBucket::new(rate, now),
            logged: false,
            told: false,
        })
    }

    /// Takes a token for `key` if one is there; whether it did, and whether the bucket was full.
    pub(crate) fn try_take(&mut self, key: K, now: Instant) -> Option<bool> {
        let slot = self.slot(key, now);
        if slot.bucket.ready_at() > now {
            return None;
        }
        let full = slot.bucket.is_full(now);
        slot.bucket.take(now);
        Some(full)
    }

    /// How many buckets are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// The per-resident and per-chat limits of `[limits]`.
pub(crate) struct InputLimits {
    enabled: bool,
    senders: Buckets<SenderKey>,
    groups: Buckets<ChatKey>,
}

impl InputLimits {
    pub(crate) fn new(config: &Config) -> InputLimits {
        let limits = &config.service.limits;
        InputLimits {
            enabled: limits.enabled,
            senders: Buckets::new(limits.sender),
            groups: Buckets::new(limits.group),
        }
    }

    /// Whether message `m` (not from agents: see [`from_agents`]) may be read at `now`. A
    /// message let in takes a token from both buckets; one refused takes none.
    pub(crate) fn check(&mut self, m: &Incoming, now: Instant) -> Verdict {
        let chat = chat_key(m);
        if !self.enabled {
            return Verdict::Admit { first: false };
        }
        let addressed = m.mentions_bot || matches!(m.chat, Chat::Private(_));
        let group = self.groups.slot(chat.clone(), now);
        let group_ready = group.bucket.ready_at() <= now;
        let sender = self.senders.slot((chat.clone(), m.sender.clone()), now);
        let sender_ready = sender.bucket.ready_at() <= now;
        if group_ready && sender_ready {
            sender.bucket.take(now);
            sender.logged = false;
            sender.told = false;
            let group = self.groups.slot(chat, now);
            let first = group.bucket.is_full(now);
            group.bucket.take(now);
            group.logged = false;
            group.told = false;
            return Verdict::Admit { first };
        }
        let (scope, slot) = if sender_ready {
            ("group", self.groups.slot(chat, now))
        } else {
            ("sender", sender)
        };
        let log = !std::mem::replace(&mut slot.logged, true);
        let tell = addressed && !slot.told;
        slot.told |= tell;
        Verdict::Over { scope, tell, log }
    }

    /// How many buckets are kept (residents, chats).
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.senders.len(), self.groups.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn config() -> Config {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config");
        let mut config = Config::load(&dir).unwrap();
        config.service.limits.sender = Bucket {
            burst: 2,
            per_minute: 6.0,
        };
        config.service.limits.group = Bucket {
            burst: 3,
            per_minute: 6.0,
        };
        config
    }

    fn said(group: &str, sender: &str, addressed: bool) -> Incoming {
        Incoming {
            platform: Platform::Onebot,
            account: "1".into(),
            chat: Chat::Group(group.into()),
            sender: sender.into(),
            sender_name: None,
            message_id: "1".into(),
            text: String::new(),
            mentions_bot: addressed,
            reply_to: None,
        }
    }

    fn over(scope: &'static str, tell: bool, log: bool) -> Verdict {
        Verdict::Over { scope, tell, log }
    }

    #[test]
    fn a_resident_over_the_limit_is_told_once_then_dropped_until_it_refills() {
        let config = config();
        let mut limits = InputLimits::new(&config);
        let t0 = Instant::now();
        let m = said("900001", "7", true);
        assert_eq!(limits.check(&m, t0), Verdict::Admit { first: true });
        assert_eq!(limits.check(&m, t0), Verdict::Admit { first: false });
        assert_eq!(limits.check(&m, t0), over("sender", true, true));
        assert_eq!(limits.check(&m, t0), over("sender", false, false));
        // Another resident of the group still gets in: the refused messages took no token.
        assert_eq!(
            limits.check(&said("900001", "8", true), t0),
            Verdict::Admit { first: false }
        );
        // One token back after 10 s: let in, and the next refusal is told again.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(limits.check(&m, t1), Verdict::Admit { first: false });
        assert_eq!(limits.check(&m, t1), over("sender", true, true));
    }

    #[test]
    fn a_group_over_its_limit_is_told_once_for_all_its_residents() {
        let config = config();
        let mut limits = InputLimits::new(&config);
        let t0 = Instant::now();
        for sender in ["1", "2", "3"] {
            assert!(matches!(
                limits.check(&said("900001", sender, true), t0),
                Verdict::Admit { .. }
            ));
        }
        // Unaddressed chatter over the limit is dropped without a word.
        assert_eq!(
            limits.check(&said("900001", "4", false), t0),
            over("group", false, true)
        );
        assert_eq!(
            limits.check(&said("900001", "5", true), t0),
            over("group", true, false)
        );
        assert_eq!(
            limits.check(&said("900001", "6", true), t0),
            over("group", false, false)
        );
        // Another group is not affected.
        assert_eq!(
            limits.check(&said("900002", "6", true), t0),
            Verdict::Admit { first: true }
        );
    }

    #[test]
    fn thousands_of_residents_do_not_grow_the_maps_without_bound() {
        let config = config();
        let mut limits = InputLimits::new(&config);
        let mut now = Instant::now();
        // 50,000 residents one after another, 100 a second across 76 groups: buckets refill
        // in 20 s (2 tokens at 6 a minute), so about 2,000 are live at any time.
        for i in 0..50_000u32 {
            now += Duration::from_millis(10);
            let group = format!("9000{:02}", i % 76);
            limits.check(&said(&group, &i.to_string(), true), now);
        }
        let (senders, groups) = limits.sizes();
        assert!(
            senders <= 2 * 2_000 + PRUNE_FLOOR,
            "{senders} resident buckets"
        );
        assert!(groups <= 76, "{groups} group buckets");
    }

    #[test]
    fn agents_and_their_chats_are_recognised() {
        let config = config();
        let agents_chat = &config.org.agents_chats[0];
        let mut m = said(&agents_chat.chat.0, "7", true);
        m.platform = agents_chat.platform;
        assert!(from_agents(&config, &m));
        assert!(to_agents(&config, m.platform, &m.chat));
        assert!(!from_agents(&config, &said("900001", "7", true)));
    }
}
