//! Storage: the only module that touches sled.
//!
//! One [`Store`] per process, opened once for its whole life. Each concept has its own tree and
//! its own file here (tickets, outbox, seen platform events…). Records are JSON with a schema
//! version (`{"v":1,…}`), so a later release can read what an earlier one wrote; numeric keys are
//! big-endian so that sled's order is numeric order. Anything a resident is told about is flushed
//! (`flush().await`) before they are told.

pub mod audit;
pub mod catalog;
pub mod dialogue;
pub mod gaps;
pub mod outbox;
pub mod seen;
pub mod tickets;
pub mod users;

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

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
    db: sled::Db,
    dir: PathBuf,
}

impl Store {
    /// Opens (or creates) the data directory. A damaged database is an error, never a fresh start.
    ///
    /// sled releases its directory lock from a background thread a moment after the last handle
    /// of a database is dropped, so a reopen in the same process (a restart of the service, a
    /// test) may briefly find it locked: the lock is tried again for up to a second before
    /// [`StoreError::Locked`] is returned.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let mut wait = std::time::Duration::from_millis(10);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match sled::Config::new()
                .path(dir)
                .open()
                .map_err(|e| classify(dir, e))
            {
                Ok(db) => {
                    return Ok(Store {
                        db,
                        dir: dir.to_path_buf(),
                    });
                }
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A named tree (one per concept; the names live in the concept's file).
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(name).map_err(|e| self.err(e))
    }

    /// The underlying database, for multi-tree transactions inside this module.
    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Waits until everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// [`Store::flush`] for code that is not async (the command line).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    pub(crate) fn err(&self, e: sled::Error) -> StoreError {
        classify(&self.dir, e)
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
