//! Dialogue context per (platform, chat, user): the item just discussed, so that "那要多久？"
//! refers to it, and the list just offered, so that "2" picks from it. Context lasts
//! `[dialogue] context_minutes` from the bot's last answer. It lives in memory: the live
//! contexts are read from the store once at start, and a context is written back once it has
//! been left unchanged for [`WRITE_AFTER`], or [`WRITE_AT_LATEST`] after its first unwritten
//! change ([`Dialogue::persist_due`], by the committer before a flush), and at shutdown, so it
//! survives a restart without a store read or write per message. The store
//! holds what memory held a few seconds ago: a stored context dropped from memory (expired, or
//! the oldest when the cap is reached) is removed from the store with the next commit round, so
//! neither grows past the cap and no sweep has to scan the store; one dropped before it was
//! written costs no write at all. A store error only logs (context is a convenience, never
//! worth failing an answer for).

use crate::store::Store;
use crate::store::dialogue::{SavedContext, context_key};
use bangban_contract::{Chat, Platform};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most live contexts kept. Reaching it, expired ones are swept and, if that is not enough,
/// the oldest dropped down to half, so a sweep comes at most once per `MAX_LIVE / 2` new
/// contexts (a sweep per insert made every new resident cost a scan of all of them). A context
/// takes about 240 bytes of memory and its record in the store; 20,000 is many times the
/// residents of a district's groups who ask within one context period, and under a flood of
/// new askers (the load bench's 5,000 a second) 50,000 took 10 MiB more memory.
const MAX_LIVE: usize = 20_000;

/// The most changes one [`Dialogue::persist`] writes: making room forgets `MAX_LIVE / 2`
/// contexts at once, and writing all those removals in one commit round would hold that round's
/// replies until they are written.
const WRITE_AT_MOST: usize = 128;

/// How long a changed context is left unchanged before it is written while the bot runs.
/// Writing each change with the next commit round cost the committer more than any other write
/// under a flood of new askers: every new (group, user) pair a store insert, and its removal
/// seconds later when the cap made room. Held back until the resident pauses, the changes of
/// one exchange coalesce into one write, and a context dropped before then is never written.
/// (Written instead a fixed time after the first change, residents who kept asking had their
/// contexts written every 10 s, all of them in the same second, in waves.) A crash loses the
/// contexts of exchanges still going on, so such a follow-up is asked back once; a clean stop
/// writes everything.
pub const WRITE_AFTER: Duration = Duration::from_secs(10);

/// The longest a change waits while its context keeps changing.
pub const WRITE_AT_LATEST: Duration = Duration::from_secs(60);

/// A context as the engine reads it, against the catalog it answers from now. It is kept by item
/// id: an item created or retired since moves the indexes, never what was discussed.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The item answered last (catalog index).
    pub item: Option<usize>,
    /// The items offered by the last clarification (catalog indexes), in the order shown; an
    /// item retired since is left out.
    pub candidates: Vec<usize>,
    /// The message that led to it (for the aspect of a later pick).
    pub question: String,
    /// Unix seconds when it was set.
    pub at: i64,
}

/// Whose context: as stored, `platform \0 g|p:chat \0 user`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(Box<[u8]>);

