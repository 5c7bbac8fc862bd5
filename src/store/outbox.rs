//! The outbox: every message the bot is going to send, stored before it is sent and removed only
//! when the platform confirmed it. After a crash or restart whatever is left is sent.
//!
//! Keys are sled-generated ids, big-endian, so the tree's order is the order messages were
//! queued in. A message the runtime gives up on moves to the `outbox_failed` tree with the reason,
//! so nothing queued disappears unrecorded.
//!
//! Each message has a priority class: replies (to residents, agents' notices) or **bulk** (a
//! broadcast's entries). The delivery worker sends every reply before any bulk entry waiting for
//! the same account. A broadcast's entry also carries its target (broadcast id, group index), so
//! that its delivery status is written in the same transaction that takes it out of the outbox
//! (see [`super::broadcasts`]).

use super::{Store, StoreError, broadcasts, decode, encode, key, seen};
use bangban_contract::{Incoming, Outgoing};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::borrow::Cow;
use std::time::SystemTime;

pub(crate) const TREE: &str = "outbox";
pub(crate) const FAILED_TREE: &str = "outbox_failed";

/// A queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its key in the outbox; later messages have larger ids.
    pub id: u64,
    pub action: Outgoing,
    /// A broadcast's entry: sent only after every reply waiting for the same account.
    pub bulk: bool,
}

/// A message given up on, kept for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    pub id: u64,
    pub action: Outgoing,
    pub reason: String,
}

