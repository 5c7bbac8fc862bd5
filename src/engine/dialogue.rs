//! Dialogue context per (platform, chat, user): the item just discussed, so that "那要多久？"
//! refers to it, and the list just offered, so that "2" picks from it. Context lasts
//! `[dialogue] context_minutes` from the bot's last answer and lives in memory only: after a
//! restart a resident simply asks again.

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
}

impl Dialogue {
    /// `ttl`: how long context lasts, in seconds.
    pub fn new(ttl: i64) -> Dialogue {
        Dialogue {
            ttl,
            contexts: Mutex::new(HashMap::new()),
        }
    }

    /// The live context of `key` at `now` (Unix seconds); an expired one is dropped.
    pub fn get(&self, key: &Key, now: i64) -> Option<Context> {
        let mut map = self.lock();
        match map.get(key) {
            Some(c) if now - c.at < self.ttl => Some(c.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn set(&self, key: Key, context: Context) {
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            let (ttl, now) = (self.ttl, context.at);
            map.retain(|_, c| now - c.at < ttl);
        }
        map.insert(key, context);
    }

    pub fn clear(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Drops every context expired at `now`.
    pub fn sweep(&self, now: i64) {
        let ttl = self.ttl;
        self.lock().retain(|_, c| now - c.at < ttl);
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

    #[test]
    fn context_expires() {
        let d = Dialogue::new(600);
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
}