impl Key {
    pub fn new(platform: Platform, chat: &Chat, user: &str) -> Key {
        Key(context_key(platform, chat, user).into_boxed_slice())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A [`SavedContext`] as the map holds it, in fewer bytes (up to `MAX_LIVE` of them, about
/// 2 MiB fewer at 20,000): item ids shared with every other context, texts without spare room.
struct Held {
    item: Option<Arc<str>>,
    candidates: Box<[Arc<str>]>,
    question: Box<str>,
    at: i64,
    /// Whether the store holds a version of it: dropping it then needs a removal written.
    stored: bool,
    /// Changed since it was last written: when it first changed (the dialogue's [`Tick`]).
    changed: Option<Tick>,
    /// When it last changed.
    touched: Tick,
}

/// Whole seconds since the dialogue was made.
type Tick = u32;

#[derive(Default)]
struct State {
    live: HashMap<Key, Held>,
    /// Stored contexts dropped from memory, to be removed from the store.
    removed: HashSet<Key>,
    /// Changed contexts old enough to be written, as the last scan found them.
    due: Vec<Key>,
    /// When `due` was last filled.
    scanned: Option<Tick>,
    /// Every item id a held context names, once.
    ids: HashSet<Arc<str>>,
}

impl State {
    fn hold(
        &mut self,
        c: &SavedContext,
        stored: bool,
        changed: Option<Tick>,
        touched: Tick,
    ) -> Held {
        let mut id = |id: &str| match self.ids.get(id) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = id.into();
                self.ids.insert(shared.clone());
                shared
            }
        };
        Held {
            item: c.item.as_deref().map(&mut id),
            candidates: c.candidates.iter().map(|c| id(c)).collect(),
            question: c.question.as_str().into(),
            at: c.at,
            stored,
            changed,
            touched,
        }
    }

    /// `held`, just taken out of `live`, is gone: from the store too, if it is there.
    fn gone(&mut self, key: Key, held: &Held) {
        if held.stored {
            self.removed.insert(key);
        }
    }

    /// Takes up to [`WRITE_AT_MOST`] changes to write: removals first, then the changed
    /// contexts that are due (`due_only`) or any. The contexts taken count as written.
    fn take(&mut self, due_only: bool) -> Vec<(Key, Option<SavedContext>)> {
        let mut batch: Vec<(Key, Option<SavedContext>)> = Vec::new();
        while batch.len() < WRITE_AT_MOST {
            let Some(key) = self.removed.iter().next().cloned() else {
                break;
            };
            self.removed.remove(&key);
            batch.push((key, None));
        }
        let room = WRITE_AT_MOST - batch.len();
        let keys: Vec<Key> = if due_only {
            let from = self.due.len().saturating_sub(room);
            self.due.drain(from..).collect()
        } else {
            let changed = self.live.iter().filter(|(_, h)| h.changed.is_some());
            changed.map(|(k, _)| k.clone()).take(room).collect()
        };
        for key in keys {
            if let Some(held) = self.live.get_mut(&key).filter(|h| h.changed.is_some()) {
                held.changed = None;
                held.stored = true;
                batch.push((key, Some(held.saved())));
            }
        }
        batch
    }

    /// A batch that could not be written is changed again as of `tick`.
    fn put_back(&mut self, batch: Vec<(Key, Option<SavedContext>)>, tick: Tick) {
        for (key, c) in batch {
            match (self.live.get_mut(&key), c) {
                (Some(held), Some(_)) => {
                    held.changed.get_or_insert(tick);
                    held.touched = tick;
                }
                (None, None) => {
                    self.removed.insert(key);
                }
                // Set again meanwhile: the store still has the old version, which its write
                // will replace.
                (Some(held), None) => held.stored = true,
                // Dropped meanwhile: it counted as stored, so its removal is queued.
                (None, Some(_)) => {}
            }
        }
    }

    fn left(&self) -> bool {
        !self.removed.is_empty() || self.live.values().any(|h| h.changed.is_some())
    }

    /// Drops the contexts set before `expired`, then the oldest until at most `MAX_LIVE / 2`
    /// are left.
    fn make_room(&mut self, expired: i64) {
        let mut ats: Vec<i64> = self.live.values().map(|c| c.at).collect();
        let keep = MAX_LIVE / 2;
        let cutoff = if ats.len() > keep {
            let drop = ats.len() - keep;
            let (_, &mut nth, _) = ats.select_nth_unstable(drop);
            nth.max(expired)
        } else {
            expired
        };
        self.forget(|c| c.at < cutoff);
    }

    /// Drops the contexts `gone` picks from memory, and from the store with the next write.
    fn forget(&mut self, mut gone: impl FnMut(&Held) -> bool) {
        let gone: Vec<(Key, Held)> = self.live.extract_if(|_, c| gone(c)).collect();
        for (key, held) in gone {
            self.gone(key, &held);
        }
    }
}

impl Held {
    fn saved(&self) -> SavedContext {
        SavedContext {
            item: self.item.as_deref().map(String::from),
            candidates: self.candidates.iter().map(|c| c.to_string()).collect(),
            question: self.question.to_string(),
            at: self.at,
        }
    }
}

pub struct Dialogue {
    ttl: i64,
    state: Mutex<State>,
    store: Store,
    /// Tick 0.
    started: Instant,
}

impl Dialogue {
    /// `ttl`: how long context lasts, in seconds. The stored contexts are read back, the
    /// newest `MAX_LIVE` of them if there are more (a data directory of an older release kept
    /// every context until it expired); the expired ones go at the next sweep or when next
    /// asked for.
    pub fn new(ttl: i64, store: Store) -> Dialogue {
        let d = Dialogue {
            ttl,
            state: Mutex::default(),
            store,
            started: Instant::now(),
        };
        match d.store.stored_contexts() {
            Ok(saved) => {
                let mut state = d.lock();
                for (key, c) in saved {
                    let held = state.hold(&c, true, None, 0);
                    state.live.insert(Key(key.into_boxed_slice()), held);
                }
                if state.live.len() > MAX_LIVE {
                    state.make_room(i64::MIN);
                }
            }
            Err(e) => tracing::warn!(error = %e, "dialogue contexts not read back"),
        }
        d
    }

