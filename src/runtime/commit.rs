//! Group commit: what the event loop answered reaches the delivery worker only once it is on
//! disk, but the event loop does not wait for the disk.
//!
//! The event loop hands each batch's replies here ([`Accept`]) and goes on with the next batch.
//! The committer takes everything handed over so far, queues those messages' replies in the
//! outbox and marks the messages seen, with plain writes (replies first: after a crash the log
//! holds a prefix, so a message is never marked seen without its replies), flushes once for
//! all of it (a flush covers every write made before it starts) and only then passes the
//! messages to the worker. So a reply never leaves before the entry behind it is durable, and
//! a slow disk costs latency, not throughput: while one round runs, the next batches are read
//! and answered, and the next round takes them all. No transaction per message: sled writes its
//! log synchronously twice for every transaction or batch, which capped the bot near 3,000
//! messages a second.
//!
//! The committer runs on a thread of its own, not as a task: sled's writes and syncs block,
//! and under load they held one of the runtime's two workers for up to 25 ms at a time,
//! stalling the connections and the delivery worker behind it.
//!
//! Each round also writes the dialogue contexts changed since the last ([`Persist`]), so they go
//! with the same flush and the event loop never blocks on sled for them.
//!
//! Messages stored elsewhere (tickets, agents' replies, broadcasts) come as [`ToSend`]s already
//! in the outbox.

use super::backlog::{Depths, action_key};
use super::delivery::{Command, ToSend};
use super::metrics::Metrics;
use crate::store::Store;
use crate::store::seen::platform_name;
use bangban_contract::{Incoming, Outgoing};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error};

/// A handled message's replies, not yet stored. Their chats' depths already count them.
pub(crate) struct Accept {
    /// The message as the dedupe store keys it (`events::dedupe_key`).
    pub(crate) key: Incoming,
    pub(crate) parts: Vec<Outgoing>,
    /// Whether each part goes ahead of its chat's queue.
    pub(crate) ahead: Vec<bool>,
}

struct Commit {
    accept: Vec<Accept>,
    queued: Vec<ToSend>,
    /// Told whether the messages were flushed and handed to the worker.
    done: Option<oneshot::Sender<bool>>,
}

pub(crate) struct Committer {
    commits: mpsc::UnboundedSender<Commit>,
    thread: std::thread::JoinHandle<()>,
}

/// Writes what goes with every flush besides the handed-over messages (the engine's dialogue
/// contexts), on the committer's thread.
pub(crate) type Persist = Box<dyn Fn() + Send>;

impl Committer {
    pub(crate) fn spawn(
        store: Store,
        commands: mpsc::UnboundedSender<Command>,
        depths: Arc<Depths>,
        metrics: Arc<Metrics>,
        persist: Persist,
    ) -> Committer {
        let (commits, rx) = mpsc::unbounded_channel();
        let round = Round {
            store,
            commands,
            depths,
            metrics,
            persist,
        };
        // Its own thread: sled's writes and syncs block, and the runtime's few workers must stay
        // free for the connections, the event loop and the delivery worker.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let thread = std::thread::Builder::new()
            .name("bangban-commit".into())
            .spawn(move || {
                let _runtime = runtime.as_ref().map(tokio::runtime::Handle::enter);
                round.run(rx)
            })
            .expect("the committer's thread starts");
        Committer { commits, thread }
    }

    /// Hands over handled messages: they are marked seen, their replies stored, flushed and
    /// passed to the worker in the next round. A message seen before sends nothing.
    pub(crate) fn accept(&self, accept: Vec<Accept>) {
        if !accept.is_empty() {
            let _ = self.commits.send(Commit {
                accept,
                queued: Vec::new(),
                done: None,
            });
        }
    }

    /// Hands over messages already written to the store; they go to the worker after the next
    /// flush.
    pub(crate) fn commit(&self, queued: Vec<ToSend>) {
        if !queued.is_empty() {
            let _ = self.commits.send(Commit {
                accept: Vec::new(),
                queued,
                done: None,
            });
        }
    }

