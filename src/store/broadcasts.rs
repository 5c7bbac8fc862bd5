//! Broadcasts (群发通知): a notice an admin sends to many village groups, and its delivery per
//! group.
//!
//! - `broadcasts`: id → the broadcast (text, the groups chosen, who, when, its state).
//! - `broadcasts_due`: (due time, id) → nothing: the confirmed broadcasts not yet released to the
//!   outbox, in the order they are due.
//! - `broadcast_targets`: (id, group index) → that group's delivery (parts queued and sent, the
//!   platform's error). Written when the broadcast is released — in one transaction with its
//!   outbox entries, so a restart neither loses nor repeats a group — and then in the same
//!   transaction that takes each entry out of the outbox (see [`super::outbox`]).

use super::outbox::{Queued, bulk_record};
use super::{Store, StoreError, decode, encode, key, outbox};
use bangban_contract::{Outgoing, Platform};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::time::SystemTime;

pub(crate) const TREE: &str = "broadcasts";
pub(crate) const DUE_TREE: &str = "broadcasts_due";
pub(crate) const TARGETS_TREE: &str = "broadcast_targets";

/// One group of a broadcast: (broadcast id, index in its `targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetKey {
    pub broadcast: u64,
    pub index: u32,
}

impl TargetKey {
    fn bytes(&self) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&key(self.broadcast));
        k[8..].copy_from_slice(&self.index.to_be_bytes());
        k
    }
}

/// A village group a broadcast goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Village id.
    pub village: String,
    /// Village name, as it was when the broadcast was written.
    pub name: String,
    pub platform: Platform,
    /// The group's id on the platform.
    pub chat: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Written, previewed, not confirmed.
    Draft,
    /// Confirmed: released to the outbox at `due_ms`.
    Scheduled,
    /// In the outbox (or delivered): see each target's [`Delivery`].
    Released,
    /// Called off before it was released.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    /// 0 until stored.
    #[serde(default)]
    pub id: u64,
    pub text: String,
    /// The choice of groups, as the admin made it (e.g. "庙岭镇 · QQ").
    pub scope: String,
    pub targets: Vec<Target>,
    pub created_by: String,
    pub created_ms: u64,
    pub state: State,
    /// When it is (or was) to be released; set on confirmation.
    #[serde(default)]
    pub due_ms: Option<u64>,
    #[serde(default)]
    pub confirmed_by: Option<String>,
    #[serde(default)]
    pub released_ms: Option<u64>,
}

/// One group's delivery, once released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Messages the notice was split into for this group (0: none could be queued).
    pub parts: u32,
    /// How many of them the platform confirmed.
    pub sent: u32,
    /// The platform's error (or why it could not be queued): the group did not get it all.
    #[serde(default)]
    pub error: Option<String>,
    /// When it last changed, Unix ms.
    pub at_ms: u64,
}

impl Delivery {
    pub fn is_sent(&self) -> bool {
        self.error.is_none() && self.parts > 0 && self.sent >= self.parts
    }
}

/// Why a state change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("没有这条群发")]
    Unknown,
    #[error("这条群发已经{0}，不能再改")]
    State(&'static str),
}

/// What [`Store::release_broadcast`] queues for one target: its parts, or why it cannot go.
pub type Entries = Result<Vec<Outgoing>, String>;

fn abort<E>(e: StoreError) -> ConflictableTransactionError<E>
where
    E: From<String>,
{
    ConflictableTransactionError::Abort(E::from(e.to_string()))
}

fn state_label(state: State) -> &'static str {
    match state {
        State::Draft => "是草稿",
        State::Scheduled => "确认发送",
        State::Released => "发出",
        State::Cancelled => "取消",
    }
}

fn due_key(due_ms: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&key(due_ms));
    k[8..].copy_from_slice(&key(id));
    k
}

fn u64_of(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[..8]);
    u64::from_be_bytes(b)
}

/// Inside the outbox's transaction: one part of `target` left the outbox, sent (`error` None)
/// or given up.
pub(crate) fn part_done(
    targets: &TransactionalTree,
    target: &TargetKey,
    error: Option<&str>,
    now_ms: u64,
) -> Result<(), UnabortableTransactionError> {
    let k = target.bytes();
    let Some(v) = targets.get(k)? else {
        return Ok(());
    };
    let Ok(mut d) = decode::<Delivery>(TARGETS_TREE, &v) else {
        return Ok(());
    };
    match error {
        None => d.sent += 1,
        Some(e) => {
            d.error.get_or_insert_with(|| e.to_owned());
        }
    }
    d.at_ms = now_ms;
    targets.insert(&k, encode(&d))?;
    Ok(())
}

