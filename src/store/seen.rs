//! Platform events already handled, for dedupe: an implementation that delivers the same message
//! twice (a retry, a reconnect, HTTP and WebSocket both reporting) gets one answer, across
//! restarts too.
//!
//! Keyed by (platform, bot account, platform message id). An event is marked seen in the same
//! transaction that queues its replies ([`Store::accept`](super::Store::accept)). Entries older
//! than a few days are pruned: implementations reuse message ids after a while.

use super::{Store, StoreError, decode, encode};
use bangban_contract::{Incoming, Platform};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const TREE: &str = "seen";

/// What is stored per seen event.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Seen {
    /// When it was first handled, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
}

/// The platform's name as stored and as shown in metrics.
pub fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Onebot => "onebot",
        Platform::Wecom => "wecom",
        Platform::Qqbot => "qqbot",
        Platform::Telegram => "telegram",
        Platform::Sandbox => "sandbox",
    }
}

/// The dedupe key of an event: platform, account and message id, NUL-separated.
pub(crate) fn event_key(event: &Incoming) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + event.account.len() + event.message_id.len());
    key.extend_from_slice(platform_name(event.platform).as_bytes());
    key.push(0);
    key.extend_from_slice(event.account.as_bytes());
    key.push(0);
    key.extend_from_slice(event.message_id.as_bytes());
    key
}

pub(crate) fn now_ms(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Whether `event` was already handled (marked by [`Store::accept`](super::Store::accept)).
    pub fn is_seen(&self, event: &Incoming) -> Result<bool, StoreError> {
        self.tree(TREE)?
            .contains_key(event_key(event))
            .map_err(|e| self.err(e))
    }

    /// How many events are remembered: no scan, the count is kept as ids are added and pruned
    /// (a scan of the tree once a minute took 35 MiB more memory under a flood).
    pub fn seen_len(&self) -> usize {
        self.inner.seen.load(Ordering::Relaxed)
    }

    /// Marks `key` seen at the time `record` holds (no flush; see [`Store::accept_all`]).
    pub(crate) fn mark_seen(
        &self,
        tree: &sled::Tree,
        key: Vec<u8>,
        record: &[u8],
    ) -> Result<(), StoreError> {
        if tree.insert(key, record).map_err(|e| self.err(e))?.is_none() {
            self.inner.seen.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Forgets events first handled before `before`; how many were forgotten.
    pub fn prune_seen(&self, before: SystemTime) -> Result<usize, StoreError> {
        let tree = self.tree(TREE)?;
        let limit = now_ms(before);
        let mut pruned = 0;
        for entry in tree.iter() {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            // An unreadable entry is old by definition: this release never wrote it.
            let old = decode::<Seen>(TREE, &value).map_or(true, |s| s.at_ms < limit);
            if old && tree.remove(key).map_err(|e| self.err(e))?.is_some() {
                self.inner.seen.fetch_sub(1, Ordering::Relaxed);
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}

/// How many ids the dedupe store of `db` holds (a scan), when it is opened.
pub(crate) fn count(db: &sled::Db) -> sled::Result<usize> {
    Ok(db.open_tree(TREE)?.len())
}

/// The stored value of an event seen at `now`.
pub(crate) fn record(now: SystemTime) -> Vec<u8> {
    encode(&Seen { at_ms: now_ms(now) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::Chat;
    use std::time::Duration;

    fn event(account: &str, message_id: &str) -> Incoming {
        Incoming {
            platform: Platform::Onebot,
            account: account.into(),
            chat: Chat::Group("900001".into()),
            sender: "1".into(),
            sender_name: None,
            message_id: message_id.into(),
            text: "老年卡要带什么".into(),
            mentions_bot: true,
            reply_to: None,
        }
    }

    #[test]
    fn keys_tell_accounts_and_ids_apart() {
        assert_ne!(event_key(&event("1", "23")), event_key(&event("12", "3")));
        assert_eq!(event_key(&event("1", "2")), b"onebot\x001\x002");
    }

    #[tokio::test]
    async fn seen_survives_a_restart_and_old_entries_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let e = event("1", "2");
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.is_seen(&e).unwrap());
            assert_eq!(store.seen_len(), 0);
            assert!(store.accept(&e, &[]).unwrap().is_some());
            assert!(store.accept(&e, &[]).unwrap().is_none());
            assert!(store.accept(&event("1", "3"), &[]).unwrap().is_some());
            assert_eq!(store.seen_len(), 2, "a duplicate is not counted");
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.is_seen(&e).unwrap());
        assert_eq!(store.seen_len(), 2);
        let now = SystemTime::now();
        assert_eq!(
            store.prune_seen(now - Duration::from_secs(3600)).unwrap(),
            0
        );
        assert_eq!(store.prune_seen(now + Duration::from_secs(1)).unwrap(), 2);
        assert!(!store.is_seen(&e).unwrap());
        assert_eq!(store.seen_len(), 0);
    }
}
