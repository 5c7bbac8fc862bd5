//! Action calls waiting for their response, correlated by `echo`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::action::{CallError, Failure, next_echo};

type Outcome = Result<Value, Failure>;

/// The calls in flight on one connection.
#[derive(Default)]
pub(crate) struct Pending {
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
}

impl Pending {
    /// Registers a call: its fresh echo and the ticket to wait on.
    pub(crate) fn register(&self) -> Ticket<'_> {
        let echo = next_echo();
        let (tx, rx) = oneshot::channel();
        self.lock().insert(echo.clone(), tx);
        Ticket {
            pending: self,
            echo,
            rx,
        }
    }

    /// Hands a response to the call that sent `echo`. `false` when no call waits for it (it
    /// timed out, or the echo is not ours).
    pub(crate) fn resolve(&self, echo: &str, outcome: Outcome) -> bool {
        match self.lock().remove(echo) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }

    /// Fails every waiting call with [`CallError::Closed`]: the connection is gone.
    pub(crate) fn close_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Outcome>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One registered call. Dropping it (cancelled, timed out) forgets the echo.
pub(crate) struct Ticket<'a> {
    pending: &'a Pending,
    pub(crate) echo: String,
    rx: oneshot::Receiver<Outcome>,
}

impl Ticket<'_> {
    /// Waits for the response, at most `timeout`.
    pub(crate) async fn wait(mut self, timeout: Duration) -> Result<Value, CallError> {
        match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(Ok(Ok(data))) => Ok(data),
            Ok(Ok(Err(failure))) => Err(CallError::Failed(failure)),
            Ok(Err(_)) => Err(CallError::Closed),
            Err(_) => Err(CallError::Timeout(timeout)),
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.echo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_by_echo() {
        let pending = Pending::default();
        let a = pending.register();
        let b = pending.register();
        assert!(pending.resolve(&b.echo, Ok(Value::from(2))));
        assert!(!pending.resolve("someone else's", Ok(Value::Null)));
        assert_eq!(
            b.wait(Duration::from_secs(5)).await.unwrap(),
            Value::from(2)
        );
        assert!(matches!(
            a.wait(Duration::from_millis(1)).await,
            Err(CallError::Timeout(_))
        ));
        assert!(pending.lock().is_empty(), "timed-out calls are forgotten");
    }

    #[tokio::test]
    async fn closing_fails_waiting_calls() {
        let pending = Pending::default();
        let ticket = pending.register();
        pending.close_all();
        assert!(matches!(
            ticket.wait(Duration::from_secs(5)).await,
            Err(CallError::Closed)
        ));
    }
}
