//! Dialogue context kept across restarts: per (platform, chat, user), the item just discussed
//! and the list just offered, with the time it was set. Written through on every change, not
//! flushed per message (sled flushes within half a second): context is a convenience, and a
//! resident who loses it simply names the item again.

use super::seen::platform_name;
use super::{Store, StoreError, decode, encode};
use bangban_contract::{Chat, Platform};
use serde::{Deserialize, Serialize};

pub(crate) const TREE: &str = "dialogue";

/// A context as stored: items by id, so a catalog edit cannot make it point elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedContext {
    pub item: Option<String>,
    pub candidates: Vec<String>,
    pub question: String,
    /// Unix seconds.
    pub at: i64,
}

/// `platform \0 g|p:chat \0 user`.
pub fn context_key(platform: Platform, chat: &Chat, user: &str) -> Vec<u8> {
    let (kind, id) = match chat {
        Chat::Group(id) => ('g', id),
        Chat::Private(id) => ('p', id),
    };
    format!("{}\0{kind}:{id}\0{user}", platform_name(platform)).into_bytes()
}

impl Store {
    pub fn save_context(&self, key: &[u8], c: &SavedContext) -> Result<(), StoreError> {
        self.tree(TREE)?
            .insert(key, encode(c))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The stored context of `key`; an unreadable one counts as none.
    pub fn load_context(&self, key: &[u8]) -> Result<Option<SavedContext>, StoreError> {
        let value = self.tree(TREE)?.get(key).map_err(|e| self.err(e))?;
        Ok(value.and_then(|v| decode(TREE, &v).ok()))
    }

    pub fn forget_context(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree(TREE)?
            .remove(key)
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Forgets contexts set before `before` (Unix seconds); how many were forgotten.
    pub fn prune_contexts(&self, before: i64) -> Result<usize, StoreError> {
        let tree = self.tree(TREE)?;
        let mut pruned = 0;
        for entry in tree.iter() {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            let old = decode::<SavedContext>(TREE, &value).map_or(true, |c| c.at < before);
            if old {
                tree.remove(key).map_err(|e| self.err(e))?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}
