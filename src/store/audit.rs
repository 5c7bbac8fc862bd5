//! The audit log: every write made through the console, the API or an admin's chat command —
//! who, when, what, from where. Append-only; numbered in order.

use super::{Store, StoreError, decode, encode, key};
use serde::{Deserialize, Serialize};

const TREE: &str = "audit";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix milliseconds.
    pub at: u64,
    pub who: String,
    /// Where from: an IP address, `chat:<platform>`, or `cli`.
    pub from: String,
    /// What was done, e.g. `item.save`, `sign_in.failed`.
    pub action: String,
    /// What it was done to, e.g. an item id.
    pub target: String,
    /// A short description (never a password or a resident's number).
    pub detail: String,
}

impl Store {
    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let id = self.db().generate_id().map_err(|e| self.err(e))?;
        self.tree(TREE)?
            .insert(key(id), encode(entry))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The latest `limit` entries, newest first.
    pub fn audit_latest(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.tree(TREE)?
            .iter()
            .rev()
            .take(limit)
            .map(|e| {
                let (_, v) = e.map_err(|e| self.err(e))?;
                decode(TREE, &v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for n in 0..3 {
            store
                .audit(&AuditEntry {
                    at: n,
                    who: "wang".into(),
                    from: "127.0.0.1".into(),
                    action: "item.save".into(),
                    target: format!("i{n}"),
                    detail: String::new(),
                })
                .unwrap();
        }
        let got = store.audit_latest(2).unwrap();
        assert_eq!(
            got.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            ["i2", "i1"]
        );
    }
}