    /// The live context of `key` at `now` (Unix seconds); an expired one is dropped. `index_of`
    /// finds an item id in the catalog answered from now.
    pub fn get(
        &self,
        key: &Key,
        now: i64,
        index_of: impl Fn(&str) -> Option<usize>,
    ) -> Option<Context> {
        let mut state = self.lock();
        match state.live.get(key) {
            Some(c) if now - c.at < self.ttl => Some(Context {
                item: c.item.as_deref().and_then(&index_of),
                candidates: c.candidates.iter().filter_map(|id| index_of(id)).collect(),
                question: c.question.to_string(),
                at: c.at,
            }),
            Some(_) => {
                if let Some(held) = state.live.remove(key) {
                    state.gone(key.clone(), &held);
                }
                None
            }
            None => None,
        }
    }

    /// Sets the context of `key`; `id_of` names a catalog index by its item id.
    pub fn set(&self, key: Key, context: Context, id_of: impl Fn(usize) -> Option<String>) {
        self.set_at(key, context, id_of, Instant::now());
    }

    fn set_at(
        &self,
        key: Key,
        context: Context,
        id_of: impl Fn(usize) -> Option<String>,
        now: Instant,
    ) {
        let saved = SavedContext {
            item: context.item.and_then(&id_of),
            candidates: context
                .candidates
                .iter()
                .filter_map(|&i| id_of(i))
                .collect(),
            question: context.question,
            at: context.at,
        };
        let mut state = self.lock();
        if state.live.len() >= MAX_LIVE && !state.live.contains_key(&key) {
            state.make_room(saved.at - self.ttl);
        }
        // Still in the store (also if dropped but not yet removed): the write replaces it.
        let old = state.live.get(&key).map(|h| (h.stored, h.changed));
        let removed = state.removed.remove(&key);
        let (stored, changed) = old.unwrap_or((removed, None));
        let tick = self.tick(now);
        let held = state.hold(&saved, stored, Some(changed.unwrap_or(tick)), tick);
        state.live.insert(key, held);
    }

    pub fn clear(&self, key: &Key) {
        let mut state = self.lock();
        if let Some(held) = state.live.remove(key) {
            state.gone(key.clone(), &held);
        }
    }

    fn tick(&self, now: Instant) -> Tick {
        now.saturating_duration_since(self.started).as_secs() as Tick
    }

    /// Writes the removals and the changes due (unchanged for [`WRITE_AFTER`], or first made
    /// [`WRITE_AT_LATEST`] ago), up to [`WRITE_AT_MOST`] (not flushed: the caller's flush makes
    /// them durable); the rest wait for the next call. The committer calls it with every round;
    /// the contexts are scanned for due changes at most once a second.
    pub fn persist_due(&self, now: Instant) {
        let tick = self.tick(now);
        let batch = {
            let mut state = self.lock();
            if state.scanned.is_none_or(|s| tick > s) {
                let since = |t: Tick| Duration::from_secs(tick.saturating_sub(t).into());
                let due = state.live.iter().filter(|(_, h)| {
                    h.changed.is_some_and(|first| {
                        since(h.touched) >= WRITE_AFTER || since(first) >= WRITE_AT_LATEST
                    })
                });
                state.due = due.map(|(k, _)| k.clone()).collect();
                state.scanned = Some(tick);
            }
            state.take(true)
        };
        self.write(batch, tick);
    }

