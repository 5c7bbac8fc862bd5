//! What the rest of the service hands the running event loop: messages decided outside any chat
//! (an agent's reply from the desk page) and the nudge to release the broadcasts due now. They
//! take the same way into the outbox as the engine's replies: the notice policy, splitting to
//! the chat's length, stored and flushed before the delivery worker sees them.

use bangban_contract::Outgoing;
use tokio::sync::{mpsc, oneshot};

pub(crate) enum Post {
    /// Store and send these; answer whether they are durable.
    Actions(Vec<Outgoing>, oneshot::Sender<bool>),
    /// Release the confirmed broadcasts that are due (one was just confirmed for now).
    Broadcasts,
}

/// A handle on the running service's outbox, for the console. Cheap to clone.
#[derive(Clone)]
pub struct Poster(pub(crate) mpsc::UnboundedSender<Post>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("the messages could not be stored in the outbox")]
    NotStored,
    #[error("the service is stopping")]
    Stopped,
}

impl Poster {
    /// Stores `actions` in the outbox (durably) and hands them to the delivery worker, which
    /// sends them paced like any reply, ahead of broadcasts. `Ok` once they are on disk.
    pub async fn post(&self, actions: Vec<Outgoing>) -> Result<(), PostError> {
        if actions.is_empty() {
            return Ok(());
        }
        let (done, stored) = oneshot::channel();
        self.0
            .send(Post::Actions(actions, done))
            .map_err(|_| PostError::Stopped)?;
        match stored.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(PostError::NotStored),
            Err(_) => Err(PostError::Stopped),
        }
    }

    /// Asks the event loop to release the broadcasts due now, without waiting for its clock.
    pub fn release_due(&self) {
        let _ = self.0.send(Post::Broadcasts);
    }
}
