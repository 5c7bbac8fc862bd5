//! The questions the guide did not serve (the console's gap page): escalated as outside the
//! guide, asked back and never picked, or answered and then called wrong ("不对", "没用").
//! Stored with residents' numbers already masked. An admin teaches the bot from them or
//! dismisses them; either way they leave the open list but stay stored.

use super::{Store, StoreError, decode, encode, key};
use serde::{Deserialize, Serialize};

const TREE: &str = "gaps";
/// The asked-back gap still open per dialogue (its key → the gap's id), so a later pick
/// resolves it.
const ASKED: &str = "gaps_asked";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// Escalated: the guide does not cover it.
    Uncovered,
    /// Asked back among several items, and the resident never picked one.
    AskedBack,
    /// Answered, and the resident said the answer was wrong or useless.
    Unhelpful,
}

impl GapKind {
    pub fn label(self) -> &'static str {
        match self {
            GapKind::Uncovered => "指南没有",
            GapKind::AskedBack => "反问后没选",
            GapKind::Unhelpful => "答了说不对",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "by", rename_all = "snake_case")]
pub enum GapStatus {
    Open,
    /// Added as example questions of this item.
    Taught(String),
    Dismissed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Unix milliseconds.
    pub at: u64,
    pub platform: String,
    pub village: Option<String>,
    /// The question, residents' numbers masked.
    pub text: String,
    pub kind: GapKind,
    /// The item the bot answered or offered first, if any.
    pub item: Option<String>,
    pub status: GapStatus,
}

impl Store {
    /// Records a gap; its id.
    pub fn record_gap(&self, gap: &Gap) -> Result<u64, StoreError> {
        let id = self.db().generate_id().map_err(|e| self.err(e))?;
        self.tree(TREE)?
            .insert(key(id), encode(gap))
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Records an asked-back gap for dialogue `dialogue`, open until [`Store::picked`].
    pub fn record_asked_back(&self, dialogue: &[u8], gap: &Gap) -> Result<u64, StoreError> {
        let id = self.record_gap(gap)?;
        self.tree(ASKED)?
            .insert(dialogue, &key(id))
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// The resident of `dialogue` picked from the last asking back: that gap is resolved and
    /// removed.
    pub fn picked(&self, dialogue: &[u8]) -> Result<(), StoreError> {
        if let Some(id) = self
            .tree(ASKED)?
            .remove(dialogue)
            .map_err(|e| self.err(e))?
        {
            self.tree(TREE)?.remove(id).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Open gaps since `since` (Unix ms), oldest first, at most `limit`.
    pub fn open_gaps(&self, since: u64, limit: usize) -> Result<Vec<(u64, Gap)>, StoreError> {
        let mut open = Vec::new();
        for entry in self.tree(TREE)?.iter().rev() {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let gap: Gap = decode(TREE, &v)?;
            if gap.at < since || open.len() >= limit {
                break;
            }
            if gap.status == GapStatus::Open {
                open.push((
                    u64::from_be_bytes(k.as_ref().try_into().unwrap_or_default()),
                    gap,
                ));
            }
        }
        open.reverse();
        Ok(open)
    }

    /// Sets the status of the gaps `ids` in one batch (unknown ids are skipped), flushed.
    pub fn set_gap_status(&self, ids: &[u64], status: &GapStatus) -> Result<(), StoreError> {
        let tree = self.tree(TREE)?;
        let mut batch = sled::Batch::default();
        for &id in ids {
            if let Some(v) = tree.get(key(id)).map_err(|e| self.err(e))? {
                let mut gap: Gap = decode(TREE, &v)?;
                gap.status = status.clone();
                batch.insert(&key(id), encode(&gap));
            }
        }
        tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.flush_blocking()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(at: u64, text: &str) -> Gap {
        Gap {
            at,
            platform: "onebot".into(),
            village: Some("v01".into()),
            text: text.into(),
            kind: GapKind::AskedBack,
            item: None,
            status: GapStatus::Open,
        }
    }

    #[test]
    fn a_pick_resolves_the_asking_back_and_status_changes_leave_the_open_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.record_asked_back(b"d1", &gap(1, "办卡")).unwrap();
        let kept = store.record_asked_back(b"d2", &gap(2, "办证")).unwrap();
        let other = store.record_gap(&gap(3, "路灯")).unwrap();
        store.picked(b"d1").unwrap();
        store.picked(b"nobody").unwrap();
        let open: Vec<u64> = store
            .open_gaps(0, 10)
            .unwrap()
            .iter()
            .map(|g| g.0)
            .collect();
        assert_eq!(open, [kept, other]);
        store
            .set_gap_status(&[kept], &GapStatus::Taught("sbk-apply".into()))
            .unwrap();
        let open = store.open_gaps(0, 10).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].1.text, "路灯");
        assert!(store.open_gaps(4, 10).unwrap().is_empty(), "since filters");
    }
}
