//! Releasing confirmed broadcasts into the outbox when they are due.
//!
//! A broadcast goes to village groups by platform and group id; the bot account that speaks in
//! each group is the one last heard there, else one that is up on the platform. A broadcast
//! with a group no account can reach yet (its platform has not connected since the start) waits
//! until one is up: it is released whole, in one transaction with its outbox entries (see
//! [`crate::store::broadcasts`]), so a restart neither loses nor repeats a group. Its entries
//! are bulk: the worker sends them after every reply waiting for the same chat or account.

use crate::store::Store;
use crate::store::broadcasts::Entries;
use crate::store::outbox::Queued;
use crate::store::seen::platform_name;
use bangban_contract::{Chat, ConnectionChange, ConnectionState, Incoming, Outgoing, Platform};
use std::collections::{BTreeSet, HashMap, HashSet};
use tracing::{error, info, warn};

/// Which bot accounts can speak where.
#[derive(Default)]
pub(crate) struct Accounts {
    /// (platform, group id) → the account the group's latest message came through.
    heard: HashMap<(Platform, String), String>,
    /// The accounts up, per platform.
    up: HashMap<Platform, BTreeSet<String>>,
    /// Broadcasts already reported as waiting for an account.
    waiting: HashSet<u64>,
}

impl Accounts {
    pub(crate) fn heard(&mut self, m: &Incoming) {
        if let Chat::Group(group) = &m.chat {
            let key = (m.platform, group.clone());
            if self.heard.get(&key) != Some(&m.account) {
                self.heard.insert(key, m.account.clone());
            }
        }
    }

    pub(crate) fn connection(&mut self, c: &ConnectionChange) {
        let up = self.up.entry(c.platform).or_default();
        match c.state {
            ConnectionState::Up => up.insert(c.account.clone()),
            ConnectionState::Down => up.remove(&c.account),
        };
    }

    /// The account for `group` on `platform`: the one last heard there if it is up, else the
    /// first one up.
    fn for_group(&self, platform: Platform, group: &str) -> Option<String> {
        let up = self.up.get(&platform)?;
        match self.heard.get(&(platform, group.to_owned())) {
            Some(a) if up.contains(a) => Some(a.clone()),
            _ => up.first().cloned(),
        }
    }

    /// Releases the broadcasts due at `now_ms` whose groups all have an account; their outbox
    /// entries (not yet flushed). `split` cuts a message to its chat's length.
    pub(crate) fn release_due(
        &mut self,
        store: &Store,
        now_ms: u64,
        split: impl Fn(Outgoing) -> Vec<Outgoing>,
    ) -> Vec<Queued> {
        let due = match store.due_broadcasts(now_ms) {
            Ok((due, _)) => due,
            Err(e) => {
                error!(error = %e, "could not read the broadcasts due");
                return Vec::new();
            }
        };
        let mut queued = Vec::new();
        for b in due {
            let mut entries: Vec<(u32, Entries)> = Vec::with_capacity(b.targets.len());
            let mut missing = None;
            for (index, t) in b.targets.iter().enumerate() {
                let Some(account) = self.for_group(t.platform, &t.chat) else {
                    missing = Some(t.platform);
                    break;
                };
                let action = Outgoing::SendText {
                    platform: t.platform,
                    account,
                    chat: Chat::Group(t.chat.clone()),
                    text: b.text.clone(),
                    quote: None,
                    mention: None,
                };
                entries.push((index as u32, Ok(split(action))));
            }
            if let Some(platform) = missing {
                if self.waiting.insert(b.id) {
                    warn!(
                        broadcast = b.id,
                        platform = platform_name(platform),
                        "a broadcast is due but no bot account is up on a platform it goes to; it waits"
                    );
                }
                continue;
            }
            self.waiting.remove(&b.id);
            match store.release_broadcast(b.id, &entries) {
                Ok(Some(q)) => {
                    info!(
                        broadcast = b.id,
                        groups = b.targets.len(),
                        messages = q.len(),
                        "broadcast released to the outbox"
                    );
                    queued.extend(q);
                }
                Ok(None) => {}
                Err(e) => error!(broadcast = b.id, error = %e, "could not release a broadcast"),
            }
        }
        queued
    }
}
