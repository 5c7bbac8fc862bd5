//! The engine: platform-neutral events in, platform-neutral actions out.
//!
//! It keeps no platform knowledge (that is the adapters') and touches sled only through
//! [`crate::store`]. For each message, in order: an agent's command goes to the help desk; a
//! rating after 办结 is taken; a number picks from the list the bot just offered and a follow-up
//! ("那要多久？") refers to the item just discussed ([`dialogue`]); personal numbers posted in a
//! group get the privacy advice and a ticket (an agent follows up privately); then the
//! understanding's decision is carried out — an answer (naming the asker's own village station
//! and township centre when they ask where), a question back, help, or a ticket for an agent.
//!
//! Time is passed in (`handle_at`, `tick`), so tests drive the clock.

pub mod dialogue;
pub mod gaps;

use crate::catalog::{Aspect, PlaceLevel};
use crate::config::Config;
use crate::guide::{Guide, Live};
use crate::helpdesk::commands::{self, Parsed};
use crate::helpdesk::{Desk, fill, privacy, rating};
use crate::reply;
use crate::runtime::metrics::record_decision;
use crate::store::Store;
use crate::store::tickets::Reason;
use crate::understand::{Decision, EscalateReason, Intent, Understanding};
use bangban_contract::{Chat, Incoming, Outgoing};
use dialogue::{Context, Dialogue, Key};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything the engine needs, built once at start-up and shared.
pub struct Engine {
    config: Arc<Config>,
    guide: Arc<Guide>,
    store: Store,
    desk: Desk,
    dialogue: Dialogue,
}

impl Engine {
    pub fn new(config: Arc<Config>, store: Store) -> Engine {
        let guide = Guide::open(config.clone(), &store);
        Engine::with_guide(config, store, guide)
    }

