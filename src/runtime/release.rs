//! Releasing confirmed broadcasts into the outbox when they are due.
//!
//! A broadcast goes to village groups by platform and group id; the bot account that speaks in
//! each group is the one last heard there, else one that is up on the platform. The groups of a
//! platform with no account up yet (not connected since the start) wait until one is; the
//! others go at once. Each release is one transaction with its outbox entries (see
//! [`crate::store::broadcasts`]), so a restart neither loses nor repeats a group. Its entries
//! are bulk: the worker sends them after every reply waiting for the same chat or account.

use crate::config::service::Service;
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

    /// The account for `group` on `platform`: the one last heard there if it is up; else one up
    /// that can reach any group: one that speaks only in reply (it holds the message for the
    /// group's next one: the QQ bot, the WeCom AI bot), since another may not be in the group at
    /// all (a WeCom app sends to private chats only); else the first one up.
    fn for_group(&self, service: &Service, platform: Platform, group: &str) -> Option<String> {
        let up = self.up.get(&platform)?;
        match self.heard.get(&(platform, group.to_owned())) {
            Some(a) if up.contains(a) => Some(a.clone()),
            _ => up
                .iter()
                .find(|a| service.replies_only(platform, a))
                .or_else(|| up.first())
                .cloned(),
        }
    }

    /// Releases the groups of the broadcasts due at `now_ms` whose platform has an account up;
    /// their outbox entries (not yet flushed). The groups of a platform with no account up wait
    /// (the broadcast stays due) until one comes up. `split` cuts a message to its chat's length.
    pub(crate) fn release_due(
        &mut self,
        store: &Store,
        service: &Service,
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
            let released = match store.broadcast_deliveries(b.id, b.targets.len()) {
                Ok(d) => d,
                Err(e) => {
                    error!(broadcast = b.id, error = %e, "could not read a broadcast's deliveries");
                    continue;
                }
            };
            let mut entries: Vec<(u32, Entries)> = Vec::with_capacity(b.targets.len());
            let mut waiting = BTreeSet::new();
            for (index, t) in b.targets.iter().enumerate() {
                if released[index].is_some() {
                    continue;
                }
                let Some(account) = self.for_group(service, t.platform, &t.chat) else {
                    waiting.insert(platform_name(t.platform));
                    continue;
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
            if waiting.is_empty() {
                self.waiting.remove(&b.id);
            } else if self.waiting.insert(b.id) {
                let platforms: Vec<&str> = waiting.into_iter().collect();
                warn!(
                    broadcast = b.id,
                    platforms = platforms.join(","),
                    "a broadcast is due but no bot account is up on a platform it goes to; those groups wait"
                );
            }
            if entries.is_empty() {
                continue;
            }
            match store.release_broadcast(b.id, &entries) {
                Ok(Some(q)) => {
                    info!(
                        broadcast = b.id,
                        groups = entries.len(),
                        of = b.targets.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::broadcasts::{Broadcast, State, Target};

    fn up(accounts: &mut Accounts, platform: Platform, account: &str) {
        accounts.connection(&ConnectionChange {
            platform,
            account: account.into(),
            state: ConnectionState::Up,
        });
    }

    fn target(platform: Platform, chat: &str) -> Target {
        Target {
            village: format!("v{chat}"),
            name: format!("{chat}村"),
            platform,
            chat: chat.into(),
        }
    }

    fn sent_to(queued: &[Queued]) -> Vec<(Platform, String, String)> {
        queued
            .iter()
            .map(|q| {
                let Outgoing::SendText {
                    platform,
                    account,
                    chat: Chat::Group(chat),
                    ..
                } = &q.action
                else {
                    panic!("not a group message: {:?}", q.action);
                };
                (*platform, account.clone(), chat.clone())
            })
            .collect()
    }

    #[tokio::test]
    async fn the_groups_of_a_platform_with_no_account_up_wait_and_the_others_go_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut service = Service::default();
        service.wecom.aibot_id = "aibot".into();
        let b = Broadcast {
            id: 0,
            text: "请在6月30日前完成养老金资格认证。".into(),
            scope: "全部村".into(),
            targets: vec![
                target(Platform::Onebot, "900001"),
                target(Platform::Wecom, "wr01"),
                target(Platform::Onebot, "900002"),
            ],
            created_by: "admin".into(),
            created_ms: 1,
            state: State::Draft,
            due_ms: None,
            confirmed_by: None,
            released_ms: None,
        };
        let id = store.create_broadcast(&b).unwrap();
        store
            .schedule_broadcast(id, 10, "admin")
            .await
            .unwrap()
            .unwrap();
        let mut accounts = Accounts::default();
        let split = |a: Outgoing| vec![a];

        // Nothing is up: nothing goes, the broadcast stays due.
        assert!(accounts.release_due(&store, &service, 10, split).is_empty());
        up(&mut accounts, Platform::Onebot, "123");
        let first = accounts.release_due(&store, &service, 10, split);
        assert_eq!(
            sent_to(&first),
            [
                (Platform::Onebot, "123".into(), "900001".into()),
                (Platform::Onebot, "123".into(), "900002".into())
            ]
        );
        assert_eq!(
            store.broadcast(id).unwrap().unwrap().state,
            State::Scheduled
        );
        // Released groups are not queued again while the WeCom group waits.
        assert!(accounts.release_due(&store, &service, 20, split).is_empty());

        // WeCom comes up with its app first in order: the group goes through the AI bot, which
        // can reach a group (the app sends to private chats only).
        up(&mut accounts, Platform::Wecom, "1000002");
        up(&mut accounts, Platform::Wecom, "aibot");
        let rest = accounts.release_due(&store, &service, 30, split);
        assert_eq!(
            sent_to(&rest),
            [(Platform::Wecom, "aibot".into(), "wr01".into())]
        );
        assert_eq!(store.broadcast(id).unwrap().unwrap().state, State::Released);
        assert!(accounts.release_due(&store, &service, 40, split).is_empty());
        assert_eq!(store.queued().unwrap().len(), 3);
    }
}
