//! Storage: the only module that touches sled.
//!
//! One [`Store`] per process, opened once for its whole life. Each concept has its own tree and
//! its own file here (tickets, outbox, seen platform events…). Records are JSON with a schema
//! version (`{"v":1,…}`), so a later release can read what an earlier one wrote; numeric keys are
//! big-endian so that sled's order is numeric order. Anything a resident is told about is flushed
//! (`flush().await`) before they are told.

pub mod audit;
pub mod broadcasts;
pub mod catalog;
pub mod dialogue;
pub mod digests;
pub mod gaps;
pub mod health;
pub mod outbox;
pub mod seen;
pub mod stats;
pub mod tickets;
pub mod users;

use health::Health;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The version written into every record this release stores.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is damaged. The bot refuses to start rather than start empty.
    #[error(
        "the data in {dir} is damaged ({detail}); refusing to start. Restore the latest backup \
         (bangban tickets export keeps the ledger) or move the directory away to start empty"
    )]
    Corrupt { dir: PathBuf, detail: String },
    #[error(
        "the data directory {dir} is in use by another bangban process (sled allows one). Stop it, \
         or run this command through the running bot"
    )]
    Locked { dir: PathBuf },
    #[error("storage error in {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("a stored record in tree {tree} cannot be read: {detail}")]
    Record { tree: String, detail: String },
}

/// The open database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// `None` only while a failing database is being reopened ([`health`]).
    db: RwLock<Option<sled::Db>>,
    health: Arc<Health>,
    /// Test seam: while set, every flush fails as on a full disk.
    fail_writes: AtomicBool,
    /// Questions counted since the last flush, written by the next ([`stats`]).
    questions: std::sync::Mutex<Vec<(String, stats::Question)>>,
    /// Held while questions are written and while a recount reads, so neither sees the other
    /// half done; it keeps the counts not yet added to the counters ([`stats`]).
    question_writes: std::sync::Mutex<stats::Pending>,
    /// How many ids the dedupe store holds: counted when the database is opened, then kept by
    /// the writes that add and remove them ([`seen`]), so the gauge never scans the tree.
    seen: std::sync::atomic::AtomicUsize,
}

/// The tree the recovery probe writes to.
const PROBE_TREE: &str = "health";

/// The last handle going adds the statistics' waiting counts ([`stats`]), so a store closed
/// without the bot's clean stop (the command line, tests) leaves nothing to rebuild.
impl Drop for Store {
    fn drop(&mut self) {
        if Arc::strong_count(&self.inner) == 1 {
            self.settle_questions();
        }
    }
}

impl Store {
    /// Opens (or creates) the data directory. A damaged database is an error, never a fresh start.
    ///
    /// sled releases its directory lock from a background thread a moment after the last handle
    /// of a database is dropped, so a reopen in the same process (a restart of the service, a
    /// test) may briefly find it locked: the lock is tried again for up to a second before
    /// [`StoreError::Locked`] is returned.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let db = open_db(dir)?;
        let seen = seen::count(&db).map_err(|e| classify(dir, e))?;
        let health = Health::new(dir.to_path_buf());
        health.check_disk(true);
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                db: RwLock::new(Some(db)),
                health,
                fail_writes: AtomicBool::new(false),
                questions: std::sync::Mutex::default(),
                question_writes: std::sync::Mutex::default(),
                seen: seen.into(),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether the data directory can be written, and its free space (see [`health`]).
    pub fn health(&self) -> &Arc<Health> {
        &self.inner.health
    }

    /// Test seam: while `on`, every flush fails as it does on a full disk (and so does the
    /// recovery probe); turned off, the store recovers as it does when space returns.
    #[doc(hidden)]
    pub fn inject_write_failure(&self, on: bool) {
        self.inner.fail_writes.store(on, Ordering::SeqCst);
    }

