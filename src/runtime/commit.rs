//! Group commit: what the event loop stored reaches the delivery worker only once it is on
//! disk, but the event loop does not wait for the disk.
//!
//! The event loop writes a batch's tickets, outbox entries and dedupe records to sled, then
//! hands the batch's messages here and goes on with the next batch. This task takes every batch
//! handed over so far, flushes once for all of them (a flush covers every write made before it
//! starts) and only then passes their messages to the worker. So a reply never leaves before the
//! ticket or entry behind it is durable, and a slow disk costs latency, not throughput: while
//! one flush runs, the next batches are read and answered, and the next flush takes them all.

use super::backlog::{Depths, action_key};
use super::delivery::{Command, ToSend};
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::error;

struct Commit {
    queued: Vec<ToSend>,
    /// Told whether the messages were flushed and handed to the worker.
    done: Option<oneshot::Sender<bool>>,
}

pub(crate) struct Committer {
    commits: mpsc::UnboundedSender<Commit>,
    task: JoinHandle<()>,
}

impl Committer {
    pub(crate) fn spawn(
        store: Store,
        commands: mpsc::UnboundedSender<Command>,
        depths: Arc<Depths>,
    ) -> Committer {
        let (commits, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(rx, store, commands, depths));
        Committer { commits, task }
    }

    /// Hands over messages already written to the store; they go to the worker after the next
    /// flush.
    pub(crate) fn commit(&self, queued: Vec<ToSend>) {
        if !queued.is_empty() {
            let _ = self.commits.send(Commit { queued, done: None });
        }
    }

    /// [`Committer::commit`], and waits: whether they were flushed and handed to the worker.
    pub(crate) async fn commit_and_wait(&self, queued: Vec<ToSend>) -> bool {
        if queued.is_empty() {
            return true;
        }
        let (done, flushed) = oneshot::channel();
        let commit = Commit {
            queued,
            done: Some(done),
        };
        self.commits.send(commit).is_ok() && flushed.await.unwrap_or(false)
    }

    /// Waits until everything handed over has been flushed and passed on.
    pub(crate) async fn close(self) {
        drop(self.commits);
        let _ = self.task.await;
    }
}

async fn run(
    mut commits: mpsc::UnboundedReceiver<Commit>,
    store: Store,
    commands: mpsc::UnboundedSender<Command>,
    depths: Arc<Depths>,
) {
    let mut batch = Vec::new();
    while commits.recv_many(&mut batch, usize::MAX).await > 0 {
        let flushed = match store.flush().await {
            Ok(()) => true,
            Err(e) => {
                let count: usize = batch.iter().map(|c| c.queued.len()).sum();
                error!(error = %e, count,
                    "could not flush the outbox; these replies wait until the bot restarts");
                false
            }
        };
        for Commit { queued, done } in batch.drain(..) {
            if flushed {
                let _ = commands.send(Command::Queued(queued));
            } else {
                // The worker never sees them: their chats have room again.
                for q in &queued {
                    depths.remove(&action_key(&q.queued.action));
                }
            }
            if let Some(done) = done {
                let _ = done.send(flushed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangban_contract::{Chat, Outgoing, Platform};

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
        let committer = Committer::spawn(store.clone(), commands, depths.clone());

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
}
