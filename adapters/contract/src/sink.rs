//! Where adapters push [`Event`]s.

use std::fmt;

use crate::{BoxFuture, Event};

/// The core's side of the event stream: adapters call [`EventSink::deliver`] for every event.
///
/// Implement it for whatever queue the core drains. With the `tokio` feature it is implemented
/// for `tokio::sync::mpsc::Sender<Event>` (bounded: a full queue makes the adapter wait, which
/// slows the platform connection down instead of dropping messages) and
/// `tokio::sync::mpsc::UnboundedSender<Event>`.
///
/// **The core must drain the sink independently of awaiting [`Adapter::send`](crate::Adapter::send)**:
/// an adapter may read send confirmations from the same connection it reads events from, so a
/// core that stops draining while it waits for a confirmation can stall that connection.
pub trait EventSink: Send + Sync {
    /// Hands one event to the core.
    ///
    /// Called by adapters from their connection tasks, in the order the platform sent the events
    /// on that connection. May wait while the core is busy (backpressure). Must not be called
    /// with the bot's own messages. `Err(SinkClosed)` means the core is shutting down: the adapter
    /// stops reading and closes its connections.
    fn deliver(&self, event: Event) -> BoxFuture<'_, Result<(), SinkClosed>>;
}

/// The core no longer takes events: it is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkClosed;

impl fmt::Display for SinkClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the core's event sink is closed")
    }
}

impl std::error::Error for SinkClosed {}

#[cfg(feature = "tokio")]
impl EventSink for tokio::sync::mpsc::Sender<Event> {
    fn deliver(&self, event: Event) -> BoxFuture<'_, Result<(), SinkClosed>> {
        Box::pin(async move { self.send(event).await.map_err(|_| SinkClosed) })
    }
}

#[cfg(feature = "tokio")]
impl EventSink for tokio::sync::mpsc::UnboundedSender<Event> {
    fn deliver(&self, event: Event) -> BoxFuture<'_, Result<(), SinkClosed>> {
        let result = self.send(event).map_err(|_| SinkClosed);
        Box::pin(std::future::ready(result))
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;
    use crate::{ConnectionChange, ConnectionState, Platform};

    fn up() -> Event {
        Event::Connection(ConnectionChange {
            platform: Platform::Onebot,
            account: "1".into(),
            state: ConnectionState::Up,
        })
    }

    #[tokio::test]
    async fn tokio_channels_are_sinks() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let sink: &dyn EventSink = &tx;
        sink.deliver(up()).await.unwrap();
        assert_eq!(rx.recv().await, Some(up()));
        drop(rx);
        assert_eq!(sink.deliver(up()).await, Err(SinkClosed));

        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        assert_eq!(EventSink::deliver(&tx, up()).await, Err(SinkClosed));
    }
}