    /// Writes up to [`WRITE_AT_MOST`] of the changes since the last write, however recent (not
    /// flushed); the rest wait for the next call. Whether changes are left to write; on a store
    /// error the batch is kept for the next call, and `false`.
    pub fn persist(&self) -> bool {
        let batch = self.lock().take(false);
        self.write(batch, self.tick(Instant::now())) && self.lock().left()
    }

    /// Whether `batch` (empty: nothing to do) was written.
    fn write(&self, batch: Vec<(Key, Option<SavedContext>)>, tick: Tick) -> bool {
        if batch.is_empty() {
            return false;
        }
        let changes = batch.iter().map(|(k, c)| (k.bytes(), c.as_ref()));
        if let Err(e) = self.store.save_contexts(changes) {
            tracing::warn!(error = %e, "dialogue contexts not stored");
            self.lock().put_back(batch, tick);
            return false;
        }
        true
    }

    /// Writes every change since the last write (at shutdown).
    pub fn persist_all(&self) {
        while self.persist() {}
    }

    /// Drops every context expired at `now`, from memory now and from the store with the next
    /// write.
    pub fn sweep(&self, now: i64) {
        let ttl = self.ttl;
        self.lock().forget(|c| now - c.at >= ttl);
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
        self.persist_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalog's item ids, looked up both ways as the engine does.
    struct Ids(Vec<String>);

    impl Ids {
        fn of(ids: &[&str]) -> Ids {
            Ids(ids.iter().map(|s| s.to_string()).collect())
        }
        fn index(&self) -> impl Fn(&str) -> Option<usize> + '_ {
            |id| self.0.iter().position(|x| x == id)
        }
        fn id(&self) -> impl Fn(usize) -> Option<String> + '_ {
            |i| self.0.get(i).cloned()
        }
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

    /// A dialogue on a fresh store with a long ttl: nothing expires, so only the cap makes room.
    fn lasting() -> (tempfile::TempDir, Store, Dialogue) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Dialogue::new(1_000_000, store.clone());
        (dir, store, d)
    }

    #[test]
    fn many_new_residents_keep_the_newest_contexts_within_the_cap() {
        let ids = Ids::of(&["a"]);
        let (_dir, store, d) = lasting();
        let n = MAX_LIVE + MAX_LIVE / 2;
        for i in 0..n {
            d.set(key(&i.to_string()), context(vec![], i as i64), ids.id());
            assert!(d.len() <= MAX_LIVE);
        }
        // One commit round writes a bounded batch; the rest wait for the next rounds.
        d.persist();
        let written = store.stored_contexts().unwrap().len();
        assert!(written > 0 && written <= WRITE_AT_MOST, "{written}");
        d.persist_all();
        assert!(d.len() > MAX_LIVE / 2);
        let newest = (n - 1).to_string();
        assert!(d.get(&key(&newest), n as i64, ids.index()).is_some());
        assert_eq!(d.get(&key("0"), n as i64, ids.index()), None);
        // The store holds what memory holds: what was dropped is gone from it too.
        let stored = store.stored_contexts().unwrap();
        assert_eq!(stored.len(), d.len());
        let again = Dialogue::new(1_000_000, store.clone());
        assert_eq!(again.len(), d.len());
        assert!(again.get(&key(&newest), n as i64, ids.index()).is_some());
        assert_eq!(again.get(&key("0"), n as i64, ids.index()), None);
    }