    /// [`Committer::commit`], and waits: whether they were flushed and handed to the worker.
    pub(crate) async fn commit_and_wait(&self, queued: Vec<ToSend>) -> bool {
        if queued.is_empty() {
            return true;
        }
        let (done, flushed) = oneshot::channel();
        let commit = Commit {
            accept: Vec::new(),
            queued,
            done: Some(done),
        };
        self.commits.send(commit).is_ok() && flushed.await.unwrap_or(false)
    }

    /// Waits until everything handed over has been flushed and passed on.
    pub(crate) async fn close(self) {
        drop(self.commits);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// What a round needs: where to store, whom to hand to, what to count.
struct Round {
    store: Store,
    commands: mpsc::UnboundedSender<Command>,
    depths: Arc<Depths>,
    metrics: Arc<Metrics>,
    persist: Persist,
}

impl Round {
    fn run(self, mut commits: mpsc::UnboundedReceiver<Commit>) {
        let mut batch = Vec::new();
        while let Some(first) = commits.blocking_recv() {
            batch.push(first);
            while let Ok(more) = commits.try_recv() {
                batch.push(more);
            }
            self.store_accepted(&mut batch);
            (self.persist)();
            let flushed = match self.store.flush_blocking() {
                Ok(()) => true,
                Err(e) => {
                    let count: usize = batch.iter().map(|c| c.queued.len()).sum();
                    error!(error = %e, count,
                        "could not flush the outbox; these replies wait until the bot restarts");
                    false
                }
            };
            for Commit { queued, done, .. } in batch.drain(..) {
                if flushed {
                    if !queued.is_empty() {
                        let _ = self.commands.send(Command::Queued(queued));
                    }
                } else {
                    // The worker never sees them: their chats have room again.
                    self.forget(queued.iter().map(|q| &q.queued.action));
                }
                if let Some(done) = done {
                    let _ = done.send(flushed);
                }
            }
        }
    }

    /// Queues every handed-over message's replies and marks it seen ([`Store::accept_all`]); the
    /// stored replies join their commit's messages.
    fn store_accepted(&self, batch: &mut [Commit]) {
        let events: Vec<(&Incoming, &[Outgoing])> = batch
            .iter()
            .flat_map(|c| &c.accept)
            .map(|a| (&a.key, a.parts.as_slice()))
            .collect();
        if events.is_empty() {
            return;
        }
        let stored = self.store.accept_all(&events);
        drop(events);
        let mut stored = match stored {
            Ok(stored) => stored.into_iter(),
            Err(e) => {
                let accept: Vec<Accept> =
                    batch.iter_mut().flat_map(|c| c.accept.drain(..)).collect();
                error!(count = accept.len(), error = %e,
                    "could not store the replies; these messages are not answered");
                self.forget(accept.iter().flat_map(|a| &a.parts));
                return;
            }
        };
        for commit in batch {
            for Accept { key, parts, ahead } in commit.accept.drain(..) {
                match stored.next().flatten() {
                    Some(queued) => commit.queued.extend(
                        queued
                            .into_iter()
                            .zip(ahead)
                            .map(|(queued, ahead)| ToSend { queued, ahead }),
                    ),
                    None => {
                        let platform = platform_name(key.platform);
                        self.metrics.inc(
                            "bangban_messages_duplicate_total",
                            &[("platform", platform)],
                        );
                        debug!(platform, account = %key.account,
                            "message seen before; not handled again");
                        self.forget(parts.iter());
                    }
                }
            }
        }
    }

    /// Messages that will not be sent leave their chats' depths.
    fn forget<'a>(&self, actions: impl Iterator<Item = &'a Outgoing>) {
        for action in actions {
            self.depths.remove(&action_key(action));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::{Chat, Incoming, Outgoing, Platform};

    fn reply(n: usize) -> Outgoing {
        Outgoing::SendText {
            platform: Platform::Onebot,
            account: "1".into(),
            chat: Chat::Group("900001".into()),
            text: format!("答复{n}"),
            quote: None,
            mention: None,
        }
    }

    fn stored(store: &Store, depths: &Depths, n: usize) -> Vec<ToSend> {
        let actions: Vec<Outgoing> = (0..n).map(reply).collect();
        depths.add(action_key(&actions[0]), n);
        ToSend::bulk(store.enqueue(&actions).unwrap())
    }

    fn texts(command: Command) -> Vec<String> {
        let Command::Queued(queued) = command else {
            panic!("not a hand-over");
        };
        queued
            .into_iter()
            .map(|q| match q.queued.action {
                Outgoing::SendText { text, .. } => text,
            })
            .collect()
    }

    #[tokio::test]
    async fn messages_reach_the_worker_in_order_after_a_flush_and_never_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let depths = Arc::new(Depths::default());
        let (commands, mut worker) = mpsc::unbounded_channel();
        let committer = Committer::spawn(
            store.clone(),
            commands,
            depths.clone(),
            Arc::new(Metrics::default()),
            Box::new(|| ()),
        );

        committer.commit(stored(&store, &depths, 2));
        assert!(committer.commit_and_wait(stored(&store, &depths, 1)).await);
        assert_eq!(texts(worker.try_recv().unwrap()), ["答复0", "答复1"]);
        assert_eq!(texts(worker.try_recv().unwrap()), ["答复0"]);
        let key = action_key(&reply(0));
        assert_eq!(depths.get(&key), 3);

        // A flush that fails: nothing goes to the worker, and the chat has room again.
        store.inject_write_failure(true);
        assert!(!committer.commit_and_wait(stored(&store, &depths, 2)).await);
        assert!(worker.try_recv().is_err());
        assert_eq!(depths.get(&key), 3);
        store.inject_write_failure(false);

        // Closing waits for what was handed over.
        committer.commit(stored(&store, &depths, 1));
        committer.close().await;
        assert_eq!(texts(worker.try_recv().unwrap()), ["答复0"]);
    }

    fn message(id: &str) -> Incoming {
        Incoming {
            platform: Platform::Onebot,
            account: "1".into(),
            chat: Chat::Group("900001".into()),
            sender: "345".into(),
            sender_name: None,
            message_id: id.into(),
            text: String::new(),
            mentions_bot: true,
            reply_to: None,
        }
    }

    fn accept(depths: &Depths, id: &str, n: usize) -> Accept {
        depths.add(action_key(&reply(0)), n);
        Accept {
            key: message(id),
            parts: (0..n).map(reply).collect(),
            ahead: vec![false; n],
        }
    }

    #[tokio::test]
    async fn handled_messages_are_stored_once_and_a_repeat_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let depths = Arc::new(Depths::default());
        let metrics = Arc::new(Metrics::default());
        let (commands, mut worker) = mpsc::unbounded_channel();
        let committer = Committer::spawn(
            store.clone(),
            commands,
            depths.clone(),
            metrics,
            Box::new(|| ()),
        );

        // "7" twice in one hand-over, and again in a later one.
        committer.accept(vec![accept(&depths, "7", 2), accept(&depths, "7", 1)]);
        committer.accept(vec![accept(&depths, "8", 1)]);
        committer.accept(vec![accept(&depths, "7", 1)]);
        committer.close().await;

        let mut sent = Vec::new();
        while let Ok(command) = worker.try_recv() {
            sent.extend(texts(command));
        }
        assert_eq!(sent, ["答复0", "答复1", "答复0"]);
        // Stored before they were handed on: a restart would send them, and nothing else.
        assert_eq!(store.queued().unwrap().len(), 3);
        // The repeats left their chat's depth.
        assert_eq!(depths.get(&action_key(&reply(0))), 3);
        assert!(store.is_seen(&message("7")).unwrap());
        assert!(store.is_seen(&message("8")).unwrap());
    }
}