    /// An engine answering from `guide` (shared with the console, which edits it).
    pub fn with_guide(config: Arc<Config>, store: Store, guide: Arc<Guide>) -> Engine {
        // What the store's health report warns of and may show (`bangban.toml`).
        let health = store.health();
        health.set_floor_bytes(config.service.min_free_mib << 20);
        health.set_show_accounts(config.service.server.show_accounts);
        if let Err(e) = crate::stats::init(&store, config.org.hours.offset) {
            tracing::error!(error = %e, "the statistics could not be brought up to date");
        }
        Engine {
            desk: Desk::new(config.clone(), store.clone(), guide.clone()),
            dialogue: Dialogue::new(config.org.context_secs, store.clone()),
            config,
            guide,
            store,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Writes a batch of the dialogue contexts changed since the last write when one is due
    /// (not flushed): the committer calls it before each flush.
    pub fn persist_context(&self) {
        self.dialogue.persist_due(std::time::Instant::now());
    }

    /// Writes every dialogue context not written yet (not flushed), at shutdown.
    pub fn persist_all_context(&self) {
        self.dialogue.persist_all();
    }

    /// The live item guide this engine answers from.
    pub fn guide(&self) -> &Arc<Guide> {
        &self.guide
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one incoming message and returns what to send. Every write the returned actions
    /// announce (a ticket number, say) is on disk before this returns. Handling the same message
    /// again (same platform, account and message id) opens no second ticket and repeats no
    /// command: it returns the same announcement.
    pub async fn handle(&self, event: &Incoming) -> anyhow::Result<Vec<Outgoing>> {
        self.handle_at(event, SystemTime::now()).await
    }

    /// [`Engine::handle`] at a given time.
    pub async fn handle_at(
        &self,
        event: &Incoming,
        now: SystemTime,
    ) -> anyhow::Result<Vec<Outgoing>> {
        let now_ms = unix_ms(now);
        let now_s = (now_ms / 1000) as i64;
        let org = &self.config.org;
        // One snapshot for the whole message: a save in between never mixes two cards.
        let live = self.guide.load();
        let text = event.text.trim();
        // Never the text itself: residents post ID-card and phone numbers in groups.
        tracing::debug!(platform = ?event.platform, chat = %event.chat.id(),
            message = %event.message_id, chars = text.chars().count(), "message");
        let group = matches!(event.chat, Chat::Group(_));
        let agents_chat = group && org.is_agents_chat(event.platform, event.chat.id());

        match commands::parse(text) {
            Some(Parsed::Command(c)) => return self.desk.command(event, c, now_ms).await,
            Some(Parsed::Admin(a)) => {
                if let Some(out) = self.desk.admin(event, a, now_ms).await? {
                    return Ok(out);
                }
            }
            Some(Parsed::Partial)
                if org.person(event.platform, &event.sender).is_some()
                    && (agents_chat || !group || text.starts_with(['/', '／'])) =>
            {
                return Ok(vec![reply_to(event, commands::hint(text))]);
            }
            _ => {}
        }

        let key = Key::new(event.platform, &event.chat, &event.sender);
        let context = self
            .dialogue
            .get(&key, now_s, |id| live.catalog.index_of(id));
        let choosing = context.as_ref().is_some_and(|c| !c.candidates.is_empty());
        if !agents_chat
            && !choosing
            && let Some(r) = rating::parse(text)
            && let Some(out) = self.desk.rate(event, r, now_ms).await?
        {
            self.dialogue.clear(&key);
            return Ok(out);
        }

        let addressed = event.mentions_bot || !group;
        // Residents' questions in resident chats feed the console's gap page.
        let resident = !agents_chat && org.person(event.platform, &event.sender).is_none();
        let gaps = resident.then(|| gaps::Recorder {
            store: &self.store,
            event,
            village: match &event.chat {
                Chat::Group(id) => org
                    .village_of_chat(event.platform, id)
                    .map(|v| v.id.clone()),
                Chat::Private(_) => None,
            },
            at: now_ms,
        });
        let mut u = live.matcher.understand(text, addressed);
        if let Some(c) = &context {
            if let Some(picked) = self.pick(&live, c, text, &u) {
                if let Some(g) = &gaps {
                    g.picked(&key);
                }
                u = picked;
            } else if let Some(follow) = self.follow_up(&live, c, text, &u, addressed) {
                u = follow;
            } else if c.item.is_some()
                && gaps::says_wrong(text)
                && let Some(g) = &gaps
            {
                g.unhelpful(c, &live.catalog);
            }
        }

        record_decision(u.decision.name());

        if group && !agents_chat {
            let kinds = privacy::kinds(text);
            if !kinds.is_empty() {
                self.dialogue.clear(&key);
                tracing::info!(platform = ?event.platform, chat = %event.chat.id(),
                    "personal numbers posted in a group; advising to recall");
                let advice = fill(
                    &org.replies.privacy,
                    &[("what", &privacy::describe(&kinds))],
                );
                // The advice promises that an agent will get in touch privately: a ticket makes
                // it true, also for a message not addressed to the bot. Agents and admins posting
                // a number (their own work phone, say) get the advice only.
                if org.person(event.platform, &event.sender).is_some() {
                    return Ok(vec![reply_to(event, advice)]);
                }
                if let Some(g) = &gaps {
                    crate::stats::record(
                        &self.store,
                        event,
                        g.village.as_deref(),
                        &u,
                        &live.catalog,
                        true,
                        now_ms,
                    );
                }
                let item = self.item_id(&live, &u);
                let opened = self
                    .desk
                    .open_ticket(event, item, Vec::new(), Reason::Privacy, &advice, now_ms)
                    .await;
                return Ok(self.told_or_trouble(event, opened));
            }
        }

        if let Some(g) = &gaps {
            crate::stats::record(
                &self.store,
                event,
                g.village.as_deref(),
                &u,
                &live.catalog,
                false,
                now_ms,
            );
        }
        let catalog = &live.catalog;
        let text_out = match u.decision {
            Decision::Ignore => return Ok(Vec::new()),
            Decision::Escalate => {
                self.dialogue.clear(&key);
                if agents_chat {
                    return Ok(vec![reply_to(event, commands::USAGE.into())]);
                }
                let lead = reply::render(&u, &live.catalog, &self.config);
                let reason = match u.reason {
                    Some(EscalateReason::Case) => Reason::Case,
                    Some(EscalateReason::Complaint) => Reason::Complaint,
                    _ => Reason::Uncovered,
                };
                let item = self.item_id(&live, &u);
                if reason == Reason::Uncovered
                    && let Some(g) = &gaps
                {
                    g.uncovered(text, item.clone());
                }
                let candidates = u
                    .candidates
                    .iter()
                    .map(|&i| catalog.items()[i].id.clone())
                    .collect();
                let opened = self
                    .desk
                    .open_ticket(event, item, candidates, reason, &lead, now_ms)
                    .await;
                return Ok(self.told_or_trouble(event, opened));
            }
            Decision::Help | Decision::Thanks => {
                self.dialogue.clear(&key);
                reply::render(&u, &live.catalog, &self.config)
            }
            Decision::Clarify => {
                if let Some(g) = &gaps {
                    let first = u.candidates.first().map(|&i| catalog.items()[i].id.clone());
                    g.asked_back(&key, text, first);
                }
                self.remember(&live, key, None, u.candidates.clone(), text, now_s);
                reply::render(&u, &live.catalog, &self.config)
            }
            Decision::Answer => {
                self.remember(&live, key, u.item, Vec::new(), text, now_s);
                self.answer(&live, event, &u)
            }
        };
        if text_out.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![reply_to(event, text_out)])
    }

    /// Called by the runtime about once a minute: unclaimed tickets climb the ladder, expired
    /// dialogue context is dropped. Returns what to send.
    pub async fn tick(&self, now: SystemTime) -> anyhow::Result<Vec<Outgoing>> {
        let now_ms = unix_ms(now);
        self.dialogue.sweep((now_ms / 1000) as i64);
        self.desk.tick(now_ms).await
    }

    /// Called by the runtime with [`Engine::tick`]: the daily digests due at `now`.
    pub async fn digests(&self, now: SystemTime) -> anyhow::Result<Vec<Outgoing>> {
        self.desk.digests(unix_ms(now)).await
    }

    /// What a ticket's opening announces, or, when the ticket could not be stored, only that
    /// something went wrong: nobody is told of a ticket that is not on disk. A store failure is
    /// logged once by the store itself ([`crate::store::health`]), not here per message.
    fn told_or_trouble(
        &self,
        event: &Incoming,
        opened: anyhow::Result<Vec<Outgoing>>,
    ) -> Vec<Outgoing> {
        match opened {
            Ok(out) => out,
            Err(e) => {
                if e.downcast_ref::<crate::store::StoreError>().is_some() {
                    tracing::debug!(platform = ?event.platform, message = %event.message_id,
                        error = %format!("{e:#}"), "the ticket could not be stored");
                } else {
                    tracing::error!(platform = ?event.platform, message = %event.message_id,
                        error = %format!("{e:#}"), "the ticket could not be opened");
                }
                vec![reply_to(event, self.config.replies.store_failed.clone())]
            }
        }
    }

    fn remember(
        &self,
        live: &Live,
        key: Key,
        item: Option<usize>,
        candidates: Vec<usize>,
        text: &str,
        at: i64,
    ) {
        let context = Context {
            item,
            candidates,
            question: text.to_string(),
            at,
        };
        self.dialogue.set(key, context, |i| {
            live.catalog.items().get(i).map(|x| x.id.clone())
        });
    }

    fn item_id(&self, live: &Live, u: &Understanding) -> Option<String> {
        u.item.map(|i| live.catalog.items()[i].id.clone())
    }

    /// The word residents use for an item, to carry it into a follow-up.
    fn alias(&self, live: &Live, item: usize) -> String {
        let item = &live.catalog.items()[item];
        item.aliases
            .first()
            .cloned()
            .unwrap_or_else(|| reply::short_name(item))
    }

    /// "2" after a clarification: the second item offered, with the aspect first asked about.
    fn pick(
        &self,
        live: &Live,
        c: &Context,
        text: &str,
        u: &Understanding,
    ) -> Option<Understanding> {
        let n = pick_number(text)?;
        let &item = c.candidates.get(n.checked_sub(1)?)?;
        let again = live
            .matcher
            .understand(&format!("{} {}", self.alias(live, item), c.question), true);
        if again.decision == Decision::Answer && again.item == Some(item) {
            return Some(again);
        }
        Some(Understanding {
            decision: Decision::Answer,
            item: Some(item),
            aspect: Some(Aspect::Overview),
            candidates: Vec::new(),
            faq: None,
            reason: None,
            matter: None,
            ..u.clone()
        })
    }

    /// "那要多久？" right after an answer, or "我爸90了" completing the last question: the same
    /// item, read again with the item named. Only for a message about no item of its own that
    /// is not an own case, complaint, greeting or thanks, and only when it then makes a clear
    /// question about the last item.
    fn follow_up(
        &self,
        live: &Live,
        c: &Context,
        text: &str,
        u: &Understanding,
        addressed: bool,
    ) -> Option<Understanding> {
        let item = c.item?;
        let t = &self.config.tuning;
        let own_item = u
            .items
            .first()
            .is_some_and(|x| x.1 >= t.answer_min_prob * 0.6);
        if u.decision == Decision::Answer
            || u.decision == Decision::Clarify
            || own_item
            || u.signals.empty
            || !matches!(u.intent, Intent::Ask | Intent::Chatter | Intent::Offtopic)
            || !(u.signals.question || addressed)
        {
            return None;
        }
        let again = live
            .matcher
            .understand(&format!("{} {}", self.alias(live, item), text), true);
        let same = again
            .items
            .first()
            .is_some_and(|x| x.0 == item && x.1 >= t.answer_min_prob);
        if !same {
            return None;
        }
        if again.decision == Decision::Answer && again.aspect.is_some_and(|a| a != Aspect::Overview)
        {
            return Some(again);
        }
        // A statement completing the question ("我爸90了" after 高龄津贴): whether they qualify.
        (!u.signals.question).then(|| Understanding {
            decision: Decision::Answer,
            item: Some(item),
            aspect: Some(Aspect::Conditions),
            candidates: Vec::new(),
            faq: None,
            reason: None,
            matter: None,
            ..again
        })
    }

    /// The answer, and for "where" the asker's own village station and township centre.
    fn answer(&self, live: &Live, event: &Incoming, u: &Understanding) -> String {
        let config = &self.config;
        let mut text = reply::render(u, &live.catalog, config);
        let (Some(i), Some(Aspect::Place)) = (u.item, u.aspect) else {
            return text;
        };
        let Some(local) = self.nearby(live, event, i) else {
            return text;
        };
        let more = config.replies.more.replace("{item}", &self.alias(live, i));
        match text.rfind(&more) {
            Some(at) => text.insert_str(at, &format!("{local}\n")),
            None => {
                text.push('\n');
                text.push_str(&local);
            }
        }
        text
    }

    /// `离您最近：大湖村便民服务站；庙岭镇便民服务中心（电话：…）` for the levels the item is done at.
    fn nearby(&self, live: &Live, event: &Incoming, item: usize) -> Option<String> {
        let org = &self.config.org;
        let village = match &event.chat {
            Chat::Group(id) => org.village_of_chat(event.platform, id)?,
            Chat::Private(_) => return None,
        };
        let places = &live.catalog.items()[item].places;
        let at = |level| places.iter().any(|p| p.level == level);
        let mut parts = Vec::new();
        if at(PlaceLevel::Village) {
            parts.push(village.station.describe());
        }
        if at(PlaceLevel::Township)
            && let Some(t) = org.township(&village.township)
        {
            parts.push(t.centre.describe());
        }
        (!parts.is_empty()).then(|| fill(&org.replies.nearby, &[("places", &parts.join("；"))]))
    }
}

/// "2", "２", "回复2", "选2", "第二个": the number picked from a list, 1–9.
fn pick_number(text: &str) -> Option<usize> {
    let mut t = text.trim();
    for prefix in ["回复", "选择", "选", "第"] {
        t = t.strip_prefix(prefix).unwrap_or(t).trim_start();
    }
    let t = t.trim_end_matches(|c: char| "个项号。.!！".contains(c) || c.is_whitespace());
    let mut chars = t.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match c {
        '1'..='9' => Some(c as usize - '0' as usize),
        '１'..='９' => Some(c as usize - '１' as usize + 1),
        _ => "一二三四五六七八九"
            .chars()
            .position(|x| x == c)
            .map(|p| p + 1),
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A reply in the chat of `event`, quoting it and (in groups) @-mentioning its sender.
pub fn reply_to(event: &Incoming, text: String) -> Outgoing {
    let group = matches!(event.chat, Chat::Group(_));
    Outgoing::SendText {
        platform: event.platform,
        account: event.account.clone(),
        chat: event.chat.clone(),
        text,
        quote: Some(event.message_id.clone()),
        mention: group.then(|| event.sender.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::pick_number;

    #[test]
    fn picks_as_residents_write_them() {
        assert_eq!(pick_number("2"), Some(2));
        assert_eq!(pick_number(" ３ "), Some(3));
        assert_eq!(pick_number("回复1"), Some(1));
        assert_eq!(pick_number("选2"), Some(2));
        assert_eq!(pick_number("第二个"), Some(2));
        assert_eq!(pick_number("12"), None);
        assert_eq!(pick_number("好的"), None);
    }
}
