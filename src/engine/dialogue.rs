//! Dialogue context per (platform, chat, user): the item just discussed, so that "那要多久？"
//! refers to it, and the list just offered, so that "2" picks from it. Context lasts
//! `[dialogue] context_minutes` from the bot's last answer. It lives in memory: the live
//! contexts are read from the store once at start, and changes are written back in one batch
//! ([`Dialogue::persist`]) before the event loop flushes, so it survives a restart without a
//! store read or write per message. A store error only logs (context is a convenience, never
//! worth failing an answer for).

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

/// Whose context: as stored, `platform \0 g|p:chat \0 user`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new(platform: Platform, chat: &Chat, user: &str) -> Key {
        Key(context_key(platform, chat, user))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Default)]
struct State {
    live: HashMap<Key, Context>,
    /// Changes not yet written to the store: a context, or `None` for a removal.
    unsaved: HashMap<Key, Option<SavedContext>>,
}

pub struct Dialogue {
    ttl: i64,
    state: Mutex<State>,
    store: Store,
    /// The catalog's item ids by index, to store contexts by id.
    item_ids: Vec<String>,
}

impl Dialogue {
    /// `ttl`: how long context lasts, in seconds. The stored contexts are read back (the
    /// expired ones were pruned by the last sweep, or are dropped when next asked for).
    pub fn new(ttl: i64, store: Store, item_ids: Vec<String>) -> Dialogue {
        let d = Dialogue {
            ttl,
            state: Mutex::default(),
            store,
            item_ids,
        };
        match d.store.stored_contexts() {
            Ok(saved) => {
                let mut state = d.lock();
                for (key, c) in saved {
                    let context = d.context_of(c);
                    state.live.insert(Key(key), context);
                }
            }
            Err(e) => tracing::warn!(error = %e, "dialogue contexts not read back"),
        }
        d
    }

    /// The live context of `key` at `now` (Unix seconds); an expired one is dropped.
    pub fn get(&self, key: &Key, now: i64) -> Option<Context> {
        let mut state = self.lock();
        match state.live.get(key) {
            Some(c) if now - c.at < self.ttl => Some(c.clone()),
            Some(_) => {
                state.live.remove(key);
                state.unsaved.insert(key.clone(), None);
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
        let mut state = self.lock();
        if state.live.len() >= SWEEP_AT {
            let (ttl, now) = (self.ttl, context.at);
            state.live.retain(|_, c| now - c.at < ttl);
        }
        state.unsaved.insert(key.clone(), Some(saved));
        state.live.insert(key, context);
    }

    pub fn clear(&self, key: &Key) {
        let mut state = self.lock();
        if state.live.remove(key).is_some() {
            state.unsaved.insert(key.clone(), None);
        }
    }

    /// Writes the changes since the last call to the store, in one batch (not flushed: the
    /// caller's flush makes them durable). On a store error they are kept for the next call.
    pub fn persist(&self) {
        let unsaved = std::mem::take(&mut self.lock().unsaved);
        if unsaved.is_empty() {
            return;
        }
        let changes: Vec<_> = unsaved
            .iter()
            .map(|(k, c)| (k.0.clone(), c.clone()))
            .collect();
        if let Err(e) = self.store.save_contexts(changes) {
            tracing::warn!(error = %e, "dialogue contexts not stored");
            let mut state = self.lock();
            for (k, c) in unsaved {
                // A change made meanwhile is newer: keep it.
                state.unsaved.entry(k).or_insert(c);
            }
        }
    }

    /// Drops every context expired at `now`, in memory and in the store.
    pub fn sweep(&self, now: i64) {
        let ttl = self.ttl;
        {
            let mut state = self.lock();
            state.live.retain(|_, c| now - c.at < ttl);
            state
                .unsaved
                .retain(|_, c| c.as_ref().is_none_or(|c| now - c.at < ttl));
        }
        self.persist();
        if let Err(e) = self.store.prune_contexts(now - ttl) {
            tracing::warn!(error = %e, "expired dialogue contexts not pruned");
        }
    }

    fn context_of(&self, saved: SavedContext) -> Context {
        let index = |id: &String| self.item_ids.iter().position(|x| x == id);
        Context {
            item: saved.item.as_ref().and_then(index),
            candidates: saved.candidates.iter().filter_map(index).collect(),
            question: saved.question,
            at: saved.at,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What was not written yet is written when the engine goes (a restart in-process, tests).
impl Drop for Dialogue {
    fn drop(&mut self) {
        self.persist();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        ["a", "b", "c", "d"].map(String::from).to_vec()
    }

    fn key(user: &str) -> Key {
        Key::new(Platform::Onebot, &Chat::Group("1".into()), user)
    }

    fn context(candidates: Vec<usize>, at: i64) -> Context {
        Context {
            item: None,
            candidates,
            question: "社保卡的事".into(),
            at,
        }
    }

    #[test]
    fn context_expires() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dialogue::new(600, Store::open(dir.path()).unwrap(), ids());
        let ctx = Context {
            item: Some(3),
            ..context(vec![], 1000)
        };
        d.set(key("u"), ctx.clone());
        assert_eq!(d.get(&key("u"), 1599), Some(ctx));
        assert_eq!(d.get(&key("u"), 1600), None);
        assert!(d.is_empty());
    }

    #[test]
    fn context_survives_a_restart_by_item_id_and_expires_there_too() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(vec![2, 0], 1000);
        {
            let store = Store::open(dir.path()).unwrap();
            let d = Dialogue::new(600, store, ids());
            d.set(key("u"), ctx.clone());
            d.set(key("gone"), context(vec![1], 1000));
            d.set(key("unsaved"), context(vec![1], 1000));
            d.clear(&key("gone"));
            d.persist();
            // Set after the last write: written when the dialogue goes.
            d.set(key("late"), context(vec![1], 1001));
        }
        let store = Store::open(dir.path()).unwrap();
        // The catalog gained an item in front: the context still names c and a.
        let moved: Vec<String> = ["z", "a", "b", "c", "d"].map(String::from).to_vec();
        let d = Dialogue::new(600, store.clone(), moved);
        let back = d.get(&key("u"), 1100).expect("read back after the restart");
        assert_eq!(back.candidates, vec![3, 1]);
        assert_eq!(back.question, ctx.question);
        assert_eq!(
            d.get(&key("gone"), 1100),
            None,
            "a cleared context stays gone"
        );
        assert!(d.get(&key("late"), 1100).is_some());
        assert_eq!(d.len(), 3, "u, unsaved and late");
        d.sweep(1700);
        assert!(d.is_empty());
        let fresh = Dialogue::new(600, store.clone(), ids());
        assert!(fresh.is_empty(), "pruned from the store");
        // Read back but expired when asked for.
        d.set(key("u"), context(vec![0], 1000));
        d.persist();
        let again = Dialogue::new(600, store, ids());
        assert_eq!(again.get(&key("u"), 1600), None);
        assert!(again.is_empty());
    }
}