impl Store {
    /// Stores a new broadcast (as a draft, whatever `b.state` says); its id.
    pub fn create_broadcast(&self, b: &Broadcast) -> Result<u64, StoreError> {
        let id = self.db().generate_id().map_err(|e| self.err(e))?;
        let b = Broadcast {
            id,
            state: State::Draft,
            ..b.clone()
        };
        self.tree(TREE)?
            .insert(key(id), encode(&b))
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    pub fn broadcast(&self, id: u64) -> Result<Option<Broadcast>, StoreError> {
        match self.tree(TREE)?.get(key(id)).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(decode(TREE, &v)?)),
            None => Ok(None),
        }
    }

    /// The latest `limit` broadcasts, newest first.
    pub fn broadcasts(&self, limit: usize) -> Result<Vec<Broadcast>, StoreError> {
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

    /// Confirms draft `id`: it is released to the outbox at `due_ms`. Flushed.
    pub async fn schedule_broadcast(
        &self,
        id: u64,
        due_ms: u64,
        by: &str,
    ) -> Result<Result<Broadcast, Refused>, StoreError> {
        self.change_broadcast(id, |b| {
            if b.state != State::Draft {
                return Err(Refused::State(state_label(b.state)));
            }
            b.state = State::Scheduled;
            b.due_ms = Some(due_ms);
            b.confirmed_by = Some(by.to_owned());
            Ok(())
        })
        .await
    }

    /// Calls off `id` while it is a draft or not yet released. Flushed.
    pub async fn cancel_broadcast(
        &self,
        id: u64,
    ) -> Result<Result<Broadcast, Refused>, StoreError> {
        self.change_broadcast(id, |b| {
            if !matches!(b.state, State::Draft | State::Scheduled) {
                return Err(Refused::State(state_label(b.state)));
            }
            b.state = State::Cancelled;
            Ok(())
        })
        .await
    }

    async fn change_broadcast(
        &self,
        id: u64,
        change: impl Fn(&mut Broadcast) -> Result<(), Refused>,
    ) -> Result<Result<Broadcast, Refused>, StoreError> {
        let tree = self.tree(TREE)?;
        let due = self.tree(DUE_TREE)?;
        let result = (&tree, &due).transaction(|(tree, due)| {
            let Some(v) = tree.get(key(id))? else {
                return Ok(Err(Refused::Unknown));
            };
            let mut b: Broadcast = decode(TREE, &v).map_err(abort::<String>)?;
            let before = b.state;
            if let Err(refused) = change(&mut b) {
                return Ok(Err(refused));
            }
            if let (State::Scheduled, Some(due_ms)) = (before, b.due_ms) {
                due.remove(&due_key(due_ms, id))?;
            }
            if let (State::Scheduled, Some(due_ms)) = (b.state, b.due_ms) {
                due.insert(&due_key(due_ms, id), &[])?;
            }
            tree.insert(&key(id), encode(&b))?;
            Ok(Ok(b))
        });
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(TransactionError::Abort(detail)) => {
                return Err(StoreError::Record {
                    tree: TREE.into(),
                    detail,
                });
            }
            Err(TransactionError::Storage(e)) => return Err(self.err(e)),
        };
        if outcome.is_ok() {
            self.flush().await?;
        }
        Ok(outcome)
    }

    /// The confirmed broadcasts due at `now_ms` and not yet released, oldest due first; and when
    /// the next one not yet due is.
    pub fn due_broadcasts(&self, now_ms: u64) -> Result<(Vec<Broadcast>, Option<u64>), StoreError> {
        let mut due = Vec::new();
        for entry in self.tree(DUE_TREE)?.iter() {
            let (k, _) = entry.map_err(|e| self.err(e))?;
            let at = u64_of(&k[..8]);
            if at > now_ms {
                return Ok((due, Some(at)));
            }
            if let Some(b) = self.broadcast(u64_of(&k[8..]))? {
                due.push(b);
            }
        }
        Ok((due, None))
    }

    /// Releases targets of broadcast `id` to the outbox: for each target given (by index) its
    /// parts as bulk entries, or the reason it cannot go (recorded as its error), all in one
    /// transaction with the broadcast's state. `entries` may be some of the targets (those whose
    /// platform has an account up): the broadcast stays scheduled, and due, until every target
    /// has been released. `None` when it was not scheduled any more (released already, or
    /// cancelled) or a target given was released already: nothing is queued then. Not flushed:
    /// call [`Store::flush`] before sending.
    pub fn release_broadcast(
        &self,
        id: u64,
        entries: &[(u32, Entries)],
    ) -> Result<Option<Vec<Queued>>, StoreError> {
        let tree = self.tree(TREE)?;
        let due = self.tree(DUE_TREE)?;
        let targets = self.tree(TARGETS_TREE)?;
        let outbox = self.tree(outbox::TREE)?;
        let now = SystemTime::now();
        let now_ms = super::seen::now_ms(now);
        let mut queued = Vec::new();
        let mut records = Vec::new();
        for (index, parts) in entries {
            let target = TargetKey {
                broadcast: id,
                index: *index,
            };
            for action in parts.iter().flatten() {
                let q = Queued {
                    id: self.db().generate_id().map_err(|e| self.err(e))?,
                    action: action.clone(),
                    bulk: true,
                };
                records.push((q.id, bulk_record(action, target, now)));
                queued.push(q);
            }
        }
        let result =
            (&tree, &due, &targets, &outbox).transaction(|(tree, due, targets, outbox)| {
                let Some(v) = tree.get(key(id))? else {
                    return Err(ConflictableTransactionError::Abort(None));
                };
                let mut b: Broadcast = decode(TREE, &v).map_err(abort::<Option<String>>)?;
                if b.state != State::Scheduled {
                    return Err(ConflictableTransactionError::Abort(None));
                }
                for (index, parts) in entries {
                    let target = TargetKey {
                        broadcast: id,
                        index: *index,
                    };
                    if targets.get(target.bytes())?.is_some() {
                        return Err(ConflictableTransactionError::Abort(None));
                    }
                    let delivery = match parts {
                        Ok(parts) => Delivery {
                            parts: parts.len() as u32,
                            sent: 0,
                            error: None,
                            at_ms: now_ms,
                        },
                        Err(reason) => Delivery {
                            parts: 0,
                            sent: 0,
                            error: Some(reason.clone()),
                            at_ms: now_ms,
                        },
                    };
                    targets.insert(&target.bytes(), encode(&delivery))?;
                }
                for (id, record) in &records {
                    outbox.insert(&key(*id), record.as_slice())?;
                }
                let mut all = true;
                for index in 0..b.targets.len() as u32 {
                    let target = TargetKey {
                        broadcast: id,
                        index,
                    };
                    all &= targets.get(target.bytes())?.is_some();
                }
                if all {
                    if let Some(due_ms) = b.due_ms {
                        due.remove(&due_key(due_ms, id))?;
                    }
                    b.state = State::Released;
                    b.released_ms = Some(now_ms);
                    tree.insert(&key(id), encode(&b))?;
                }
                Ok(())
            });
        match result {
            Ok(()) => Ok(Some(queued)),
            Err(TransactionError::Abort(None)) => Ok(None),
            Err(TransactionError::Abort(Some(detail))) => Err(StoreError::Record {
                tree: TREE.into(),
                detail,
            }),
            Err(TransactionError::Storage(e)) => Err(self.err(e)),
        }
    }

    /// Each target's delivery by index (`None`: not released yet).
    pub fn broadcast_deliveries(
        &self,
        id: u64,
        targets: usize,
    ) -> Result<Vec<Option<Delivery>>, StoreError> {
        let mut out = vec![None; targets];
        for entry in self.tree(TARGETS_TREE)?.scan_prefix(key(id)) {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let mut index = [0u8; 4];
            index.copy_from_slice(&k[8..12]);
            let index = u32::from_be_bytes(index) as usize;
            if index < out.len() {
                out[index] = Some(decode(TARGETS_TREE, &v)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::Chat;

    fn draft(groups: usize) -> Broadcast {
        Broadcast {
            id: 0,
            text: "请在6月30日前完成养老金资格认证。".into(),
            scope: "全部村".into(),
            targets: (0..groups)
                .map(|i| Target {
                    village: format!("v{i:02}"),
                    name: format!("{i}村"),
                    platform: Platform::Onebot,
                    chat: format!("9000{i:02}"),
                })
                .collect(),
            created_by: "admin".into(),
            created_ms: 1,
            state: State::Scheduled,
            due_ms: None,
            confirmed_by: None,
            released_ms: None,
        }
    }

    fn part(chat: &str, text: &str) -> Outgoing {
        Outgoing::SendText {
            platform: Platform::Onebot,
            account: "1".into(),
            chat: Chat::Group(chat.into()),
            text: text.into(),
            quote: None,
            mention: None,
        }
    }

    #[tokio::test]
    async fn a_release_queues_each_group_once_and_records_each_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let id;
        {
            let store = Store::open(dir.path()).unwrap();
            id = store.create_broadcast(&draft(3)).unwrap();
            assert_eq!(store.broadcast(id).unwrap().unwrap().state, State::Draft);
            // A draft is not due.
            assert!(store.due_broadcasts(u64::MAX).unwrap().0.is_empty());
            store
                .schedule_broadcast(id, 1000, "admin")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                store.schedule_broadcast(id, 1000, "admin").await.unwrap(),
                Err(Refused::State("确认发送"))
            );
            let (due, next) = store.due_broadcasts(999).unwrap();
            assert!(due.is_empty());
            assert_eq!(next, Some(1000));
            let (due, _) = store.due_broadcasts(1000).unwrap();
            assert_eq!(due.len(), 1);

            let entries = [
                (0, Ok(vec![part("900000", "一"), part("900000", "二")])),
                (1, Ok(vec![part("900001", "一")])),
                (2, Err("QQ 没有启用".to_owned())),
            ];
            let queued = store.release_broadcast(id, &entries).unwrap().unwrap();
            assert_eq!(queued.len(), 3);
            assert!(queued.iter().all(|q| q.bulk));
            // Released once only.
            assert_eq!(store.release_broadcast(id, &entries).unwrap(), None);
            assert!(store.due_broadcasts(u64::MAX).unwrap().0.is_empty());
            store.flush().await.unwrap();
            // Group 0's first part sent, group 1's given up.
            store.delivered(&queued[0]).unwrap();
            store.give_up(queued[2].id, "retcode 1400").unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let left = store.queued().unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].bulk, "the class survives a restart");
        let d = store.broadcast_deliveries(id, 3).unwrap();
        let d: Vec<_> = d.into_iter().map(Option::unwrap).collect();
        assert_eq!((d[0].parts, d[0].sent, d[0].is_sent()), (2, 1, false));
        assert_eq!(d[1].error.as_deref(), Some("retcode 1400"));
        assert_eq!(d[2].error.as_deref(), Some("QQ 没有启用"));
        store.delivered(&left[0]).unwrap();
        assert!(
            store.broadcast_deliveries(id, 3).unwrap()[0]
                .as_ref()
                .unwrap()
                .is_sent()
        );
        assert_eq!(
            store.cancel_broadcast(id).await.unwrap(),
            Err(Refused::State("发出"))
        );
    }

    #[tokio::test]
    async fn a_broadcast_released_in_parts_stays_due_until_every_group_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.create_broadcast(&draft(3)).unwrap();
        store
            .schedule_broadcast(id, 5, "admin")
            .await
            .unwrap()
            .unwrap();
        let first = [
            (0, Ok(vec![part("900000", "一")])),
            (2, Ok(vec![part("900002", "一")])),
        ];
        assert_eq!(
            store.release_broadcast(id, &first).unwrap().unwrap().len(),
            2
        );
        let b = store.broadcast(id).unwrap().unwrap();
        assert_eq!((b.state, b.released_ms), (State::Scheduled, None));
        assert_eq!(store.due_broadcasts(u64::MAX).unwrap().0.len(), 1);
        // A group released already is never queued again.
        let again = [(0, Ok(vec![part("900000", "一")])), (1, Ok(vec![]))];
        assert_eq!(store.release_broadcast(id, &again).unwrap(), None);
        assert!(store.broadcast_deliveries(id, 3).unwrap()[1].is_none());
        assert_eq!(store.queued().unwrap().len(), 2);

        let rest = [(1, Ok(vec![part("900001", "一")]))];
        assert_eq!(
            store.release_broadcast(id, &rest).unwrap().unwrap().len(),
            1
        );
        let b = store.broadcast(id).unwrap().unwrap();
        assert_eq!(b.state, State::Released);
        assert!(b.released_ms.is_some());
        assert!(store.due_broadcasts(u64::MAX).unwrap().0.is_empty());
        assert_eq!(store.queued().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_cancelled_broadcast_is_never_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.create_broadcast(&draft(1)).unwrap();
        store
            .schedule_broadcast(id, 5, "admin")
            .await
            .unwrap()
            .unwrap();
        store.cancel_broadcast(id).await.unwrap().unwrap();
        assert!(store.due_broadcasts(u64::MAX).unwrap().0.is_empty());
        let entries = [(0, Ok(vec![part("900000", "一")]))];
        assert_eq!(store.release_broadcast(id, &entries).unwrap(), None);
        assert_eq!(store.queued_len().unwrap(), 0);
    }
}
