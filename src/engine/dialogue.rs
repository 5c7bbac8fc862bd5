//! Dialogue context per (platform, chat, user): the item just discussed, so that "那要多久？"
//! refers to it, and the list just offered, so that "2" picks from it. Context lasts
//! `[dialogue] context_minutes` from the bot's last answer. It is kept in memory and written
//! through to the store (`store::dialogue`), so it survives a restart; a store error only logs
//! (context is a convenience, never worth failing an answer for).

use crate::store::Store;
use crate::store::dialogue::{SavedContext, context_key};
use bangban_contract::{Chat, Platform};
use std::collections::HashMap;
use std::sync::Mutex;

/// Past this many live contexts, expired ones are swept on insert (tick sweeps them anyway).
const SWEEP_AT: usize = 50_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The item answered last (catalog index).
    pub item: Option<usize>,
    /// The items offered by the last clarification (catalog indexes), in the order shown.
    pub candidates: Vec<usize>,
    /// The message that led to it (for the aspect of a later pick).
    pub question: String,
    /// Unix seconds when it was set.
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    platform: Platform,
    chat: Chat,
    user: String,
}

impl Key {
    pub fn new(platform: Platform, chat: &Chat, user: &str) -> Key {
        Key {
            platform,
            chat: chat.clone(),
            user: user.to_string(),
        }
    }
}

pub struct Dialogue {
    ttl: i64,
    contexts: Mutex<HashMap<Key, Context>>,
    store: Store,
    /// The catalog's item ids by index, to store contexts by id.
    item_ids: Vec<String>,
}

impl Key {
    pub(crate) fn bytes(&self) -> Vec<u8> {
        context_key(self.platform, &self.chat, &self.user)
    }
}

impl Dialogue {
    /// `ttl`: how long context lasts, in seconds.
    pub fn new(ttl: i64, store: Store, item_ids: Vec<String>) -> Dialogue {
        Dialogue {
            ttl,
            contexts: Mutex::new(HashMap::new()),
            store,
            item_ids,
        }
    }

    /// The live context of `key` at `now` (Unix seconds); an expired one is dropped. After a
    /// restart it is read back from the store.
    pub fn get(&self, key: &Key, now: i64) -> Option<Context> {
        let mut map = self.lock();
        let context = match map.get(key) {
            Some(c) => Some(c.clone()),
            None => self.load(key),
        };
        match context {
            Some(c) if now - c.at < self.ttl => {
                map.insert(key.clone(), c.clone());
                Some(c)
            }
            Some(_) => {
                map.remove(key);
                drop(map);
                self.forget(key);
                None
            }
            None => None,
        }
    }

    pub fn set(&self, key: Key, context: Context) {
        let saved = SavedContext {
            item: context.item.and_then(|i| self.item_ids.get(i).cloned()),
            candidates: context
                .candidates
                .iter()
                .filter_map(|&i| self.item_ids.get(i).cloned())
                .collect(),
            question: context.question.clone(),
            at: context.at,
        };
        if let Err(e) = self.store.save_context(&key.bytes(), &saved) {
            tracing::warn!(error = %e, "dialogue context not stored");
        }
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            let (ttl, now) = (self.ttl, context.at);
            map.retain(|_, c| now - c.at < ttl);
        }
        map.insert(key, context);
    }

    pub fn clear(&self, key: &Key) {
        self.lock().remove(key);
        self.forget(key);
    }

    /// Drops every context expired at `now`, in memory and in the store.
    pub fn sweep(&self, now: i64) {
        let ttl = self.ttl;
        self.lock().retain(|_, c| now - c.at < ttl);
        if let Err(e) = self.store.prune_contexts(now - ttl) {
            tracing::warn!(error = %e, "expired dialogue contexts not pruned");
        }
    }

    fn load(&self, key: &Key) -> Option<Context> {
        let saved = match self.store.load_context(&key.bytes()) {
            Ok(s) => s?,
            Err(e) => {
                tracing::warn!(error = %e, "dialogue context not read");
                return None;
            }
        };
        let index = |id: &String| self.item_ids.iter().position(|x| x == id);
        Some(Context {
            item: saved.item.as_ref().and_then(index),
            candidates: saved.candidates.iter().filter_map(index).collect(),
            question: saved.question,
            at: saved.at,
        })
    }

    fn forget(&self, key: &Key) {
        if let Err(e) = self.store.forget_context(&key.bytes()) {
            tracing::warn!(error = %e, "dialogue context not removed");
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Context>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.contexts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        ["a", "b", "c", "d"].map(String::from).to_vec()
    }

    #[test]
    fn context_expires() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dialogue::new(600, Store::open(dir.path()).unwrap(), ids());
        let key = Key::new(Platform::Onebot, &Chat::Group("1".into()), "u");
        let ctx = Context {
            item: Some(3),
            candidates: vec![],
            question: "老年卡要带什么".into(),
            at: 1000,
        };
        d.set(key.clone(), ctx.clone());
        assert_eq!(d.get(&key, 1599), Some(ctx));
        assert_eq!(d.get(&key, 1600), None);
        assert!(d.is_empty());
    }

    #[test]
    fn context_survives_a_restart_by_item_id_and_expires_there_too() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(Platform::Onebot, &Chat::Group("1".into()), "u");
        let ctx = Context {
            item: None,
            candidates: vec![2, 0],
            question: "社保卡的事".into(),
            at: 1000,
        };
        {
            let store = Store::open(dir.path()).unwrap();
            Dialogue::new(600, store, ids()).set(key.clone(), ctx.clone());
        }
        let store = Store::open(dir.path()).unwrap();
        // The catalog gained an item in front: the context still names c and a.
        let moved: Vec<String> = ["z", "a", "b", "c", "d"].map(String::from).to_vec();
        let d = Dialogue::new(600, store.clone(), moved);
        let back = d.get(&key, 1100).expect("read back after the restart");
        assert_eq!(back.candidates, vec![3, 1]);
        assert_eq!(back.question, ctx.question);
        d.sweep(1700);
        assert!(d.is_empty());
        let fresh = Dialogue::new(600, store, ids());
        assert_eq!(fresh.get(&key, 1100), None, "pruned from the store");
    }
}