    /// A named tree (one per concept; the names live in the concept's file).
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.current()?.open_tree(name).map_err(|e| self.err(e))
    }

    /// The underlying database, for ids and multi-tree work inside this module.
    pub(crate) fn db(&self) -> Db {
        Db(self.current().ok())
    }

    /// Waits until everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write_questions();
        let result = match self.injected() {
            Some(e) => Err(e),
            None => self
                .current()?
                .flush_async()
                .await
                .map(|_| ())
                .map_err(|e| self.err(e)),
        };
        self.flushed(&result);
        result
    }

    /// [`Store::flush`] for code that is not async (the command line).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.write_questions();
        let result = match self.injected() {
            Some(e) => Err(e),
            None => self.current()?.flush().map(|_| ()).map_err(|e| self.err(e)),
        };
        self.flushed(&result);
        result
    }

    /// A sled error, classified; also marks the store failing (see [`health`]).
    pub(crate) fn err(&self, e: sled::Error) -> StoreError {
        let e = classify(&self.inner.dir, e);
        self.failed(&e);
        e
    }

    fn current(&self) -> Result<sled::Db, StoreError> {
        let db = self
            .inner
            .db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        db.ok_or_else(|| {
            let e = io_error(
                &self.inner.dir,
                std::io::Error::other("the database is being reopened after a failed write"),
            );
            self.failed(&e);
            e
        })
    }

    pub(crate) fn queued_questions(
        &self,
    ) -> std::sync::MutexGuard<'_, Vec<(String, stats::Question)>> {
        self.inner
            .questions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn question_writes(&self) -> std::sync::MutexGuard<'_, stats::Pending> {
        self.inner
            .question_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn injected(&self) -> Option<StoreError> {
        if !self.inner.fail_writes.load(Ordering::SeqCst) {
            return None;
        }
        let e = io_error(
            &self.inner.dir,
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "No space left on device (injected)",
            ),
        );
        self.failed(&e);
        Some(e)
    }

    fn flushed(&self, result: &Result<(), StoreError>) {
        if result.is_ok() {
            self.inner.health.succeeded();
        }
        self.inner.health.check_disk(false);
    }

    /// Marks the store failing; the first failure starts the recovery task.
    fn failed(&self, e: &StoreError) {
        if self.inner.health.failed(&e.to_string()) {
            self.recover_in_background();
        }
    }

    /// While failing, reopens the database and writes a probe every [`health::PROBE_EVERY`],
    /// until one is flushed. Needs a tokio runtime (the service); without one (a command-line
    /// run) nothing is retried. The task holds no handle between tries, so a store dropped
    /// meanwhile (the service stopped) is closed as usual.
    fn recover_in_background(&self) {
        let health = self.inner.health.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !health.start_probing() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(health::PROBE_EVERY).await;
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                let store = Store { inner };
                let done = tokio::task::spawn_blocking(move || store.recover().is_ok())
                    .await
                    .unwrap_or(false);
                if done {
                    break;
                }
            }
            health.stop_probing();
        });
    }

    /// One recovery attempt: sled keeps an I/O error for the life of the open database, so it is
    /// closed and opened again, then a probe is written and flushed.
    fn recover(&self) -> Result<(), StoreError> {
        if let Some(e) = self.injected() {
            return Err(e);
        }
        let inner = &self.inner;
        let old = inner.db.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
        let db = open_db(&inner.dir).inspect_err(|e| self.failed(e))?;
        // Writes not flushed before the failure are gone: count again before anyone writes.
        let seen = seen::count(&db).map_err(|e| self.err(e))?;
        inner.seen.store(seen, std::sync::atomic::Ordering::Relaxed);
        *inner.db.write().unwrap_or_else(|e| e.into_inner()) = Some(db.clone());
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        db.open_tree(PROBE_TREE)
            .and_then(|t| t.insert("probe", &key(stamp)))
            .and_then(|_| db.flush())
            .map_err(|e| self.err(e))?;
        inner.health.succeeded();
        inner.health.check_disk(true);
        Ok(())
    }
}

/// The database as [`Store::db`] gives it: empty while it is being reopened.
pub(crate) struct Db(Option<sled::Db>);

impl Db {
    /// A unique, increasing id (sled's `generate_id`).
    pub(crate) fn generate_id(&self) -> sled::Result<u64> {
        match &self.0 {
            Some(db) => db.generate_id(),
            None => Err(sled::Error::Io(std::io::Error::other(
                "the database is being reopened after a failed write",
            ))),
        }
    }
}

/// sled's page cache. Its default (1 GiB) lets the bot's memory grow with the data directory
/// (131 MiB after a 30,000-question load run); the working set — recent tickets, the outbox,
/// the newest dedupe and statistics records, the dialogue contexts (at most 20,000, a few MiB)
/// — fits well in this, and older pages are read from disk. sled holds about twice the
/// nominal size in memory: under the load bench's flood, 16 MiB took the bot's memory about
/// 15 MiB higher than 8 MiB did.
const CACHE_BYTES: u64 = 10 * 1024 * 1024;

/// Opens sled in `dir`, waiting up to a second for a lock released by a handle just dropped.
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let mut wait = std::time::Duration::from_millis(10);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| classify(dir, e))
        {
            Ok(db) => return Ok(db),
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

fn io_error(dir: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io {
        dir: dir.to_path_buf(),
        source: sled::Error::Io(e),
    }
}

fn classify(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail: e.to_string(),
        },
        sled::Error::Io(ref io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            StoreError::Locked {
                dir: dir.to_path_buf(),
            }
        }
        other => StoreError::Io {
            dir: dir.to_path_buf(),
            source: other,
        },
    }
}

/// Encodes a record with the schema version.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        v: u32,
        #[serde(flatten)]
        record: &'a T,
    }
    serde_json::to_vec(&Envelope {
        v: SCHEMA_VERSION,
        record: value,
    })
    .expect("records serialise")
}

/// Decodes a record written by [`encode`]; a record from a newer schema is an error.
pub(crate) fn decode<T: DeserializeOwned>(tree: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Record {
            tree: tree.into(),
            detail: e.to_string(),
        })?;
    let v = value.get("v").and_then(|v| v.as_u64()).unwrap_or(0);
    if v == 0 || v > SCHEMA_VERSION as u64 {
        return Err(StoreError::Record {
            tree: tree.into(),
            detail: format!("schema version {v}, this release reads 1..={SCHEMA_VERSION}"),
        });
    }
    serde_json::from_value(value).map_err(|e| StoreError::Record {
        tree: tree.into(),
        detail: e.to_string(),
    })
}

/// A big-endian key, so sled's byte order is numeric order.
pub(crate) fn key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct R {
        a: String,
    }

    #[test]
    fn records_carry_their_schema_version() {
        let bytes = encode(&R { a: "x".into() });
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), r#"{"v":1,"a":"x"}"#);
        assert_eq!(decode::<R>("t", &bytes).unwrap(), R { a: "x".into() });
        assert!(decode::<R>("t", br#"{"v":9,"a":"x"}"#).is_err());
        assert!(decode::<R>("t", br#"{"a":"x"}"#).is_err());
        assert!(decode::<R>("t", b"garbage").is_err());
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(key(2) < key(10));
    }

    #[tokio::test]
    async fn reopens_what_was_flushed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .tree("t")
                .unwrap()
                .insert(key(1), encode(&R { a: "y".into() }))
                .unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let got = store.tree("t").unwrap().get(key(1)).unwrap().unwrap();
        assert_eq!(decode::<R>("t", &got).unwrap().a, "y");
    }
}