    #[test]
    fn contexts_dropped_before_they_were_written_cost_no_write() {
        let ids = Ids::of(&["a"]);
        let (_dir, store, d) = lasting();
        // A flood of new askers between two writes: making room drops contexts never written.
        let n = MAX_LIVE + MAX_LIVE / 2;
        for i in 0..n {
            d.set(key(&i.to_string()), context(vec![], i as i64), ids.id());
        }
        let pending = |d: &Dialogue| {
            let state = d.lock();
            let changed = state.live.values().filter(|h| h.changed.is_some()).count();
            (changed, state.removed.len())
        };
        assert_eq!(pending(&d), (d.len(), 0));
        d.persist_all();
        assert_eq!(store.stored_contexts().unwrap().len(), d.len());
        assert_eq!(pending(&d), (0, 0));
        // Written ones are removed from the store when dropped, and rewritten when changed.
        let live: Vec<Key> = d.lock().live.keys().take(3).cloned().collect();
        d.clear(&live[0]);
        d.clear(&live[1]);
        d.set(live[1].clone(), context(vec![], n as i64), ids.id());
        d.set(live[2].clone(), context(vec![], n as i64), ids.id());
        assert_eq!(pending(&d), (2, 1));
        d.persist_all();
        let stored = store.stored_contexts().unwrap();
        assert_eq!(stored.len(), d.len());
        let set_again = stored.iter().find(|(k, _)| k.as_slice() == live[1].bytes());
        assert_eq!(set_again.map(|(_, c)| c.at), Some(n as i64));
    }

    #[test]
    fn a_change_is_written_once_it_is_old_enough_and_a_removal_with_the_next_round() {
        let ids = Ids::of(&["a"]);
        let (_dir, store, d) = lasting();
        let stored = || store.stored_contexts().unwrap().len();
        let t = d.started;
        let after = |secs: f64| t + WRITE_AFTER + Duration::from_secs_f64(secs);
        d.set(key("first"), context(vec![], 1), ids.id());
        d.persist_due(t + Duration::from_secs(1));
        assert_eq!(stored(), 0, "too recent");
        d.persist_due(after(0.0));
        assert_eq!(stored(), 1);
        // Changed again and dropped before it is old enough: nothing is written for it.
        d.set(key("brief"), context(vec![], 2), ids.id());
        d.clear(&key("brief"));
        // A stored context dropped is removed with the next round, however recent.
        d.clear(&key("first"));
        d.persist_due(after(0.5));
        assert_eq!(stored(), 0);
        // More than one batch due: the next rounds go on writing until none is left.
        for i in 0..WRITE_AT_MOST + 5 {
            d.set(key(&i.to_string()), context(vec![], 3), ids.id());
        }
        d.persist_due(after(1.0) + WRITE_AFTER);
        assert_eq!(stored(), WRITE_AT_MOST);
        d.persist_due(after(1.1) + WRITE_AFTER);
        assert_eq!(stored(), d.len());
    }

    #[test]
    fn a_context_still_changing_waits_for_a_pause_or_at_most_write_at_latest() {
        let ids = Ids::of(&["a"]);
        let (_dir, store, d) = lasting();
        let stored_at = |user: &str| {
            let key = key(user);
            let stored = store.stored_contexts().unwrap();
            stored
                .into_iter()
                .find(|(k, _)| k.as_slice() == key.bytes())
                .map(|(_, c)| c.at)
        };
        let at = |secs: u64| d.started + Duration::from_secs(secs);
        let pause = WRITE_AFTER.as_secs();
        // Asks again after a short while: the first change alone is old enough, not the pause.
        d.set_at(key("pauses"), context(vec![], 1), ids.id(), at(0));
        d.set_at(key("pauses"), context(vec![], 2), ids.id(), at(pause - 2));
        d.persist_due(at(pause));
        assert_eq!(stored_at("pauses"), None);
        d.persist_due(at(2 * pause - 2));
        assert_eq!(
            stored_at("pauses"),
            Some(2),
            "the latest change, once in one write"
        );
        // Keeps asking, never pausing that long: written all the same, WRITE_AT_LATEST after
        // the first change.
        let latest = WRITE_AT_LATEST.as_secs();
        let start = 2 * pause;
        for s in (start..start + latest).step_by(pause as usize - 1) {
            d.set_at(key("busy"), context(vec![], s as i64), ids.id(), at(s));
            d.persist_due(at(s));
            assert_eq!(stored_at("busy"), None, "at {s} s");
        }
        d.persist_due(at(start + latest));
        assert!(stored_at("busy").is_some());
    }

