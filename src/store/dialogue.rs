//! Dialogue context kept across restarts: per (platform, chat, user), the item just discussed
//! and the list just offered, with the time it was set. Read once at start and written in
//! batches (`engine::dialogue`), not flushed per message: context is a convenience, and a
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
    /// Every stored context, by key; unreadable ones are skipped.
    pub fn stored_contexts(&self) -> Result<Vec<(Vec<u8>, SavedContext)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree(TREE)?.iter() {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            if let Ok(c) = decode::<SavedContext>(TREE, &value) {
                out.push((key.to_vec(), c));
            }
        }
        Ok(out)
    }

    /// Writes contexts (`Some`) and removals (`None`), by key. One by one: each context stands
    /// alone, and a sled batch would cost two synchronous log writes of its own.
    pub fn save_contexts<'a>(
        &self,
        changes: impl IntoIterator<Item = (&'a [u8], Option<&'a SavedContext>)>,
    ) -> Result<(), StoreError> {
        let tree = self.tree(TREE)?;
        for (key, context) in changes {
            match context {
                Some(c) => tree.insert(key, encode(c)).map(drop),
                None => tree.remove(key).map(drop),
            }
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}
