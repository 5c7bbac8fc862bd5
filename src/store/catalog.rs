//! The item guide once the bot has started: the first start seeds it from
//! `bot-config/catalog/`, and from then on sled is the truth. Every save is a revision (who,
//! when, note, the whole card), kept for ever, so any revision can be shown, compared and
//! restored. A save names the revision it was made from; a save on a stale revision is refused
//! with the current one, so two admins editing one item never overwrite each other unseen.

use super::{Store, StoreError, decode, encode};
use crate::catalog::Item;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

const CURRENT: &str = "catalog";
const REVISIONS: &str = "catalog_revisions";
const META: &str = "catalog_meta";
const SEEDED: &[u8] = b"seeded";

/// One revision of an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub rev: u64,
    /// Who saved it: a user name, or `seed` for the shipped card.
    pub who: String,
    /// Unix milliseconds.
    pub at: u64,
    pub note: String,
    /// A retired item stays stored but is no longer answered from.
    pub retired: bool,
    pub item: Item,
}

/// A save that was refused because the item changed since the editor loaded it.
#[derive(Debug, Clone)]
pub enum SaveRefused {
    /// `base` is not the current revision: someone else saved in between.
    Stale { current: Box<Revision> },
    /// A new item's id is taken.
    Exists,
    /// The item to change does not exist.
    Unknown,
}

/// What to save.
pub struct Save<'a> {
    pub item: &'a Item,
    /// The revision the edit started from; `None` creates a new item.
    pub base: Option<u64>,
    pub retired: bool,
    pub who: &'a str,
    pub note: &'a str,
    pub at: u64,
}

fn rev_key(id: &str, rev: u64) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&rev.to_be_bytes());
    k
}

impl Store {
    /// Seeds the guide from `items` on the first start; later starts leave it alone. Whether it
    /// seeded.
    pub fn seed_catalog(&self, items: &[Item], at: u64) -> Result<bool, StoreError> {
        let meta = self.tree(META)?;
        if meta.get(SEEDED).map_err(|e| self.err(e))?.is_some() {
            return Ok(false);
        }
        let (current, revisions) = (self.tree(CURRENT)?, self.tree(REVISIONS)?);
        let result: Result<(), TransactionError<()>> =
            (&current, &revisions, &meta).transaction(|(c, r, m)| {
                for item in items {
                    let rev = Revision {
                        rev: 1,
                        who: "seed".into(),
                        at,
                        note: "首次启动时从 bot-config/catalog 导入".into(),
                        retired: false,
                        item: item.clone(),
                    };
                    let bytes = encode(&rev);
                    c.insert(item.id.as_bytes(), bytes.clone())?;
                    r.insert(rev_key(&item.id, 1), bytes)?;
                }
                m.insert(SEEDED, b"1".to_vec())?;
                Ok(())
            });
        result.map_err(|e| self.tx_err(e))?;
        Ok(true)
    }

    /// The current revision of every item, retired ones included, in id order.
    pub fn catalog_current(&self) -> Result<Vec<Revision>, StoreError> {
        self.tree(CURRENT)?
            .iter()
            .map(|e| {
                let (_, v) = e.map_err(|e| self.err(e))?;
                decode(CURRENT, &v)
            })
            .collect()
    }