    #[test]
    fn a_store_holding_more_than_the_cap_is_read_back_newest_first_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // As an older release left it: every context kept until it expired.
        let n = MAX_LIVE + 10;
        let saved: Vec<(Key, SavedContext)> = (0..n)
            .map(|i| {
                let c = SavedContext {
                    item: None,
                    candidates: vec!["a".into()],
                    question: "社保卡的事".into(),
                    at: i as i64,
                };
                (key(&i.to_string()), c)
            })
            .collect();
        store
            .save_contexts(saved.iter().map(|(k, c)| (k.bytes(), Some(c))))
            .unwrap();
        let ids = Ids::of(&["a"]);
        let d = Dialogue::new(1_000_000, store.clone());
        assert!(d.len() <= MAX_LIVE);
        let last = (n - 1).to_string();
        assert!(d.get(&key(&last), n as i64, ids.index()).is_some());
        assert_eq!(d.get(&key("0"), n as i64, ids.index()), None);
        d.persist_all();
        assert_eq!(store.stored_contexts().unwrap().len(), d.len());
    }

    #[test]
    fn context_expires() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Ids::of(&["a", "b", "c", "d"]);
        let d = Dialogue::new(600, Store::open(dir.path()).unwrap());
        let ctx = Context {
            item: Some(3),
            ..context(vec![], 1000)
        };
        d.set(key("u"), ctx.clone(), ids.id());
        assert_eq!(d.get(&key("u"), 1599, ids.index()), Some(ctx));
        assert_eq!(d.get(&key("u"), 1600, ids.index()), None);
        assert!(d.is_empty());
    }

    #[test]
    fn an_item_created_or_retired_moves_no_context_to_another_item() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dialogue::new(600, Store::open(dir.path()).unwrap());
        let before = Ids::of(&["a", "b", "c", "d"]);
        let ctx = Context {
            item: Some(3),
            ..context(vec![2, 1], 1000)
        };
        d.set(key("u"), ctx, before.id());
        // "z" created in front and "b" retired: d is now 3, c is 2, b is gone.
        let after = Ids::of(&["z", "a", "c", "d"]);
        let now = d.get(&key("u"), 1100, after.index()).unwrap();
        assert_eq!((now.item, now.candidates), (Some(3), vec![2]));
        // "d" retired as well: the context names no item, and no index past the end.
        let fewer = Ids::of(&["z", "a", "c"]);
        let now = d.get(&key("u"), 1100, fewer.index()).unwrap();
        assert_eq!((now.item, now.candidates), (None, vec![2]));
    }

    #[test]
    fn context_survives_a_restart_by_item_id_and_expires_there_too() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Ids::of(&["a", "b", "c", "d"]);
        let ctx = context(vec![2, 0], 1000);
        {
            let store = Store::open(dir.path()).unwrap();
            let d = Dialogue::new(600, store);
            d.set(key("u"), ctx.clone(), ids.id());
            d.set(key("gone"), context(vec![1], 1000), ids.id());
            d.set(key("unsaved"), context(vec![1], 1000), ids.id());
            d.clear(&key("gone"));
            d.persist();
            // Set after the last write: written when the dialogue goes.
            d.set(key("late"), context(vec![1], 1001), ids.id());
        }
        let store = Store::open(dir.path()).unwrap();
        // The catalog gained an item in front: the context still names c and a.
        let moved = Ids::of(&["z", "a", "b", "c", "d"]);
        let d = Dialogue::new(600, store.clone());
        let back = d
            .get(&key("u"), 1100, moved.index())
            .expect("read back after the restart");
        assert_eq!(back.candidates, vec![3, 1]);
        assert_eq!(back.question, ctx.question);
        assert_eq!(
            d.get(&key("gone"), 1100, moved.index()),
            None,
            "a cleared context stays gone"
        );
        assert!(d.get(&key("late"), 1100, moved.index()).is_some());
        assert_eq!(d.len(), 3, "u, unsaved and late");
        d.sweep(1700);
        assert!(d.is_empty());
        d.persist();
        let fresh = Dialogue::new(600, store.clone());
        assert!(
            fresh.is_empty(),
            "pruned from the store with the next write"
        );
        // Read back but expired when asked for.
        d.set(key("u"), context(vec![0], 1000), ids.id());
        d.persist();
        let again = Dialogue::new(600, store);
        assert_eq!(again.get(&key("u"), 1600, ids.index()), None);
        assert!(again.is_empty());
    }
}
