//! The sandbox group: an admin talks to the real engine — the same one the platforms use, with
//! its dialogue context and help desk — as a resident of a chosen village, and sees the replies,
//! the decision and item the matcher chose, and any ticket opened. Messages come from the
//! `sandbox` platform, in the village's sandbox group (`sandbox-<village id>`): its tickets are
//! marked as such and kept out of the ledger, and its replies are shown here, never queued.

use super::auth::User;
use crate::config::org::{Org, sandbox_group};
use crate::engine::Engine;
use crate::store::tickets::source_key;
use crate::understand::Decision;
use bangban_contract::{Chat, Incoming, Outgoing, Platform};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many exchanges each admin's sandbox page shows.
const KEEP: usize = 20;

#[derive(Default)]
pub struct Sandbox {
    seq: AtomicU64,
    /// Per user, the latest exchanges, oldest first.
    history: Mutex<HashMap<String, Vec<Exchange>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub village: String,
    pub text: String,
    pub addressed: bool,
    /// What the bot said in the group.
    pub replies: Vec<String>,
    /// What the agents were told (agents' chat or private).
    pub to_agents: Vec<String>,
    pub decision: String,
    /// The decision in Chinese, for the page.
    pub decision_label: &'static str,
    pub item: Option<String>,
    pub item_name: Option<String>,
    pub aspect: Option<String>,
    /// The sandbox ticket opened, if any.
    pub ticket: Option<u64>,
}

impl Sandbox {
    /// Shows what the help desk later tells a sandbox resident (an agent's reply from the
    /// desk, the request to rate) on that admin's sandbox page, as the bot's words in the
    /// village's sandbox group. Messages for the sandbox's agents' chat are not shown.
    pub fn deliver(&self, org: &Org, actions: Vec<Outgoing>) {
        for action in actions {
            let Outgoing::SendText {
                chat: Chat::Group(group),
                text,
                mention: Some(resident),
                ..
            } = action
            else {
                continue;
            };
            let (Some(user), Some(village)) = (
                resident.strip_prefix("console-"),
                group.strip_prefix("sandbox-").and_then(|v| org.village(v)),
            ) else {
                continue;
            };
            self.push(
                user,
                Exchange {
                    village: village.name.clone(),
                    text: String::new(),
                    addressed: false,
                    replies: vec![text],
                    to_agents: Vec::new(),
                    decision: "from_agent".into(),
                    decision_label: "专员回复",
                    item: None,
                    item_name: None,
                    aspect: None,
                    ticket: None,
                },
            );
        }
    }

    fn push(&self, user: &str, exchange: Exchange) {
        let mut h = self.history.lock().expect("sandbox lock");
        let list = h.entry(user.to_owned()).or_default();
        list.push(exchange);
        if list.len() > KEEP {
            list.remove(0);
        }
    }

    pub fn history(&self, user: &str) -> Vec<Exchange> {
        self.history
            .lock()
            .expect("sandbox lock")
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// Says `text` in `village`'s sandbox group as a resident (the admin's own sandbox user).
    pub async fn say(
        &self,
        engine: &Engine,
        user: &User,
        village: &str,
        text: &str,
        addressed: bool,
    ) -> anyhow::Result<Exchange> {
        let org = &engine.config().org;
        let village_name = org
            .village(village)
            .map(|v| v.name.clone())
            .ok_or_else(|| anyhow::anyhow!("unknown village {village}"))?;
        let group = sandbox_group(village);
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let message_id = format!("console-{}-{n}", super::now_ms());
        let event = Incoming {
            platform: Platform::Sandbox,
            account: "sandbox".into(),
            chat: Chat::Group(group.clone()),
            sender: format!("console-{}", user.id),
            sender_name: Some(format!("{}（沙盒）", user.name)),
            message_id: message_id.clone(),
            text: text.to_owned(),
            mentions_bot: addressed,
            reply_to: None,
        };
        let live = engine.guide().load();
        let u = live.matcher.understand(text, addressed);
        let actions = engine.handle(&event).await?;
        let (mut replies, mut to_agents) = (Vec::new(), Vec::new());
        for Outgoing::SendText { chat, text, .. } in actions {
            if chat == Chat::Group(group.clone()) {
                replies.push(text);
            } else {
                to_agents.push(text);
            }
        }
        let ticket = engine
            .store()
            .tickets()?
            .by_source(&source_key(Platform::Sandbox, "sandbox", &message_id))?
            .map(|t| t.id);
        let item = u.item.map(|i| &live.catalog.items()[i]);
        let exchange = Exchange {
            village: village_name,
            text: text.to_owned(),
            addressed,
            replies,
            to_agents,
            decision: u.decision.name().to_owned(),
            decision_label: match u.decision {
                Decision::Answer => "回答",
                Decision::Clarify => "反问",
                Decision::Escalate => "转给专员",
                Decision::Help => "介绍自己",
                Decision::Thanks => "回应感谢",
                Decision::Ignore => "不回话",
            },
            item: item.map(|i| i.id.clone()),
            item_name: item.map(|i| i.name.clone()),
            aspect: u.aspect.map(|a| a.label().to_owned()),
            ticket,
        };
        self.push(&user.id, exchange.clone());
        Ok(exchange)
    }
}