    /// The current revision of `id`.
    pub fn catalog_item(&self, id: &str) -> Result<Option<Revision>, StoreError> {
        match self.tree(CURRENT)?.get(id).map_err(|e| self.err(e))? {
            Some(v) => decode(CURRENT, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every revision of `id`, oldest first.
    pub fn catalog_revisions(&self, id: &str) -> Result<Vec<Revision>, StoreError> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        self.tree(REVISIONS)?
            .scan_prefix(prefix)
            .map(|e| {
                let (_, v) = e.map_err(|e| self.err(e))?;
                decode(REVISIONS, &v)
            })
            .collect()
    }

    pub fn catalog_revision(&self, id: &str, rev: u64) -> Result<Option<Revision>, StoreError> {
        match self
            .tree(REVISIONS)?
            .get(rev_key(id, rev))
            .map_err(|e| self.err(e))?
        {
            Some(v) => decode(REVISIONS, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Saves a new revision, atomically with the check that `save.base` is still current.
    /// The caller flushes before telling anyone it is saved.
    pub fn save_item(&self, save: &Save<'_>) -> Result<Result<Revision, SaveRefused>, StoreError> {
        Ok(self
            .save_items(std::slice::from_ref(save))?
            .map(|mut revs| revs.remove(0))
            .map_err(|(_, refused)| refused))
    }

    /// Saves several items in one transaction: all of them, or none (then the id refused and
    /// why).
    #[allow(clippy::type_complexity)]
    pub fn save_items(
        &self,
        saves: &[Save<'_>],
    ) -> Result<Result<Vec<Revision>, (String, SaveRefused)>, StoreError> {
        let (current, revisions) = (self.tree(CURRENT)?, self.tree(REVISIONS)?);
        let result = (&current, &revisions).transaction(|(c, r)| {
            let mut out = Vec::with_capacity(saves.len());
            for save in saves {
                let id = save.item.id.as_str();
                let abort =
                    |refused| ConflictableTransactionError::Abort(Ok((id.to_owned(), refused)));
                let now: Option<Revision> = match c.get(id)? {
                    Some(v) => Some(
                        decode(CURRENT, &v)
                            .map_err(|e| ConflictableTransactionError::Abort(Err(e)))?,
                    ),
                    None => None,
                };
                let rev = match (&now, save.base) {
                    (None, None) => 1,
                    (Some(_), None) => return Err(abort(SaveRefused::Exists)),
                    (None, Some(_)) => return Err(abort(SaveRefused::Unknown)),
                    (Some(cur), Some(base)) if cur.rev != base => {
                        return Err(abort(SaveRefused::Stale {
                            current: Box::new(cur.clone()),
                        }));
                    }
                    (Some(cur), Some(_)) => cur.rev + 1,
                };
                let revision = Revision {
                    rev,
                    who: save.who.to_owned(),
                    at: save.at,
                    note: save.note.to_owned(),
                    retired: save.retired,
                    item: save.item.clone(),
                };
                let bytes = encode(&revision);
                c.insert(id.as_bytes(), bytes.clone())?;
                r.insert(rev_key(id, rev), bytes)?;
                out.push(revision);
            }
            Ok(out)
        });
        match result {
            Ok(revs) => Ok(Ok(revs)),
            Err(TransactionError::Abort(Ok(refused))) => Ok(Err(refused)),
            Err(TransactionError::Abort(Err(e))) => Err(e),
            Err(TransactionError::Storage(e)) => Err(self.err(e)),
        }
    }

    fn tx_err(&self, e: TransactionError<()>) -> StoreError {
        match e {
            TransactionError::Storage(e) => self.err(e),
            TransactionError::Abort(()) => StoreError::Record {
                tree: CURRENT.into(),
                detail: "transaction aborted".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, name: &str) -> Item {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/bot-config/catalog/birth-register.toml"
        ))
        .unwrap();
        let mut item: Item = toml::from_str(&text).unwrap();
        item.id = id.into();
        item.name = name.into();
        item
    }

    fn save<'a>(item: &'a Item, base: Option<u64>, who: &'a str) -> Save<'a> {
        Save {
            item,
            base,
            retired: false,
            who,
            note: "",
            at: 1,
        }
    }

    #[test]
    fn seeds_once_then_keeps_what_admins_saved() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = item("a", "甲");
        assert!(store.seed_catalog(std::slice::from_ref(&a), 1).unwrap());
        let edited = item("a", "甲（改）");
        store
            .save_item(&save(&edited, Some(1), "wang"))
            .unwrap()
            .unwrap();
        assert!(!store.seed_catalog(&[a], 2).unwrap());
        let now = store.catalog_item("a").unwrap().unwrap();
        assert_eq!((now.rev, now.item.name.as_str()), (2, "甲（改）"));
        let revs = store.catalog_revisions("a").unwrap();
        assert_eq!(revs.iter().map(|r| r.rev).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(revs[0].who, "seed");
    }

    #[test]
    fn a_save_on_a_stale_revision_is_refused_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.seed_catalog(&[item("a", "甲")], 1).unwrap();
        let first = item("a", "王的改法");
        let second = item("a", "李的改法");
        store
            .save_item(&save(&first, Some(1), "wang"))
            .unwrap()
            .unwrap();
        match store.save_item(&save(&second, Some(1), "li")).unwrap() {
            Err(SaveRefused::Stale { current }) => {
                assert_eq!(current.item.name, "王的改法");
                assert_eq!(current.who, "wang");
            }
            other => panic!("expected a stale refusal, got {other:?}"),
        }
        assert_eq!(
            store.catalog_item("a").unwrap().unwrap().item.name,
            "王的改法"
        );
        assert!(matches!(
            store.save_item(&save(&first, None, "wang")).unwrap(),
            Err(SaveRefused::Exists)
        ));
        assert!(matches!(
            store
                .save_item(&save(&item("zz", "无"), Some(1), "wang"))
                .unwrap(),
            Err(SaveRefused::Unknown)
        ));
    }
}
