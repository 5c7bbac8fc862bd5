//! The bot accounts the adapter knows, their links, and whether each can send.
//!
//! An account is up when it has at least one link that can carry actions (a Universal or API
//! WebSocket, or an HTTP API endpoint) and the implementation has not said the QQ account is
//! offline (heartbeat `status.online: false`, lifecycle `disable`). Only transitions are
//! reported, as [`ConnectionChange`]s for the core.

use std::collections::HashMap;
use std::sync::Mutex;

use bangban_contract::{ConnectionChange, ConnectionState, Platform};

use crate::frame::EventFrame;
use crate::link::Link;

#[derive(Default)]
pub(crate) struct Accounts {
    by_id: Mutex<HashMap<String, Account>>,
}

#[derive(Default)]
struct Account {
    /// Most recently attached last: sends use the newest link.
    links: Vec<Link>,
    offline: bool,
    up: bool,
}

impl Account {
    /// Recomputes the state; the change to report, if any.
    fn settle(&mut self, id: &str) -> Option<ConnectionChange> {
        let up = !self.links.is_empty() && !self.offline;
        (up != self.up).then(|| {
            self.up = up;
            ConnectionChange {
                platform: Platform::Onebot,
                account: id.to_owned(),
                state: if up {
                    ConnectionState::Up
                } else {
                    ConnectionState::Down
                },
            }
        })
    }
}

impl Accounts {
    /// A new link for `account`. A new link starts with the account online.
    pub(crate) fn attach(&self, account: &str, link: Link) -> Option<ConnectionChange> {
        self.with(account, |a| {
            a.links.retain(|l| l.id() != link.id());
            a.links.push(link);
            a.offline = false;
        })
    }

    /// The link `link_id` of `account` is gone.
    pub(crate) fn detach(&self, account: &str, link_id: u64) -> Option<ConnectionChange> {
        self.with(account, |a| a.links.retain(|l| l.id() != link_id))
    }

    /// What a heartbeat or lifecycle event says about its account.
    pub(crate) fn on_meta(&self, event: &EventFrame) -> Option<ConnectionChange> {
        let (self_id, online) = match event {
            EventFrame::Heartbeat {
                self_id,
                online: Some(online),
                ..
            } => (self_id.as_deref()?, *online),
            EventFrame::Lifecycle { self_id, sub_type } => match sub_type.as_str() {
                "enable" | "connect" => (self_id.as_deref()?, true),
                "disable" => (self_id.as_deref()?, false),
                _ => return None,
            },
            _ => return None,
        };
        self.with(self_id, |a| a.offline = !online)
    }

    /// The link to send through for `account`: the newest one.
    pub(crate) fn link(&self, account: &str) -> Option<Link> {
        self.lock().get(account)?.links.last().cloned()
    }

    /// The accounts that are up.
    pub(crate) fn connected(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, a)| a.up)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn with(&self, account: &str, change: impl FnOnce(&mut Account)) -> Option<ConnectionChange> {
        let mut accounts = self.lock();
        let entry = accounts.entry(account.to_owned()).or_default();
        change(entry);
        entry.settle(account)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Link;

    fn state(change: Option<ConnectionChange>) -> Option<(String, ConnectionState)> {
        change.map(|c| (c.account, c.state))
    }

    fn heartbeat(online: bool) -> EventFrame {
        EventFrame::Heartbeat {
            self_id: Some("1".into()),
            online: Some(online),
            interval_ms: None,
        }
    }

    #[test]
    fn reports_transitions_only() {
        let accounts = Accounts::default();
        let up = Some(("1".to_owned(), ConnectionState::Up));
        let down = Some(("1".to_owned(), ConnectionState::Down));
        assert_eq!(state(accounts.attach("1", Link::test(10))), up);
        assert_eq!(state(accounts.attach("1", Link::test(11))), None);
        assert_eq!(accounts.link("1").map(|l| l.id()), Some(11));
        assert_eq!(state(accounts.detach("1", 11)), None);
        assert_eq!(accounts.link("1").map(|l| l.id()), Some(10));
        assert_eq!(state(accounts.on_meta(&heartbeat(false))), down);
        assert!(accounts.connected().is_empty());
        assert_eq!(state(accounts.on_meta(&heartbeat(false))), None);
        assert_eq!(state(accounts.on_meta(&heartbeat(true))), up);
        assert_eq!(accounts.connected(), vec!["1".to_owned()]);
        assert_eq!(state(accounts.detach("1", 10)), down);
        assert!(accounts.link("1").is_none());
    }

    #[test]
    fn meta_without_links_is_not_up() {
        let accounts = Accounts::default();
        assert_eq!(state(accounts.on_meta(&heartbeat(true))), None);
        assert!(accounts.connected().is_empty());
    }
}