/// An entry as stored. Borrows the action when written: the committer writes one per reply.
#[derive(Serialize, Deserialize)]
pub(crate) struct Record<'a> {
    action: Cow<'a, Outgoing>,
    queued_ms: u64,
    /// The broadcast target this entry is a part of: it is bulk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    broadcast: Option<broadcasts::TargetKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Store {
    /// Marks `event` seen and queues `actions` (the replies to it) in one transaction. `None`
    /// when the event was already seen: nothing is queued then. Not flushed: call
    /// [`Store::flush`] before sending.
    pub fn accept(
        &self,
        event: &Incoming,
        actions: &[Outgoing],
    ) -> Result<Option<Vec<Queued>>, StoreError> {
        let mut accepted = self.accept_all(&[(event, actions)])?;
        Ok(accepted.pop().flatten())
    }

    /// [`Store::accept`] for a batch of events: each event's queued replies, or `None` for an
    /// event seen before (also earlier in the same batch). The statistics' questions kept since
    /// the last flush are written too ([`super::stats::Stats::record_questions`]).
    ///
    /// The outbox and dedupe records are written without a transaction: a sled transaction
    /// holds a lock that stops every other read and write of the database while it commits, and
    /// at thousands of messages a second that stalled the event loop. The replies are written
    /// before the dedupe record, and the caller (the committer, the only writer of dedupe
    /// records while the bot runs) flushes before sending: after a crash the database holds a
    /// prefix of these writes, so a reply may be stored for a message not marked seen (sent,
    /// and sent again only if the platform delivers the message again), never the reverse.
    pub fn accept_all(
        &self,
        events: &[(&Incoming, &[Outgoing])],
    ) -> Result<Vec<Option<Vec<Queued>>>, StoreError> {
        let seen_tree = self.tree(seen::TREE)?;
        let outbox = self.tree(TREE)?;
        let now = SystemTime::now();
        let seen_value = seen::record(now);
        let err = |e| self.err(e);
        let mut accepted = Vec::with_capacity(events.len());
        for (event, actions) in events {
            let event_key = seen::event_key(event);
            if seen_tree.get(&event_key).map_err(err)?.is_some() {
                accepted.push(None);
                continue;
            }
            let queued = self.number(actions)?;
            for q in &queued {
                outbox
                    .insert(key(q.id), record(&q.action, now))
                    .map_err(err)?;
            }
            self.mark_seen(&seen_tree, event_key, &seen_value)?;
            accepted.push(Some(queued));
        }
        self.write_questions();
        Ok(accepted)
    }

    /// Queues `actions` not tied to an incoming event (ladder notices, agents' replies). Not
    /// flushed: call [`Store::flush`] before sending.
    pub fn enqueue(&self, actions: &[Outgoing]) -> Result<Vec<Queued>, StoreError> {
        let outbox = self.tree(TREE)?;
        let now = SystemTime::now();
        let queued = self.number(actions)?;
        let mut batch = sled::Batch::default();
        for q in &queued {
            batch.insert(&key(q.id), record(&q.action, now));
        }
        outbox.apply_batch(batch).map_err(|e| self.err(e))?;
        Ok(queued)
    }

    /// Everything queued and not yet confirmed, oldest first.
    pub fn queued(&self) -> Result<Vec<Queued>, StoreError> {
        self.tree(TREE)?
            .iter()
            .map(|entry| {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                let r: Record = decode(TREE, &v)?;
                Ok(Queued {
                    id: id_of(&k),
                    bulk: r.broadcast.is_some(),
                    action: r.action.into_owned(),
                })
            })
            .collect()
    }

    /// How many messages are queued.
    pub fn queued_len(&self) -> Result<usize, StoreError> {
        Ok(self.tree(TREE)?.len())
    }

    /// The platform confirmed `q`: it leaves the outbox. (sled flushes on its own
    /// within half a second; a crash before that sends the message once more.)
    ///
    /// A reply is one plain removal (the worker sends thousands a second); a broadcast's entry
    /// is taken out in one transaction with its target's status.
    pub fn delivered(&self, q: &Queued) -> Result<(), StoreError> {
        let (id, outbox) = (q.id, self.tree(TREE)?);
        if !q.bulk {
            return outbox.remove(key(id)).map(drop).map_err(|e| self.err(e));
        }
        let targets = self.tree(broadcasts::TARGETS_TREE)?;
        let now = seen::now_ms(SystemTime::now());
        let result = (&outbox, &targets).transaction(|(outbox, targets)| {
            let Some(value) = outbox.remove(&key(id))? else {
                return Ok(());
            };
            let r: Record = decode(TREE, &value)
                .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?;
            if let Some(target) = &r.broadcast {
                broadcasts::part_done(targets, target, None, now)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(detail)) => Err(StoreError::Record {
                tree: TREE.into(),
                detail,
            }),
            Err(TransactionError::Storage(e)) => Err(self.err(e)),
        }
    }

    /// Message `id` will not be sent: it moves to the failed tree with `reason`, in one
    /// transaction (with its broadcast target's status, for a broadcast's entry).
    pub fn give_up(&self, id: u64, reason: &str) -> Result<(), StoreError> {
        let outbox = self.tree(TREE)?;
        let failed = self.tree(FAILED_TREE)?;
        let targets = self.tree(broadcasts::TARGETS_TREE)?;
        let now = seen::now_ms(SystemTime::now());
        let result = (&outbox, &failed, &targets).transaction(|(outbox, failed, targets)| {
            let Some(value) = outbox.remove(&key(id))? else {
                return Ok(());
            };
            let mut r: Record = decode(TREE, &value)
                .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?;
            if let Some(target) = &r.broadcast {
                broadcasts::part_done(targets, target, Some(reason), now)?;
            }
            r.reason = Some(reason.to_owned());
            failed.insert(&key(id), encode(&r))?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(detail)) => Err(StoreError::Record {
                tree: TREE.into(),
                detail,
            }),
            Err(TransactionError::Storage(e)) => Err(self.err(e)),
        }
    }

    /// The messages given up on, oldest first.
    pub fn given_up(&self) -> Result<Vec<GivenUp>, StoreError> {
        self.tree(FAILED_TREE)?
            .iter()
            .map(|entry| {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                let r: Record = decode(FAILED_TREE, &v)?;
                Ok(GivenUp {
                    id: id_of(&k),
                    action: r.action.into_owned(),
                    reason: r.reason.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Fresh ids for `actions`, in order.
    fn number(&self, actions: &[Outgoing]) -> Result<Vec<Queued>, StoreError> {
        actions
            .iter()
            .map(|action| {
                Ok(Queued {
                    id: self.db().generate_id().map_err(|e| self.err(e))?,
                    action: action.clone(),
                    bulk: false,
                })
            })
            .collect()
    }
}

fn record(action: &Outgoing, now: SystemTime) -> Vec<u8> {
    encode(&Record {
        action: Cow::Borrowed(action),
        queued_ms: seen::now_ms(now),
        broadcast: None,
        reason: None,
    })
}

/// The stored record of a broadcast's entry (bulk) for `target`.
pub(crate) fn bulk_record(
    action: &Outgoing,
    target: broadcasts::TargetKey,
    now: SystemTime,
) -> Vec<u8> {
    encode(&Record {
        action: Cow::Borrowed(action),
        queued_ms: seen::now_ms(now),
        broadcast: Some(target),
        reason: None,
    })
}

fn id_of(k: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = k.len().min(8);
    bytes[8 - n..].copy_from_slice(&k[k.len() - n..]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::{Chat, Platform};

    fn event(message_id: &str) -> Incoming {
        Incoming {
            platform: Platform::Onebot,
            account: "10001".into(),
            chat: Chat::Group("900001".into()),
            sender: "345".into(),
            sender_name: None,
            message_id: message_id.into(),
            text: "老年卡要带什么".into(),
            mentions_bot: true,
            reply_to: None,
        }
    }

    fn text(t: &str) -> Outgoing {
        Outgoing::SendText {
            platform: Platform::Onebot,
            account: "10001".into(),
            chat: Chat::Group("900001".into()),
            text: t.into(),
            quote: Some("1".into()),
            mention: Some("345".into()),
        }
    }

    #[tokio::test]
    async fn accepted_replies_survive_a_restart_in_order_and_leave_when_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<u64>;
        {
            let store = Store::open(dir.path()).unwrap();
            let queued = store
                .accept(&event("1"), &[text("一"), text("二")])
                .unwrap()
                .unwrap();
            ids = queued.iter().map(|q| q.id).collect();
            assert!(ids[0] < ids[1]);
            // The same event again queues nothing.
            assert_eq!(store.accept(&event("1"), &[text("一")]).unwrap(), None);
            store.enqueue(&[text("三")]).unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let queued = store.queued().unwrap();
        let texts: Vec<_> = queued
            .iter()
            .map(|q| match &q.action {
                Outgoing::SendText { text, .. } => text.as_str(),
            })
            .collect();
        assert_eq!(texts, ["一", "二", "三"]);
        assert_eq!(&queued[..2].iter().map(|q| q.id).collect::<Vec<_>>(), &ids);
        // New ids after a restart stay above the old ones.
        let later = store.enqueue(&[text("四")]).unwrap();
        assert!(later[0].id > queued[2].id);

        store.delivered(&queued[0]).unwrap();
        store
            .give_up(ids[1], "retcode 1400: group_id invalid")
            .unwrap();
        assert_eq!(store.queued_len().unwrap(), 2);
        let failed = store.given_up().unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].id, ids[1]);
        assert_eq!(failed[0].reason, "retcode 1400: group_id invalid");
        // Giving up twice, or a message already delivered, changes nothing.
        store.give_up(ids[0], "late").unwrap();
        assert_eq!(store.given_up().unwrap().len(), 1);
    }
}
